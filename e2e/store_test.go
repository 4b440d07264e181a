package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentRebuildsACorruptStore damages the state database while the agent
// is down, and Git with it: the agent moves the file aside, rebuilds its
// desired state from the checkout on disk, restores a removed container,
// and says so in its status.
func TestAgentRebuildsACorruptStore(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	c1 := w.push(t, "v1")
	w.node.start()
	w.waitRevision(t, c1)

	w.node.kill()
	garbage := []byte("this is not a bbolt database, it is a test")
	db := filepath.Join(w.node.dir, "state", "skiff.db")
	if err := os.WriteFile(db, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.git.SetDown(true); err != nil {
		t.Fatal(err)
	}
	w.node.removeContainer(w.stack + "-web-1")
	w.node.start()
	w.waitRevision(t, c1)

	s := w.waitApplied(t, c1)
	if !s.Store.Recovered || !strings.HasPrefix(filepath.Base(s.Store.MovedTo), "skiff.db.corrupt-") {
		t.Fatalf("status after a corrupt store: %+v", s.Store)
	}
	moved, err := os.ReadFile(s.Store.MovedTo)
	if err != nil || string(moved) != string(garbage) {
		t.Errorf("the damaged file was not kept as it was at %s: %q, %v", s.Store.MovedTo, moved, err)
	}
	if out := runSkiff(t, "status", "--socket", w.node.socket); !strings.Contains(out, "REBUILT at boot") {
		t.Errorf("skiff status does not say the store was rebuilt:\n%s", out)
	}
}
