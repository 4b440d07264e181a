package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/go-connections/nat"
	"github.com/google/go-cmp/cmp"

	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/reconcile"
)

const (
	specTestImage = "registry.example.com/shop/web:1.4"
	specTestID    = "sha256:0123456789abcdef"
	specTestNode  = "edge-07"
)

// permissiveFleet lets stacks ask for everything, so that each test
// exercises the engine and not the policy.
const permissiveFleet = `policy:
  host_paths: ["/srv/", "/var/log/"]
  privileged: true
  host_namespaces: true
  devices: true
  cap_add: [NET_ADMIN, SYS_TIME]
`

// loadStack writes a repository with one stack "app" (compose.yaml plus
// files, relative to the stack directory) and loads it for a node. Any
// error problem fails the test.
func loadStack(t *testing.T, compose string, files map[string]string) *manifests.Stack {
	t.Helper()
	repo := t.TempDir()
	all := map[string]string{"fleet.yaml": permissiveFleet, "stacks/app/compose.yaml": compose}
	for name, body := range files {
		all["stacks/app/"+name] = body
	}
	writeFiles(t, repo, all)
	return loadRepo(t, repo)
}

// writeFiles writes files (slash-separated paths relative to dir).
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func loadRepo(t *testing.T, repo string) *manifests.Stack {
	t.Helper()
	d, err := manifests.Load(repo, manifests.Node{Name: specTestNode, Region: "eu-west"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Problems {
		if p.Severity == manifests.Error {
			t.Fatalf("manifests: %s", p)
		}
	}
	if len(d.Stacks) != 1 {
		t.Fatalf("loaded %d stacks, want 1", len(d.Stacks))
	}
	return &d.Stacks[0]
}

// fakeFiles stands for materializeFiles: every repository file is "copied"
// to /state/files/<rel>.
func fakeFiles(st *manifests.Stack) map[string]string {
	out := map[string]string{}
	for _, f := range st.Files {
		out[f.Path] = "/state/files/" + f.Rel
	}
	return out
}

func request(st *manifests.Stack, service string) specRequest {
	return specRequest{
		Stack: st, Service: service, Number: 1, Name: reconcile.ContainerName(st, service, 1),
		Node: specTestNode, Revision: "c0ffee", Image: specTestImage, ImageID: specTestID, Files: fakeFiles(st),
	}
}

func mustSpec(t *testing.T, req specRequest) containerSpec {
	t.Helper()
	spec, err := buildSpec(req)
	if err != nil {
		t.Fatalf("buildSpec: %v", err)
	}
	return spec
}

func service(st *manifests.Stack, name string) manifests.Service {
	for _, s := range st.Services {
		if s.Name == name {
			return s
		}
	}
	return manifests.Service{}
}

func TestBuildSpecConfig(t *testing.T) {
	st := loadStack(t, `
services:
  web:
    image: registry.example.com/shop/web:1.4
    command: ["-listen", ":8080"]
    entrypoint: /bin/app --flag
    environment:
      PLAIN: value
      OVERRIDE: from-compose
      EMPTY: ""
      UNSET:
    env_file: [web.env]
    user: "1000:1000"
    working_dir: /srv
    hostname: web
    domainname: example.org
    tty: true
    stdin_open: true
    stop_signal: SIGINT
    stop_grace_period: 1500ms
    expose: ["5000", "5001/udp"]
    ports: ["8080:80", "127.0.0.1:5353:53/udp", "9000"]
    healthcheck:
      test: ["CMD", "/bin/app", "-probe"]
      interval: 5s
      timeout: 2s
      retries: 3
      start_period: 1s
  shell:
    image: registry.example.com/shop/web:1.4
    command: []
    healthcheck:
      test: /bin/app -probe
  off:
    image: registry.example.com/shop/web:1.4
    healthcheck:
      disable: true
`, map[string]string{"web.env": "FROM_FILE=yes\nOVERRIDE=from-file\n"})

	stop := 1
	want := &container.Config{
		Hostname: "web", Domainname: "example.org", User: "1000:1000",
		ExposedPorts: nat.PortSet{"5000": {}, "5001/udp": {}, "80/tcp": {}, "53/udp": {}, "9000/tcp": {}},
		Tty:          true, OpenStdin: true, AttachStdout: true, AttachStderr: true,
		Env:        []string{"EMPTY=", "FROM_FILE=yes", "OVERRIDE=from-compose", "PLAIN=value", "UNSET"},
		Cmd:        strslice.StrSlice{"-listen", ":8080"},
		Entrypoint: strslice.StrSlice{"/bin/app", "--flag"},
		Healthcheck: &container.HealthConfig{
			Test:     []string{"CMD", "/bin/app", "-probe"},
			Interval: 5 * time.Second, Timeout: 2 * time.Second, StartPeriod: time.Second, Retries: 3,
		},
		Image: specTestImage, WorkingDir: "/srv", StopSignal: "SIGINT", StopTimeout: &stop,
	}
	got := mustSpec(t, request(st, "web")).Config
	got.Labels = nil // TestBuildSpecLabels
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("web Config (-want +got):\n%s", diff)
	}

	shell := mustSpec(t, request(st, "shell")).Config
	if shell.Cmd == nil || len(shell.Cmd) != 0 {
		t.Errorf("command: [] gave Cmd %#v, want empty and not nil, as compose sends it", shell.Cmd)
	}
	if shell.Entrypoint != nil {
		t.Errorf("no entrypoint gave %#v, want nil (the image's)", shell.Entrypoint)
	}
	if want := []string{"CMD-SHELL", "/bin/app -probe"}; !cmp.Equal(shell.Healthcheck.Test, want) {
		t.Errorf("string healthcheck test = %q, want %q", shell.Healthcheck.Test, want)
	}
	if off := mustSpec(t, request(st, "off")).Config.Healthcheck; !cmp.Equal(off, &container.HealthConfig{Test: []string{"NONE"}}) {
		t.Errorf("disable: true gave %+v, want test NONE", off)
	}
}

func TestBuildSpecLabels(t *testing.T) {
	st := loadStack(t, `
services:
  web:
    image: registry.example.com/shop/web:1.4
    labels: {app.tier: front}
    depends_on:
      db: {condition: service_healthy, restart: true}
      cache: {condition: service_started}
  db:
    image: registry.example.com/shop/db:2
  cache:
    image: registry.example.com/shop/db:2
`, nil)
	req := request(st, "web")
	req.Number = 2
	got := mustSpec(t, req).Config.Labels
	want := map[string]string{
		"app.tier":                                "front",
		"com.docker.compose.project":              "app",
		"com.docker.compose.service":              "web",
		"com.docker.compose.container-number":     "2",
		"com.docker.compose.oneoff":               "False",
		"com.docker.compose.config-hash":          service(st, "web").Hash,
		"com.docker.compose.image":                specTestID,
		"com.docker.compose.depends_on":           "cache:service_started:false,db:service_healthy:true",
		"com.docker.compose.version":              "2.40.3",
		"com.docker.compose.project.config_files": "stacks/app/compose.yaml",
		"io.skiff.managed":                        "true",
		"io.skiff.node":                           specTestNode,
		"io.skiff.revision":                       "c0ffee",
		"io.skiff.image":                          "registry.example.com/shop/web:1.4",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(got[LabelConfigHash], manifests.HashPrefix) {
		t.Errorf("config-hash %q is not skiff's spec hash", got[LabelConfigHash])
	}
	if db := mustSpec(t, request(st, "db")).Config.Labels[LabelDependsOn]; db != "" {
		t.Errorf("depends_on label without dependencies = %q, want empty as compose", db)
	}
}

func TestBuildSpecRefusesReservedLabels(t *testing.T) {
	for _, label := range []string{"io.skiff.node", "com.docker.compose.project"} {
		st := loadStack(t, `
services:
  web:
    image: registry.example.com/shop/web:1.4
    labels: {"`+label+`": spoofed}
`, nil)
		_, err := buildSpec(request(st, "web"))
		if !errors.Is(err, errCannotHonour) || !strings.Contains(err.Error(), "services.web.labels."+label) {
			t.Errorf("label %s: err = %v, want errCannotHonour naming the key", label, err)
		}
	}
}

func TestBuildSpecPlatform(t *testing.T) {
	st := loadStack(t, `
services:
  web:
    image: registry.example.com/shop/web:1.4
    platform: linux/arm64/v8
  plain:
    image: registry.example.com/shop/web:1.4
`, nil)
	p := mustSpec(t, request(st, "web")).Platform
	if p == nil || p.OS != "linux" || p.Architecture != "arm64" || p.Variant != "v8" {
		t.Errorf("platform = %+v, want linux/arm64/v8", p)
	}
	if p := mustSpec(t, request(st, "plain")).Platform; p != nil {
		t.Errorf("no platform gave %+v, want nil", p)
	}
}
