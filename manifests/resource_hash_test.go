package manifests

import (
	"testing"
)

const pinnedVolumeHash = "v1-32ea6d85041858bf954bb24fad4350d5ec992a566ba895a017ebb95a2f1317dd"

func TestResourceHashes(t *testing.T) {
	base := repo{"stacks/app/compose.yaml": `services:
  web:
    image: registry.example.com/skiff/web:1
    networks: [back]
    volumes: ["data:/data"]
networks:
  back: {}
volumes:
  data: {}
`}
	load1 := func(r repo) Stack {
		d := load(t, r.write(t), Node{Name: "n1", Region: "eu-west"})
		return stack(t, d, "app")
	}
	st := load1(base)
	// Pinned: these must not move with an upgrade of skiff or compose-go,
	// or every network on every node would be recreated.
	if got, want := st.NetworkHash("back"), "v1-91042fd471f06414b7a446b850874896be9a22cc988786dacf28dae2b3ca67ef"; got != want {
		t.Errorf("network hash %s, pinned %s", got, want)
	}
	if got, want := st.VolumeHash("data"), pinnedVolumeHash; got != want {
		t.Errorf("volume hash %s, pinned %s", got, want)
	}
	again := load1(base)
	if again.NetworkHash("back") != st.NetworkHash("back") || again.Digest() != st.Digest() {
		t.Fatal("the same definition hashes differently")
	}
	changes := map[string]string{
		"internal": "  back: {internal: true}\n",
		"labels":   "  back: {labels: {a: b}}\n",
	}
	for name, def := range changes {
		c := load1(repo{"stacks/app/compose.yaml": `services:
  web:
    image: registry.example.com/skiff/web:1
    networks: [back]
    volumes: ["data:/data"]
networks:
` + def + `volumes:
  data: {}
`})
		if c.NetworkHash("back") == st.NetworkHash("back") {
			t.Errorf("%s: network hash did not change", name)
		}
		if c.Digest() == st.Digest() {
			t.Errorf("%s: stack digest did not change", name)
		}
	}
	bridge := load1(repo{"stacks/app/compose.yaml": `services:
  web:
    image: registry.example.com/skiff/web:1
    networks: [back]
    volumes: ["data:/data"]
networks:
  back: {driver: bridge}
volumes:
  data: {driver: local, labels: {backup: daily}}
`})
	if bridge.NetworkHash("back") != st.NetworkHash("back") {
		t.Error("driver: bridge (the default) changed the network hash")
	}
	if bridge.VolumeHash("data") == st.VolumeHash("data") {
		t.Error("volume labels did not change the volume hash")
	}
}
