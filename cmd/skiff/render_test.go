package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const exampleFleet = "../../examples/fleet"

// runCmd runs one subcommand as main would.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// golden compares got with testdata/name, after replacing the absolute path
// of repo with $REPO; -update rewrites the file.
func golden(t *testing.T, name, repo, got string) {
	t.Helper()
	abs, err := filepath.Abs(repo)
	if err != nil {
		t.Fatal(err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	got = strings.ReplaceAll(got, abs, "$REPO")
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output differs from %s (-want +got):\n%s", file, diff)
	}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"render-eu-west.txt", []string{"--region", "eu-west", "--node", "edge-07"}},
		{"render-us-east.txt", []string{"--region", "us-east", "--node", "edge-12", "--label", "gpu=true"}},
		{"render-eu-west.json", []string{"--region", "eu-west", "--node", "edge-07", "--json"}},
		{"render-us-east.json", []string{"--region", "us-east", "--node", "edge-12", "--json"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, append([]string{"render", "--repo", exampleFleet}, tt.args...)...)
			if code != exitOK || stderr != "" {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			golden(t, tt.golden, exampleFleet, stdout)
		})
	}
}

func TestRenderJSONShape(t *testing.T) {
	_, stdout, _ := runCmd(t, "render", "--repo", exampleFleet, "--region", "eu-west", "--node", "n1", "--json")
	var out struct {
		Node   string `json:"node"`
		Region string `json:"region"`
		Stacks []struct {
			Name    string `json:"name"`
			Project struct {
				Name     string                     `json:"name"`
				Services map[string]json.RawMessage `json:"services"`
			} `json:"project"`
		} `json:"stacks"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("render --json is not JSON: %v\n%s", err, stdout)
	}
	if out.Node != "n1" || out.Region != "eu-west" || len(out.Stacks) != 2 {
		t.Fatalf("render --json = node %q region %q, %d stacks", out.Node, out.Region, len(out.Stacks))
	}
	for _, s := range out.Stacks {
		if s.Project.Name != s.Name || len(s.Project.Services) == 0 {
			t.Errorf("stack %s: project %q with %d services", s.Name, s.Project.Name, len(s.Project.Services))
		}
	}
}

func TestRenderNoStacksIsAnEmptyList(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "stacks"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runCmd(t, "render", "--repo", dir, "--region", "eu-west", "--node", "n1", "--json")
	if code != exitOK || !strings.Contains(stdout, `"stacks": []`) {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
}

func TestRenderFailures(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"missing repo", []string{"render", "--region", "eu-west"}, exitUsage, "--repo and --region are required"},
		{"missing region", []string{"render", "--repo", exampleFleet}, exitUsage, "--repo and --region are required"},
		{"bad label", []string{"render", "--repo", exampleFleet, "--region", "r", "--label", "novalue"}, exitUsage, "want key=value"},
		{"stray argument", []string{"render", "--repo", exampleFleet, "--region", "r", "extra"}, exitUsage, `unexpected argument "extra"`},
		{"no stacks directory", []string{"render", "--repo", t.TempDir(), "--region", "eu-west", "--node", "n1"}, exitFailure, "no stacks/ directory"},
		{"bad stack", []string{"render", "--repo", "testdata/broken", "--region", "eu-west", "--node", "n1"}, exitFailure,
			`stacks/web/compose.yaml:5: services.web.privileged: privileged containers are denied by policy`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d (want %d), stderr:\n%s\nwant it to contain %q", code, tt.code, stderr, tt.stderr)
			}
		})
	}
}

func TestValidateCommand(t *testing.T) {
	code, stdout, stderr := runCmd(t, "validate", "--repo", exampleFleet)
	if code != exitOK || stdout != "" || stderr != "" {
		t.Errorf("validate examples/fleet: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, "validate", "--repo", "testdata/broken")
	if code != exitFailure {
		t.Errorf("validate testdata/broken: exit %d, want %d", code, exitFailure)
	}
	golden(t, "validate-broken.txt", "testdata/broken", stdout+"--- stderr\n"+stderr)
	if code, _, _ := runCmd(t, "validate"); code != exitUsage {
		t.Errorf("validate without --repo: exit %d, want %d", code, exitUsage)
	}
	code, stdout, _ = runCmd(t, "validate", "--repo", "testdata/badfleet")
	if want := `fleet.yaml:2: expected a boolean, got a string "yes please"`; code != exitFailure || !strings.Contains(stdout, want) {
		t.Errorf("validate with a bad fleet.yaml: exit %d, stdout:\n%s\nwant %q", code, stdout, want)
	}
}
