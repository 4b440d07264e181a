package manifests

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skiffops/skiff/testenv/sopsenc"
)

// fakeDecrypter stands for the agent's keyring: it refuses what err says.
type fakeDecrypter struct {
	mu    sync.Mutex
	err   error
	calls []string // formats asked for
}

func (f *fakeDecrypter) CheckDecrypt(data []byte, format string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, format)
	return f.err
}

// sopsRepo is a stack that uses an encrypted file in every place a
// repository file can go.
type sopsRepo struct {
	t         *testing.T
	recipient string
}

func newSopsRepo(t *testing.T) sopsRepo {
	t.Helper()
	_, r, err := sopsenc.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return sopsRepo{t: t, recipient: r}
}

func (s sopsRepo) enc(plain, format string) string {
	s.t.Helper()
	out, err := sopsenc.Encrypt([]byte(plain), format, sopsenc.Options{Groups: [][]string{{s.recipient}}})
	if err != nil {
		s.t.Fatal(err)
	}
	return string(out)
}

const sopsCompose = `services:
  web:
    image: registry.example.com/skiff/hello:1.0
    environment:
      DSN: postgres://app:${DB_PASSWORD}@db/app
      PLAIN: "1"
    env_file: [app.sops.env]
    volumes: ["./tls.pem.sops:/etc/tls.pem"]
    secrets: [db]
    configs: [settings]
  other:
    image: registry.example.com/skiff/other:1.0
secrets:
  db: {file: ./db.sops.yaml}
configs:
  settings: {file: ./settings.sops.json}
`

func (s sopsRepo) files() repo {
	return repo{
		"stacks/app/compose.yaml":       sopsCompose,
		"stacks/app/.env":               "GREETING=hello\n",
		"stacks/app/.sops.env":          s.enc("DB_PASSWORD=pw-from-dotenv\n", "dotenv"),
		"stacks/app/app.sops.env":       s.enc("API_TOKEN=token-from-env-file\n", "dotenv"),
		"stacks/app/db.sops.yaml":       s.enc("password: yaml-secret\n", "yaml"),
		"stacks/app/settings.sops.json": s.enc(`{"key": "json-secret"}`, "json"),
		"stacks/app/tls.pem.sops":       s.enc("binary-secret", "binary"),
	}
}

var sopsPlaintexts = []string{"pw-from-dotenv", "token-from-env-file", "yaml-secret", "json-secret", "binary-secret"}

func TestLoadRecordsSopsFilesWithoutPlaintext(t *testing.T) {
	s := newSopsRepo(t)
	dec := &fakeDecrypter{}
	d, err := Load(s.files().write(t), Node{Name: "n1", Region: "eu-west"}, WithDecrypter(dec))
	if err != nil {
		t.Fatal(err)
	}
	st := stack(t, d, "app")
	formats := map[string]string{}
	for _, f := range st.Files {
		formats[f.Rel] = f.Sops
	}
	want := map[string]string{
		"stacks/app/.sops.env": "dotenv", "stacks/app/app.sops.env": "dotenv", "stacks/app/db.sops.yaml": "yaml",
		"stacks/app/settings.sops.json": "json", "stacks/app/tls.pem.sops": "binary",
	}
	if diff := cmp.Diff(want, formats); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if len(dec.calls) != 5 {
		t.Errorf("the decrypter checked %v, want every SOPS file once", dec.calls)
	}
	web := st.Project.Services["web"]
	if got := *web.Environment["DSN"]; got != "postgres://app:{{sops:.sops.env:DB_PASSWORD}}@db/app" {
		t.Errorf("DSN = %q", got)
	}
	if got := *web.Environment["API_TOKEN"]; got != "{{sops:app.sops.env:API_TOKEN}}" {
		t.Errorf("API_TOKEN = %q", got)
	}
	if len(web.EnvFiles) != 0 {
		t.Errorf("env_file left for compose-go to read: %v", web.EnvFiles)
	}
	stored, err := st.MarshalStored()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range sopsPlaintexts {
		if strings.Contains(string(stored), p) {
			t.Errorf("the stored stack carries the plaintext %q", p)
		}
	}
	back, err := UnmarshalStoredStack(stored)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st.Files, back.Files); diff != "" {
		t.Errorf("stored files (-want +got):\n%s", diff)
	}
}

func TestLoadRefusesSopsFilesTheNodeCannotDecrypt(t *testing.T) {
	s := newSopsRepo(t)
	r := s.files().with(repo{"stacks/plain/compose.yaml": compose("")})
	d, err := Load(r.write(t), Node{Name: "n1"}, WithDecrypter(&fakeDecrypter{err: errors.New("no identity in /etc/skiff/age.key matches")}))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Refused(); len(got) != 1 || got[0] != "app" {
		t.Fatalf("refused %v, want [app]; problems:\n%s", got, strings.Join(lines(d.Problems), "\n"))
	}
	stack(t, d, "plain") // the other stack goes on
	got := strings.Join(errorLines(d.Problems), "\n")
	for _, want := range []string{
		"stacks/app/.sops.env: cannot be decrypted on this node: no identity in /etc/skiff/age.key matches",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	// Without .sops.env, each file is named at the key that uses it.
	r2 := s.files()
	delete(r2, "stacks/app/.sops.env")
	r2["stacks/app/compose.yaml"] = strings.Replace(sopsCompose, "${DB_PASSWORD}", "x", 1)
	d = load2(t, r2, WithDecrypter(&fakeDecrypter{err: errors.New("MAC mismatch")}))
	got = strings.Join(errorLines(d.Problems), "\n")
	for _, want := range []string{
		"stacks/app/compose.yaml:7: services.web.env_file[0]: env_file app.sops.env: cannot be decrypted on this node: MAC mismatch",
		"stacks/app/compose.yaml:8: services.web.volumes[0]: bind source ./tls.pem.sops: cannot be decrypted on this node: MAC mismatch",
		"stacks/app/compose.yaml:14: secrets.db.file: secret file ./db.sops.yaml: cannot be decrypted on this node: MAC mismatch",
		"stacks/app/compose.yaml:16: configs.settings.file: config file ./settings.sops.json: cannot be decrypted on this node: MAC mismatch",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}

func load2(t *testing.T, r repo, opts ...LoadOption) *Desired {
	t.Helper()
	d, err := Load(r.write(t), Node{Name: "n1"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLoadSopsErrors(t *testing.T) {
	s := newSopsRepo(t)
	base := s.files()
	noMAC := strings.Join(strings.FieldsFunc(base["stacks/app/db.sops.yaml"], func(r rune) bool { return r == '\n' }), "\n")
	noMAC = removeLine(noMAC, "    mac: ")
	cases := []struct {
		name string
		r    repo
		want string
	}{
		{"secret without MAC", base.with(repo{"stacks/app/db.sops.yaml": noMAC}),
			"secrets.db.file: secret file ./db.sops.yaml: no MAC"},
		{"plain file named .sops", base.with(repo{"stacks/app/db.sops.yaml": "password: clear\n"}),
			"secret file ./db.sops.yaml: SOPS yaml file: not encrypted with sops"},
		{"value of .sops.env outside environment", base.with(repo{"stacks/app/compose.yaml": strings.Replace(sopsCompose,
			"image: registry.example.com/skiff/other:1.0", "image: registry.example.com/skiff/other:1.0\n    command: [\"${DB_PASSWORD}\"]", 1)}),
			"stacks/app/compose.yaml:5: variable DB_PASSWORD comes from the encrypted .sops.env: it can only be used in environment values"},
		{"variable in .env and .sops.env", base.with(repo{"stacks/app/.env": "DB_PASSWORD=clear\n"}),
			"stacks/app/.sops.env: DB_PASSWORD is set in both .env and .sops.env"},
		{"encrypted .env", base.with(repo{"stacks/app/.env": base["stacks/app/.sops.env"]}),
			"this .env is encrypted with SOPS: name it .sops.env"},
		{"placeholder written in compose.yaml", base.with(repo{"stacks/app/compose.yaml": sopsCompose + "x-note: \"{{sops:a:b}}\"\n"}),
			"stacks/app/compose.yaml:17: {{sops:…}} is reserved"},
		{"yaml env_file", base.with(repo{"stacks/app/app.sops.env": "", "stacks/app/compose.yaml": strings.Replace(sopsCompose, "[app.sops.env]", "[db.sops.yaml]", 1)}),
			"env_file db.sops.yaml is a SOPS yaml file: an env_file holds KEY=value lines"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.r
			if r["stacks/app/app.sops.env"] == "" {
				delete(r, "stacks/app/app.sops.env")
			}
			d := load2(t, r, WithDecrypter(&fakeDecrypter{}))
			got := strings.Join(errorLines(d.Problems), "\n")
			if !strings.Contains(got, c.want) {
				t.Errorf("problems lack %q:\n%s", c.want, got)
			}
			if rf := d.Refused(); len(rf) != 1 || rf[0] != "app" {
				t.Errorf("refused %v", rf)
			}
		})
	}
}

func removeLine(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// TestValidateChecksEverySopsFile: validate needs no key, checks each SOPS
// file of the repository once, used or not, and says nothing of good ones.
func TestValidateChecksEverySopsFile(t *testing.T) {
	s := newSopsRepo(t)
	r := s.files().with(repo{
		"stacks/app/unused.sops.yaml": "password: clear\n",
		"shared/certs/key.sops":       `{"data": "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]", "sops": {"lastmodified": "2026-01-01T00:00:00Z", "mac": "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]"}}`,
		"stacks/app/db.sops.yaml":     removeLine(s.files()["stacks/app/db.sops.yaml"], "    mac: "),
	})
	ps, err := Validate(r.write(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"shared/certs/key.sops: no age recipient (sops.age is empty): skiff nodes decrypt with age only; encrypt with sops --age <recipient>",
		"stacks/app/db.sops.yaml: no MAC (sops.mac is missing): the file cannot be verified; encrypt it again with sops",
		"stacks/app/unused.sops.yaml: SOPS yaml file: not encrypted with sops: no sops metadata",
	}
	if diff := cmp.Diff(want, errorLines(ps)); diff != "" {
		t.Errorf("validate errors (-want +got):\n%s", diff)
	}
}

// TestHashCoversEncryptedContent: a file encrypted again (same plaintext,
// new data key) recreates what uses it, and only that.
func TestHashCoversEncryptedContent(t *testing.T) {
	s := newSopsRepo(t)
	base := s.files()
	hashes := func(r repo) (web, other string) {
		d := load2(t, r, WithDecrypter(&fakeDecrypter{}))
		return service(t, d, "app", "web").Hash, service(t, d, "app", "other").Hash
	}
	web, other := hashes(base)
	for _, f := range []string{"stacks/app/.sops.env", "stacks/app/app.sops.env", "stacks/app/db.sops.yaml", "stacks/app/settings.sops.json", "stacks/app/tls.pem.sops"} {
		format := map[string]string{"env": "dotenv", "yaml": "yaml", "json": "json", "sops": "binary"}[f[strings.LastIndex(f, ".")+1:]]
		plain := map[string]string{
			"stacks/app/.sops.env": "DB_PASSWORD=pw-from-dotenv\n", "stacks/app/app.sops.env": "API_TOKEN=token-from-env-file\n",
			"stacks/app/db.sops.yaml": "password: yaml-secret\n", "stacks/app/settings.sops.json": `{"key": "json-secret"}`,
			"stacks/app/tls.pem.sops": "binary-secret",
		}[f]
		w, o := hashes(base.with(repo{f: s.enc(plain, format)}))
		if w == web {
			t.Errorf("%s encrypted again: the hash of web did not change", f)
		}
		if o != other {
			t.Errorf("%s encrypted again: the hash of other changed", f)
		}
	}
	// The same ciphertext under a plain name is mounted as it is: a change.
	plainName := base.with(repo{"stacks/app/tls.pem": base["stacks/app/tls.pem.sops"],
		"stacks/app/compose.yaml": strings.Replace(sopsCompose, "./tls.pem.sops:", "./tls.pem:", 1)})
	if w, _ := hashes(plainName); w == web {
		t.Error("a file no longer decrypted kept the hash")
	}
}

func TestRenderNeedsNoKey(t *testing.T) {
	s := newSopsRepo(t)
	d := load2(t, s.files())
	st := stack(t, d, "app")
	b, err := st.Project.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range sopsPlaintexts {
		if strings.Contains(string(b), p) {
			t.Errorf("the project shows the plaintext %q", p)
		}
	}
	if !strings.Contains(string(b), "{{sops:.sops.env:DB_PASSWORD}}") {
		t.Errorf("the placeholder is not shown:\n%s", b)
	}
}
