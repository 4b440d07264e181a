package source

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const (
	// tokenUser is the basic auth username sent with a password file and no
	// username: what GitHub, GitLab and Gitea accept beside a token.
	tokenUser = "x-access-token"
	// sshUser is the ssh user when the URL names none.
	sshUser = "git"
)

// parseURL checks a Git URL and returns its endpoint.
func parseURL(raw string) (*transport.Endpoint, error) {
	if raw == "" {
		return nil, errors.New("url is required")
	}
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		// The parse error quotes the URL, password included: leave it out.
		return nil, errors.New("url is not a valid git URL")
	}
	if ep.Password != "" {
		return nil, errors.New("url carries a password: put it in the password file")
	}
	switch ep.Protocol {
	case "http", "https", "ssh":
		if ep.Host == "" {
			return nil, errors.New("url has no host")
		}
	case "file":
		if !filepath.IsAbs(ep.Path) || (ep.Host != "" && ep.Host != "localhost") {
			return nil, fmt.Errorf("file url needs an absolute path, file:///path, got %q", raw)
		}
	default:
		return nil, fmt.Errorf("url scheme %q: want https, http, ssh or file", ep.Protocol)
	}
	return ep, nil
}

// checkCredentials refuses settings that do not apply to the URL's transport
// and reads the credential files once, to fail fast on a typo.
func (s *Source) checkCredentials() error {
	c := s.cfg
	switch s.ep.Protocol {
	case "http", "https":
		if c.SSHKeyFile != "" || c.KnownHostsFile != "" {
			return errors.New("ssh key and known_hosts files only apply to ssh URLs")
		}
	case "ssh":
		if c.Username != "" || c.PasswordFile != "" {
			return errors.New("username and password file only apply to http(s) URLs; put the ssh user in the URL")
		}
		if c.SSHKeyFile == "" {
			return errors.New("ssh URLs need an ssh key file")
		}
	case "file":
		if c.Username != "" || c.PasswordFile != "" || c.SSHKeyFile != "" || c.KnownHostsFile != "" {
			return errors.New("credentials do not apply to file URLs")
		}
	}
	_, _, err := s.auth()
	return err
}

// auth returns the credentials of one call, read from their files now, and
// the secret that must not appear in the call's errors.
func (s *Source) auth() (transport.AuthMethod, string, error) {
	switch s.ep.Protocol {
	case "http", "https":
		return s.basicAuth()
	case "ssh":
		a, err := s.sshAuth()
		return a, "", err
	}
	return nil, "", nil
}

func (s *Source) basicAuth() (transport.AuthMethod, string, error) {
	user, pass := s.cfg.Username, ""
	if s.cfg.PasswordFile != "" {
		b, err := os.ReadFile(s.cfg.PasswordFile)
		if err != nil {
			return nil, "", fmt.Errorf("read password file: %w", err)
		}
		if pass = strings.TrimSpace(string(b)); pass == "" {
			return nil, "", fmt.Errorf("password file %s is empty", s.cfg.PasswordFile)
		}
		if user == "" {
			user = tokenUser
		}
	}
	if user == "" {
		return nil, "", nil
	}
	return &githttp.BasicAuth{Username: user, Password: pass}, pass, nil
}

func (s *Source) sshAuth() (transport.AuthMethod, error) {
	pem, err := os.ReadFile(s.cfg.SSHKeyFile)
	if err != nil {
		return nil, fmt.Errorf("read ssh key: %w", err)
	}
	user := s.ep.User
	if user == "" {
		user = sshUser
	}
	keys, err := gitssh.NewPublicKeys(user, pem, "")
	if err != nil {
		return nil, fmt.Errorf("ssh key %s: %w", s.cfg.SSHKeyFile, err)
	}
	port := s.ep.Port
	if port <= 0 {
		port = gitssh.DefaultPort
	}
	hostPort := net.JoinHostPort(s.ep.Host, strconv.Itoa(port))
	if keys.HostKeyCallback, keys.HostKeyAlgorithms, err = s.knownHosts(hostPort); err != nil {
		return nil, err
	}
	return &sshKeys{PublicKeys: keys, timeout: s.cfg.Timeout}, nil
}

// knownHosts returns the host key check for hostPort: Config.KnownHostsFile,
// or go-git's default lookup when it is empty.
func (s *Source) knownHosts(hostPort string) (ssh.HostKeyCallback, []string, error) {
	file := s.cfg.KnownHostsFile
	if file == "" {
		db, err := gitssh.NewKnownHostsDb()
		if err != nil {
			return nil, nil, fmt.Errorf("default known_hosts ($SSH_KNOWN_HOSTS, ~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts): %w", err)
		}
		return db.HostKeyCallback(), db.HostKeyAlgorithms(hostPort), nil
	}
	// go-git skips a missing file with a misleading message: say which.
	if _, err := os.Stat(file); err != nil {
		return nil, nil, fmt.Errorf("known_hosts: %w", err)
	}
	db, err := gitssh.NewKnownHostsDb(file)
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts %s: %w", file, err)
	}
	return db.HostKeyCallback(), db.HostKeyAlgorithms(hostPort), nil
}

// sshKeys is go-git's public key auth with a deadline on the TCP dial, which
// go-git otherwise makes without one. The handshake after it still ignores
// every deadline: the caller abandons the call then.
type sshKeys struct {
	*gitssh.PublicKeys
	timeout time.Duration
}

func (a *sshKeys) ClientConfig() (*ssh.ClientConfig, error) {
	c, err := a.PublicKeys.ClientConfig()
	if err != nil {
		return nil, err
	}
	c.Timeout = a.timeout
	return c, nil
}

// kind returns the sentinel a failed network call's error is reported with.
func kind(err error) error {
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.Is(err, ErrNoBranch):
		return nil // already says so
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.Is(err, git.NoMatchingRefSpecError{}):
		return ErrNoBranch
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod), errors.As(err, &keyErr), errors.As(err, &revoked),
		isSSHAuthError(err):
		return ErrAuth
	default:
		return ErrUnreachable
	}
}

// isSSHAuthError reports a refused ssh public key. x/crypto/ssh gives that
// error no type, so this is the one place its text is matched.
func isSSHAuthError(err error) bool {
	return strings.Contains(err.Error(), "ssh: unable to authenticate")
}

// scrubbed is an error whose text had a secret removed; errors.Is and As
// still see the original.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// scrub removes secret from err's text.
func scrub(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), secret, "[redacted]"), err: err}
}
