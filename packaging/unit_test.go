package packaging_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// unit is a systemd unit file: section → key → values (a key may repeat).
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
			}
			u[section][key] = append(u[section][key], value)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// TestUnitKeys checks the keys the agent's contract depends on (DESIGN.md
// §5, §7): notify readiness, a watchdog, restarts, state and runtime
// directories, Docker first, and stopping the agent never stops containers.
func TestUnitKeys(t *testing.T) {
	u := parseUnit(t, "skiff.service")
	exact := map[string]map[string]string{
		"Service": {
			"Type":             "notify",
			"ExecStart":        "/usr/local/bin/skiff agent --config /etc/skiff/agent.yaml",
			"Restart":          "always",
			"KillMode":         "process",
			"StateDirectory":   "skiff",
			"RuntimeDirectory": "skiff",
			// decrypted files stay mounted while the agent is stopped
			"RuntimeDirectoryPreserve": "yes",
			"WatchdogSec":              "30s",
			"NoNewPrivileges":          "yes",
			"ProtectSystem":            "strict",
			"PrivateTmp":               "yes",
			"UMask":                    "0022",
		},
		"Install": {"WantedBy": "multi-user.target"},
	}
	for section, keys := range exact {
		for key, want := range keys {
			if got := u[section][key]; len(got) != 1 || got[0] != want {
				t.Errorf("[%s] %s = %q, want exactly %q", section, key, got, want)
			}
		}
	}
	for _, key := range []string{"After", "Wants"} {
		if words := strings.Fields(strings.Join(u["Unit"][key], " ")); !slices.Contains(words, "docker.service") {
			t.Errorf("[Unit] %s = %q: want docker.service in it", key, words)
		}
	}
	// The Docker socket must stay reachable, and the agent runs as root
	// unless a drop-in says otherwise.
	for _, key := range []string{"User", "DynamicUser", "PrivateNetwork", "IPAddressDeny", "InaccessiblePaths"} {
		if v, ok := u["Service"][key]; ok {
			t.Errorf("[Service] %s = %q: it would keep the agent from the Docker socket or change who runs it", key, v)
		}
	}
	if families := strings.Join(u["Service"]["RestrictAddressFamilies"], " "); !strings.Contains(families, "AF_UNIX") {
		t.Errorf("RestrictAddressFamilies = %q: the Docker socket needs AF_UNIX", families)
	}
}

// TestUnitVerifies runs systemd-analyze verify on the unit, with ExecStart
// pointing at a real skiff binary (it checks that the command exists).
func TestUnitVerifies(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	data, err := os.ReadFile("skiff.service")
	if err != nil {
		t.Fatal(err)
	}
	copied := strings.Replace(string(data), "ExecStart=/usr/local/bin/skiff ", "ExecStart="+skiffBin+" ", 1)
	path := filepath.Join(t.TempDir(), "skiff.service")
	if err := os.WriteFile(path, []byte(copied), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
