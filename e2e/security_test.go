package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffops/skiff/testenv"
)

// TestAgentKeepsCredentialsOutOfEverything runs a node whose Git server
// wants a password (from a password file) and whose registry has a token
// in the Docker config file, and then reads everything the agent wrote or
// says: its log, status and history (JSON and text), every file of its
// state directory, the store included. Neither secret is anywhere. It also
// checks the modes of the state directory, the store and the socket, and
// that the agent listens on no TCP port unless api.metrics_listen is set.
func TestAgentKeepsCredentialsOutOfEverything(t *testing.T) {
	t.Parallel()
	const password, token = "git-password-9f3a7c", "registry-token-51d2e8"
	dir := t.TempDir()
	passwordFile := filepath.Join(dir, "git-password")
	writeSecret(t, passwordFile, password+"\n")
	reg := testenv.Registry(t)
	w := newAgentWorld(t, nil, ", auth: {username: fleet, password_file: "+passwordFile+"}")
	w.git.RequireBasicAuth("fleet", password)
	dockerConfig := filepath.Join(dir, "config.json")
	basic := base64.StdEncoding.EncodeToString([]byte("robot:" + token))
	writeSecret(t, dockerConfig, fmt.Sprintf(`{"auths": {%q: {"auth": %q, "identitytoken": %q}}}`, reg.Addr(), basic, token))
	writeConfig(t, w.node, func(c string) string { return c + fmt.Sprintf("docker: {config_file: %q}\n", dockerConfig) })

	image := reg.Addr() + "/skiff/" + w.node.name + ":1"
	ctx := context.Background()
	if err := testenv.PushImage(ctx, w.node.env.Client, w.image, image); err != nil {
		t.Fatal(err)
	}
	testenv.RemoveImageTag(t, w.node.env.Client, image) // the agent pulls it
	t.Cleanup(func() { testenv.RemoveImageTag(t, w.node.env.Client, image) })
	c1 := w.pushFiles(t, map[string]string{
		"fleet.yaml":                          fmt.Sprintf("registries: [%q]\n", reg.Addr()),
		"stacks/" + w.stack + "/compose.yaml": "services:\n" + service("web", image, "web"),
	}, "an image from the registry")
	pushes := w.git.Requests().ReceivePack // the test's own
	w.node.start()
	w.waitApplied(t, c1)
	if got := w.node.running()[w.stack+"-web-1"].Revision; got != c1 {
		t.Fatalf("web at %s, want %s", short7(got), short7(c1))
	}
	if n := listeningTCP(t, w.node.cmd.Process.Pid); len(n) != 0 {
		t.Errorf("the agent listens on TCP without metrics_listen: %v", n)
	}

	state := filepath.Join(w.node.dir, "state")
	wantMode(t, state, fs.ModeDir|0o700)
	wantMode(t, filepath.Join(state, "skiff.db"), 0o600)
	wantMode(t, w.node.socket, fs.ModeSocket|0o660)

	said := map[string]string{
		"the agent's log": w.node.log.String(),
		"status --json":   runSkiff(t, "status", "--json", "--socket", w.node.socket),
		"status":          runSkiff(t, "status", "--socket", w.node.socket),
		"history --json":  runSkiff(t, "history", "--json", "--socket", w.node.socket),
		"plan":            runSkiff(t, "plan", "--socket", w.node.socket),
	}
	w.node.stop() // the store's last writes are on disk
	if got := w.git.Requests(); got.ReceivePack != pushes || got.AdvertiseReceive != pushes {
		t.Errorf("the agent pushed with the node's Git credential: %+v", got)
	}
	err := filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		said[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for where, text := range said {
		for _, secret := range []string{password, token, basic} {
			if strings.Contains(text, secret) {
				t.Errorf("a credential (%.8s…) is in %s", secret, where)
			}
		}
	}

	metrics := freeAddr(t)
	writeConfig(t, w.node, func(c string) string {
		return strings.Replace(c, "api: {socket: "+w.node.socket+"}", fmt.Sprintf("api: {socket: %s, metrics_listen: %q}", w.node.socket, metrics), 1)
	})
	w.node.start()
	waitFor(t, "the metrics listener", 30*time.Second, func() (bool, string) {
		got := listeningTCP(t, w.node.cmd.Process.Pid)
		return slices.Equal(got, []string{metrics}), fmt.Sprint(got)
	})
}

func writeSecret(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (fs.ModeType | fs.ModePerm); got != want {
		t.Errorf("%s has mode %v, want %v", path, got, want)
	}
}

// listeningTCP returns the addresses pid listens on over TCP (v4 and v6):
// the sockets among its file descriptors that /proc/net/tcp* lists in state
// LISTEN.
func listeningTCP(t *testing.T, pid int) []string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil {
			if ino, ok := strings.CutPrefix(target, "socket:["); ok {
				inodes[strings.TrimSuffix(ino, "]")] = true
			}
		}
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 9 && fields[3] == "0A" && inodes[fields[9]] { // 0A: LISTEN
				out = append(out, procAddr(fields[1]))
			}
		}
		f.Close()
	}
	slices.Sort(out)
	return out
}

// procAddr turns /proc/net/tcp's 0100007F:1F90 into 127.0.0.1:8080 (IPv4;
// other addresses are returned as they are).
func procAddr(hexAddr string) string {
	ip, port, _ := strings.Cut(hexAddr, ":")
	var p int
	fmt.Sscanf(port, "%X", &p)
	if len(ip) != 8 {
		return fmt.Sprintf("[%s]:%d", ip, p)
	}
	var b [4]int
	for i := range b {
		fmt.Sscanf(ip[2*(3-i):2*(3-i)+2], "%X", &b[i])
	}
	return fmt.Sprintf("%d.%d.%d.%d:%d", b[0], b[1], b[2], b[3], p)
}
