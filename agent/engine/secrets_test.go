package engine

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/skiffops/skiff/internal/sopsfile"
	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/testenv/sopsenc"
)

// ageDecrypter decrypts with one identity, as agent/secrets does with the
// node's identity file.
type ageDecrypter struct{ identity string }

func (d ageDecrypter) Decrypt(data []byte, format string) (*sopsfile.Plaintext, error) {
	f, _ := sopsfile.ParseFormat(format)
	file, err := sopsfile.Parse(data, f)
	if err != nil {
		return nil, err
	}
	key, err := sopsenc.Unwrap(file.Metadata().Groups[0].Age[0].Enc, d.identity)
	if err != nil {
		return nil, err
	}
	return file.Decrypt(key)
}

const secretsCompose = `services:
  web:
    image: registry.example.com/shop/web:1.4
    environment:
      DSN: postgres://app:${DB_PASSWORD}@db/app
    env_file: [app.sops.env]
    volumes: ["./tls.pem.sops:/etc/tls.pem"]
    secrets:
      - db
      - {source: db, target: db-for-1234, mode: 0o440, uid: "1234"}
secrets:
  db: {file: ./db.sops.yaml}
`

// secretPlaintexts are the files of the stack, encrypted but compose.yaml.
var secretPlaintexts = map[string]string{
	".sops.env":    "DB_PASSWORD=pw-from-dotenv\n",
	"app.sops.env": "API_TOKEN=token-from-env-file\n",
	"db.sops.yaml": "password: yaml-secret\n",
	"tls.pem.sops": "-----BEGIN binary-secret-----\n",
	"compose.yaml": "",
}

// secretsWorld is an engine without Docker: its file store, its secrets
// directory, and a stack with an encrypted file in every place.
type secretsWorld struct {
	e        *Engine
	st       *manifests.Stack
	stateDir string
	repo     string
}

func newSecretsWorld(t *testing.T) secretsWorld {
	t.Helper()
	identity, recipient, err := sopsenc.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	stack := filepath.Join(repo, "stacks", "app")
	if err := os.MkdirAll(stack, 0o755); err != nil {
		t.Fatal(err)
	}
	compose := secretsCompose
	if os.Geteuid() != 0 {
		compose = strings.Replace(compose, `, uid: "1234"`, "", 1)
	}
	formats := map[string]string{".sops.env": "dotenv", "app.sops.env": "dotenv", "db.sops.yaml": "yaml", "tls.pem.sops": "binary"}
	for name, plain := range secretPlaintexts {
		data := []byte(compose)
		if format, ok := formats[name]; ok {
			if data, err = sopsenc.Encrypt([]byte(plain), format, sopsenc.Options{Groups: [][]string{{recipient}}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(stack, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	state := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	e := &Engine{log: log, files: newFileStore(filepath.Join(state, "files"), log),
		secrets: newSecretStore(filepath.Join(t.TempDir(), "run", "secrets"), ageDecrypter{identity}, log)}
	return secretsWorld{e: e, st: loadRepo(t, repo), stateDir: state, repo: repo}
}

func (w secretsWorld) materialize(t *testing.T) (map[string]string, map[string]string) {
	t.Helper()
	files, err := w.e.files.materializeStack(w.st)
	if err != nil {
		t.Fatal(err)
	}
	env, err := w.e.materializeSecrets(w.st, files)
	if err != nil {
		t.Fatal(err)
	}
	return files, env
}

func TestSecretsAreDecryptedUnderTheSecretsDirectoryOnly(t *testing.T) {
	w := newSecretsWorld(t)
	files, env := w.materialize(t)
	spec := mustSpec(t, specRequest{Stack: w.st, Service: "web", Number: 1, Name: "app-web-1", Image: specTestImage, Files: files, Env: env})

	wantEnv := []string{"API_TOKEN=token-from-env-file", "DSN=postgres://app:pw-from-dotenv@db/app"}
	for _, kv := range wantEnv {
		found := false
		for _, got := range spec.Config.Env {
			found = found || got == kv
		}
		if !found {
			t.Errorf("env %v lacks %s", spec.Config.Env, kv)
		}
	}
	if len(spec.Host.Binds) != 0 {
		t.Errorf("binds %v: a decrypted file must be mounted with the Mount API", spec.Host.Binds)
	}
	secretsDir := w.e.secrets.dir
	targets := map[string]string{"/etc/tls.pem": "-----BEGIN binary-secret-----\n", "/run/secrets/db": "password: yaml-secret\n", "/run/secrets/db-for-1234": "password: yaml-secret\n"}
	for _, m := range spec.Host.Mounts {
		want, ok := targets[m.Target]
		if !ok {
			continue
		}
		delete(targets, m.Target)
		if !strings.HasPrefix(m.Source, secretsDir+"/") || !m.ReadOnly {
			t.Errorf("%s mounts %s (read-only %v), want a read-only file under %s", m.Target, m.Source, m.ReadOnly, secretsDir)
		}
		if b, err := os.ReadFile(m.Source); err != nil || string(b) != want {
			t.Errorf("%s holds %q (%v), want %q", m.Target, b, err, want)
		}
		fi, _ := os.Stat(m.Source)
		wantMode := fs.FileMode(0o400)
		if m.Target == "/run/secrets/db-for-1234" {
			wantMode = 0o440
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && st.Uid != 1234 {
				t.Errorf("variant owner %d, want 1234", st.Uid)
			}
		}
		if fi.Mode() != wantMode {
			t.Errorf("%s mode %v, want %v", m.Source, fi.Mode(), wantMode)
		}
		if dir, _ := os.Stat(filepath.Dir(m.Source)); dir.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %v, want 0700", filepath.Dir(m.Source), dir.Mode())
		}
	}
	if len(targets) > 0 {
		t.Errorf("not mounted: %v", targets)
	}
	if fi, _ := os.Stat(secretsDir); fi.Mode().Perm() != 0o700 {
		t.Errorf("secrets directory mode %v", fi.Mode())
	}
	// Only mounted files have a plaintext copy; none is on the state side.
	ents, _ := os.ReadDir(secretsDir)
	if len(ents) != 3 {
		t.Errorf("secrets directory holds %d entries, want 3 (two files and a variant)", len(ents))
	}
	grepTree(t, w.stateDir, "pw-from-dotenv", "token-from-env-file", "yaml-secret", "binary-secret")
	grepTree(t, w.repo, "pw-from-dotenv", "token-from-env-file", "yaml-secret", "binary-secret")
}

// grepTree fails when any file below dir contains one of the secrets.
func grepTree(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the plaintext %q", p, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSecretsAreRewrittenWhenChangedAndRestoredWhenGone(t *testing.T) {
	w := newSecretsWorld(t)
	files, _ := w.materialize(t)
	p := files[fileByRel(t, w.st, "stacks/app/db.sops.yaml").Path]
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("password: changed-by-someone\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	again, _ := w.materialize(t)
	if b, _ := os.ReadFile(again[fileByRel(t, w.st, "stacks/app/db.sops.yaml").Path]); string(b) != "password: yaml-secret\n" {
		t.Errorf("a changed plaintext copy was reused: %q", b)
	}
	// The runtime directory is emptied at boot: the copy comes back from
	// the encrypted copy in the state directory, without a checkout.
	if err := os.RemoveAll(w.e.secrets.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(w.repo); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(w.e.secrets.dir, p)
	if err := w.e.restoreSecret(filepath.ToSlash(rel)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "password: yaml-secret\n" {
		t.Errorf("restored %q", b)
	}
}

func TestSecretsCollect(t *testing.T) {
	w := newSecretsWorld(t)
	w.materialize(t)
	if err := os.WriteFile(filepath.Join(w.e.secrets.dir, "not-ours"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := w.e.secrets.collect(referencedSecrets([]*manifests.Stack{w.st}), nil)
	if err != nil || n != 0 {
		t.Fatalf("collect with the stack kept: removed %d, %v", n, err)
	}
	n, err = w.e.secrets.collect(referencedSecrets(nil), nil)
	if err != nil || n != 3 {
		t.Fatalf("collect with nothing kept: removed %d, %v; want 3", n, err)
	}
	ents, _ := os.ReadDir(w.e.secrets.dir)
	if len(ents) != 1 || ents[0].Name() != "not-ours" {
		t.Errorf("left %v, want only the entry skiff does not write", ents)
	}
}

func TestSecretsNeedADecrypter(t *testing.T) {
	w := newSecretsWorld(t)
	files, err := w.e.files.materializeStack(w.st)
	if err != nil {
		t.Fatal(err)
	}
	w.e.secrets = nil
	if _, err := w.e.materializeSecrets(w.st, files); !errors.Is(err, ErrNoDecrypter) {
		t.Errorf("without a decrypter: %v", err)
	}
	w.e.secrets = newSecretStore(t.TempDir(), ageDecrypter{"AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"}, w.e.log)
	_, err = w.e.materializeSecrets(w.st, files)
	if err == nil || !strings.Contains(err.Error(), "repository file stacks/app/") {
		t.Errorf("with a wrong identity: %v", err)
	}
	// A placeholder without a value refuses the container.
	st := *w.st
	web := st.Project.Services["web"]
	bad := "{{sops:.sops.env:NOT_THERE}}"
	web.Environment = types.MappingWithEquals{"X": &bad}
	st.Project = &types.Project{Name: st.Project.Name, Services: types.Services{"web": web}}
	if _, err := buildSpec(specRequest{Stack: &st, Service: "web", Number: 1, Name: "app-web-1", Image: specTestImage, Files: files}); !errors.Is(err, errCannotHonour) {
		t.Errorf("unresolved placeholder: %v", err)
	}
}
