package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var skiffFlag = flag.String("skiff", "", "package this skiff `binary` instead of building ../../cmd/skiff")

// The real programs the tests run, built once by TestMain: mkpkg as `make
// package` runs it (not under the race detector, which makes compressing a
// package minutes slow), and skiff as `make build` builds it.
var mkpkgBin, skiffBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "skiff-mkpkg-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mkpkgBin, skiffBin = filepath.Join(dir, "mkpkg"), *skiffFlag
	builds := [][]string{{"build", "-o", mkpkgBin, "."}}
	if skiffBin == "" {
		skiffBin = filepath.Join(dir, "skiff")
		builds = append(builds, []string{"build", "-trimpath", "-ldflags=-s -w", "-o", skiffBin, "../../cmd/skiff"})
	}
	for _, args := range builds {
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go %s: %v\n%s", strings.Join(args, " "), err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestPackageVersion(t *testing.T) {
	tests := []struct {
		described string
		want      pkgVersion
	}{
		{"v0.1.0", pkgVersion{version: "0.1.0"}},
		{"v0.1.0-dirty", pkgVersion{version: "0.1.0", metadata: "dirty"}},
		{"v0.1.0-3-gabc1234", pkgVersion{version: "0.1.0", metadata: "3.gabc1234"}},
		{"v0.1.0-3-gabc1234-dirty", pkgVersion{version: "0.1.0", metadata: "3.gabc1234.dirty"}},
		{"v0.2.0-rc1", pkgVersion{version: "0.2.0", prerelease: "rc1"}},
		{"v0.2.0-rc.2-5-g0123abc", pkgVersion{version: "0.2.0", prerelease: "rc.2", metadata: "5.g0123abc"}},
		{"1.2.3", pkgVersion{version: "1.2.3"}},
		{"6919358", pkgVersion{version: "0.0.0", metadata: "git.6919358"}},
		{"6919358-dirty", pkgVersion{version: "0.0.0", metadata: "git.6919358.dirty"}},
		{"dev", pkgVersion{version: "0.0.0", metadata: "dev"}},
	}
	for _, tt := range tests {
		got, err := packageVersion(tt.described)
		if err != nil || got != tt.want {
			t.Errorf("packageVersion(%q) = %+v, %v; want %+v", tt.described, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "v1.2", "release-7", "1.2.3 beta"} {
		if _, err := packageVersion(bad); err == nil {
			t.Errorf("packageVersion(%q): no error", bad)
		}
	}
}

// packages runs mkpkg for version into a new temporary directory and
// returns the paths of the .deb and the .rpm.
func packages(t *testing.T, version string) (deb, rpm string) {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command(mkpkgBin, "--binary", skiffBin, "--version", version, "--out", out, "--src", "../..")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mkpkg: %v: %s", err, stderr.String())
	}
	for _, p := range strings.Fields(stdout.String()) {
		switch filepath.Ext(p) {
		case ".deb":
			deb = p
		case ".rpm":
			rpm = p
		}
	}
	if deb == "" || rpm == "" {
		t.Fatalf("mkpkg printed %q, want a .deb and an .rpm", stdout.String())
	}
	return deb, rpm
}

func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" || os.Getenv("SKIFF_REQUIRE_DOCKER") == "1" {
		t.Fatalf("%s is not installed (apt-get install %s)", name, pkg)
	}
	t.Skipf("%s is not installed (apt-get install %s); CI fails instead of skipping", name, pkg)
	return ""
}

func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, s)
		}
	}
}

// TestDebContents checks the .deb as dpkg-deb reads it: files, modes,
// conffile, maintainer scripts, control fields; and that the same inputs
// give the same package.
func TestDebContents(t *testing.T) {
	dpkgDeb := requireTool(t, "dpkg-deb", "dpkg")
	deb, _ := packages(t, "v1.2.3-4-gabc1234")
	if got := filepath.Base(deb); !strings.HasPrefix(got, "skiff_1.2.3+4.gabc1234-1_") {
		t.Errorf("package file %s: want skiff_1.2.3+4.gabc1234-1_<arch>.deb", got)
	}
	mustContain(t, "dpkg-deb -c", output(t, dpkgDeb, "-c", deb),
		"-rwxr-xr-x root/root", "./usr/bin/skiff",
		"-rw-r--r-- root/root", "./lib/systemd/system/skiff.service", "./etc/skiff/agent.yaml")
	fields := output(t, dpkgDeb, "-f", deb, "Package", "Version", "Recommends")
	mustContain(t, "the control fields", fields, "Package: skiff", "Version: 1.2.3+4.gabc1234-1", "Recommends: docker.io | docker-ce")
	control := t.TempDir()
	output(t, dpkgDeb, "-e", deb, control)
	conffiles, err := os.ReadFile(filepath.Join(control, "conffiles"))
	if err != nil || strings.TrimSpace(string(conffiles)) != "/etc/skiff/agent.yaml" {
		t.Errorf("conffiles = %q, %v; want /etc/skiff/agent.yaml", conffiles, err)
	}
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		if info, err := os.Stat(filepath.Join(control, script)); err != nil || info.Mode().Perm()&0o111 == 0 {
			t.Errorf("control script %s: %v", script, err)
		}
	}
	unit := t.TempDir()
	output(t, dpkgDeb, "-x", deb, unit)
	data, err := os.ReadFile(filepath.Join(unit, "lib/systemd/system/skiff.service"))
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "the packaged unit", string(data), "ExecStart=/usr/bin/skiff agent --config /etc/skiff/agent.yaml")

	again, _ := packages(t, "v1.2.3-4-gabc1234")
	a, _ := os.ReadFile(deb)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Error("two builds of the same inputs differ: the package is not reproducible")
	}
}

// TestRPMContents checks the .rpm as rpm reads it.
func TestRPMContents(t *testing.T) {
	rpmTool := requireTool(t, "rpm", "rpm")
	_, rpm := packages(t, "v1.2.3")
	list := output(t, rpmTool, "-qp", "--queryformat", "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILENAMES} %{FILEFLAGS:fflags}\n]", rpm)
	mustContain(t, "the rpm's files", list,
		"-rwxr-xr-x root /usr/bin/skiff",
		"-rw-r--r-- root /usr/lib/systemd/system/skiff.service",
		"-rw-r--r-- root /etc/skiff/agent.yaml cn") // %config(noreplace)
	mustContain(t, "the rpm's header", output(t, rpmTool, "-qip", rpm), "Version     : 1.2.3", "Release     : 1")
	mustContain(t, "the rpm's scripts", output(t, rpmTool, "-qp", "--scripts", rpm),
		"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet", "systemd-sysusers")
}
