package manifests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hashBase is the stack every hash case starts from.
var hashBase = repo{
	"stacks/app/.env": "GREETING=hello\nUNUSED=1\n",
	"stacks/app/compose.yaml": `# the web service of the hash tests
services:
  web:
    image: registry.example.com/skiff/hello:1.0
    command: ["-listen", ":8080", "-message", "${GREETING}"]
    environment:
      A: "1"
      B: "2"
    env_file: [web.env]
    labels: {team: web}
    ports: ["8080:8080"]
    volumes:
      - ./conf:/etc/web:ro
      - data:/data
    networks:
      front: {aliases: [www]}
    secrets: [token]
    healthcheck:
      test: ["CMD", "/skiff-test", "-probe", "http://127.0.0.1:8080/healthz"]
      interval: 1m
    deploy:
      resources: {limits: {memory: 64m}}
  other:
    image: registry.example.com/skiff/other:1.0
networks: {front: {}}
volumes: {data: {}}
secrets:
  token: {file: ./token.txt}
`,
	"stacks/app/web.env":     "FROM_FILE=yes\n",
	"stacks/app/conf/a.conf": "listen 8080;\n",
	"stacks/app/token.txt":   "s3cret",
}

func webHash(t *testing.T, r repo) string {
	t.Helper()
	return service(t, load(t, r.write(t), Node{Name: "n1", Region: "eu-west"}), "app", "web").Hash
}

// TestHashGolden pins the hash of one fixed service: it must not move with
// an upgrade of compose-go or of skiff. If this fails, a change moved the
// hash of every running container on every node; make it a new hash
// version instead (see hash.go).
func TestHashGolden(t *testing.T) {
	const want = "v1-520aa71a9ed1bb86d286b3b9c25849acc967c32fa6667115e05d2f1540b58084"
	if got := webHash(t, hashBase); got != want {
		t.Errorf("hash of the golden service = %s, want %s", got, want)
	}
}

func TestHashIgnores(t *testing.T) {
	base := webHash(t, hashBase)
	compose := hashBase["stacks/app/compose.yaml"]
	tests := []struct {
		name string
		r    repo
	}{
		{"comments and blank lines", hashBase.with(repo{"stacks/app/compose.yaml": "# more comments\n\n" + strings.ReplaceAll(compose, "\n  other:", "\n\n  # other\n  other:")})},
		{"key order", hashBase.with(repo{"stacks/app/compose.yaml": strings.Replace(compose,
			"    environment:\n      A: \"1\"\n      B: \"2\"\n", "    environment:\n      B: \"2\"\n      A: \"1\"\n", 1)})}, // also moves nothing else
		{"list syntax", hashBase.with(repo{"stacks/app/compose.yaml": strings.Replace(compose,
			"    environment:\n      A: \"1\"\n      B: \"2\"\n", "    environment: [B=2, A=1]\n", 1)})},
		{"equivalent duration", hashBase.with(repo{"stacks/app/compose.yaml": strings.Replace(compose, "interval: 1m", "interval: 60s", 1)})},
		{"unrelated service", hashBase.with(repo{"stacks/app/compose.yaml": strings.Replace(compose, "skiff/other:1.0", "skiff/other:2.0", 1)})},
		{"unused .env entry", hashBase.with(repo{"stacks/app/.env": "GREETING=hello\nUNUSED=2\nMORE=3\n"})},
		{"file outside the mounted tree", hashBase.with(repo{"stacks/app/README.md": "docs"})},
		{"replicas", hashBase.with(repo{"stacks/app/compose.yaml": strings.Replace(compose, "limits: {memory: 64m}}", "limits: {memory: 64m}}\n      replicas: 1", 1)})},
		{"update order", hashBase.with(repo{"stacks/app/compose.yaml": "x-skiff: {update: stop-first}\n" + compose})},
		{"default restart policy", hashBase.with(repo{"stacks/app/compose.yaml": strings.Replace(compose, "    labels:", "    restart: \"no\"\n    labels:", 1)})},
		{"default protocol", hashBase.with(repo{"stacks/app/compose.yaml": strings.Replace(compose, `"8080:8080"`, `"8080:8080/tcp"`, 1)})},
		{"memory unit spelled differently", hashBase.with(repo{"stacks/app/compose.yaml": strings.Replace(compose, "memory: 64m}}", "memory: 64M}}", 1)})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := webHash(t, tt.r); got != base {
				t.Errorf("hash changed: %s -> %s", base, got)
			}
		})
	}
}

func TestHashIgnoresCheckoutPath(t *testing.T) {
	a := webHash(t, hashBase)
	dir := filepath.Join(t.TempDir(), "elsewhere", "revisions", "0123abcd")
	hashBase.writeTo(t, dir)
	b := service(t, load(t, dir, Node{Name: "n1", Region: "eu-west"}), "app", "web").Hash
	if a != b {
		t.Errorf("hash depends on the checkout path: %s vs %s", a, b)
	}
}

func TestHashChanges(t *testing.T) {
	base := webHash(t, hashBase)
	compose := hashBase["stacks/app/compose.yaml"]
	edit := func(old, new string) repo {
		if !strings.Contains(compose, old) {
			t.Fatalf("hash case: %q not in the base compose file", old)
		}
		return hashBase.with(repo{"stacks/app/compose.yaml": strings.Replace(compose, old, new, 1)})
	}
	tests := []struct {
		name string
		r    repo
	}{
		{"image tag", edit("hello:1.0", "hello:1.1")},
		{"environment value", edit(`A: "1"`, `A: "one"`)},
		{"interpolated .env value", hashBase.with(repo{"stacks/app/.env": "GREETING=bonjour\n"})},
		{"env_file content", hashBase.with(repo{"stacks/app/web.env": "FROM_FILE=no\n"})},
		{"bind file content", hashBase.with(repo{"stacks/app/conf/a.conf": "listen 8081;\n"})},
		{"file added to a bound directory", hashBase.with(repo{"stacks/app/conf/b.conf": ""})},
		{"secret content", hashBase.with(repo{"stacks/app/token.txt": "other"})},
		{"published port", edit(`"8080:8080"`, `"8081:8080"`)},
		{"network alias", edit("aliases: [www]", "aliases: [web]")},
		{"internal network", edit("networks: {front: {}}", "networks: {front: {internal: true}}")},
		{"healthcheck", edit("interval: 1m", "interval: 2m")},
		{"label", edit("team: web", "team: api")},
		{"memory limit", edit("memory: 64m", "memory: 128m")},
		{"mount read-only", edit("./conf:/etc/web:ro", "./conf:/etc/web")},
		{"command", edit(`"-listen", ":8080"`, `"-listen", ":9090"`)},
		{"privileged", hashBase.with(repo{
			"fleet.yaml":              "policy: {privileged: true}\n",
			"stacks/app/compose.yaml": strings.Replace(compose, "    labels:", "    privileged: true\n    labels:", 1)})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := webHash(t, tt.r); got == base {
				t.Errorf("hash did not change")
			}
		})
	}
}

func TestHashExecutableBitOfBoundFile(t *testing.T) {
	dir := hashBase.write(t)
	before := service(t, load(t, dir, Node{Name: "n1"}), "app", "web").Hash
	if err := os.Chmod(filepath.Join(dir, "stacks/app/conf/a.conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	after := service(t, load(t, dir, Node{Name: "n1"}), "app", "web").Hash
	if before == after {
		t.Error("making a bound file executable did not change the hash")
	}
}

func TestHashUsesTheCanonicalImage(t *testing.T) {
	hash := func(image string) string {
		r := repo{"stacks/app/compose.yaml": "services:\n  web:\n    image: " + image + "\n"}
		return service(t, load(t, r.write(t), Node{Name: "n1"}), "app", "web").Hash
	}
	if a, b := hash("nginx:1.25"), hash("docker.io/library/nginx:1.25"); a != b {
		t.Errorf("one image written two ways hashes differently: %s vs %s", a, b)
	}
	if a, b := hash("registry.example.com/x"), hash("registry.example.com/x:latest"); a != b {
		t.Errorf("an untagged image and :latest hash differently: %s vs %s", a, b)
	}
}
