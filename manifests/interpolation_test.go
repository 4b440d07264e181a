package manifests

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInterpolation(t *testing.T) {
	t.Setenv("SKIFF_TEST_LEAK", "from-the-agent")
	t.Setenv("GREETING", "from-the-agent")
	tests := []struct {
		name     string
		dotenv   string
		value    string // interpolated into environment.V
		want     string
		problems []string
	}{
		{"node and region", "", "${SKIFF_NODE}@${SKIFF_REGION}", "edge-07@eu-west", nil},
		{"dotenv", "GREETING=hello\n", "${GREETING} world", "hello world", nil},
		{"dotenv sees skiff variables", "WHERE=${SKIFF_NODE}-x\n", "$WHERE", "edge-07-x", nil},
		{"dotenv cannot override skiff variables", "SKIFF_NODE=other\n", "${SKIFF_NODE}", "edge-07",
			[]string{"stacks/app/.env:1: warning: SKIFF_NODE is set by skiff; the .env value is ignored"}},
		{"default when unset", "", "${MISSING:-fallback}", "fallback", nil},
		{"default when empty", "EMPTY=\n", "${EMPTY:-fallback}/${EMPTY-kept}", "fallback/", nil},
		{"escaped dollar", "", "$$HOME", "$HOME", nil},
		{"process environment is invisible", "", "[${SKIFF_TEST_LEAK}]", "[]",
			[]string{`stacks/app/compose.yaml:5: warning: the "SKIFF_TEST_LEAK" variable is not set; defaulting to a blank string (set it in stacks/app/.env)`}},
		{"process environment is invisible to .env", "LEAK=${SKIFF_TEST_LEAK:-none}\n", "$LEAK", "none", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := repo{"stacks/app/compose.yaml": "services:\n  web:\n    image: " + testImage + "\n    environment:\n      V: \"" + tt.value + "\"\n"}
			if tt.dotenv != "" {
				r["stacks/app/.env"] = tt.dotenv
			}
			d := load(t, r.write(t), Node{Name: "edge-07", Region: "eu-west"})
			v := stack(t, d, "app").Project.Services["web"].Environment["V"]
			if v == nil || *v != tt.want {
				t.Errorf("V = %v, want %q", v, tt.want)
			}
			if diff := cmp.Diff(tt.problems, lines(d.Problems), cmpEmpty); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

var cmpEmpty = cmp.Transformer("nilIsEmpty", func(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
})

func TestInterpolationErrors(t *testing.T) {
	tests := []struct {
		name, compose, dotenv string
		want                  []string
	}{
		{"required with message", compose("    environment: {P: \"${DB_PASSWORD:?set DB_PASSWORD}\"}\n"), "",
			[]string{"stacks/app/compose.yaml:4: required variable DB_PASSWORD is not set: set DB_PASSWORD"}},
		{"required without message", compose("    environment: {P: \"${DB_PASSWORD?}\"}\n"), "",
			[]string{"stacks/app/compose.yaml:4: required variable DB_PASSWORD is not set (set it in stacks/app/.env)"}},
		{"required and set", compose("    environment: {P: \"${DB_PASSWORD:?}\"}\n"), "DB_PASSWORD=x\n", nil},
		{"invalid template", compose("    command: [\"${\"]\n"), "",
			[]string{`stacks/app/compose.yaml:4: invalid interpolation ${: use ${VAR}, ${VAR:-default}, ${VAR:?error} or $$ for a literal $`}},
		{"bad .env", compose(""), "OK=1\nNOT OK=2\n",
			[]string{"stacks/app/.env:2: key cannot contain a space"}},
		{"environment passthrough does not read the agent", compose("    environment: [HOME, PATH]\n"), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := repo{"stacks/app/compose.yaml": tt.compose}
			if tt.dotenv != "" {
				r["stacks/app/.env"] = tt.dotenv
			}
			d := load(t, r.write(t), Node{Name: "n1", Region: "eu-west"})
			if diff := cmp.Diff(tt.want, lines(d.Problems), cmpEmpty); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if tt.want == nil {
				env := stack(t, d, "app").Project.Services["web"].Environment
				for k, v := range env {
					if v != nil && strings.Contains(*v, "/") {
						t.Errorf("environment %s=%s leaked from the process environment", k, *v)
					}
				}
			}
		})
	}
}

func TestSameCommitRendersTheSameButForNodeAndRegion(t *testing.T) {
	r := repo{"stacks/app/compose.yaml": compose("    command: [\"-message\", \"${SKIFF_NODE}\"]\n")}
	dir := r.write(t)
	t.Setenv("SKIFF_NODE", "from-the-agent")
	a := service(t, load(t, dir, Node{Name: "n1", Region: "eu-west"}), "app", "web")
	b := service(t, load(t, dir, Node{Name: "n1", Region: "eu-west"}), "app", "web")
	c := service(t, load(t, dir, Node{Name: "n2", Region: "eu-west"}), "app", "web")
	if a.Hash != b.Hash {
		t.Error("two loads of one commit for one node differ")
	}
	if a.Hash == c.Hash {
		t.Error("a service using ${SKIFF_NODE} hashes the same on two nodes")
	}
}
