package secrets_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffops/skiff/agent/secrets"
	"github.com/skiffops/skiff/testenv/sopsenc"
)

type identity struct{ secret, recipient string }

func newIdentity(t *testing.T) identity {
	t.Helper()
	s, r, err := sopsenc.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return identity{s, r}
}

// keyFile writes an identity file as age-keygen does, comments included.
func keyFile(t *testing.T, ids ...identity) string {
	t.Helper()
	var b strings.Builder
	for _, id := range ids {
		b.WriteString("# created: 2026-12-01T10:00:00Z\n# public key: " + id.recipient + "\n" + id.secret + "\n")
	}
	p := filepath.Join(t.TempDir(), "age.key")
	if err := os.WriteFile(p, []byte(b.String()), 0o400); err != nil {
		t.Fatal(err)
	}
	return p
}

func encrypt(t *testing.T, plain, format string, o sopsenc.Options) []byte {
	t.Helper()
	enc, err := sopsenc.Encrypt([]byte(plain), format, o)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestKeyringDecrypts(t *testing.T) {
	node, other, third := newIdentity(t), newIdentity(t), newIdentity(t)
	enc := encrypt(t, "password: s3cret\n", "yaml", sopsenc.Options{Groups: [][]string{{other.recipient, node.recipient}}})
	k := secrets.NewKeyring(keyFile(t, third, node)) // the second identity of the file matches
	p, err := k.Decrypt(enc, "yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Data) != "password: s3cret\n" {
		t.Errorf("plaintext %q", p.Data)
	}
	if err := k.CheckDecrypt(enc, "yaml"); err != nil {
		t.Errorf("check: %v", err)
	}
}

func TestKeyringRefuses(t *testing.T) {
	node, other := newIdentity(t), newIdentity(t)
	forOther := encrypt(t, "password: s3cret\n", "yaml", sopsenc.Options{Groups: [][]string{{other.recipient}}})
	cases := []struct {
		name string
		k    *secrets.Keyring
		want string
	}{
		{"no identity file configured", secrets.NewKeyring(""), "secrets.age_identity_file"},
		{"identity file missing", secrets.NewKeyring(filepath.Join(t.TempDir(), "age.key")), "no such file"},
		{"not an identity file", secrets.NewKeyring(writeFile(t, "not a key\n")), "error at line 1"},
		{"other recipient", secrets.NewKeyring(keyFile(t, node)), "matches the file's age recipients (" + other.recipient + ")"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.k.Decrypt(forOther, "yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "AGE-SECRET-KEY") {
				t.Errorf("the error carries a secret: %v", err)
			}
		})
	}
	if _, err := secrets.NewKeyring("").Decrypt(forOther, "yaml"); !errors.Is(err, secrets.ErrNoIdentity) {
		t.Errorf("no identity: %v, want ErrNoIdentity", err)
	}
}

func writeFile(t *testing.T, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKeyringShamir: a file split over three key groups, two needed.
func TestKeyringShamir(t *testing.T) {
	a, b, c := newIdentity(t), newIdentity(t), newIdentity(t)
	enc := encrypt(t, "TOKEN=t0ken\n", "dotenv", sopsenc.Options{Groups: [][]string{{a.recipient}, {b.recipient}, {c.recipient}}, Threshold: 2})
	p, err := secrets.NewKeyring(keyFile(t, a, c)).Decrypt(enc, "dotenv")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Env) != 1 || p.Env[0].Value != "t0ken" {
		t.Errorf("env %q", p.Env)
	}
	_, err = secrets.NewKeyring(keyFile(t, b)).Decrypt(enc, "dotenv")
	if err == nil || !strings.Contains(err.Error(), "open 1 of the 2 key groups needed") {
		t.Errorf("one share of two: %v", err)
	}
}
