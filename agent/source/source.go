package source

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/skiffops/skiff/internal/redact"
)

// Errors that callers match with errors.Is. Each says what to do next.
var (
	// ErrUnreachable: the remote did not answer as a Git server should
	// (refused, reset, timed out, missing mount, repository not found, or
	// too many earlier calls still hung). Keep running the last checkout,
	// retry with backoff.
	ErrUnreachable = errors.New("git remote unreachable")
	// ErrAuth: the remote refused the credentials or the host key did not
	// match. Retrying will not help until the node's credentials change.
	ErrAuth = errors.New("git authentication failed")
	// ErrNoBranch: the remote answered but has no such branch (or no commit
	// at all). Retry later: someone may push it.
	ErrNoBranch = errors.New("no such branch")
	// ErrMoved: the branch moved between ls-remote and fetch. Ask Head again.
	ErrMoved = errors.New("branch moved")
	// ErrUnsigned: a keyring is configured and the commit carries no
	// signature. Do not apply it; wait for a new commit.
	ErrUnsigned = errors.New("commit is not signed")
	// ErrBadSignature: the signature does not verify against the keyring
	// (unknown key, altered commit, expired or revoked key). Do not apply it;
	// wait for a new commit.
	ErrBadSignature = errors.New("bad commit signature")
)

// Defaults of the Config fields that have one.
const (
	DefaultBranch  = "main"
	DefaultTimeout = 20 * time.Second
)

// maxHung is how many abandoned network calls may still be running before
// new ones are refused (see the package documentation).
const maxHung = 4

// Config says which branch to follow, how to reach it and where to keep what
// this package writes. Credentials are given as files, never inline.
type Config struct {
	URL     string        // https://, http://, ssh://, scp-like user@host:path, or file://
	Branch  string        // default DefaultBranch
	Timeout time.Duration // deadline of every network call; default DefaultTimeout

	Username       string // http(s) basic auth
	PasswordFile   string // http(s): password or token, read and trimmed at every call
	SSHKeyFile     string // ssh: private key, required for ssh URLs
	KnownHostsFile string // ssh: known_hosts; empty means go-git's default lookup
	KeyringFile    string // armored OpenPGP public keys; set means commits must be signed

	Dir string // state_dir/source: everything this package writes lives here
}

// Source follows one branch of one repository. Its methods are safe for
// concurrent use, but one Dir belongs to one Source at a time (the agent's
// store lock guarantees one agent per state directory).
type Source struct {
	cfg    Config
	ep     *transport.Endpoint
	url    string // cfg.URL redacted, for errors and logs
	branch plumbing.ReferenceName
	log    *slog.Logger
	calls  *runner

	// repoMu guards Dir/repo: Verify, Checkout and the fetch's up-to-date
	// check hold it shared, the swap of a new fetch exclusively. It is never
	// held across network I/O.
	repoMu sync.RWMutex

	// linkMu serializes the writers of Dir/checkouts and of the current
	// and previous links (Checkout, Prune).
	linkMu sync.Mutex
}

// New validates cfg and returns a Source. It reads the credential and keyring
// files to fail fast on a typo, but nothing from the network, and writes
// nothing but the removal of Dir/tmp, left over by an earlier process.
func New(cfg Config, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Branch == "" {
		cfg.Branch = DefaultBranch
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	s := &Source{cfg: cfg, url: redact.URL(cfg.URL), log: log.With("component", "source")}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("source %s: %w", s.url, err)
	}
	s.calls = &runner{log: s.log, max: maxHung}
	if err := os.RemoveAll(s.tmpDir()); err != nil {
		return nil, fmt.Errorf("source %s: clean %s: %w", s.url, s.tmpDir(), err)
	}
	return s, nil
}

func (s *Source) validate() error {
	var err error
	if s.cfg.Dir == "" {
		return errors.New("dir is required")
	}
	if s.cfg.Dir, err = filepath.Abs(s.cfg.Dir); err != nil {
		return fmt.Errorf("dir: %w", err)
	}
	if s.cfg.Timeout < 0 {
		return fmt.Errorf("timeout must be positive, got %s", s.cfg.Timeout)
	}
	s.branch = plumbing.NewBranchReferenceName(s.cfg.Branch)
	if s.branch.Validate() != nil || strings.HasPrefix(s.cfg.Branch, "refs/") {
		return fmt.Errorf("%q is not a valid branch name", s.cfg.Branch)
	}
	if s.ep, err = parseURL(s.cfg.URL); err != nil {
		return err
	}
	if err := s.checkCredentials(); err != nil {
		return err
	}
	if s.cfg.KeyringFile != "" {
		if _, err := readKeyring(s.cfg.KeyringFile); err != nil {
			return err
		}
	}
	if s.ep.Protocol == "http" && s.cfg.PasswordFile != "" {
		s.log.Warn("password sent over plain http", "url", s.url)
	}
	return nil
}

// Current returns the commit and the directory the current link points to,
// read from disk: it needs no network and works at boot. ok is false when
// nothing was checked out yet or the checkout is gone.
func (s *Source) Current() (commit, dir string, ok bool) {
	return s.readLink(linkCurrent)
}

// WatchPaths returns, for a file:// source, the files of the repository whose
// change can move the branch: HEAD, packed-refs and the branch's loose
// reference. Some may not exist yet (packed-refs appears at the first gc).
// Git replaces them by rename, so watch their directories. It returns nil for
// other transports.
func (s *Source) WatchPaths() []string {
	if s.ep.Protocol != "file" {
		return nil
	}
	gitDir := localGitDir(s.ep.Path)
	return []string{
		filepath.Join(gitDir, "HEAD"),
		filepath.Join(gitDir, "packed-refs"),
		filepath.Join(gitDir, filepath.FromSlash(s.branch.String())),
	}
}

// The layout of Dir (see the package documentation).
const (
	linkCurrent  = "current"
	linkPrevious = "previous"
)

func (s *Source) repoDir() string      { return filepath.Join(s.cfg.Dir, "repo") }
func (s *Source) checkoutsDir() string { return filepath.Join(s.cfg.Dir, "checkouts") }
func (s *Source) tmpDir() string       { return filepath.Join(s.cfg.Dir, "tmp") }

func (s *Source) checkoutDir(commit string) string {
	return filepath.Join(s.checkoutsDir(), commit)
}

// parseCommit returns commit as a full lowercase hash, the only form used in
// paths.
func parseCommit(commit string) (string, error) {
	c := strings.ToLower(commit)
	if !plumbing.IsHash(c) {
		return "", fmt.Errorf("%q is not a full commit hash", commit)
	}
	return c, nil
}

// short abbreviates a valid commit hash for messages.
func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
