package manifests

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the expected files of testdata/broken")

// TestBrokenRepositories validates every repository under testdata/broken
// and compares the problems with the case's want.txt, one String() per line.
// Run with -update to rewrite want.txt after checking the diff.
func TestBrokenRepositories(t *testing.T) {
	cases, err := os.ReadDir(filepath.Join("testdata", "broken"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if !c.IsDir() {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			dir := filepath.Join("testdata", "broken", c.Name())
			ps, err := Validate(dir)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			wantProblems(t, ps, filepath.Join(dir, "want.txt"))
			if !hasErrors(ps) {
				t.Errorf("a broken repository must have at least one error")
			}
		})
	}
}

// wantProblems compares the problems, one String() per line, with
// wantFile, after rewriting it under -update.
func wantProblems(t *testing.T, ps []Problem, wantFile string) {
	t.Helper()
	var lines []string
	for _, p := range ps {
		lines = append(lines, p.String())
	}
	got := strings.Join(lines, "\n") + "\n"
	if *update {
		if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(wantFile)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("problems differ from %s (-want +got):\n%s", wantFile, diff)
	}
}
