package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skiffops/skiff/agent"
)

// loadWith writes body as a config file, parses args as flags and loads.
func loadWith(t *testing.T, body string, args ...string) (agent.Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cf := bindConfigFlags(fs)
	if err := fs.Parse(append([]string{"--config", path}, args...)); err != nil {
		t.Fatalf("parse flags %v: %v", args, err)
	}
	return cf.load()
}

const minimal = "node: n1\nregion: eu-west\nsource: {url: https://git.example.com/fleet.git}\n"

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := loadWith(t, minimal)
	if err != nil {
		t.Fatal(err)
	}
	want := agent.DefaultConfig("n1")
	want.Region = "eu-west"
	want.Source.URL = "https://git.example.com/fleet.git"
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestLoadConfigShippedExample(t *testing.T) {
	data, err := os.ReadFile("../../packaging/agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadWith(t, string(data))
	if err != nil {
		t.Fatalf("packaging/agent.yaml does not load: %v", err)
	}
	if cfg.Region != "eu-west" || cfg.Source.Interval != 30*time.Second || cfg.API.Socket != agent.DefaultSocket {
		t.Errorf("unexpected values from packaging/agent.yaml: %+v", cfg)
	}
}

func TestLoadConfigFlagsOverrideFile(t *testing.T) {
	body := minimal + "labels: {gpu: \"true\", zone: a}\nregistries: [reg-a:5000]\nsource: {url: https://x.example/f.git, interval: 1m}\n"
	// A duplicated "source" key is a YAML error, so build the file without it.
	body = strings.Replace(body, "source: {url: https://git.example.com/fleet.git}\n", "", 1)
	cfg, err := loadWith(t, body,
		"--source-interval", "5s", "--api-socket", "/tmp/s.sock",
		"--labels", "zone=b", "--labels", "rack=7", "--registries", "r1,r2", "--state-dir", "/srv/skiff")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Source.Interval != 5*time.Second {
		t.Errorf("interval = %s, want the flag's 5s", cfg.Source.Interval)
	}
	if cfg.Source.URL != "https://x.example/f.git" {
		t.Errorf("url = %q, want the file's", cfg.Source.URL)
	}
	if diff := cmp.Diff(map[string]string{"zone": "b", "rack": "7"}, cfg.Labels); diff != "" {
		t.Errorf("labels: flags replace the file's map (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"r1", "r2"}, cfg.Registries); diff != "" {
		t.Errorf("registries (-want +got):\n%s", diff)
	}
	if cfg.API.Socket != "/tmp/s.sock" || cfg.StateDir != "/srv/skiff" {
		t.Errorf("api.socket = %q, state_dir = %q", cfg.API.Socket, cfg.StateDir)
	}
}

func TestLoadConfigSecrets(t *testing.T) {
	cfg, err := loadWith(t, minimal+"secrets: {age_identity_file: /etc/skiff/age.key}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := agent.SecretsConfig{AgeIdentityFile: "/etc/skiff/age.key", RuntimeDir: agent.DefaultSecretsDir}
	if cfg.Secrets != want {
		t.Errorf("secrets %+v, want %+v", cfg.Secrets, want)
	}
	cfg, err = loadWith(t, minimal, "--secrets-age-identity-file", "/k/age.key", "--secrets-runtime-dir", "/run/other")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Secrets.AgeIdentityFile != "/k/age.key" || cfg.Secrets.RuntimeDir != "/run/other" {
		t.Errorf("secrets from flags %+v", cfg.Secrets)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		args  []string
		wants []string // substrings of the error
	}{
		{"unknown top-level key", minimal + "regoin: x\n", nil,
			[]string{"agent.yaml:4:", `unknown key "regoin"`, "region"}},
		{"unknown nested key", "region: r\nsource:\n  url: file:///srv/fleet\n  intervall: 5s\n", nil,
			[]string{"agent.yaml:4:", `unknown key "source.intervall"`}},
		{"duration without unit", "region: r\nsource:\n  url: file:///srv/f\n  interval: 30\n", nil,
			[]string{"agent.yaml:4:", "source.interval", `"30" is not a duration`}},
		{"labels not a map", minimal + "labels: [a, b]\n", nil,
			[]string{"agent.yaml:4:", "labels: must be a mapping"}},
		{"registry not a string", minimal + "registries: [{a: b}]\n", nil,
			[]string{"registries[0]: must be a string"}},
		{"syntax error", "region: [eu\n", nil, []string{"agent.yaml"}},
		{"missing region", "source: {url: file:///srv/f}\n", nil, []string{"region: required"}},
		{"missing url", "region: r\n", nil, []string{"source.url: required"}},
		{"bad scheme", "region: r\nsource: {url: ftp://h/f}\n", nil, []string{"source.url", "scheme must be"}},
		{"password in url is refused and redacted", "region: r\nsource: {url: https://u:hunter2@h/f.git}\n", nil,
			[]string{"source.url", "password_file", "redacted"}},
		{"interval too short", minimal, []string{"--source-interval", "10ms"}, []string{"source.interval: must be at least 1s"}},
		{"relative state dir", minimal, []string{"--state-dir", "var/lib"}, []string{"state_dir: must be an absolute path"}},
		{"ssh key on https", minimal, []string{"--source-auth-ssh-key-file", "/k"}, []string{"source.auth.ssh_key_file"}},
		{"path escapes", minimal, []string{"--source-path", "../x"}, []string{"source.path"}},
		{"bad node name", minimal, []string{"--node", "Edge 7"}, []string{`node: "Edge 7" is not a valid node name`}},
		{"bad registry", minimal, []string{"--registries", "https://reg/x"}, []string{"registries[0]"}},
		{"bad metrics address", minimal, []string{"--api-metrics-listen", "9100"}, []string{"api.metrics_listen"}},
		{"relative age identity file", minimal + "secrets: {age_identity_file: age.key}\n", nil, []string{"secrets.age_identity_file: must be an absolute path"}},
		{"unknown secrets key", minimal + "secrets: {age_identity_files: [/k]}\n", nil,
			[]string{`unknown key "secrets.age_identity_files" (known: age_identity_file, runtime_dir)`}},
		{"runtime dir in the state dir", minimal, []string{"--secrets-runtime-dir", "/var/lib/skiff/secrets"},
			[]string{"secrets.runtime_dir: /var/lib/skiff/secrets and state_dir /var/lib/skiff must not contain each other"}},
		{"state dir in the runtime dir", minimal, []string{"--state-dir", "/run/skiff/secrets/state"}, []string{"secrets.runtime_dir"}},
		{"relative runtime dir", minimal, []string{"--secrets-runtime-dir", "run/secrets"}, []string{"secrets.runtime_dir: must be an absolute path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadWith(t, tt.body, tt.args...)
			wantLoadError(t, err, tt.wants)
		})
	}
}

func TestLoadConfigReportsEveryError(t *testing.T) {
	_, err := loadWith(t, "regoin: x\nsource: {intervall: 1s}\n")
	if err == nil {
		t.Fatal("loaded without error")
	}
	for _, w := range []string{`"regoin"`, `"source.intervall"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %s", err, w)
		}
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cf := bindConfigFlags(fs)
	if err := fs.Parse([]string{"--config", filepath.Join(t.TempDir(), "nope.yaml")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cf.load(); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("explicit missing config: err = %v, want one naming the file", err)
	}
}

func TestConfigFlagNames(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	bindConfigFlags(fs)
	for _, name := range []string{"config", "node", "region", "labels", "source-url", "source-branch",
		"source-path", "source-interval", "source-timeout", "source-auth-username", "source-auth-password-file",
		"source-auth-ssh-key-file", "source-auth-known-hosts-file", "source-verify-keyring-file", "state-dir",
		"api-socket", "api-metrics-listen", "docker-host", "docker-config-file", "registries",
		"secrets-age-identity-file", "secrets-runtime-dir"} {
		if fs.Lookup(name) == nil {
			t.Errorf("no flag --%s", name)
		}
	}
	if fs.Lookup("source-interval").Value.(*overrideValue).Set("soon") == nil {
		t.Error("--source-interval soon: want a parse error at flag time")
	}
}

func FuzzDecodeConfig(f *testing.F) {
	for _, seed := range []string{minimal, "", "a: [", "notify: [{url: x, events: [a], max_per_minute: 1}, ~, [b], {url_file: y}]", "labels: {a: {b: c}}", "source: &x {url: y}\napi: *x\n", "registries: [a, [b]]"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		cfg := agent.DefaultConfig("n")
		if err := decodeConfigFile("agent.yaml", []byte(body), &cfg); err != nil {
			if !strings.Contains(err.Error(), "agent.yaml") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		_ = cfg.Validate() // must not panic on anything that decodes
	})
}

// wantLoadError checks that a config failed to load with an error saying
// each of wants, and that the error does not carry the test password.
func wantLoadError(t *testing.T, err error, wants []string) {
	t.Helper()
	if err == nil {
		t.Fatal("loaded without error")
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the password: %q", err)
	}
}
