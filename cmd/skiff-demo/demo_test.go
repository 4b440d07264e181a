package main

import (
	"bytes"
	"context"
	"flag"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffops/skiff/testenv"
)

var skiffFlag = flag.String("skiff", "", "run this skiff `binary` instead of building ../skiff")

// TestDemoUntilHealed runs the whole demo against the real engine and the
// real skiff binary, as `make demo` does, then `make demo-clean`, and checks
// that nothing the demo created is left.
func TestDemoUntilHealed(t *testing.T) {
	env := testenv.Docker(t)
	skiff := *skiffFlag
	if skiff == "" {
		skiff = filepath.Join(t.TempDir(), "skiff")
		if out, err := exec.Command("go", "build", "-o", skiff, "../skiff").CombinedOutput(); err != nil {
			t.Fatalf("build skiff: %v\n%s", err, out)
		}
	}
	node := testenv.UniqueName("skiff-demo")
	env.CleanupNode(t, node)
	dir := filepath.Join(t.TempDir(), "demo")
	ctx := context.Background()

	var out bytes.Buffer
	code := run(ctx, []string{"--skiff", skiff, "--node", node, "--dir", dir, "--until-healed"}, &out, &out)
	t.Logf("demo output:\n%s", out.String())
	if code != exitOK {
		t.Fatalf("demo exited %d", code)
	}
	for _, want := range []string{
		"pulled 127.0.0.1:",                                     // the agent's pulls are told
		"from the region's mirror",                              // … and came from the mirror
		"Hello from " + node + " in eu-west, served by web 1.0", // the first page
		"Hello again from " + node + " in eu-west, served by web 1.1",
		stackName(node, "shop") + "-api-1: left alone",
		"healed: " + pageContainer(node) + " is back",
		"the containers keep running",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo did not say %q", want)
		}
	}
	running, err := testenv.Containers(ctx, env.Client, testenv.LabelNode+"="+node, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(running) != len(containers(node)) {
		t.Errorf("after the demo, %d containers run, want %d: stopping the demo must leave them running", len(running), len(containers(node)))
	}

	out.Reset()
	if code := run(ctx, []string{"--clean", "--node", node, "--dir", dir}, &out, &out); code != exitOK {
		t.Fatalf("demo --clean exited %d:\n%s", code, out.String())
	}
	left, err := testenv.Containers(ctx, env.Client, testenv.LabelNode+"="+node, false)
	if err != nil {
		t.Fatal(err)
	}
	images, err := testenv.ImagesNamed(ctx, env.Client, isDemoImage(node))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 || len(images) > 0 {
		t.Errorf("after --clean: containers %v, images %v", left, images)
	}
	if removed, err := removeDemoDir(dir); removed || err != nil {
		t.Errorf("after --clean the demo directory is still there (%v)", err)
	}
}

// TestDemoWithoutDocker checks the one line a person without an engine gets.
func TestDemoWithoutDocker(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-docker.sock"))
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--dir", t.TempDir()}, &stdout, &stderr)
	if code != exitFailure {
		t.Errorf("exit code %d, want %d", code, exitFailure)
	}
	msg := stderr.String()
	if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "install Docker Engine") {
		t.Errorf("want one line saying how to get Docker, got:\n%s", msg)
	}
	if stdout.Len() > 0 {
		t.Errorf("stdout: %q", stdout.String())
	}
}

// TestRemoveDemoDirRefusesOtherDirectories: demo-clean never removes a
// directory the demo did not create.
func TestRemoveDemoDirRefusesOtherDirectories(t *testing.T) {
	dir := t.TempDir()
	if err := exec.Command("touch", filepath.Join(dir, "precious")).Run(); err != nil {
		t.Fatal(err)
	}
	if removed, err := removeDemoDir(dir); removed || err == nil {
		t.Errorf("removeDemoDir of a foreign directory: removed %t, err %v", removed, err)
	}
	if err := makeDemoDir(filepath.Join(dir, "demo")); err != nil {
		t.Fatal(err)
	}
	if removed, err := removeDemoDir(filepath.Join(dir, "demo")); !removed || err != nil {
		t.Errorf("removeDemoDir of the demo's directory: removed %t, err %v", removed, err)
	}
}
