package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffops/skiff/testenv/sopsenc"
)

// sopsRepo writes a repository whose stack takes a secret file and an
// interpolation variable from files encrypted with SOPS.
func sopsRepo(t *testing.T) string {
	t.Helper()
	_, recipient, err := sopsenc.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	enc := func(plain, format string) []byte {
		b, err := sopsenc.Encrypt([]byte(plain), format, sopsenc.Options{Groups: [][]string{{recipient}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dir := t.TempDir()
	stack := filepath.Join(dir, "stacks", "shop")
	files := map[string][]byte{
		"compose.yaml": []byte(`services:
  api:
    image: registry.example.com/shop/api:1.4
    environment: {DATABASE_URL: "postgres://shop:${DB_PASSWORD}@db/shop"}
    secrets: [db]
secrets:
  db: {file: ./db.sops.yaml}
`),
		"db.sops.yaml": enc("password: render-must-not-show-this\n", "yaml"),
		".sops.env":    enc("DB_PASSWORD=nor-this\n", "dotenv"),
	}
	if err := os.MkdirAll(stack, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(stack, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRenderAndValidateWithoutKeys: neither command has a key; render shows
// placeholders, never plaintext, and validate checks the SOPS files.
func TestRenderAndValidateWithoutKeys(t *testing.T) {
	repo := sopsRepo(t)
	for _, args := range [][]string{{}, {"--json"}} {
		code, stdout, stderr := runCmd(t, append([]string{"render", "--repo", repo, "--region", "eu-west", "--node", "n1"}, args...)...)
		if code != exitOK {
			t.Fatalf("render %v: exit %d\n%s", args, code, stderr)
		}
		if strings.Contains(stdout, "render-must-not-show-this") || strings.Contains(stdout, "nor-this") {
			t.Errorf("render %v prints plaintext:\n%s", args, stdout)
		}
		if !strings.Contains(stdout, "postgres://shop:{{sops:.sops.env:DB_PASSWORD}}@db/shop") {
			t.Errorf("render %v does not show the placeholder:\n%s", args, stdout)
		}
	}
	if code, stdout, stderr := runCmd(t, "validate", "--repo", repo); code != exitOK || stdout != "" {
		t.Errorf("validate of good SOPS files: exit %d\n%s%s", code, stdout, stderr)
	}
	if err := os.WriteFile(filepath.Join(repo, "stacks", "shop", "tls.key.sops"), []byte("-----BEGIN PRIVATE KEY-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runCmd(t, "validate", "--repo", repo)
	if want := "stacks/shop/tls.key.sops: SOPS binary file: not encrypted with sops"; code != exitFailure || !strings.Contains(stdout, want) {
		t.Errorf("validate of a plain file named .sops: exit %d\n%s\nwant %q", code, stdout, want)
	}
}
