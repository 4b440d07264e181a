package manifests

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadRefusesRevisionWithoutStacks(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, Node{Name: "n1", Region: "eu-west"}); !errors.Is(err, ErrNoStacks) {
		t.Fatalf("Load without stacks/ = %v, want ErrNoStacks", err)
	}
	if _, err := Validate(dir); !errors.Is(err, ErrNoStacks) {
		t.Fatalf("Validate without stacks/ = %v, want ErrNoStacks", err)
	}
	if err := os.WriteFile(filepath.Join(dir, StacksDir), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, Node{}); err == nil {
		t.Fatal("Load with a file named stacks succeeded")
	}
}

func TestLoadEmptyStacksRunsNothing(t *testing.T) {
	d := load(t, repo{}.write(t), Node{Name: "n1", Region: "eu-west"})
	if len(d.Stacks) != 0 || len(d.Problems) != 0 {
		t.Fatalf("empty stacks/: got stacks %v, problems %v", placed(d), lines(d.Problems))
	}
}

func TestLoadRefusesInvalidFleet(t *testing.T) {
	dir := repo{"fleet.yaml": "regions:\n  eu-west: {mirrors: []}\n"}.write(t)
	_, err := Load(dir, Node{Region: "eu-west"})
	var fe *FleetError
	if !errors.As(err, &fe) {
		t.Fatalf("Load = %v, want *FleetError", err)
	}
	want := []string{`fleet.yaml:2: unknown key "mirrors"`}
	if diff := cmp.Diff(want, lines(fe.Problems)); diff != "" {
		t.Errorf("fleet problems (-want +got):\n%s", diff)
	}
}

func TestLoadOneBadStackDoesNotStopOthers(t *testing.T) {
	dir := repo{
		"stacks/good/compose.yaml": compose(""),
		"stacks/bad/compose.yaml":  compose("    privileged: true\n"),
		"stacks/ugly/compose.yaml": "services: [",
	}.write(t)
	d := load(t, dir, Node{Name: "n1", Region: "eu-west"})
	if diff := cmp.Diff([]string{"good/web"}, placed(d)); diff != "" {
		t.Errorf("placed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"bad", "ugly"}, d.Refused()); diff != "" {
		t.Errorf("refused (-want +got):\n%s", diff)
	}
}

func TestLoadPlacement(t *testing.T) {
	r := repo{
		"stacks/everywhere/compose.yaml": compose(""),
		"stacks/useast/compose.yaml":     "x-skiff: {regions: [us-east]}\n" + compose(""),
		"stacks/mixed/compose.yaml": `x-skiff:
  regions: [eu-west, us-east]
services:
  all:
    image: ` + testImage + `
  edge:
    image: ` + testImage + `
    x-skiff: {nodes: [edge-07, edge-08]}
  gpu:
    image: ` + testImage + `
    x-skiff: {labels: {gpu: true, tier: "1"}}
  eu:
    image: ` + testImage + `
    x-skiff: {regions: [eu-west]}
  nowhere:
    image: ` + testImage + `
    x-skiff: {regions: [ap-south]}
`,
	}
	dir := r.write(t)
	tests := []struct {
		name string
		node Node
		want []string
	}{
		{"eu plain node", Node{Name: "n1", Region: "eu-west"},
			[]string{"everywhere/web", "mixed/all", "mixed/eu"}},
		{"us edge node", Node{Name: "edge-07", Region: "us-east"},
			[]string{"everywhere/web", "mixed/all", "mixed/edge", "useast/web"}},
		{"gpu node", Node{Name: "g1", Region: "eu-west", Labels: map[string]string{"gpu": "true", "tier": "1", "x": "y"}},
			[]string{"everywhere/web", "mixed/all", "mixed/eu", "mixed/gpu"}},
		{"partial labels", Node{Name: "g2", Region: "eu-west", Labels: map[string]string{"gpu": "true"}},
			[]string{"everywhere/web", "mixed/all", "mixed/eu"}},
		{"other region", Node{Name: "n2", Region: "ap-south"},
			[]string{"everywhere/web"}},
		{"no region", Node{Name: "n3"},
			[]string{"everywhere/web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := load(t, dir, tt.node)
			if diff := cmp.Diff(tt.want, placed(d)); diff != "" {
				t.Errorf("placed (-want +got):\n%s\nproblems: %v", diff, lines(d.Problems))
			}
			if len(d.Problems) != 0 {
				t.Errorf("problems: %v", lines(d.Problems))
			}
		})
	}
}

func TestLoadPlacementRemovesWhatOnlyRemovedServicesUse(t *testing.T) {
	dir := repo{"stacks/app/compose.yaml": `services:
  api:
    image: ` + testImage + `
    networks: [front]
    depends_on:
      cache: {condition: service_started, required: false}
  cache:
    image: ` + testImage + `
    networks: [back]
    volumes: [data:/data]
    x-skiff: {nodes: [big]}
networks: {front: {}, back: {}}
volumes: {data: {}}
`}.write(t)
	d := load(t, dir, Node{Name: "small", Region: "eu-west"})
	p := stack(t, d, "app").Project
	if _, ok := p.Networks["back"]; ok {
		t.Error("network back of the removed service is still in the project")
	}
	if _, ok := p.Volumes["data"]; ok {
		t.Error("volume data of the removed service is still in the project")
	}
	if deps := p.Services["api"].DependsOn; len(deps) != 0 {
		t.Errorf("optional dependency on a removed service kept: %v", deps)
	}
}

func TestLoadDependencyOnRemovedServiceRefusesStack(t *testing.T) {
	dir := repo{"stacks/app/compose.yaml": `services:
  api:
    image: ` + testImage + `
    depends_on: [db]
  db:
    image: ` + testImage + `
    x-skiff: {labels: {disk: ssd}}
`}.write(t)
	d := load(t, dir, Node{Name: "n1", Region: "eu-west"})
	want := []string{`stacks/app/compose.yaml:4: services.api.depends_on.db: depends on "db", which x-skiff places elsewhere: place both together or make the dependency required: false`}
	if diff := cmp.Diff(want, lines(d.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if len(d.Stacks) != 0 {
		t.Errorf("refused stack returned: %v", placed(d))
	}
	d = load(t, dir, Node{Name: "n1", Region: "eu-west", Labels: map[string]string{"disk": "ssd"}})
	if diff := cmp.Diff([]string{"app/api", "app/db"}, placed(d)); diff != "" {
		t.Errorf("with the label (-want +got):\n%s", diff)
	}
}

func TestLoadProblemsOfServicesPlacedElsewhereAreDropped(t *testing.T) {
	dir := repo{"stacks/app/compose.yaml": `services:
  web:
    image: ` + testImage + `
  special:
    image: ` + testImage + `
    privileged: true
    x-skiff: {nodes: [special-node]}
`}.write(t)
	d := load(t, dir, Node{Name: "n1", Region: "eu-west"})
	if len(d.Problems) != 0 || len(d.Stacks) != 1 {
		t.Errorf("node without special: problems %v, placed %v", lines(d.Problems), placed(d))
	}
	d = load(t, dir, Node{Name: "special-node", Region: "eu-west"})
	if len(errorLines(d.Problems)) != 1 || len(d.Stacks) != 0 {
		t.Errorf("special node: problems %v, placed %v", lines(d.Problems), placed(d))
	}
}

func TestLoadUpdateOrderAndService(t *testing.T) {
	dir := repo{"stacks/app/compose.yaml": `x-skiff: {update: start-first, health_grace: 10s}
services:
  web:
    image: registry.example.com/skiff/web
    pull_policy: if_not_present
    deploy: {replicas: 3}
  db:
    image: registry.example.com/skiff/db@sha256:` + strings.Repeat("ab", 32) + `
    pull_policy: always
    x-skiff: {update: stop-first, health_grace: 1500ms}
`}.write(t)
	d := load(t, dir, Node{Name: "n1", Region: "eu-west"})
	got := stack(t, d, "app").Services
	for i := range got {
		got[i].Hash = ""
	}
	want := []Service{
		{Name: "db", Image: "registry.example.com/skiff/db@sha256:" + strings.Repeat("ab", 32), Update: UpdateStopFirst, Replicas: 1, PullPolicy: "always", HealthGrace: 1500 * time.Millisecond},
		{Name: "web", Image: "registry.example.com/skiff/web:latest", Update: UpdateStartFirst, Replicas: 3, PullPolicy: "missing", HealthGrace: 10 * time.Second},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
}

func TestLoadOverlay(t *testing.T) {
	dir := repo{
		"stacks/app/compose.yaml": compose("    ports: [\"8080:80\"]\n    environment: {WHERE: base, KEEP: yes}\n"),
		"stacks/app/compose.eu-west.yaml": `services:
  web:
    ports: !override ["8081:80"]
    environment: {WHERE: eu}
`,
	}.write(t)
	tests := []struct {
		region, where, published string
	}{
		{"eu-west", "eu", "8081"},
		{"us-east", "base", "8080"},
	}
	for _, tt := range tests {
		d := load(t, dir, Node{Name: "n1", Region: tt.region})
		web := stack(t, d, "app").Project.Services["web"]
		if got := *web.Environment["WHERE"]; got != tt.where {
			t.Errorf("%s: WHERE = %q, want %q", tt.region, got, tt.where)
		}
		if got := *web.Environment["KEEP"]; got != "yes" {
			t.Errorf("%s: KEEP = %q, want the base value", tt.region, got)
		}
		if len(web.Ports) != 1 || web.Ports[0].Published != tt.published {
			t.Errorf("%s: ports = %+v, want only %s", tt.region, web.Ports, tt.published)
		}
	}
}

func TestLoadFilesAndAbsolutePaths(t *testing.T) {
	r := repo{
		"stacks/app/compose.yaml": compose(`    volumes:
      - ./conf:/etc/app:ro
      - ./single.txt:/single.txt
    env_file: [app.env]
    secrets: [token]
secrets:
  token: {file: ./token.txt}
`),
		"stacks/app/conf/a.conf":   "a",
		"stacks/app/conf/sub/b":    "b",
		"stacks/app/single.txt":    "single",
		"stacks/app/app.env":       "MODE=prod\n",
		"stacks/app/token.txt":     "s3cret",
		"stacks/app/unrelated.txt": "not used",
	}
	dir := r.write(t)
	s := stack(t, load(t, dir, Node{Name: "n1"}), "app")
	var rels []string
	for _, f := range s.Files {
		rels = append(rels, f.Rel)
		if !filepath.IsAbs(f.Path) || !strings.HasPrefix(f.Digest, "sha256:") || len(f.Digest) != 71 {
			t.Errorf("file %+v: want an absolute path and a sha256 digest", f)
		}
		if f.Dir != (f.Rel == "stacks/app/conf") {
			t.Errorf("file %s: Dir = %v", f.Rel, f.Dir)
		}
	}
	want := []string{"stacks/app/app.env", "stacks/app/conf", "stacks/app/single.txt", "stacks/app/token.txt"}
	if diff := cmp.Diff(want, rels); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	web := s.Project.Services["web"]
	if src := web.Volumes[0].Source; src != filepath.Join(s.Dir, "conf") {
		t.Errorf("bind source = %q, want the absolute path in the checkout", src)
	}
	if web.EnvFiles != nil || *web.Environment["MODE"] != "prod" {
		t.Errorf("env_file not resolved into environment: %v / %v", web.EnvFiles, web.Environment)
	}
	if f := s.Project.Secrets["token"].File; f != filepath.Join(s.Dir, "token.txt") {
		t.Errorf("secret file = %q", f)
	}
}

func TestLoadRefusesSymlinkedStack(t *testing.T) {
	dir := repo{"shared/web/compose.yaml": compose("")}.write(t)
	symlink(t, "../shared/web", filepath.Join(dir, "stacks/web"))
	d := load(t, dir, Node{Name: "n1"})
	want := []string{"stacks/web: a stack must be a directory of the repository, not a symlink"}
	if diff := cmp.Diff(want, lines(d.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"web"}, d.Refused()); diff != "" {
		t.Errorf("a symlinked stack must be refused, not pruned (-want +got):\n%s", diff)
	}
}
