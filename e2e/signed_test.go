package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// TestAgentAppliesOnlySignedCommits makes a real OpenPGP key, trusts it on
// the node (source.verify.keyring_file), and pushes in turn a commit it
// signed (applied, verified, its signer in the history), an unsigned one and
// one signed by a key the node does not trust (both refused, status says
// why, the node untouched), then a signed one again (applied), whose
// privileged stack the fleet's policy refuses while its other stack is
// applied.
func TestAgentAppliesOnlySignedCommits(t *testing.T) {
	t.Parallel()
	trusted := newKey(t, "Fleet Release")
	stranger := newKey(t, "Someone Else")
	keyring := filepath.Join(t.TempDir(), "keyring.asc")
	writeArmoredPublic(t, keyring, trusted)
	w := newAgentWorld(t, nil, ", verify: {keyring_file: "+keyring+"}")
	other := w.stack + "-b"
	files := func(v string, extra ...string) map[string]string {
		return map[string]string{
			"stacks/" + w.stack + "/compose.yaml": "services:\n" + service("web", w.image, v),
			"stacks/" + other + "/compose.yaml":   "services:\n" + service("web", w.image, "b", extra...),
		}
	}

	w.git.SignWith(trusted)
	c1 := w.pushFiles(t, files("v1"), "signed")
	w.node.start()
	w.waitApplied(t, c1)
	if h := w.node.history().Revisions[0]; !h.Verified || !strings.Contains(h.Signer, "Fleet Release") {
		t.Errorf("the signed commit in the history: %+v", h)
	}
	before := w.node.running()

	for _, tc := range []struct {
		name   string
		signer *openpgp.Entity
		why    string
	}{
		{"unsigned", nil, "not signed"},
		{"signed by an untrusted key", stranger, "signature"},
	} {
		w.git.SignWith(tc.signer)
		c := w.pushFiles(t, files(tc.name), tc.name)
		waitFor(t, "the "+tc.name+" commit refused", 30*time.Second, func() (bool, string) {
			s := w.node.status()
			return s.Refused != nil && s.Refused.Revision == c && strings.Contains(s.Why, "refused"), fmt.Sprintf("%+v", s.Refused)
		})
		if s := w.node.status(); !strings.Contains(strings.ToLower(s.Refused.Reason), tc.why) || s.AppliedRevision != c1 {
			t.Errorf("%s commit: refused %+v, applied %s; want it refused saying %q, %s applied", tc.name, s.Refused, short7(s.AppliedRevision), tc.why, short7(c1))
		}
		if got := w.node.running(); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("the %s commit changed the node: %v → %v", tc.name, before, got)
		}
	}

	w.git.SignWith(trusted)
	c4 := w.pushFiles(t, files("v4", "privileged: true"), "signed again; b asks for privileges")
	waitFor(t, "the signed commit after the refused ones", 60*time.Second, func() (bool, string) {
		s := w.node.status()
		return w.node.running()[w.stack+"-web-1"].Revision == c4 && stackOutcome(s, other) == "refused", s.Why
	})
	s := w.node.status()
	if s.Refused != nil && s.Refused.Revision == c4 {
		t.Errorf("the signed commit was refused as a whole: %+v", s.Refused)
	}
	if !strings.Contains(s.Why, "privileged containers are denied by policy") || !strings.Contains(s.Why, `policy: {privileged: true}`) {
		t.Errorf("status does not name the policy line: %q", s.Why)
	}
	if got := w.node.running()[other+"-web-1"]; got != before[other+"-web-1"] {
		t.Errorf("the refused stack was touched: %v → %v", before[other+"-web-1"], got)
	}
}

func newKey(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", strings.ToLower(strings.ReplaceAll(name, " ", "."))+"@skiff.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func writeArmoredPublic(t *testing.T, path string, e *openpgp.Entity) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := armor.Encode(f, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(a); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}
