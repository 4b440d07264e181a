package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	keyring := filepath.Join(dir, "fleet.asc")
	if err := os.WriteFile(keyring, []byte("keys"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "node: edge-07\nregion: eu-west\nsource: {url: https://git.example.com/fleet.git, verify: {keyring_file: "+keyring+"}}\n")
	missing := write("missing.yaml", "region: eu-west\nsource:\n  url: https://git.example.com/fleet.git\n  verify: {keyring_file: /nonexistent/fleet.asc}\n")
	bad := write("bad.yaml", "region: eu-west\nsource:\n  url: https://git.example.com/fleet.git\n  intervall: 30s\n")
	tests := []struct {
		name     string
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{"valid", []string{"config", "check", "--config", good}, exitOK,
			good + ": ok: node edge-07 in region eu-west follows https://git.example.com/fleet.git (branch main) every 30s", ""},
		{"flags win", []string{"config", "check", "--config", good, "--region", "us-east"}, exitOK, "in region us-east", ""},
		{"missing file is a warning", []string{"config", "check", "--config", missing}, exitOK, ": ok:",
			"warning: source.verify.keyring_file: /nonexistent/fleet.asc does not exist"},
		{"unknown key", []string{"config", "check", "--config", bad}, exitFailure, "", `bad.yaml:4: unknown key "source.intervall"`},
		{"invalid value", []string{"config", "check", "--config", good, "--region", "EU West"}, exitFailure, "", "region:"},
		{"no such file", []string{"config", "check", "--config", filepath.Join(dir, "nope.yaml")}, exitFailure, "", "read config"},
		{"no subcommand", []string{"config"}, exitUsage, "", "usage: skiff config check"},
		{"unknown subcommand", []string{"config", "show"}, exitUsage, "", "usage: skiff config check"},
		{"extra argument", []string{"config", "check", "--config", good, "extra"}, exitUsage, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d (stdout %q, stderr %q)", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.inStdout) {
				t.Errorf("stdout %q does not contain %q", stdout, tt.inStdout)
			}
			if !strings.Contains(stderr, tt.inStderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.inStderr)
			}
		})
	}
}
