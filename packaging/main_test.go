// Package packaging_test checks what puts skiff on a node: the systemd unit
// and install.sh, run for real into a temporary root.
package packaging_test

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var skiffFlag = flag.String("skiff", "", "use this skiff `binary` instead of building ../cmd/skiff")

// skiffBin is the real skiff binary, built once by TestMain.
var skiffBin string

func TestMain(m *testing.M) {
	flag.Parse()
	skiffBin = *skiffFlag
	dir := ""
	if skiffBin == "" {
		var err error
		dir, err = os.MkdirTemp("", "skiff-packaging-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		skiffBin = filepath.Join(dir, "skiff")
		build := exec.Command("go", "build", "-o", skiffBin, "../cmd/skiff")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build skiff: %v\n%s", err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// requireTool returns the path of a tool the test needs. It skips the test
// when the tool is missing, or fails it in CI (CI or SKIFF_REQUIRE_DOCKER
// set), where .ci/run installs every tool.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is not installed (apt-get install %s)", name, debianPackage(name))
	if os.Getenv("CI") != "" || os.Getenv("SKIFF_REQUIRE_DOCKER") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; CI fails instead of skipping")
	return ""
}

func debianPackage(tool string) string {
	switch tool {
	case "systemd-analyze", "systemctl":
		return "systemd"
	case "dpkg", "dpkg-deb":
		return "dpkg"
	}
	return tool
}
