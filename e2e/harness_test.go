// Package e2e runs the real skiff binary against the real test world: the
// Docker engine, a Git server over smart HTTP, and fault proxies.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/testenv"
)

// skiffBin is the binary under test, built once by TestMain.
var skiffBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skiff-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	skiffBin = filepath.Join(dir, "skiff")
	// Tests run the agent under the race detector; benchmarks measure the
	// binary as shipped.
	flag.Parse()
	args, env := []string{"build", "-o", skiffBin, "-race"}, os.Environ()
	if flag.Lookup("test.bench").Value.String() != "" {
		// As make build ships it: static, stripped.
		args = []string{"build", "-o", skiffBin, "-trimpath", "-ldflags=-s -w"}
		env = append(env, "CGO_ENABLED=0")
	}
	build := exec.Command("go", append(args, "../cmd/skiff")...)
	build.Env = env
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build skiff: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is one agent process with its own node name, state directory and
// socket, on the shared engine.
type node struct {
	t      testing.TB
	env    *testenv.DockerEnv
	name   string
	dir    string
	config string
	socket string
	cmd    *exec.Cmd
	log    *lockedBuffer
	env2   []string // extra environment of the agent process
}

// newNode writes an agent.yaml for a node following url and registers the
// removal of the node's containers. sourceExtra is added to the source
// settings (", verify: {keyring_file: …}").
func newNode(t testing.TB, env *testenv.DockerEnv, url, sourceExtra string) *node {
	t.Helper()
	n := &node{t: t, env: env, name: testenv.TestName(t), dir: t.TempDir(), log: &lockedBuffer{}}
	n.socket = filepath.Join(n.dir, "skiff.sock")
	n.config = filepath.Join(n.dir, "agent.yaml")
	cfg := fmt.Sprintf(`node: %s
region: test
source: {url: %q, interval: 1s, timeout: 2s%s}
state_dir: %s
api: {socket: %s}
`, n.name, url, sourceExtra, filepath.Join(n.dir, "state"), n.socket)
	if err := os.WriteFile(n.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env.CleanupNode(t, n.name)
	t.Cleanup(func() {
		n.stop()
		if t.Failed() || os.Getenv("SKIFF_E2E_LOGS") != "" {
			t.Logf("agent log of %s:\n%s", n.name, n.log.String())
		}
	})
	return n
}

// start runs the agent and waits until its API answers.
func (n *node) start() {
	n.t.Helper()
	n.cmd = exec.Command(skiffBin, "agent", "--config", n.config, "--log-level", "debug")
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	n.cmd.Env = append(os.Environ(), n.env2...)
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	waitFor(n.t, "the agent's API", 30*time.Second, func() (bool, string) {
		_, err := n.statusErr()
		return err == nil, fmt.Sprint(err)
	})
}

// stop sends SIGTERM and waits; kill sends SIGKILL.
func (n *node) stop() { n.signal(syscall.SIGTERM) }
func (n *node) kill() { n.signal(syscall.SIGKILL) }

func (n *node) signal(sig syscall.Signal) {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(sig)
	_ = n.cmd.Wait()
	n.cmd = nil
}

func (n *node) statusErr() (api.Status, error) {
	var s api.Status
	out, err := exec.Command(skiffBin, "status", "--json", "--socket", n.socket).Output()
	if err != nil {
		return s, fmt.Errorf("skiff status: %w", err)
	}
	return s, json.Unmarshal(out, &s)
}

func (n *node) status() api.Status {
	n.t.Helper()
	s, err := n.statusErr()
	if err != nil {
		n.t.Fatal(err)
	}
	return s
}

func (n *node) history() api.History {
	n.t.Helper()
	h, err := n.historyErr()
	if err != nil {
		n.t.Fatal(err)
	}
	return h
}

func (n *node) historyErr() (api.History, error) {
	var h api.History
	out, err := exec.Command(skiffBin, "history", "--json", "--socket", n.socket).Output()
	if err != nil {
		return h, fmt.Errorf("skiff history: %w", err)
	}
	return h, json.Unmarshal(out, &h)
}

// running returns the node's running containers: name → ID and revision.
func (n *node) running() map[string]runningContainer {
	n.t.Helper()
	cs, err := testenv.Containers(context.Background(), n.env.Client, "io.skiff.node="+n.name, true)
	if err != nil {
		n.t.Fatal(err)
	}
	out := map[string]runningContainer{}
	for _, c := range cs {
		out[c.Name] = runningContainer{ID: c.ID, Revision: c.Labels["io.skiff.revision"]}
	}
	return out
}

type runningContainer struct{ ID, Revision string }

// removeContainer is `docker rm -f`.
func (n *node) removeContainer(name string) {
	n.t.Helper()
	if err := testenv.RemoveContainer(context.Background(), n.env.Client, name); err != nil {
		n.t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the timeout passes; the timeout only
// catches a hang, it is no performance assertion.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
}

// lockedBuffer collects an agent's log across restarts.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stackFiles is a fleet repository with one stack of two services, web and
// worker, both gated by a healthcheck; message changes web.
func stackFiles(stack, image, message string) map[string]string {
	return map[string]string{
		"stacks/" + stack + "/compose.yaml": "services:\n" + service("web", image, message) + service("worker", image, "worker"),
	}
}

// commandOutput runs a command and returns its combined output.
func commandOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
