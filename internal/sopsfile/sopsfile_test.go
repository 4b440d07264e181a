package sopsfile_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/skiffops/skiff/internal/sopsfile"
	"github.com/skiffops/skiff/testenv/sopsenc"
)

// The test vectors are encrypted by the sops library itself, and what
// skiff decrypts is compared with what the sops library decrypts.

const plainYAML = `# database settings
db:
    user: app # who connects
    password: s3cret-pass
    port: 5432
    ratio: 0.25
    enabled: true
    nothing: null
    empty: ""
    since: 2024-01-02
    port_unencrypted: 6543
    since_unencrypted: 2024-01-02
    flag_unencrypted: yes
    float_unencrypted: 1.0
hosts:
    - a.example.net
    - name: b
      weight: 2
    - - nested
      - 7
script: |
    line one
    line two
tricky:
    zip: "0123"
    word: "yes"
    nul: "null"
    num: "1.50"
    unicode: "héllo ✓"
    colon: "a: b"
    octal: 0o17
    hex: 0x1F
---
second: document
`

const plainJSON = `{
	"token": "abc\u00e9<&>",
	"n": 42,
	"big": 12345678901234567890,
	"f": 1.5,
	"ok": false,
	"none": null,
	"list": [1, "two", {"three": 3}],
	"keep_unencrypted": "visible"
}
`

const plainDotenv = `# comment line
DB_PASSWORD=pa=ss word
MULTI=first\nsecond
EMPTY=
`

var binaryData = []byte("\x00\x01\xfe\xffnot utf-8: \xc3\x28 and text\n")

type vector struct {
	name   string
	format sopsfile.Format
	plain  []byte
	opts   sopsenc.Options
}

func vectors(recipient string) []vector {
	one := [][]string{{recipient}}
	return []vector{
		{"yaml", sopsfile.YAML, []byte(plainYAML), sopsenc.Options{Groups: one}},
		{"yaml encrypted_regex", sopsfile.YAML, []byte(plainYAML), sopsenc.Options{Groups: one, EncryptedRegex: "^(password|user)$"}},
		{"yaml unencrypted_regex", sopsfile.YAML, []byte(plainYAML), sopsenc.Options{Groups: one, UnencryptedRegex: "^port"}},
		{"yaml encrypted_suffix mac_only_encrypted", sopsfile.YAML, []byte(plainYAML), sopsenc.Options{Groups: one, EncryptedSuffix: "word", MACOnlyEncrypted: true}},
		{"json", sopsfile.JSON, []byte(plainJSON), sopsenc.Options{Groups: one}},
		{"json mac_only_encrypted", sopsfile.JSON, []byte(plainJSON), sopsenc.Options{Groups: one, MACOnlyEncrypted: true}},
		{"dotenv", sopsfile.Dotenv, []byte(plainDotenv), sopsenc.Options{Groups: one}},
		{"binary", sopsfile.Binary, binaryData, sopsenc.Options{Groups: one}},
	}
}

func newIdentity(t *testing.T) (identity, recipient string) {
	t.Helper()
	id, r, err := sopsenc.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id, r
}

func encrypt(t *testing.T, v vector) []byte {
	t.Helper()
	enc, err := sopsenc.Encrypt(v.plain, sopsfile.FormatName(v.format), v.opts)
	if err != nil {
		t.Fatalf("sops encrypt: %v", err)
	}
	return enc
}

// open parses an encrypted file and decrypts it with identity.
func open(t *testing.T, enc []byte, f sopsfile.Format, identity string) (*sopsfile.Plaintext, error) {
	t.Helper()
	file, err := sopsfile.Parse(enc, f)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	key, err := sopsenc.Unwrap(file.Metadata().Groups[0].Age[0].Enc, identity)
	if err != nil {
		t.Fatalf("unwrap the data key: %v", err)
	}
	return file.Decrypt(key)
}

func TestDecryptMatchesSops(t *testing.T) {
	identity, recipient := newIdentity(t)
	t.Setenv("SOPS_AGE_KEY", identity)
	for _, v := range vectors(recipient) {
		t.Run(v.name, func(t *testing.T) {
			enc := encrypt(t, v)
			if bytes.Contains(enc, []byte("s3cret-pass")) || bytes.Contains(enc, []byte("pa=ss word")) {
				t.Fatalf("sops left a secret in clear:\n%s", enc)
			}
			file, err := sopsfile.Parse(enc, v.format)
			if err != nil {
				t.Fatal(err)
			}
			if err := file.Metadata().Check(); err != nil {
				t.Errorf("check: %v", err)
			}
			if got := file.Metadata().Recipients(); len(got) != 1 || got[0] != recipient {
				t.Errorf("recipients %v, want [%s]", got, recipient)
			}
			got, err := open(t, enc, v.format, identity)
			if err != nil {
				t.Fatalf("decrypt:\n%s\nerror: %v", enc, err)
			}
			want, err := sopsenc.Decrypt(enc, sopsfile.FormatName(v.format))
			if err != nil {
				t.Fatalf("sops decrypt: %v", err)
			}
			if !samePlaintext(t, v.format, got.Data, want) {
				t.Errorf("plaintext differs from sops --decrypt:\n--- skiff\n%q\n--- sops\n%q", got.Data, want)
			}
		})
	}
}

// samePlaintext compares skiff's plaintext with sops': byte for byte, but
// for YAML comments, which sops moves (it writes a decrypted line comment
// above its key), and which skiff leaves where the file has them.
func samePlaintext(t *testing.T, f sopsfile.Format, got, want []byte) bool {
	t.Helper()
	if f != sopsfile.YAML {
		return bytes.Equal(got, want)
	}
	if !strings.Contains(string(got), "# who connects") || !strings.Contains(string(got), "# database settings") {
		t.Errorf("a comment was not decrypted:\n%s", got)
	}
	return reflect.DeepEqual(yamlDocs(t, got), yamlDocs(t, want))
}

func yamlDocs(t *testing.T, data []byte) []any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("plaintext YAML: %v", err)
		}
		out = append(out, v)
	}
}

func TestDotenvVariables(t *testing.T) {
	identity, recipient := newIdentity(t)
	enc := encrypt(t, vector{format: sopsfile.Dotenv, plain: []byte(plainDotenv), opts: sopsenc.Options{Groups: [][]string{{recipient}}}})
	file, err := sopsfile.Parse(enc, sopsfile.Dotenv)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(file.EnvKeys(), ","); got != "DB_PASSWORD,MULTI,EMPTY" {
		t.Errorf("keys %s", got)
	}
	p, err := open(t, enc, sopsfile.Dotenv, identity)
	if err != nil {
		t.Fatal(err)
	}
	want := []sopsfile.EnvVar{{Key: "DB_PASSWORD", Value: "pa=ss word"}, {Key: "MULTI", Value: "first\nsecond"}, {Key: "EMPTY", Value: ""}}
	if len(p.Env) != len(want) {
		t.Fatalf("env %q", p.Env)
	}
	for i := range want {
		if p.Env[i] != want[i] {
			t.Errorf("env[%d] = %q, want %q", i, p.Env[i], want[i])
		}
	}
}

// tamper changes an encrypted file the way an attacker with write access to
// the repository (but no key) could.
func TestDecryptRefusesTamperedFiles(t *testing.T) {
	identity, recipient := newIdentity(t)
	_, otherRecipient := newIdentity(t)
	one := [][]string{{recipient}}
	yamlEnc := encrypt(t, vector{format: sopsfile.YAML, plain: []byte(plainYAML), opts: sopsenc.Options{Groups: one}})
	otherEnc := encrypt(t, vector{format: sopsfile.YAML, plain: []byte("a: 1\n"), opts: sopsenc.Options{Groups: one}})
	envEnc := encrypt(t, vector{format: sopsfile.Dotenv, plain: []byte(plainDotenv), opts: sopsenc.Options{Groups: one}})
	lineOf := func(data []byte, prefix string) string {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return l
			}
		}
		t.Fatalf("no line %q in\n%s", prefix, data)
		return ""
	}
	valueOf := func(data []byte, prefix string) string {
		_, v, _ := strings.Cut(lineOf(data, prefix), ": ")
		return v
	}
	cases := []struct {
		name   string
		data   []byte
		format sopsfile.Format
		want   error
	}{
		{"unencrypted value changed", bytes.Replace(yamlEnc, []byte("port_unencrypted: 6543"), []byte("port_unencrypted: 6544"), 1), sopsfile.YAML, sopsfile.ErrMAC},
		{"encrypted values swapped", bytes.Replace(yamlEnc, []byte(lineOf(yamlEnc, "user:")), []byte("    user: "+valueOf(yamlEnc, "password:")), 1), sopsfile.YAML, nil},
		{"value removed", bytes.Replace(yamlEnc, []byte(lineOf(yamlEnc, "ratio:")+"\n"), nil, 1), sopsfile.YAML, sopsfile.ErrMAC},
		{"mac of another file", bytes.Replace(yamlEnc, []byte(lineOf(yamlEnc, "mac:")), []byte(lineOf(otherEnc, "mac:")), 1), sopsfile.YAML, sopsfile.ErrMAC},
		{"dotenv value moved to another key", bytes.Replace(envEnc, []byte("MULTI="), []byte("OTHER="), 1), sopsfile.Dotenv, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if bytes.Equal(c.data, yamlEnc) || bytes.Equal(c.data, envEnc) {
				t.Fatal("the file was not changed")
			}
			p, err := open(t, c.data, c.format, identity)
			if err == nil {
				t.Fatalf("a tampered file decrypted: %s", p.Data)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
			for _, secret := range []string{"s3cret-pass", "pa=ss word", "first"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error carries plaintext: %v", err)
				}
			}
		})
	}
	t.Run("wrong data key", func(t *testing.T) {
		file, err := sopsfile.Parse(yamlEnc, sopsfile.YAML)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := file.Decrypt(bytes.Repeat([]byte{7}, 32)); err == nil {
			t.Fatal("decrypted with a wrong data key")
		}
	})
	t.Run("other recipient", func(t *testing.T) {
		enc := encrypt(t, vector{format: sopsfile.YAML, plain: []byte("a: 1\n"), opts: sopsenc.Options{Groups: [][]string{{otherRecipient}}}})
		file, err := sopsfile.Parse(enc, sopsfile.YAML)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sopsenc.Unwrap(file.Metadata().Groups[0].Age[0].Enc, identity); err == nil {
			t.Fatal("the data key opened with an identity it was not wrapped for")
		}
	})
}
