package packaging_test

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// installer runs the real ../install.sh with --root into a temporary root.
type installer struct {
	t    *testing.T
	root string
}

func newInstaller(t *testing.T) *installer {
	return &installer{t: t, root: filepath.Join(t.TempDir(), "root")}
}

// run runs install.sh with args (plus --binary and --root) and returns its
// exit code and combined output.
func (in *installer) run(args ...string) (int, string) {
	in.t.Helper()
	args = append([]string{"../install.sh", "--binary", skiffBin, "--root", in.root}, args...)
	cmd := exec.Command("sh", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		in.t.Fatal(err)
	}
	return code, out.String()
}

func (in *installer) mustRun(args ...string) string {
	in.t.Helper()
	code, out := in.run(args...)
	if code != 0 {
		in.t.Fatalf("install.sh %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func (in *installer) path(p string) string { return filepath.Join(in.root, p) }

func (in *installer) read(p string) string {
	in.t.Helper()
	data, err := os.ReadFile(in.path(p))
	if err != nil {
		in.t.Fatal(err)
	}
	return string(data)
}

// snapshot maps every file of the root to its mode, size and time.
func (in *installer) snapshot() map[string]string {
	in.t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(in.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(p, in.root)] = info.Mode().String() + " " + info.ModTime().Format(time.RFC3339Nano)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		in.t.Fatal(err)
	}
	return out
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not say %q:\n%s", what, w, s)
		}
	}
}

var installArgs = []string{
	"--url", "https://git.example.com/fleet.git", "--region", "eu-west", "--node", "edge-07",
	"--label", "gpu=true", "--label", `zone=a "quoted" b`, "--branch", "prod", "--interval", "10s",
	"--keyring", "/etc/skiff/fleet.asc", "--username", "deploy", "--password-file", "/etc/skiff/git-token",
}

const wantConfig = `# skiff node configuration, written by install.sh from its flags.
# Every field is described in packaging/agent.yaml of the skiff sources.
# The agent reloads this file when it is saved.
node: "edge-07"
region: "eu-west"
labels:
  "gpu": "true"
  "zone": "a \"quoted\" b"
source:
  url: "https://git.example.com/fleet.git"
  branch: "prod"
  interval: "10s"
  auth:
    username: "deploy"
    password_file: "/etc/skiff/git-token"
  verify:
    keyring_file: "/etc/skiff/fleet.asc"
`

// TestInstallFreshThenAgain installs into an empty root, checks every file,
// then runs the same command again: nothing changes, and it says so.
func TestInstallFreshThenAgain(t *testing.T) {
	in := newInstaller(t)
	out := in.mustRun(installArgs...)
	mustContain(t, "the first run", out,
		"/etc/skiff/agent.yaml: ok: node edge-07 in region eu-west follows https://git.example.com/fleet.git (branch prod) every 10s",
		"install "+in.path("/usr/local/bin/skiff"), "install "+in.path("/etc/skiff/agent.yaml"), "next steps:", "skiff status")

	binary, err := os.ReadFile(skiffBin)
	if err != nil {
		t.Fatal(err)
	}
	if in.read("/usr/local/bin/skiff") != string(binary) {
		t.Error("the installed binary differs from --binary")
	}
	wantMode(t, in.path("/usr/local/bin/skiff"), 0o755)
	unit, err := os.ReadFile("skiff.service")
	if err != nil {
		t.Fatal(err)
	}
	if in.read("/etc/systemd/system/skiff.service") != string(unit) {
		t.Error("the installed unit differs from packaging/skiff.service")
	}
	wantMode(t, in.path("/etc/systemd/system/skiff.service"), 0o644)
	if got := in.read("/etc/skiff/agent.yaml"); got != wantConfig {
		t.Errorf("agent.yaml:\n%s\nwant:\n%s", got, wantConfig)
	}
	// Readable by everyone: it holds no secret (credentials are files it
	// points at), and skiff status --config reads the socket from it.
	wantMode(t, in.path("/etc/skiff/agent.yaml"), 0o644)
	// The written file is what the agent itself accepts.
	check, err := exec.Command(skiffBin, "config", "check", "--config", in.path("/etc/skiff/agent.yaml")).CombinedOutput()
	if err != nil {
		t.Errorf("skiff config check of the installed agent.yaml: %v\n%s", err, check)
	}
	if _, err := exec.LookPath("systemctl"); err == nil {
		link, err := os.Readlink(in.path("/etc/systemd/system/multi-user.target.wants/skiff.service"))
		if err != nil || link != "/etc/systemd/system/skiff.service" {
			t.Errorf("skiff.service is not enabled in the root: %q, %v", link, err)
		}
	}

	before := in.snapshot()
	out = in.mustRun(installArgs...)
	mustContain(t, "the second run", out, "unchanged: "+in.path("/usr/local/bin/skiff"),
		"unchanged: "+in.path("/etc/skiff/agent.yaml"), "nothing to change")
	if strings.Contains(out, "install "+in.root) {
		t.Errorf("the second run installed something:\n%s", out)
	}
	if after := in.snapshot(); !maps.Equal(before, after) {
		t.Errorf("the second run changed the root:\nbefore %v\nafter  %v", before, after)
	}
	// Without configuration flags (an upgrade of the binary), the file is
	// kept as it is.
	out = in.mustRun()
	mustContain(t, "a run without flags", out, "kept: "+in.path("/etc/skiff/agent.yaml"), "nothing to change")
}

// TestInstallKeepsConfigUnlessForced: different flags never overwrite an
// existing agent.yaml, unless --force (which keeps the old one aside).
func TestInstallKeepsConfigUnlessForced(t *testing.T) {
	in := newInstaller(t)
	in.mustRun(installArgs...)
	first := in.read("/etc/skiff/agent.yaml")

	out := in.mustRun("--url", "https://git.example.com/other.git", "--region", "us-east")
	mustContain(t, "a run with other flags", out, "warning: kept "+in.path("/etc/skiff/agent.yaml"), "--force")
	if got := in.read("/etc/skiff/agent.yaml"); got != first {
		t.Errorf("agent.yaml changed without --force:\n%s", got)
	}

	in.mustRun("--url", "https://git.example.com/other.git", "--region", "us-east", "--force")
	got := in.read("/etc/skiff/agent.yaml")
	mustContain(t, "the forced agent.yaml", got, `region: "us-east"`, `url: "https://git.example.com/other.git"`)
	if strings.Contains(got, "edge-07") {
		t.Errorf("the forced agent.yaml kept old settings:\n%s", got)
	}
	if bak := in.read("/etc/skiff/agent.yaml.bak"); bak != first {
		t.Errorf("agent.yaml.bak is not the previous file:\n%s", bak)
	}
}

// TestInstallRefusesBadInput: an invalid configuration or missing flags
// change nothing.
func TestInstallRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"invalid url", []string{"--url", "ftp://git.example.com/fleet.git", "--region", "eu-west"}, 1, "scheme must be https, http, ssh or file"},
		{"invalid region", []string{"--url", "https://git.example.com/fleet.git", "--region", "EU West"}, 1, "region"},
		{"no region", []string{"--url", "https://git.example.com/fleet.git"}, 2, "--region is required"},
		{"bad label", []string{"--url", "https://git.example.com/fleet.git", "--region", "eu-west", "--label", "gpu"}, 2, "want KEY=VALUE"},
		{"unknown option", []string{"--colour"}, 2, "unknown option --colour"},
		{"purge alone", []string{"--purge"}, 2, "--purge goes with --uninstall"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newInstaller(t)
			code, out := in.run(tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d:\n%s", code, tt.code, out)
			}
			mustContain(t, "install.sh", out, tt.says)
			if _, err := os.Stat(in.root); !os.IsNotExist(err) {
				t.Errorf("install.sh created %s: %v", in.root, in.snapshot())
			}
		})
	}
}

// TestInstallDryRun prints what it would do and changes nothing.
func TestInstallDryRun(t *testing.T) {
	in := newInstaller(t)
	out := in.mustRun(append([]string{"--dry-run"}, installArgs...)...)
	mustContain(t, "--dry-run", out, "would install "+in.path("/usr/local/bin/skiff"), "would install "+in.path("/etc/skiff/agent.yaml"))
	if _, err := os.Stat(in.root); !os.IsNotExist(err) {
		t.Errorf("--dry-run created %v", in.snapshot())
	}
}

// TestUninstallKeepsStateUnlessPurged: --uninstall removes the binary and
// the unit and keeps the configuration and the state; --purge removes those.
func TestUninstallKeepsStateUnlessPurged(t *testing.T) {
	in := newInstaller(t)
	in.mustRun(installArgs...)
	state := in.path("/var/lib/skiff/skiff.db")
	if err := os.MkdirAll(filepath.Dir(state), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, []byte("state"), 0o600); err != nil {
		t.Fatal(err)
	}

	out := in.mustRun("--uninstall")
	mustContain(t, "--uninstall", out, "remove "+in.path("/usr/local/bin/skiff"), "remove "+in.path("/etc/systemd/system/skiff.service"), "kept:")
	for _, gone := range []string{"/usr/local/bin/skiff", "/etc/systemd/system/skiff.service", "/etc/systemd/system/multi-user.target.wants/skiff.service"} {
		if _, err := os.Lstat(in.path(gone)); !os.IsNotExist(err) {
			t.Errorf("%s is still there after --uninstall", gone)
		}
	}
	for _, kept := range []string{"/etc/skiff/agent.yaml", "/var/lib/skiff/skiff.db"} {
		if _, err := os.Stat(in.path(kept)); err != nil {
			t.Errorf("--uninstall removed %s: %v", kept, err)
		}
	}
	out = in.mustRun("--uninstall")
	mustContain(t, "a second --uninstall", out, "nothing to remove")

	in.mustRun("--uninstall", "--purge")
	for _, gone := range []string{"/etc/skiff", "/var/lib/skiff"} {
		if _, err := os.Stat(in.path(gone)); !os.IsNotExist(err) {
			t.Errorf("%s is still there after --purge", gone)
		}
	}
}

// TestPurgeKeepsForeignFiles: --purge removes what install.sh wrote in
// /etc/skiff, never a keyring or token the operator put there.
func TestPurgeKeepsForeignFiles(t *testing.T) {
	in := newInstaller(t)
	in.mustRun(installArgs...)
	token := in.path("/etc/skiff/git-token")
	if err := os.WriteFile(token, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := in.mustRun("--uninstall", "--purge")
	mustContain(t, "--purge", out, "kept: "+in.path("/etc/skiff"))
	if _, err := os.Stat(token); err != nil {
		t.Errorf("--purge removed the operator's file: %v", err)
	}
	if _, err := os.Stat(in.path("/etc/skiff/agent.yaml")); !os.IsNotExist(err) {
		t.Errorf("--purge kept agent.yaml: %v", err)
	}
}
