package manifests

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// TreeDigest is the digest a stack records for a directory it mounts, in
// the listing format stored specs carry (changing it changes every stored
// directory digest), and only the executable bit of a mode counts.
func TestTreeDigest(t *testing.T) {
	r := repo{
		"stacks/app/compose.yaml": compose("    volumes: [\"./conf:/etc/app:ro\"]\n"),
		"stacks/app/conf/a.conf":  "a",
		"stacks/app/conf/sub/b":   "b",
	}
	dir := r.write(t)
	conf := filepath.Join(dir, "stacks", "app", "conf")
	if err := os.Symlink("a.conf", filepath.Join(conf, "link")); err != nil {
		t.Fatal(err)
	}
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	listing := "f \"a.conf\" - " + sum("a") + "\n" +
		"l \"link\" \"a.conf\"\n" +
		"d \"sub\"\n" +
		"f \"sub/b\" - " + sum("b") + "\n"
	want := "sha256:" + sum(listing)

	got, err := TreeDigest(conf)
	if err != nil || got != want {
		t.Fatalf("TreeDigest = %q, %v; want %q", got, err, want)
	}
	for _, f := range stack(t, load(t, dir, Node{Name: "n1"}), "app").Files {
		if f.Dir && f.Digest != want {
			t.Errorf("the stack records %s as %s, TreeDigest says %s", f.Rel, f.Digest, want)
		}
	}

	if err := os.Chmod(filepath.Join(conf, "a.conf"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := TreeDigest(conf); got != want {
		t.Errorf("a mode change other than x changed the digest: %s", got)
	}
	if err := os.Chmod(filepath.Join(conf, "a.conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, _ := TreeDigest(conf); got == want {
		t.Error("making a file executable did not change the digest")
	}
}
