package prefetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker-credential-helpers/client"
	helpercreds "github.com/docker/docker-credential-helpers/credentials"
)

// ErrCredentialHelper: a credential helper named by the Docker config failed
// (not installed, exited with an error, timed out). The error names the
// helper and the registry.
var ErrCredentialHelper = errors.New("credential helper failed")

// errNoCredentials: the helper answered that it has none for the registry.
var errNoCredentials = errors.New("no credentials")

const (
	// helperTimeout bounds one helper run: cloud helpers (ECR, GCR, ACR)
	// make a network call of their own.
	helperTimeout = 30 * time.Second
	// tokenUsername is the username by which a helper returns an identity
	// token instead of a password (docker's convention).
	tokenUsername = "<token>"
	hubServer     = "https://index.docker.io/v1/"
	maxHelperErr  = 300
)

// helperMemo runs each helper once per registry and keeps what it said,
// for the life of one loaded config: concurrent pulls from one registry
// share the run.
type helperMemo struct {
	mu      sync.Mutex // guards results
	results map[string]*helperResult
}

type helperResult struct {
	once sync.Once
	cred credentials
	err  error
}

func newHelperMemo() *helperMemo { return &helperMemo{results: map[string]*helperResult{}} }

func (m *helperMemo) get(ctx context.Context, name, host string) (credentials, error) {
	m.mu.Lock()
	r, ok := m.results[name+" "+host]
	if !ok {
		r = &helperResult{}
		m.results[name+" "+host] = r
	}
	m.mu.Unlock()
	r.once.Do(func() { r.cred, r.err = runHelper(ctx, name, host) })
	return r.cred, r.err
}

// runHelper asks docker-credential-<name> for host's credentials with the
// protocol's get: the server address on stdin, JSON on stdout. Docker Hub
// is asked for under its index address, as docker login stores it.
func runHelper(ctx context.Context, name, host string) (credentials, error) {
	ctx, cancel := context.WithTimeout(ctx, helperTimeout)
	defer cancel()
	server := host
	if host == "docker.io" {
		server = hubServer
	}
	bin, err := exec.LookPath("docker-credential-" + name)
	if err != nil {
		return credentials{}, fmt.Errorf("%w: docker-credential-%s for registry %s: not installed (no such executable on PATH)", ErrCredentialHelper, name, host)
	}
	var stderr bytes.Buffer
	program := func(args ...string) client.Program {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stderr = &limitedWriter{w: &stderr, n: maxHelperErr}
		cmd.WaitDelay = time.Second // a helper's children cannot hold it up
		return helperProgram{cmd}
	}
	c, err := client.Get(program, server)
	switch {
	case helpercreds.IsErrCredentialsNotFound(err):
		return credentials{}, errNoCredentials
	case err != nil:
		why := err.Error()
		if ctx.Err() != nil {
			why = fmt.Sprintf("no answer within %s", helperTimeout)
		}
		if s := strings.TrimSpace(stderr.String()); s != "" {
			why += ": " + s
		}
		return credentials{}, fmt.Errorf("%w: docker-credential-%s for registry %s: %s", ErrCredentialHelper, name, host, why)
	case c.Username == tokenUsername:
		return credentials{IdentityToken: c.Secret}, nil
	}
	return credentials{Username: c.Username, Password: c.Secret}, nil
}

// helperProgram runs a helper for the protocol's client.
type helperProgram struct{ cmd *exec.Cmd }

func (p helperProgram) Output() ([]byte, error) { return p.cmd.Output() }
func (p helperProgram) Input(in io.Reader)      { p.cmd.Stdin = in }

// limitedWriter keeps the first n bytes written: a helper's complaint, not
// whatever it prints.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.n -= k
		_, _ = l.w.Write(p[:k])
	}
	return len(p), nil
}
