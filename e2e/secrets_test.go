package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffops/skiff/testenv"
	"github.com/skiffops/skiff/testenv/sopsenc"
)

// secretsWorld is an agent whose node has an age identity, and a stack
// whose secret and environment come from files encrypted with SOPS for it.
type secretsWorld struct {
	*world
	recipient  string // the node's
	stranger   string // a recipient that is not the node's, at first
	strangerID string
	keyFile    string
	runtimeDir string
	addr       string
}

func newSecretsWorld(t *testing.T) *secretsWorld {
	t.Helper()
	w := &secretsWorld{world: newAgentWorld(t, nil, ""), runtimeDir: filepath.Join(t.TempDir(), "run", "secrets"), addr: freeAddr(t)}
	identity, recipient, err := sopsenc.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	w.strangerID, w.stranger, err = sopsenc.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	w.recipient = recipient
	w.keyFile = filepath.Join(t.TempDir(), "age.key")
	key := w.keyFile
	if err := os.WriteFile(key, []byte("# public key: "+recipient+"\n"+identity+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(w.node.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "secrets: {age_identity_file: %s, runtime_dir: %s}\n", key, w.runtimeDir); err != nil {
		t.Fatal(err)
	}
	return w
}

// files is the stack: web serves its files, its secret db comes from
// db.sops.yaml and TOKEN from .sops.env; both are encrypted for recipients.
func (w *secretsWorld) files(t *testing.T, password, token string, recipients ...string) map[string]string {
	t.Helper()
	enc := func(plain, format string) string {
		b, err := sopsenc.Encrypt([]byte(plain), format, sopsenc.Options{Groups: [][]string{recipients}})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	dir := "stacks/" + w.stack + "/"
	return map[string]string{
		dir + "compose.yaml": "services:\n" + service("web", w.image, "secrets", `ports: ["`+w.addr+`:8080"]`,
			"restart: always", "secrets: [db]", "environment: {TOKEN: \"${TOKEN}\"}") +
			"secrets:\n  db: {file: ./db.sops.yaml}\n",
		dir + "db.sops.yaml": enc("password: "+password+"\n", "yaml"),
		dir + ".sops.env":    enc("TOKEN="+token+"\n", "dotenv"),
	}
}

func (w *secretsWorld) web(t *testing.T) runningContainer {
	t.Helper()
	return w.node.running()[w.stack+"-web-1"]
}

// TestAgentDecryptsSopsSecrets: a stack whose secret and environment are
// encrypted with SOPS for the node's age key runs with the plaintext in the
// container, and the plaintext is nowhere else on disk than the runtime
// directory, nor in the agent's log, status or history. A new secret
// recreates the container; a file the node cannot decrypt refuses the stack,
// which keeps its container; a reboot (the runtime directory emptied, the
// container stopped) is repaired from the encrypted copy, and with the key
// added to the node meanwhile, the refused revision is applied.
func TestAgentDecryptsSopsSecrets(t *testing.T) {
	w := newSecretsWorld(t)
	c1 := w.pushFiles(t, w.files(t, "first-password-9f3a", "first-token-77c1", w.recipient), "encrypted secret")
	w.node.start()
	w.waitApplied(t, c1)
	if got := page(w.addr, "/file?path=/run/secrets/db"); got != "password: first-password-9f3a\n" {
		t.Errorf("the secret in the container: %q", got)
	}
	if got := page(w.addr, "/env"); !strings.Contains(got, "TOKEN=first-token-77c1\n") {
		t.Errorf("the environment in the container lacks TOKEN:\n%s", got)
	}
	w.assertNoPlaintext(t, "first-password-9f3a", "first-password-9f3a", "first-token-77c1")

	before := w.web(t)
	c2 := w.pushFiles(t, w.files(t, "second-password-41bd", "first-token-77c1", w.recipient), "rotate the password")
	w.waitApplied(t, c2)
	if after := w.web(t); after.ID == before.ID || after.Revision != c2 {
		t.Errorf("a rotated secret did not recreate the container: %+v then %+v", before, after)
	}
	if got := page(w.addr, "/file?path=/run/secrets/db"); got != "password: second-password-41bd\n" {
		t.Errorf("the rotated secret in the container: %q", got)
	}
	waitFor(t, "the old plaintext collected", 30*time.Second, func() (bool, string) {
		return !w.runtimeHolds(t, "first-password-9f3a"), "still in " + w.runtimeDir
	})

	running := w.web(t)
	c3 := w.pushFiles(t, w.files(t, "third-password-0c2e", "first-token-77c1", w.stranger), "encrypted for another node only")
	waitFor(t, "the stack refused", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		for _, st := range s.Stacks {
			if st.Name == w.stack && st.Outcome == "refused" && strings.Contains(st.Error, "cannot be decrypted on this node") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", s.Stacks)
	})
	refusal := w.node.status().Stacks[0].Error
	if !strings.Contains(refusal, "stacks/"+w.stack+"/.sops.env") || !strings.Contains(refusal, w.stranger) {
		t.Errorf("the refusal does not name the file and its recipients: %s", refusal)
	}
	h := w.node.history().Revisions[0]
	if h.Commit != c3 || h.Stacks[w.stack].Outcome != "refused" {
		t.Errorf("history of the refused revision: %+v", h)
	}
	if now := w.web(t); now.ID != running.ID {
		t.Errorf("the refused stack's container was replaced: %+v then %+v", running, now)
	}
	if got := page(w.addr, "/file?path=/run/secrets/db"); got != "password: second-password-41bd\n" {
		t.Errorf("the refused stack does not run its last good spec: %q", got)
	}

	// A reboot: the runtime directory is a new tmpfs, and the container did
	// not start without its secret. Meanwhile the operator added the key the
	// refused revision was encrypted for. The agent starts the container of
	// the last good spec, decrypting its secret again, then applies the
	// revision it refused.
	w.node.stop()
	if err := testenv.StopContainer(t.Context(), w.node.env.Client, running.ID); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(w.runtimeDir); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(w.keyFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(w.strangerID + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	w.node.start()
	w.waitApplied(t, c3)
	if got := page(w.addr, "/file?path=/run/secrets/db"); got != "password: third-password-0c2e\n" {
		t.Errorf("the revision refused before the key was added: %q", got)
	}
	if !strings.Contains(w.node.log.String(), "decrypted a mounted file again") {
		t.Error("the stopped container was not started with its secret decrypted again")
	}
	w.assertNoPlaintext(t, "third-password-0c2e", "first-password-9f3a", "first-token-77c1", "second-password-41bd", "third-password-0c2e")
}

// runtimeHolds reports whether a file under the runtime directory holds s.
func (w *secretsWorld) runtimeHolds(t *testing.T, s string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(w.runtimeDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		found = found || bytes.Contains(b, []byte(s))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// assertNoPlaintext greps the state directory (store, checkouts, file
// copies), the node's configuration directory, the agent's log and
// skiff status and history for each secret, and checks that the runtime
// directory holds the plaintext the container mounts (else the test would
// prove nothing).
func (w *secretsWorld) assertNoPlaintext(t *testing.T, mounted string, secrets ...string) {
	t.Helper()
	status, err := exec.Command(skiffBin, "status", "--json", "--socket", w.node.socket).Output()
	if err != nil {
		t.Fatal(err)
	}
	history, err := exec.Command(skiffBin, "history", "--json", "--socket", w.node.socket).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(status) || !json.Valid(history) {
		t.Fatal("status or history is not JSON")
	}
	blobs := map[string][]byte{"the agent's log": []byte(w.node.log.String()), "skiff status --json": status, "skiff history --json": history}
	err = filepath.WalkDir(w.node.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		blobs[p], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) < 5 {
		t.Fatalf("only %d places to look into", len(blobs))
	}
	for where, b := range blobs {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the plaintext %q", where, s)
			}
		}
	}
	if !w.runtimeHolds(t, mounted) {
		t.Errorf("the runtime directory %s does not hold %q: the mount came from elsewhere", w.runtimeDir, mounted)
	}
}
