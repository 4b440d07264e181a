package manifests

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLabelVar(t *testing.T) {
	for key, want := range map[string]string{
		"gpu":              "SKIFF_LABEL_GPU",
		"gpu-type":         "SKIFF_LABEL_GPU_TYPE",
		"topology.zone":    "SKIFF_LABEL_TOPOLOGY_ZONE",
		"example.com/rack": "SKIFF_LABEL_EXAMPLE_COM_RACK",
		"Disk9":            "SKIFF_LABEL_DISK9",
	} {
		if got := LabelVar(key); got != want {
			t.Errorf("LabelVar(%q) = %q, want %q", key, got, want)
		}
	}
}

// Node labels reach interpolation as SKIFF_LABEL_<KEY>; the agent's own
// environment never does, and .env cannot stand in for a label.
func TestLabelInterpolation(t *testing.T) {
	t.Setenv("SKIFF_LABEL_LEAK", "from-the-agent")
	labels := map[string]string{"gpu": "true", "gpu-type": "a100", "topology.zone": "z1", "example.com/rack": "r7"}
	tests := []struct {
		name     string
		dotenv   string
		value    string // interpolated into environment.V
		want     string
		problems []string
	}{
		{"plain key", "", "${SKIFF_LABEL_GPU}", "true", nil},
		{"dash", "", "${SKIFF_LABEL_GPU_TYPE}", "a100", nil},
		{"dot", "", "$SKIFF_LABEL_TOPOLOGY_ZONE", "z1", nil},
		{"slash", "", "${SKIFF_LABEL_EXAMPLE_COM_RACK}", "r7", nil},
		{"beside node and region", "", "${SKIFF_NODE}/${SKIFF_REGION}/${SKIFF_LABEL_GPU}", "edge-07/eu-west/true", nil},
		{"default of a label the node lacks", "", "${SKIFF_LABEL_SSD:-none}", "none", nil},
		{"default of a label the node has", "", "${SKIFF_LABEL_GPU:-false}", "true", nil},
		{"label the node lacks, no default", "", "[${SKIFF_LABEL_SSD}]", "[]",
			[]string{`stacks/app/compose.yaml:5: warning: the "SKIFF_LABEL_SSD" variable is not set: node edge-07 has no such label; defaulting to a blank string (write ${SKIFF_LABEL_SSD:-default})`}},
		{".env sees labels", "RACK=${SKIFF_LABEL_EXAMPLE_COM_RACK}-x\n", "$RACK", "r7-x", nil},
		{".env cannot set a label variable", "SKIFF_LABEL_SSD=yes\n", "${SKIFF_LABEL_SSD:-no}", "no",
			[]string{"stacks/app/.env:1: warning: SKIFF_LABEL_SSD is set by skiff from the node's labels; the .env value is ignored (write ${SKIFF_LABEL_SSD:-default} where it is used)"}},
		{".env cannot override a label", "SKIFF_LABEL_GPU=false\n", "${SKIFF_LABEL_GPU}", "true",
			[]string{"stacks/app/.env:1: warning: SKIFF_LABEL_GPU is set by skiff from the node's labels; the .env value is ignored (write ${SKIFF_LABEL_GPU:-default} where it is used)"}},
		{"process environment is invisible", "", "${SKIFF_LABEL_LEAK:-none}", "none", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := repo{"stacks/app/compose.yaml": "services:\n  web:\n    image: " + testImage + "\n    environment:\n      V: \"" + tt.value + "\"\n"}
			if tt.dotenv != "" {
				r["stacks/app/.env"] = tt.dotenv
			}
			d := load(t, r.write(t), Node{Name: "edge-07", Region: "eu-west", Labels: labels})
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

func TestRequiredLabelOnANodeWithoutIt(t *testing.T) {
	r := repo{"stacks/app/compose.yaml": compose("    environment: {V: \"${SKIFF_LABEL_SSD:?needs an ssd node}\"}\n")}
	d := load(t, r.write(t), Node{Name: "n1", Region: "eu-west"})
	want := []string{"stacks/app/compose.yaml:4: required variable SKIFF_LABEL_SSD is not set: needs an ssd node"}
	if diff := cmp.Diff(want, lines(d.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if len(d.Stacks) != 0 {
		t.Errorf("the stack was placed without its required label")
	}
}

// skiff validate runs without a node: a label variable without a default is
// a warning (file:line), one with a default or required is fine.
func TestValidateLabelVariables(t *testing.T) {
	tests := []struct {
		name, value string
		want        []string
	}{
		{"no default", "${SKIFF_LABEL_GPU}",
			[]string{"stacks/app/compose.yaml:4: warning: ${SKIFF_LABEL_GPU} has no default: a node without that label gets a blank string (write ${SKIFF_LABEL_GPU:-default})"}},
		{"unbraced", "gpu=$SKIFF_LABEL_GPU_TYPE",
			[]string{"stacks/app/compose.yaml:4: warning: ${SKIFF_LABEL_GPU_TYPE} has no default: a node without that label gets a blank string (write ${SKIFF_LABEL_GPU_TYPE:-default})"}},
		{"default when unset or empty", "${SKIFF_LABEL_GPU:-false}", nil},
		{"default when unset", "${SKIFF_LABEL_GPU-false}", nil},
		{"alternative value", "${SKIFF_LABEL_GPU:+yes}", nil},
		{"required: the node decides", "${SKIFF_LABEL_GPU:?needs a gpu node}", nil},
		{"other variables keep their warning", "${NOT_A_LABEL}",
			[]string{`stacks/app/compose.yaml:4: warning: the "NOT_A_LABEL" variable is not set; defaulting to a blank string (set it in stacks/app/.env)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := repo{"stacks/app/compose.yaml": compose("    environment: {V: \"" + tt.value + "\"}\n")}
			ps, err := Validate(r.write(t))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, lines(ps), cmpEmpty); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
