package packaging_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/skiffops/skiff/testenv/sopsenc"
)

// ageKeyFile writes an identity file as age-keygen does, and returns it
// with its recipient.
func ageKeyFile(t *testing.T) (path, recipient string) {
	t.Helper()
	identity, recipient, err := sopsenc.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "node.agekey")
	body := "# created: 2026-12-01T10:00:00Z\n# public key: " + recipient + "\n" + identity + "\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, recipient
}

// TestInstallAgeKey: --age-key installs the node's age identities, readable
// by root alone, and a new agent.yaml points the agent at them; the run is
// idempotent, and --purge removes the key with the configuration.
func TestInstallAgeKey(t *testing.T) {
	in := newInstaller(t)
	key, recipient := ageKeyFile(t)
	args := append(slices.Clone(installArgs), "--age-key", key)
	out := in.mustRun(args...)
	mustContain(t, "the first run", out, "the node's age recipient (encrypt the repository's SOPS files for it): "+recipient,
		"install "+in.path("/etc/skiff/age.key"))
	want, _ := os.ReadFile(key)
	if got := in.read("/etc/skiff/age.key"); got != string(want) {
		t.Errorf("installed key %q, want the file given", got)
	}
	wantMode(t, in.path("/etc/skiff/age.key"), 0o400)
	if info, err := os.Stat(in.path("/etc/skiff/age.key")); err == nil && os.Geteuid() == 0 {
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
			t.Errorf("age.key is owned by uid %d, want root", st.Uid)
		}
	}
	if got := in.read("/etc/skiff/agent.yaml"); got != wantConfig+"secrets:\n  age_identity_file: \"/etc/skiff/age.key\"\n" {
		t.Errorf("agent.yaml:\n%s", got)
	}

	before := in.snapshot()
	out = in.mustRun(args...)
	mustContain(t, "the second run", out, "unchanged: "+in.path("/etc/skiff/age.key"), "nothing to change")
	if after := in.snapshot(); !maps.Equal(before, after) {
		t.Errorf("the second run changed the root:\nbefore %v\nafter  %v", before, after)
	}

	in.mustRun("--uninstall")
	if _, err := os.Stat(in.path("/etc/skiff/age.key")); err != nil {
		t.Errorf("--uninstall removed the key: %v", err)
	}
	secrets := in.path("/run/skiff/secrets/0123/plain")
	if err := os.MkdirAll(filepath.Dir(secrets), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secrets, []byte("decrypted"), 0o400); err != nil {
		t.Fatal(err)
	}
	out = in.mustRun("--uninstall", "--purge")
	mustContain(t, "--purge", out, "remove "+in.path("/etc/skiff/age.key"), "remove the decrypted files in "+in.path("/run/skiff/secrets"))
	for _, gone := range []string{"/etc/skiff", "/run/skiff/secrets"} {
		if _, err := os.Stat(in.path(gone)); !os.IsNotExist(err) {
			t.Errorf("%s is still there after --purge", gone)
		}
	}
}

// TestInstallAgeKeyOnAnInstalledNode: the key of a node installed without
// one is installed, and the kept agent.yaml that does not use it is said so.
func TestInstallAgeKeyOnAnInstalledNode(t *testing.T) {
	in := newInstaller(t)
	in.mustRun(installArgs...)
	key, _ := ageKeyFile(t)
	out := in.mustRun("--age-key", key)
	mustContain(t, "a run with --age-key only", out, "install "+in.path("/etc/skiff/age.key"),
		"does not use the age key: add 'secrets: {age_identity_file: /etc/skiff/age.key}' to it")
	if got := in.read("/etc/skiff/agent.yaml"); got != wantConfig {
		t.Errorf("agent.yaml changed:\n%s", got)
	}
}

func TestInstallRefusesBadAgeKeys(t *testing.T) {
	notKey := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notKey, []byte("age1notasecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, says string }{
		{notKey, "holds no age identity"},
		{filepath.Join(t.TempDir(), "missing"), "is not a readable file"},
	} {
		in := newInstaller(t)
		code, out := in.run(append(slices.Clone(installArgs), "--age-key", c.file)...)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1:\n%s", c.file, code, out)
		}
		mustContain(t, "install.sh", out, c.says)
		if _, err := os.Stat(in.root); !os.IsNotExist(err) {
			t.Errorf("install.sh created %s: %v", in.root, in.snapshot())
		}
	}
}
