package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDpkgRootInstall installs the .deb into an empty root with dpkg --root
// (maintainer scripts run chrootless, with DPKG_ROOT set), upgrades it over
// an edited agent.yaml, removes it and purges it.
func TestDpkgRootInstall(t *testing.T) {
	dpkg := requireTool(t, "dpkg", "dpkg")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" || os.Getenv("SKIFF_REQUIRE_DOCKER") == "1" {
			t.Fatal("dpkg --root needs root to give the files their owner")
		}
		t.Skip("dpkg --root needs root to give the files their owner; CI fails instead of skipping")
	}
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(root, "var/lib/dpkg/status"), "")
	write(t, filepath.Join(root, "etc/group"), "docker:x:998:\n") // Docker is installed
	in := func(p string) string { return filepath.Join(root, p) }
	dpkgRoot := func(args ...string) string {
		t.Helper()
		return output(t, dpkg, append([]string{"--root", root, "--force-script-chrootless"}, args...)...)
	}

	deb1, _ := packages(t, "v1.2.3")
	dpkgRoot("-i", deb1)
	for _, f := range []string{"usr/bin/skiff", "lib/systemd/system/skiff.service", "etc/skiff/agent.yaml"} {
		if _, err := os.Stat(in(f)); err != nil {
			t.Errorf("after dpkg -i: %v", err)
		}
	}
	mustContain(t, "/etc/passwd", read(t, in("etc/passwd")), "skiff:x:", ":/var/lib/skiff:")
	mustContain(t, "/etc/group", read(t, in("etc/group")), "docker:x:998:skiff", "\nskiff:x:")
	mustContain(t, "dpkg -s", dpkgRoot("-s", "skiff"), "Status: install ok installed", "Version: 1.2.3-1", "/etc/skiff/agent.yaml")

	edited := read(t, in("etc/skiff/agent.yaml")) + "# edited by the operator\n"
	write(t, in("etc/skiff/agent.yaml"), edited)
	deb2, _ := packages(t, "v1.2.4")
	dpkgRoot("-i", deb2)
	mustContain(t, "dpkg -s after the upgrade", dpkgRoot("-s", "skiff"), "Version: 1.2.4-1")
	if got := read(t, in("etc/skiff/agent.yaml")); got != edited {
		t.Errorf("the upgrade replaced the operator's agent.yaml:\n%s", got)
	}
	if n := strings.Count("\n"+read(t, in("etc/passwd")), "\nskiff:"); n != 1 {
		t.Errorf("after the upgrade /etc/passwd has %d skiff users", n)
	}

	write(t, in("var/lib/skiff/skiff.db"), "state")
	dpkgRoot("-r", "skiff")
	for _, gone := range []string{"usr/bin/skiff", "lib/systemd/system/skiff.service"} {
		if _, err := os.Stat(in(gone)); !os.IsNotExist(err) {
			t.Errorf("after dpkg -r, %s: %v", gone, err)
		}
	}
	for _, kept := range []string{"etc/skiff/agent.yaml", "var/lib/skiff/skiff.db"} {
		if _, err := os.Stat(in(kept)); err != nil {
			t.Errorf("dpkg -r removed %s: %v", kept, err)
		}
	}
	dpkgRoot("-P", "skiff")
	for _, gone := range []string{"etc/skiff/agent.yaml", "var/lib/skiff"} {
		if _, err := os.Stat(in(gone)); !os.IsNotExist(err) {
			t.Errorf("after dpkg -P, %s: %v", gone, err)
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
