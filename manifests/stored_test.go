package manifests

import (
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestStoredStackRoundTrip checks that every stack of the example fleet comes
// back from the store as it was loaded, but for what does not reach a
// container: x-* extensions (skiff's own is kept in Services), the
// interpolation environment and profiles.
func TestStoredStackRoundTrip(t *testing.T) {
	ignore := cmp.Options{
		cmpopts.EquateEmpty(),
		cmpopts.IgnoreUnexported(types.Project{}, types.ConfigObjConfig{}, types.SecretConfig{}),
		cmpopts.IgnoreFields(types.Project{}, "Environment", "Profiles", "Extensions"),
		cmpopts.IgnoreFields(types.ServiceConfig{}, "Extensions"),
	}
	for _, region := range []string{"eu-west", "us-east"} {
		d, err := Load("../examples/fleet", Node{Name: "n1", Region: region})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Stacks) == 0 {
			t.Fatalf("no stacks for %s", region)
		}
		for _, s := range d.Stacks {
			b, err := s.MarshalStored()
			if err != nil {
				t.Fatal(err)
			}
			got, err := UnmarshalStoredStack(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(s, got, ignore); diff != "" {
				t.Errorf("%s/%s after a round trip (-loaded +restored):\n%s", region, s.Name, diff)
			}
		}
	}
}

func TestUnmarshalStoredStackRejectsUnknownVersion(t *testing.T) {
	if _, err := UnmarshalStoredStack([]byte(`{"version": 99, "name": "x"}`)); err == nil {
		t.Error("decoded an unknown encoding version")
	}
	if _, err := UnmarshalStoredStack([]byte(`garbage`)); err == nil {
		t.Error("decoded garbage")
	}
}
