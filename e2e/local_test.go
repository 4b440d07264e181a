package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiffops/skiff/testenv"
)

// TestAgentSyncsAFileSourceOnChange follows a file:// repository with an
// interval of an hour: only fsnotify on the branch's ref can make the node
// converge on the second commit within the test.
func TestAgentSyncsAFileSourceOnChange(t *testing.T) {
	w := newAgentWorld(t, func(g *testenv.GitHTTPServer) string { return "file://" + g.BareDir() }, "")
	setInterval(t, w.node, "1h")
	c1 := w.push(t, "v1")
	w.node.start()
	w.waitRevision(t, c1) // the first poll runs at start

	c2 := w.push(t, "v2")
	w.waitRevision(t, c2)
	w.waitApplied(t, c2)
	if out := runSkiff(t, "plan", "--socket", w.node.socket); !strings.Contains(out, "nothing to do") {
		t.Errorf("skiff plan after convergence: %q", out)
	}
}

// TestAgentReloadsItsConfiguration places a stack on nodes labelled
// role=web: the node gets the label by a configuration change (and
// SIGHUP), and a broken configuration is refused while the agent goes on.
func TestAgentReloadsItsConfiguration(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	files := stackFiles(w.stack, w.image, "v1")
	compose := "stacks/" + w.stack + "/compose.yaml"
	files[compose] = "x-skiff: {labels: {role: web}}\n" + files[compose]
	c1, err := w.git.Push(files, "web nodes only")
	if err != nil {
		t.Fatal(err)
	}
	w.node.start()
	waitFor(t, "the revision to be seen", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		return s.AppliedRevision == c1, s.AppliedRevision
	})
	if got := w.node.running(); len(got) != 0 {
		t.Fatalf("a node without role=web runs %v", got)
	}

	writeConfig(t, w.node, func(c string) string { return c + "labels: {role: web}\n" })
	w.node.cmd.Process.Signal(syscall.SIGHUP)
	w.waitRevision(t, c1)

	writeConfig(t, w.node, func(c string) string { return c + "bogus_key: 1\n" })
	w.node.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the broken configuration to be refused", 30*time.Second, func() (bool, string) {
		return strings.Contains(w.node.log.String(), "configuration reload refused"), "no refusal logged"
	})
	if _, err := w.node.statusErr(); err != nil {
		t.Errorf("the agent stopped answering after a refused reload: %v", err)
	}
}

func setInterval(t testing.TB, n *node, interval string) {
	t.Helper()
	writeConfig(t, n, func(c string) string { return strings.Replace(c, "interval: 1s", "interval: "+interval, 1) })
}

func writeConfig(t testing.TB, n *node, edit func(string) string) {
	t.Helper()
	b, err := os.ReadFile(n.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.config, []byte(edit(string(b))), 0o600); err != nil {
		t.Fatal(err)
	}
}

func runSkiff(t *testing.T, args ...string) string {
	t.Helper()
	out, err := execSkiff(args...)
	if err != nil {
		t.Fatalf("skiff %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func execSkiff(args ...string) (string, error) {
	out, err := commandOutput(skiffBin, args...)
	if err != nil {
		return out, fmt.Errorf("%w", err)
	}
	return out, nil
}
