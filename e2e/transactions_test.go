package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/testenv"
)

// These tests are the situations the stack transactions were rebuilt for
// (DESIGN.md §10): what a user does next, on the real engine, with the
// real binary.

// service is one healthchecked service of the test image answering msg on
// GET /; extra lines (indented by four spaces) are added to it.
func service(name, image, msg string, extra ...string) string {
	s := fmt.Sprintf(`  %s:
    image: %s
    command: ["-listen", ":8080", "-message", %q]
    healthcheck:
      test: ["CMD", "/skiff-test", "-probe", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      timeout: 2s
      retries: 3
`, name, image, msg)
	for _, e := range extra {
		s += "    " + e + "\n"
	}
	return s
}

func (w *world) pushFiles(t testing.TB, files map[string]string, msg string) string {
	t.Helper()
	c, err := w.git.Push(files, msg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// page GETs path from addr on the host, "" when it does not answer.
func page(addr, path string) string {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestAgentRenamesAStackThatKeepsItsPort renames stacks/<a> to stacks/<b>
// with the same published port: the old stack departs before the new one
// arrives, so the port is free and the rename is one commit, applied.
func TestAgentRenamesAStackThatKeepsItsPort(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	addr := freeAddr(t)
	stack := func(name, msg string) map[string]string {
		return map[string]string{"stacks/" + name + "/compose.yaml": "services:\n" +
			service("web", w.image, msg, `ports: ["`+addr+`:8080"]`)}
	}
	alpha, beta := w.stack+"-alpha", w.stack+"-beta"
	c1 := w.pushFiles(t, stack(alpha, "alpha"), "alpha")
	w.node.start()
	w.waitApplied(t, c1)
	if got := page(addr, "/"); !strings.HasPrefix(got, "alpha") {
		t.Fatalf("page before the rename: %q", got)
	}
	c2 := w.pushFiles(t, stack(beta, "beta"), "rename alpha to beta")
	s := w.waitApplied(t, c2)
	if got := page(addr, "/"); !strings.HasPrefix(got, "beta") {
		t.Errorf("page after the rename: %q", got)
	}
	running := w.node.running()
	if len(running) != 1 || running[beta+"-web-1"].Revision != c2 {
		t.Errorf("running after the rename: %v", running)
	}
	if len(s.Stacks) != 1 || s.Stacks[0].Name != beta || s.Stacks[0].Outcome != "applied" {
		t.Errorf("stacks after the rename: %+v", s.Stacks)
	}
	h := w.node.history().Revisions[0]
	if h.Commit != c2 || h.Outcome != "applied" || h.Stacks[alpha].Outcome != "removed" {
		t.Errorf("history of the rename: %+v", h)
	}
}

// TestAgentUpdatesADependencyAndItsDependent changes db (healthchecked,
// stop-first) and web (depends on db being healthy) in one commit: web's
// condition is judged on the new db, not on the old one set aside.
func TestAgentUpdatesADependencyAndItsDependent(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	files := func(v string) map[string]string {
		return map[string]string{"stacks/" + w.stack + "/compose.yaml": "services:\n" +
			service("db", w.image, "db "+v) +
			service("web", w.image, "web "+v, "depends_on: {db: {condition: service_healthy}}")}
	}
	c1 := w.pushFiles(t, files("v1"), "v1")
	w.node.start()
	w.waitApplied(t, c1)
	c2 := w.pushFiles(t, files("v2"), "db and web change")
	w.waitApplied(t, c2)
	running := w.node.running()
	for _, svc := range []string{"db", "web"} {
		if c := running[w.stack+"-"+svc+"-1"]; c.Revision != c2 {
			t.Errorf("%s runs %v, want revision %s", svc, c, c2[:7])
		}
	}
	if h := w.node.history().Revisions[0]; h.Outcome != "applied" {
		t.Errorf("revision c2: %+v", h)
	}
}

// TestAgentHoldsBackOnlyTheStackWhoseImageIsMissing: one commit changes two
// stacks; one names an image its origin does not have. The other lands; the
// first waits, says why, and keeps its old container.
func TestAgentHoldsBackOnlyTheStackWhoseImageIsMissing(t *testing.T) {
	reg := testenv.Registry(t)
	w := newAgentWorld(t, nil, "")
	other := w.stack + "-b"
	fleet := fmt.Sprintf("registries: [%q]\n", reg.Addr())
	files := func(imageA, msgB string) map[string]string {
		return map[string]string{
			"fleet.yaml":                          fleet,
			"stacks/" + w.stack + "/compose.yaml": "services:\n" + service("web", imageA, "a"),
			"stacks/" + other + "/compose.yaml":   "services:\n" + service("web", w.image, msgB),
		}
	}
	c1 := w.pushFiles(t, files(w.image, "b1"), "two stacks")
	w.node.start()
	w.waitApplied(t, c1)
	before := w.node.running()
	missing := reg.Addr() + "/skiff/never-pushed:1"
	c2 := w.pushFiles(t, files(missing, "b2"), "a needs an image nobody pushed; b changes")
	waitFor(t, "b at c2 while a waits for its image", 60*time.Second, func() (bool, string) {
		s := w.node.status()
		return w.node.running()[other+"-web-1"].Revision == c2 && s.Pending != nil && len(s.Pending.Stacks) == 1,
			fmt.Sprintf("%v %+v", w.node.running(), s.Pending)
	})
	s := w.node.status()
	p := s.Pending.Stacks[0]
	if p.Stack != w.stack || len(p.Images) != 1 || p.Images[0].Image != missing || !p.Images[0].Definite ||
		!strings.Contains(p.Images[0].Error, "manifest unknown") {
		t.Errorf("pending: %+v", p)
	}
	if !strings.Contains(s.Why, missing) {
		t.Errorf("status does not say why: %q", s.Why)
	}
	if got := w.node.running()[w.stack+"-web-1"]; got != before[w.stack+"-web-1"] {
		t.Errorf("a's container changed while its image is missing: %v → %v", before[w.stack+"-web-1"], got)
	}
	if out := runSkiff(t, "status", "--socket", w.node.socket); !strings.Contains(out, "waits for image "+missing) {
		t.Errorf("skiff status does not name the missing image:\n%s", out)
	}
}

// TestAgentRecreatesAChangedNetwork sets internal: true on an existing
// network: the network is recreated with it, and the stack runs on it.
func TestAgentRecreatesAChangedNetwork(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	files := func(def string) map[string]string {
		return map[string]string{"stacks/" + w.stack + "/compose.yaml": "services:\n" +
			service("web", w.image, "web", "networks: [back]") + "networks:\n  back: " + def + "\n"}
	}
	c1 := w.pushFiles(t, files("{}"), "a network")
	w.node.start()
	w.waitApplied(t, c1)
	ctx := context.Background()
	name := w.stack + "_back"
	n1, err := testenv.InspectNetwork(ctx, w.node.env.Client, name)
	if err != nil || n1.Internal {
		t.Fatalf("network before: %+v, %v", n1, err)
	}
	c2 := w.pushFiles(t, files("{internal: true}"), "internal network")
	w.waitApplied(t, c2)
	n2, err := testenv.InspectNetwork(ctx, w.node.env.Client, name)
	if err != nil || !n2.Internal || n2.ID == n1.ID || n2.Labels["io.skiff.network-hash"] == n1.Labels["io.skiff.network-hash"] {
		t.Errorf("network after internal: true: %+v (before %+v), %v", n2, n1, err)
	}
	if c := w.node.running()[w.stack+"-web-1"]; c.Revision != c2 {
		t.Errorf("web after the network change: %v", c)
	}
}

// TestAgentPushesOneSecondApart: a commit that arrives while a stack waits
// in its gate supersedes it; the newer spec is applied from where the node
// is, and the older is recorded as superseded, not failed.
func TestAgentPushesOneSecondApart(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	slow := func(msg string) map[string]string {
		// The first probe runs after 4s: a long gate to arrive in.
		s := service("web", w.image, msg)
		s = strings.Replace(s, "interval: 1s", "interval: 4s", 1)
		return map[string]string{"stacks/" + w.stack + "/compose.yaml": "services:\n" + s}
	}
	c1 := w.pushFiles(t, slow("v1"), "v1")
	w.node.start()
	w.waitApplied(t, c1)
	c2 := w.pushFiles(t, slow("v2"), "v2")
	waitFor(t, "v2 in its gate", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		return len(s.Stacks) == 1 && s.Stacks[0].Outcome == "applying", fmt.Sprintf("%+v", s.Stacks)
	})
	time.Sleep(time.Second)
	c3 := w.pushFiles(t, slow("v3"), "v3")
	w.waitApplied(t, c3)
	running := w.node.running()
	if len(running) != 1 || running[w.stack+"-web-1"].Revision != c3 {
		t.Errorf("running: %v", running)
	}
	outcomes := map[string]string{}
	for _, r := range w.node.history().Revisions {
		outcomes[r.Commit] = r.Outcome
	}
	if outcomes[c2] != "superseded" || outcomes[c3] != "applied" {
		t.Errorf("history: c2 %s, c3 %s; want superseded, applied", outcomes[c2], outcomes[c3])
	}
	if s := w.node.status(); s.Stacks[0].FailedRevision != "" {
		t.Errorf("a superseded update counted as a failure: %+v", s.Stacks[0])
	}
}

// TestAgentHealsAStackWhileAnotherUpdates: one stack waits in a long gate;
// a container of another stack removed meanwhile is back at once.
func TestAgentHealsAStackWhileAnotherUpdates(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	other := w.stack + "-b"
	files := func(msg string) map[string]string {
		slow := strings.Replace(service("web", w.image, msg), "interval: 1s", "interval: 10s", 1)
		return map[string]string{
			"stacks/" + w.stack + "/compose.yaml": "services:\n" + slow,
			"stacks/" + other + "/compose.yaml":   "services:\n" + service("web", w.image, "b"),
		}
	}
	c1 := w.pushFiles(t, files("v1"), "v1")
	w.node.start()
	w.waitApplied(t, c1)
	w.pushFiles(t, files("v2"), "v2")
	waitFor(t, "the first stack in its gate", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		return stackOutcome(s, w.stack) == "applying", fmt.Sprintf("%+v", s.Stacks)
	})
	b := other + "-web-1"
	old := w.node.running()[b].ID
	w.node.removeContainer(b)
	waitFor(t, "the other stack healed", 20*time.Second, func() (bool, string) {
		c := w.node.running()[b]
		return c.ID != "" && c.ID != old, fmt.Sprint(c)
	})
	if got := stackOutcome(w.node.status(), w.stack); got != "applying" {
		t.Errorf("the first stack is %s: the heal waited for its gate", got)
	}
}

func stackOutcome(s api.Status, name string) string {
	for _, st := range s.Stacks {
		if st.Name == name {
			return st.Outcome
		}
	}
	return ""
}
