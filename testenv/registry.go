package testenv

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// RegistryBinary is where Debian's docker-registry package installs the
// registry; PATH is searched when it is not there.
const RegistryBinary = "/usr/bin/docker-registry"

const (
	registryStartTimeout = 10 * time.Second
	registryStopTimeout  = 5 * time.Second
	registryAttempts     = 3
	registryLogTail      = 20
)

// RegistryServer is a docker-registry process serving on 127.0.0.1, with its
// own config, storage and log in one directory.
type RegistryServer struct {
	addr    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited
	auth    registryAuth  // the credentials it wants; none when empty
}

// RegistryRequest is one request the registry answered, read from its log.
type RegistryRequest struct {
	Method string
	URI    string
	Status int
}

// StartRegistry starts a registry on a free 127.0.0.1 port, with config,
// storage and log under dir, and waits until it answers GET /v2/.
func StartRegistry(dir string) (*RegistryServer, error) {
	return startRegistry(dir, registryAuth{})
}

func startRegistry(dir string, auth registryAuth) (*RegistryServer, error) {
	bin, err := registryBinary()
	if err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	// The free port may be taken between FreeAddr and the registry's
	// listen: a registry that exits before it answers is tried again.
	for attempt := 1; ; attempt++ {
		r, err := startRegistryOnce(bin, dir, auth)
		if err == nil || !errors.Is(err, errRegistryExited) || attempt == registryAttempts {
			return r, err
		}
	}
}

var errRegistryExited = errors.New("registry exited before it answered")

// Registry starts a registry for t and stops it in t.Cleanup. It skips t when
// docker-registry is not installed, or fails it when SKIFF_REQUIRE_DOCKER=1.
func Registry(t testing.TB) *RegistryServer {
	t.Helper()
	if _, err := registryBinary(); err != nil {
		missingDocker(t, err.Error())
	}
	r, err := StartRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("registry cleanup: %v", err)
		}
	})
	return r
}

// Addr returns "127.0.0.1:port", the host part of image references served by
// this registry.
func (r *RegistryServer) Addr() string { return r.addr }

// URL returns the registry's base URL.
func (r *RegistryServer) URL() string { return "http://" + r.addr }

// LogPath returns the registry's log file (JSON lines).
func (r *RegistryServer) LogPath() string { return r.logPath }

// Close stops the registry (SIGTERM, then SIGKILL) and waits for it to exit.
func (r *RegistryServer) Close() error {
	select {
	case <-r.done:
		return nil
	default:
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop registry %s (pid %d): %w", r.addr, r.cmd.Process.Pid, err)
	}
	select {
	case <-r.done:
		return nil
	case <-time.After(registryStopTimeout):
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill registry %s (pid %d): %w", r.addr, r.cmd.Process.Pid, err)
	}
	<-r.done
	return nil
}

// Requests counts the requests the registry answered with a status below
// 400 whose method is method (any when empty) and whose path starts with
// pathPrefix, e.g. ("GET", "/v2/app/web/blobs/"). The registry logs a request
// just after it answers it: poll when asserting right after a client call.
func (r *RegistryServer) Requests(method, pathPrefix string) (int, error) {
	reqs, err := r.RequestLog()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, req := range reqs {
		if (method == "" || req.Method == method) && strings.HasPrefix(req.URI, pathPrefix) && req.Status < 400 {
			n++
		}
	}
	return n, nil
}

// RequestLog returns every request the registry has answered so far, in order.
func (r *RegistryServer) RequestLog() ([]RegistryRequest, error) {
	f, err := os.Open(r.logPath)
	if err != nil {
		return nil, fmt.Errorf("read registry log: %w", err)
	}
	defer f.Close()
	var reqs []RegistryRequest
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if req, ok := parseRegistryLine(sc.Bytes()); ok {
			reqs = append(reqs, req)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read registry log %s: %w", r.logPath, err)
	}
	return reqs, nil
}

// parseRegistryLine reads one "response completed" line of the JSON log.
func parseRegistryLine(line []byte) (RegistryRequest, bool) {
	var entry struct {
		Msg    string `json:"msg"`
		Method string `json:"http.request.method"`
		URI    string `json:"http.request.uri"`
		Status int    `json:"http.response.status"`
	}
	if err := json.Unmarshal(line, &entry); err != nil || !strings.HasPrefix(entry.Msg, "response completed") {
		return RegistryRequest{}, false
	}
	return RegistryRequest{Method: entry.Method, URI: entry.URI, Status: entry.Status}, true
}

func registryBinary() (string, error) {
	if _, err := os.Stat(RegistryBinary); err == nil {
		return RegistryBinary, nil
	}
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return "", fmt.Errorf("docker-registry is not installed (%s, or on PATH)", RegistryBinary)
	}
	return bin, nil
}

// startRegistryOnce starts the registry on a port that was free a moment ago.
func startRegistryOnce(bin, dir string, auth registryAuth) (*RegistryServer, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	configPath := filepath.Join(dir, "config.yml")
	if err := writeRegistryConfig(configPath, dir, addr, auth.config(dir)); err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	r := &RegistryServer{addr: addr, logPath: filepath.Join(dir, "registry.log"), done: make(chan struct{}), auth: auth}
	logFile, err := os.Create(r.logPath)
	if err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor
	r.cmd = exec.Command(bin, "serve", configPath)
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start registry %s: %w", bin, err)
	}
	go func() {
		_ = r.cmd.Wait() // a registry we stop exits on a signal
		close(r.done)
	}()
	if err := r.waitReady(); err != nil {
		r.Close()
		return nil, fmt.Errorf("start registry on %s: %w\nlog tail:\n%s", addr, err, r.logTail())
	}
	return r, nil
}

func writeRegistryConfig(path, dir, addr, extra string) error {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("write registry config: %w", err)
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: json
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %q
  secret: %q
health:
  storagedriver:
    enabled: false
%s`, filepath.Join(dir, "data"), addr, hex.EncodeToString(secret), extra)
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return fmt.Errorf("write registry config: %w", err)
	}
	return nil
}

// waitReady polls GET /v2/ until it answers 200, the process exits or the
// start deadline passes.
func (r *RegistryServer) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), registryStartTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := r.ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-r.done:
			return errRegistryExited
		case <-ctx.Done():
			return fmt.Errorf("wait for GET /v2/: %w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

func (r *RegistryServer) ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL()+"/v2/", nil)
	if err != nil {
		return err
	}
	if r.auth.user != "" {
		req.SetBasicAuth(r.auth.user, r.auth.password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v2/: status %d", resp.StatusCode)
	}
	return nil
}

// logTail returns the last lines of the registry's log, for errors.
func (r *RegistryServer) logTail() string {
	data, err := os.ReadFile(r.logPath)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", r.logPath, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-registryLogTail):], "\n")
}

// PushImage tags localRef as registryRef and pushes it through the engine.
// Registries on 127.0.0.0/8 need no TLS: the engine trusts them by default.
func PushImage(ctx context.Context, cli *client.Client, localRef, registryRef string) error {
	return PushImageAuth(ctx, cli, localRef, registryRef, "", "")
}

// PullImage pulls ref through the engine and waits for the pull to finish.
func PullImage(ctx context.Context, cli *client.Client, ref string) error {
	return PullImageAuth(ctx, cli, ref, "")
}

// progressMessage is the part of the engine's JSON progress stream that
// carries a failure.
type progressMessage struct {
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// readProgress reads a JSON progress stream to its end and returns the first
// error it reports: the engine answers 200 and reports failures in the body.
func readProgress(stream io.ReadCloser) error {
	defer stream.Close()
	dec := json.NewDecoder(stream)
	for {
		var m progressMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read progress: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}
