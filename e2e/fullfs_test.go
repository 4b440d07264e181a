package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffops/skiff/agent/store"
	"github.com/skiffops/skiff/testenv"
)

// TestAgentOnAFullStateDisk puts state_dir on a small file system and fills
// it while an update waits in its gate: the update lands but the store
// cannot record it. The agent keeps healing, says so in status (once in its
// log), refuses nothing, and leaves the next revision pending on the full
// disk. Once space is back, it writes what the store missed, applies the
// pending revision, and a restart finds it all in the store.
func TestAgentOnAFullStateDisk(t *testing.T) {
	t.Parallel()
	fs := testenv.SmallFileSystem(t, 64<<20)
	w := newAgentWorld(t, nil, "")
	stateDir := filepath.Join(fs.Dir, "state")
	writeConfig(t, w.node, func(c string) string {
		return strings.Replace(c, "state_dir: "+filepath.Join(w.node.dir, "state"), "state_dir: "+stateDir, 1)
	})
	other := w.stack + "-b"
	// The spec of v2 and v3 is larger than the free pages of the store's
	// file: its record needs the file to grow, which a full disk refuses
	// (bbolt reuses free pages in place, and those writes would pass).
	// (Four variables: one string of the environment is at most 128 KiB.)
	padding := strings.Repeat("p", 64<<10)
	files := func(v string) map[string]string {
		env := ""
		if v != "v1" {
			env = fmt.Sprintf("environment: {P1: %s, P2: %[1]s, P3: %[1]s, P4: %[1]s}", padding)
		}
		slow := strings.Replace(service("web", w.image, v, env), "interval: 1s", "interval: 4s", 1)
		return map[string]string{
			"stacks/" + w.stack + "/compose.yaml": "services:\n" + slow,
			"stacks/" + other + "/compose.yaml":   "services:\n" + service("web", w.image, "b"),
		}
	}
	c1 := w.pushFiles(t, files("v1"), "v1")
	w.node.start()
	w.waitApplied(t, c1)

	c2 := w.pushFiles(t, files("v2"), "v2")
	waitFor(t, "v2 in its gate", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		return stackOutcome(s, w.stack) == "applying", fmt.Sprintf("%+v", s.Stacks)
	})
	if err := fs.Fill(); err != nil {
		t.Fatal(err)
	}
	s := w.waitApplied(t, c2)
	waitFor(t, "status to say the store's writes fail", 30*time.Second, func() (bool, string) {
		s = w.node.status()
		return strings.Contains(s.Store.WriteError, "no space left on device") && s.Store.WriteErrorSince != nil, fmt.Sprintf("%+v", s.Store)
	})
	if out := runSkiff(t, "status", "--socket", w.node.socket); !strings.Contains(out, "WRITES FAILING") {
		t.Errorf("skiff status does not say the store's writes fail:\n%s", out)
	}

	b := other + "-web-1"
	old := w.node.running()[b].ID
	w.node.removeContainer(b)
	waitFor(t, "the other stack healed on a full disk", 30*time.Second, func() (bool, string) {
		c := w.node.running()[b]
		return c.ID != "" && c.ID != old, fmt.Sprint(c)
	})

	c3 := w.pushFiles(t, files("v3"), "v3")
	waitFor(t, "v3 pending on the full disk", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		return s.Pending != nil && s.Pending.Revision == c3 && strings.Contains(s.Pending.Reason, "no space left on device"),
			fmt.Sprintf("%+v", s.Pending)
	})
	if got := w.node.running()[w.stack+"-web-1"].Revision; got != c2 {
		t.Errorf("web runs %s while v3 cannot be fetched, want v2 %s", short7(got), short7(c2))
	}

	if err := fs.Free(); err != nil {
		t.Fatal(err)
	}
	w.waitApplied(t, c3)
	waitFor(t, "status to say the store takes writes again", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		return s.Store.WriteError == "" && s.Store.WriteErrorSince == nil, fmt.Sprintf("%+v", s.Store)
	})
	logs := w.node.log.String()
	if n, m := strings.Count(logs, "state database writes fail"), strings.Count(logs, "state database writable again"); n != 1 || m != 1 {
		t.Errorf("%d 'writes fail' and %d 'writable again' log lines, want one each", n, m)
	}
	w.node.stop()
	st, err := store.Open(filepath.Join(stateDir, store.FileName), store.Options{})
	if err != nil {
		t.Fatalf("the store does not open after the full disk: %v", err)
	}
	defer st.Close()
	meta, err := st.Meta()
	if err != nil || meta.AppliedRevision != c3 {
		t.Errorf("stored applied revision %s (%v), want %s", short7(meta.AppliedRevision), err, short7(c3))
	}
	if rec, err := st.GetStack(w.stack); err != nil || rec.Revision != c3 {
		t.Errorf("stored stack %s at %s (%v), want %s", w.stack, short7(rec.Revision), err, short7(c3))
	}
	if rec, err := st.GetRevision(c2); err != nil || rec.Outcome != store.OutcomeApplied {
		t.Errorf("revision v2, applied on the full disk, is recorded as %+v (%v)", rec, err)
	}
}
