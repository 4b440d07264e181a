package manifests

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v4"
)

func TestParseFleet(t *testing.T) {
	f, err := parseFleet([]byte(`regions:
  eu-west: {registries: ["reg-eu.example.net:5000"]}
  us-east: {registries: ["reg-us.example.net"]}
registries: ["registry.example.com"]
policy:
  host_paths: ["/srv/"]
  privileged: true
  cap_add: [NET_BIND_SERVICE]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Fleet{
		Regions: map[string]Region{
			"eu-west": {Registries: []string{"reg-eu.example.net:5000"}},
			"us-east": {Registries: []string{"reg-us.example.net"}},
		},
		Registries: []string{"registry.example.com"},
		Policy:     Policy{HostPaths: []string{"/srv/"}, Privileged: true, CapAdd: []string{"NET_BIND_SERVICE"}},
	}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("fleet (-want +got):\n%s", diff)
	}
}

func TestParseFleetStrict(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"empty file", "", nil},
		{"comments only", "# nothing yet\n", nil},
		{"unknown top-level key", "regions: {}\nmirrors: []\n", []string{`fleet.yaml:2: unknown key "mirrors"`}},
		{"unknown policy key", "policy:\n  privileged: false\n  root: true\n", []string{`fleet.yaml:3: unknown key "root"`}},
		{"unknown region key", "regions:\n  eu:\n    registry: x\n", []string{`fleet.yaml:3: unknown key "registry"`}},
		{"wrong type", "policy:\n  privileged: maybe\n", []string{`fleet.yaml:2: expected a boolean, got a string "maybe"`}},
		{"list expected", "registries: registry.example.com\n", []string{`fleet.yaml:1: expected a list, got a string "registr..."`}},
		{"scheme in registry", "registries: [\"https://registry.example.com\"]\n",
			[]string{`fleet.yaml:1: registries: "https://registry.example.com": write host[:port] without a scheme`}},
		{"path in registry", "regions:\n  eu: {registries: [\"reg.example.net/mirror\"]}\n",
			[]string{`fleet.yaml:2: regions.eu.registries: "reg.example.net/mirror" is not a registry host[:port]`}},
		{"relative host path", "policy:\n  host_paths: [srv/]\n", []string{`fleet.yaml:2: policy.host_paths: "srv/" is not an absolute path`}},
		{"bad region name", "regions:\n  \"eu west\": {}\n", []string{`fleet.yaml:2: regions: invalid region name "eu west"`}},
		{"syntax", "regions: [\n", []string{"fleet.yaml:2: did not find expected node content"}},
		{"two documents", "regions: {}\n---\nregions: {}\n", []string{"fleet.yaml:2: only one YAML document is allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFleet([]byte(tt.yaml))
			var got []string
			var fe *FleetError
			if errors.As(err, &fe) {
				got = lines(fe.Problems)
			} else if err != nil {
				t.Fatalf("error %v is not a *FleetError", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpEmpty); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRegistriesFor(t *testing.T) {
	f := Fleet{
		Regions:    map[string]Region{"eu-west": {Registries: []string{"reg-eu:5000", "registry.example.com"}}},
		Registries: []string{"registry.example.com", "backup.example.com"},
	}
	tests := []struct {
		region    string
		nodeLocal []string
		want      []string
	}{
		{"eu-west", nil, []string{"reg-eu:5000", "registry.example.com", "backup.example.com"}},
		{"eu-west", []string{"cache.local", "reg-eu:5000"}, []string{"reg-eu:5000", "registry.example.com", "cache.local", "backup.example.com"}},
		{"us-east", []string{"cache.local"}, []string{"cache.local", "registry.example.com", "backup.example.com"}},
		{"", nil, []string{"registry.example.com", "backup.example.com"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, f.RegistriesFor(tt.region, tt.nodeLocal)); diff != "" {
			t.Errorf("RegistriesFor(%q, %v) (-want +got):\n%s", tt.region, tt.nodeLocal, diff)
		}
	}
	if !f.IsOrigin("backup.example.com") || f.IsOrigin("reg-eu:5000") {
		t.Error("IsOrigin does not follow the origins")
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "stacks/a/compose.yaml", Line: 3, Msg: "bad"}, "stacks/a/compose.yaml:3: bad"},
		{Problem{File: "stacks/a", Msg: "bad"}, "stacks/a: bad"},
		{Problem{File: "fleet.yaml", Line: 1, Severity: Warning, Msg: "odd"}, "fleet.yaml:1: warning: odd"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestLookupLines(t *testing.T) {
	root, err := parseYAML([]byte(`x-common: &common
  restart: always
  logging: {driver: json-file}
services:
  web:
    <<: *common
    image: a
    restart: "no"
    ports:
      - "80:80"
      - "443:443"
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path []string
		line int
		full bool
	}{
		{[]string{"services", "web", "image"}, 7, true},
		{[]string{"services", "web", "restart"}, 8, true},           // the explicit key wins over the merged one
		{[]string{"services", "web", "logging", "driver"}, 3, true}, // merged from the anchor
		{[]string{"services", "web", "ports", "1"}, 11, true},       // sequence index
		{[]string{"services", "web", "privileged"}, 5, false},       // deepest found
		{[]string{"services", "web", "ports", "7"}, 9, false},       // index out of range
		{[]string{"nothing"}, 0, false},
	}
	for _, tt := range tests {
		n, full := lookup(root, tt.path...)
		line := 0
		if n != nil {
			line = n.Line
		}
		if line != tt.line || full != tt.full {
			t.Errorf("lookup(%v) = line %d, full %v; want %d, %v", tt.path, line, full, tt.line, tt.full)
		}
	}
	if _, err := parseYAML([]byte("a: 1\na: 2\n")); err == nil {
		t.Error("duplicate keys accepted")
	}
	var le *yaml.LoadError
	if _, err := parseYAML([]byte("a:\n  b: 1\n  b: 2\n")); !errors.As(err, &le) || le.Mark.Line != 3 {
		t.Errorf("duplicate key error = %v, want a LoadError at line 3", err)
	}
}

func TestKeysMergedFromAnchorsAreChecked(t *testing.T) {
	dir := repo{"stacks/app/compose.yaml": `x-defaults: &defaults
  restart: always
  gpus: all
services:
  web:
    <<: *defaults
    image: ` + testImage + `
`}.write(t)
	d := load(t, dir, Node{Name: "n1"})
	want := []string{"stacks/app/compose.yaml:3: services.web.gpus: not supported by skiff"}
	if diff := cmp.Diff(want, lines(d.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestValidateExampleFleet(t *testing.T) {
	ps, err := Validate("../examples/fleet")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 0 {
		t.Errorf("examples/fleet has problems:\n%v", lines(ps))
	}
}

func TestParseYAMLRefusesAliasAbuse(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"merge key cycle", "x: &x\n  <<: *x\n  a: 1\n", "an alias refers to the node that contains it"},
		{"sequence cycle", "x: &x [1, *x]\n", "an alias refers to the node that contains it"},
		{"alias bomb", "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d]\n",
			"the document has more than 20000 nodes once its aliases are expanded"},
	}
	for _, tt := range tests {
		_, err := parseYAML([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := parseYAML([]byte("a: &a {k: v}\nb: *a\nc: {<<: *a, j: w}\n")); err != nil {
		t.Errorf("ordinary aliases refused: %v", err)
	}
}
