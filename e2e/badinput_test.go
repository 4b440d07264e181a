package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/skiffops/skiff/testenv"
)

// TestAgentOnBadInput walks a node through what a repository can do to it
// (testdata/bad/README.md lists the loader's cases): an empty repository, a
// port clash between stacks, a stack turned into a submodule, a force-push,
// a branch that disappears. Each time the other stacks are applied, the
// node's running state is untouched, and status names the file and the key.
func TestAgentOnBadInput(t *testing.T) {
	t.Parallel()
	w := newAgentWorld(t, nil, "")
	addr := freeAddr(t)
	a, b, c := w.stack+"-a", w.stack+"-b", w.stack+"-c"
	stack := func(name, msg string, extra ...string) (string, string) {
		return "stacks/" + name + "/compose.yaml", "services:\n" + service("web", w.image, msg, extra...)
	}
	files := func(pairs ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(pairs); i += 2 {
			m[pairs[i]] = pairs[i+1]
		}
		return m
	}
	port := `ports: ["` + addr + `:8080"]`

	w.node.start() // on a repository with no commit yet
	waitFor(t, "status to say the branch is not there", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		return s.Source.LastError != "" && len(s.Stacks) == 0, fmt.Sprintf("%+v", s.Source)
	})

	ka, va := stack(a, "a", port)
	kb, vb := stack(b, "b1")
	c1 := w.pushFiles(t, files(ka, va, kb, vb), "a and b")
	w.waitApplied(t, c1)
	before := w.node.running()

	kc, vc := stack(c, "c", port)
	kb, vb = stack(b, "b2")
	c2 := w.pushFiles(t, files(ka, va, kb, vb, kc, vc), "c takes a's port; b changes")
	waitFor(t, "b applied while a and c clash", 60*time.Second, func() (bool, string) {
		s := w.node.status()
		return w.node.running()[b+"-web-1"].Revision == c2 && stackOutcome(s, a) == "refused", s.Why
	})
	s := w.node.status()
	if !strings.Contains(s.Why, "stacks/"+a+"/compose.yaml") || !strings.Contains(s.Why, "ports[0]") || !strings.Contains(s.Why, "host port") {
		t.Errorf("status does not name the file and the key of the clash: %q", s.Why)
	}
	if got := w.node.running(); got[a+"-web-1"] != before[a+"-web-1"] || got[c+"-web-1"].ID != "" {
		t.Errorf("the clash touched a or started c: %v", got)
	}

	c3, err := w.git.PushWithSubmodule(files(ka, va), "stacks/"+b, strings.Repeat("ab", 20), "b becomes a submodule")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b refused as a submodule, a applied", 60*time.Second, func() (bool, string) {
		s := w.node.status()
		return s.WantedRevision == c3 && stackOutcome(s, b) == "refused" && stackOutcome(s, a) == "applied", s.Why
	})
	if s := w.node.status(); !strings.Contains(s.Why, "stacks/"+b+": no compose.yaml") {
		t.Errorf("status does not say why b is refused: %q", s.Why)
	}
	if got := w.node.running()[b+"-web-1"]; got.Revision != c2 {
		t.Errorf("b was touched when it became a submodule: %v", got)
	}

	kb, vb = stack(b, "b4")
	c4, err := w.git.ForcePush(files(ka, va, kb, vb), "history rewritten")
	if err != nil {
		t.Fatal(err)
	}
	w.waitApplied(t, c4)
	if h := w.node.history().Revisions[0]; h.Commit != c4 || h.Outcome != "applied" {
		t.Errorf("the force-pushed head in the history: %+v", h)
	}
	before = w.node.running()

	if out, err := exec.Command("git", "--git-dir", w.git.BareDir(), "update-ref", "-d", "refs/heads/"+testenv.GitBranch).CombinedOutput(); err != nil {
		t.Fatalf("delete the branch: %v\n%s", err, out)
	}
	waitFor(t, "status to say the branch is gone", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		return s.Source.LastError != "", fmt.Sprintf("%+v", s.Source)
	})
	time.Sleep(2 * time.Second) // polls at a 1s interval find no branch
	if got := w.node.running(); len(got) != len(before) || got[a+"-web-1"] != before[a+"-web-1"] || got[b+"-web-1"] != before[b+"-web-1"] {
		t.Errorf("a branch that disappeared changed the node: %v → %v", before, got)
	}
	kb, vb = stack(b, "b5")
	c5 := w.pushFiles(t, files(ka, va, kb, vb), "the branch is back")
	w.waitApplied(t, c5)
}
