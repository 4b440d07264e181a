package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
)

// GitBranch is the branch a GitHTTPServer starts with and its push helpers update.
const GitBranch = "main"

// GitRepoName is the name of the repository a GitHTTPServer serves.
const GitRepoName = "fleet.git"

// The author and committer of the commits the push helpers make.
const (
	GitAuthorName  = "skiff test"
	GitAuthorEmail = "test@skiff.invalid"
)

const (
	gitPushTimeout = 30 * time.Second
	gitCmdTimeout  = 30 * time.Second
	gitRemote      = "origin"
)

// GitRequests counts the smart HTTP requests a GitHTTPServer received, by kind.
type GitRequests struct {
	// AdvertiseUpload counts GET info/refs?service=git-upload-pack: every
	// ls-remote, and the first step of every fetch and clone.
	AdvertiseUpload int
	// UploadPack counts POST git-upload-pack: fetches and clones that asked
	// for objects (a fetch that finds nothing new stops before it).
	UploadPack int
	// AdvertiseReceive counts GET info/refs?service=git-receive-pack: the
	// first step of every push.
	AdvertiseReceive int
	// ReceivePack counts POST git-receive-pack: pushes that sent updates.
	ReceivePack int
	// Unauthorized counts requests refused for missing or wrong credentials;
	// they are not counted under any other kind.
	Unauthorized int
	// Other counts everything else (dumb HTTP, unknown paths).
	Other int
}

// GitHTTPServer serves one bare repository, GitRepoName, over smart HTTP on
// 127.0.0.1 through the real `git http-backend`. Pushes are enabled. It can be
// taken down (connections refused) and brought back on the same address.
type GitHTTPServer struct {
	dir     string // GIT_PROJECT_ROOT
	bare    string // the bare repository, inside dir
	addr    string // 127.0.0.1:port, kept across SetDown
	backend http.Handler
	running sync.WaitGroup // serve loops and requests in flight

	// mu guards the fields below.
	mu       sync.Mutex
	srv      *http.Server // nil while down or closed
	ln       net.Listener // srv's listener, closed with it
	closed   bool
	user     string // required basic auth user; "" means no auth
	pass     string
	requests GitRequests

	// pushMu serializes the push helpers and guards the fields below.
	pushMu   sync.Mutex
	work     *git.Repository // in memory: the commits the helpers made or fetched
	lastWhen time.Time       // time of the last commit made; each new one is later
	signer   *openpgp.Entity // signs the commits made, when set (SignWith)
}

// StartGitServer creates the bare repository dir/GitRepoName (default branch
// GitBranch, no commit yet) and serves it on a free 127.0.0.1 port. dir should
// be empty and is not removed by Close.
func StartGitServer(dir string) (*GitHTTPServer, error) {
	gitBin, err := gitHTTPBackend()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("start git server: %w", err)
	}
	s := &GitHTTPServer{dir: dir, bare: filepath.Join(dir, GitRepoName)}
	if err := s.initBare(); err != nil {
		return nil, err
	}
	s.backend = &cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Dir:  dir,
		Env: append(gitEnv(dir),
			"GIT_PROJECT_ROOT="+dir,
			"GIT_HTTP_EXPORT_ALL=1",
		),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start git server: %w", err)
	}
	s.addr = l.Addr().String()
	if err := s.initWork(); err != nil {
		_ = l.Close()
		return nil, err
	}
	s.mu.Lock()
	s.serveLocked(l)
	s.mu.Unlock()
	return s, nil
}

// GitServer starts a GitHTTPServer in a temporary directory for the test and
// closes it in t.Cleanup.
func GitServer(t testing.TB) *GitHTTPServer {
	t.Helper()
	s, err := StartGitServer(t.TempDir())
	if err != nil {
		t.Fatalf("start git server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close git server: %v", err)
		}
	})
	return s
}

// gitHTTPBackend returns the path of git, after checking that its
// http-backend is installed.
func gitHTTPBackend() (string, error) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		return "", fmt.Errorf("find git: %w", err)
	}
	cmd := exec.Command(gitBin, "--exec-path")
	cmd.Env = gitEnv(os.TempDir())
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git --exec-path: %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return "", fmt.Errorf("find git http-backend: %w", err)
	}
	return gitBin, nil
}

// gitEnv is the whole environment of every git process testenv runs: no user
// or system configuration, a fixed identity, nothing inherited but PATH.
func gitEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"LC_ALL=C",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=" + GitAuthorName,
		"GIT_AUTHOR_EMAIL=" + GitAuthorEmail,
		"GIT_COMMITTER_NAME=" + GitAuthorName,
		"GIT_COMMITTER_EMAIL=" + GitAuthorEmail,
	}
}

// runGit runs git with args in a hermetic environment.
func (s *GitHTTPServer) runGit(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), gitCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = s.dir
	cmd.Env = gitEnv(s.dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// initBare creates the bare repository with pushes over HTTP enabled.
func (s *GitHTTPServer) initBare() error {
	steps := [][]string{
		{"init", "--quiet", "--bare", "--initial-branch=" + GitBranch, s.bare},
		{"-C", s.bare, "config", "http.receivepack", "true"},
		{"-C", s.bare, "config", "gc.auto", "0"},
	}
	for _, args := range steps {
		if err := s.runGit(args...); err != nil {
			return fmt.Errorf("create bare repository: %w", err)
		}
	}
	return nil
}

// initWork creates the in-memory repository the push helpers commit in.
func (s *GitHTTPServer) initWork() error {
	work, err := git.Init(memory.NewStorage(), nil)
	if err != nil {
		return fmt.Errorf("create work repository: %w", err)
	}
	_, err = work.CreateRemote(&config.RemoteConfig{Name: gitRemote, URLs: []string{s.URL()}})
	if err != nil {
		return fmt.Errorf("create work repository: %w", err)
	}
	s.work = work
	return nil
}

// serveLocked serves HTTP on l until the server is taken down or closed.
// s.mu must be held.
func (s *GitHTTPServer) serveLocked(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 10 * time.Second}
	s.srv, s.ln = srv, l
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		_ = srv.Serve(l) // returns ErrServerClosed on SetDown and Close
	}()
}

func (s *GitHTTPServer) handle(w http.ResponseWriter, r *http.Request) {
	open, authorized := s.admit(r)
	switch {
	case !open:
		http.Error(w, "git server closed", http.StatusServiceUnavailable)
	case !authorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="skiff testenv"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
	default:
		defer s.running.Done()
		s.backend.ServeHTTP(w, r)
	}
}

// admit counts r and reports whether the server is open and r carries the
// required credentials. When both hold, the caller must call s.running.Done.
func (s *GitHTTPServer) admit(r *http.Request) (open, authorized bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, false
	}
	if user, pass, _ := r.BasicAuth(); s.user != "" && (user != s.user || pass != s.pass) {
		s.requests.Unauthorized++
		return true, false
	}
	s.requests.count(r)
	s.running.Add(1)
	return true, true
}

func (c *GitRequests) count(r *http.Request) {
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/info/refs") && r.URL.Query().Get("service") == "git-upload-pack":
		c.AdvertiseUpload++
	case strings.HasSuffix(p, "/info/refs") && r.URL.Query().Get("service") == "git-receive-pack":
		c.AdvertiseReceive++
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/git-upload-pack"):
		c.UploadPack++
	case r.Method == http.MethodPost && strings.HasSuffix(p, "/git-receive-pack"):
		c.ReceivePack++
	default:
		c.Other++
	}
}

// URL returns the repository's URL, http://127.0.0.1:PORT/fleet.git.
func (s *GitHTTPServer) URL() string { return s.URLVia(s.addr) }

// URLVia returns the repository's URL through another address, such as a
// TCPFaultProxy's in front of the server.
func (s *GitHTTPServer) URLVia(addr string) string { return "http://" + addr + "/" + GitRepoName }

// Addr returns the server's address, host:port; it survives SetDown.
func (s *GitHTTPServer) Addr() string { return s.addr }

// BareDir returns the path of the bare repository, for file:// clients.
func (s *GitHTTPServer) BareDir() string { return s.bare }

// Requests returns how many requests of each kind the server received.
func (s *GitHTTPServer) Requests() GitRequests {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// RequireBasicAuth makes every request need these basic auth credentials; a
// request without them gets 401. An empty user turns the check off. The push
// helpers use the credentials.
func (s *GitHTTPServer) RequireBasicAuth(user, pass string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user, s.pass = user, pass
}

// clientAuth returns the credentials the push helpers send.
func (s *GitHTTPServer) clientAuth() transport.AuthMethod {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.user == "" {
		return nil
	}
	return &githttp.BasicAuth{Username: s.user, Password: s.pass}
}

// SetDown(true) closes the listener and every open connection, so clients
// get "connection refused"; SetDown(false) listens again on the same address.
// Both are no-ops when the server is already in that state.
func (s *GitHTTPServer) SetDown(down bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("set git server down=%t: %w", down, net.ErrClosed)
	}
	if down {
		return s.stopLocked()
	}
	if s.srv != nil {
		return nil
	}
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen again on %s: %w", s.addr, err)
	}
	s.serveLocked(l)
	return nil
}

// stopLocked closes the HTTP server, if any. s.mu must be held.
func (s *GitHTTPServer) stopLocked() error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	// Serve may not have taken the listener yet; close it here so that the
	// address refuses connections as soon as this returns.
	if lerr := s.ln.Close(); lerr != nil && !errors.Is(lerr, net.ErrClosed) && err == nil {
		err = lerr
	}
	s.srv, s.ln = nil, nil
	if err != nil {
		return fmt.Errorf("stop git server: %w", err)
	}
	return nil
}

// Close stops the server and waits for its requests to end. The directory is
// left in place.
func (s *GitHTTPServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.stopLocked()
	s.mu.Unlock()
	s.running.Wait()
	return err
}
