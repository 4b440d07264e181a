package manifests

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzLoad feeds arbitrary compose.yaml, fleet.yaml and .env contents to the
// loader. Whatever the input, Load and Validate must not panic, must refuse
// only through their documented errors, and must return sorted problems and
// hashed services; two loads of one checkout must agree. The seed corpus is
// in testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	f.Fuzz(func(t *testing.T, composeYAML, fleetYAML, dotenv []byte) {
		dir := t.TempDir()
		files := map[string][]byte{
			"stacks/app/compose.yaml": composeYAML,
			"fleet.yaml":              fleetYAML,
			"stacks/app/.env":         dotenv,
			"stacks/app/conf/a.txt":   []byte("a"),
		}
		for name, content := range files {
			if len(content) == 0 && name != "stacks/app/compose.yaml" {
				continue
			}
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		node := Node{Name: "n1", Region: "eu-west", Labels: map[string]string{"gpu": "true"}}
		first := checkedLoad(t, dir, node)
		second := checkedLoad(t, dir, node)
		if diff := cmp.Diff(summary(first), summary(second)); diff != "" {
			t.Fatalf("two loads of one checkout differ (-first +second):\n%s", diff)
		}
		ps, err := Validate(dir)
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		checkProblems(t, ps)
	})
}

// checkedLoad loads dir and checks the invariants of the result.
func checkedLoad(t *testing.T, dir string, node Node) *Desired {
	d, err := Load(dir, node)
	if err != nil {
		if fe := (*FleetError)(nil); !errors.As(err, &fe) || len(fe.Problems) == 0 {
			t.Fatalf("Load failed with %v, want only a *FleetError with problems", err)
		}
		return nil
	}
	checkProblems(t, d.Problems)
	refused := d.Refused()
	for _, s := range d.Stacks {
		if slices.Contains(refused, s.Name) {
			t.Fatalf("refused stack %s returned", s.Name)
		}
		if s.Project == nil || len(s.Services) != len(s.Project.Services) {
			t.Fatalf("stack %s: services and project disagree", s.Name)
		}
		for _, svc := range s.Services {
			if !strings.HasPrefix(svc.Hash, HashPrefix) || len(svc.Hash) != len(HashPrefix)+64 {
				t.Fatalf("service %s: hash %q", svc.Name, svc.Hash)
			}
			if svc.Update != UpdateStopFirst && svc.Update != UpdateStartFirst {
				t.Fatalf("service %s: update %q", svc.Name, svc.Update)
			}
		}
	}
	return d
}

func checkProblems(t *testing.T, ps []Problem) {
	if !slices.IsSortedFunc(ps, compareProblems) {
		t.Fatalf("problems not sorted: %v", lines(ps))
	}
	for _, p := range ps {
		if p.File == "" || p.Line < 0 || p.Msg == "" || filepath.IsAbs(p.File) {
			t.Fatalf("malformed problem %+v", p)
		}
	}
}

// summary is what must not change between two loads: the stacks and hashes.
func summary(d *Desired) []string {
	if d == nil {
		return nil
	}
	var out []string
	for _, s := range d.Stacks {
		for _, svc := range s.Services {
			out = append(out, s.Name+"/"+svc.Name+" "+svc.Hash)
		}
	}
	return out
}
