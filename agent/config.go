// Package agent runs skiff on a node: the loops that follow Git, prefetch
// images, reconcile containers and record state, and the composition root that
// wires the Docker engine into them.
package agent

import (
	"errors"
	"fmt"
	"net"
	"net/url"

	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/skiffops/skiff/internal/redact"
)

// Config is the node configuration, /etc/skiff/agent.yaml (DESIGN.md §2).
// The YAML keys are also the names of the flags that override them, with
// dots turned into dashes (source.url → --source-url).
type Config struct {
	Node       string            `yaml:"node"`
	Region     string            `yaml:"region"`
	Labels     map[string]string `yaml:"labels"`
	Source     SourceConfig      `yaml:"source"`
	StateDir   string            `yaml:"state_dir"`
	API        APIConfig         `yaml:"api"`
	Docker     DockerConfig      `yaml:"docker"`
	Registries []string          `yaml:"registries"`
	Notify     []NotifyConfig    `yaml:"notify"`
	Secrets    SecretsConfig     `yaml:"secrets"`
}

// SourceConfig says where the manifests repository is and how to follow it.
type SourceConfig struct {
	URL      string        `yaml:"url"`
	Branch   string        `yaml:"branch"`
	Path     string        `yaml:"path"`
	Interval time.Duration `yaml:"interval"`
	Timeout  time.Duration `yaml:"timeout"`
	Auth     AuthConfig    `yaml:"auth"`
	Verify   VerifyConfig  `yaml:"verify"`
}

// AuthConfig holds references to credentials, never the secrets themselves.
type AuthConfig struct {
	Username       string `yaml:"username"`
	PasswordFile   string `yaml:"password_file"`
	SSHKeyFile     string `yaml:"ssh_key_file"`
	KnownHostsFile string `yaml:"known_hosts_file"`
}

// VerifyConfig enables OpenPGP verification of the commits applied.
type VerifyConfig struct {
	KeyringFile string `yaml:"keyring_file"`
}

// APIConfig places the local API and the optional metrics listener.
type APIConfig struct {
	Socket        string `yaml:"socket"`
	MetricsListen string `yaml:"metrics_listen"`
}

// DockerConfig selects the engine and the registry credentials file.
type DockerConfig struct {
	Host       string `yaml:"host"`
	ConfigFile string `yaml:"config_file"`
}

// SecretsConfig says how the node decrypts the repository's files
// encrypted with SOPS for age recipients.
type SecretsConfig struct {
	// AgeIdentityFile holds the node's age identities (AGE-SECRET-KEY-1…
	// lines, as age-keygen writes them; several lines for several keys).
	// Without it, a stack that uses an encrypted file is refused.
	AgeIdentityFile string `yaml:"age_identity_file"`
	// RuntimeDir receives the decrypted files containers mount; it must
	// be outside state_dir, and should be on tmpfs (the default is under
	// systemd's RuntimeDirectory).
	RuntimeDir string `yaml:"runtime_dir"`
}

// Defaults of the fields that have one (DESIGN.md §2).
const (
	DefaultBranch   = "main"
	DefaultInterval = 30 * time.Second
	DefaultTimeout  = 20 * time.Second
	DefaultStateDir = "/var/lib/skiff"
	DefaultSocket   = "/run/skiff/skiff.sock"
	// DefaultSecretsDir is under the unit's RuntimeDirectory=skiff: tmpfs,
	// emptied at boot, never on the state directory's disk.
	DefaultSecretsDir = "/run/skiff/secrets"
	// MinInterval keeps a typo such as "1ms" from turning a fleet into a
	// denial of service against its Git server.
	MinInterval = time.Second
)

// DefaultConfig returns the configuration before the file and flags apply.
// The node name defaults to hostname.
func DefaultConfig(hostname string) Config {
	return Config{
		Node: hostname,
		Source: SourceConfig{
			Branch:   DefaultBranch,
			Interval: DefaultInterval,
			Timeout:  DefaultTimeout,
		},
		StateDir: DefaultStateDir,
		API:      APIConfig{Socket: DefaultSocket},
		Secrets:  SecretsConfig{RuntimeDir: DefaultSecretsDir},
	}
}

var (
	namePattern  = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62})$`)
	labelPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62})$`)
	hostPattern  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$`)
	scpLike      = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/]`)
)

// Validate checks the whole configuration and returns every problem found,
// each naming the field (its YAML path) and the value.
func (c Config) Validate() error {
	return errors.Join(c.ValidateLocal(), errors.Join(c.Source.validate()...))
}

// ValidateLocal checks everything but the source: enough for commands that
// work on a given checkout, such as skiff plan --repo.
func (c Config) ValidateLocal() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Node == "" {
		add("node", "required (the hostname could not be read)")
	} else if !namePattern.MatchString(c.Node) {
		add("node", "%q is not a valid node name (lowercase letters, digits, '.', '-', '_', at most 63)", c.Node)
	}
	if c.Region == "" {
		add("region", "required")
	} else if !namePattern.MatchString(c.Region) {
		add("region", "%q is not a valid region name (lowercase letters, digits, '.', '-', '_', at most 63)", c.Region)
	}
	for k, v := range c.Labels {
		if !labelPattern.MatchString(k) {
			add("labels", "key %q is not a valid label key", k)
		}
		if strings.ContainsAny(v, "\n\x00") {
			add("labels."+k, "value must be a single line")
		}
	}
	if !filepath.IsAbs(c.StateDir) {
		add("state_dir", "must be an absolute path, got %q", c.StateDir)
	}
	if !filepath.IsAbs(c.API.Socket) {
		add("api.socket", "must be an absolute path, got %q", c.API.Socket)
	}
	if c.API.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.API.MetricsListen); err != nil {
			add("api.metrics_listen", "must be host:port, got %q", c.API.MetricsListen)
		}
	}
	errs = append(errs, c.Secrets.validate(c.StateDir)...)
	for i, r := range c.Registries {
		if !hostPattern.MatchString(r) {
			add(fmt.Sprintf("registries[%d]", i), "%q must be a registry host[:port], without scheme or path", r)
		}
	}
	errs = append(errs, c.validateLabelVars()...)
	errs = append(errs, c.validateNotify()...)
	return errors.Join(errs...)
}

func (s SecretsConfig) validate(stateDir string) []error {
	var errs []error
	if s.AgeIdentityFile != "" && !filepath.IsAbs(s.AgeIdentityFile) {
		errs = append(errs, fmt.Errorf("secrets.age_identity_file: must be an absolute path, got %q", s.AgeIdentityFile))
	}
	if !filepath.IsAbs(s.RuntimeDir) {
		errs = append(errs, fmt.Errorf("secrets.runtime_dir: must be an absolute path, got %q", s.RuntimeDir))
	} else if filepath.IsAbs(stateDir) && (within(s.RuntimeDir, stateDir) || within(stateDir, s.RuntimeDir)) {
		errs = append(errs, fmt.Errorf("secrets.runtime_dir: %s and state_dir %s must not contain each other: decrypted files never go to the state directory", s.RuntimeDir, stateDir))
	}
	return errs
}

// within reports whether path p is dir or below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(p))
	return err == nil && filepath.IsLocal(rel)
}

func (s SourceConfig) validate() []error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("source.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	scheme, err := sourceScheme(s.URL)
	if err != nil {
		add("url", "%v", err)
	}
	if s.Branch == "" || strings.ContainsAny(s.Branch, " ~^:?*[\\") || strings.HasPrefix(s.Branch, "-") {
		add("branch", "%q is not a valid branch name", s.Branch)
	}
	if filepath.IsAbs(s.Path) || hasDotDot(s.Path) {
		add("path", "must be a relative path inside the repository, got %q", s.Path)
	}
	if s.Interval < MinInterval {
		add("interval", "must be at least %s, got %s", MinInterval, s.Interval)
	}
	if s.Timeout <= 0 {
		add("timeout", "must be positive, got %s", s.Timeout)
	}
	a := s.Auth
	if a.PasswordFile != "" && scheme != "http" && scheme != "https" {
		add("auth.password_file", "only applies to http(s) URLs, the source is %s", orNone(scheme))
	}
	if (a.SSHKeyFile != "" || a.KnownHostsFile != "") && scheme != "ssh" {
		add("auth.ssh_key_file", "ssh settings only apply to ssh URLs, the source is %s", orNone(scheme))
	}
	for field, p := range map[string]string{
		"auth.password_file": a.PasswordFile, "auth.ssh_key_file": a.SSHKeyFile,
		"auth.known_hosts_file": a.KnownHostsFile, "verify.keyring_file": s.Verify.KeyringFile,
	} {
		if p != "" && !filepath.IsAbs(p) {
			add(field, "must be an absolute path, got %q", p)
		}
	}
	return errs
}

// sourceScheme returns the transport of a Git URL: https, http, ssh or file.
// scp-like addresses (git@host:org/repo.git) are ssh.
func sourceScheme(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("required (https://, ssh:// or file:// URL of the manifests repository)")
	}
	if scpLike.MatchString(raw) {
		return "ssh", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("is not a valid URL")
	}
	switch u.Scheme {
	case "https", "http", "ssh":
		if u.Host == "" {
			return "", fmt.Errorf("%q has no host", redact.URL(raw))
		}
	case "file":
		if u.Path == "" {
			return "", fmt.Errorf("%q has no path", raw)
		}
	default:
		return "", fmt.Errorf("%q: scheme must be https, http, ssh or file", redact.URL(raw))
	}
	if u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword {
			return "", fmt.Errorf("%q carries a password: put it in source.auth.password_file", redact.URL(raw))
		}
	}
	return u.Scheme, nil
}

func hasDotDot(p string) bool {
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "not a valid URL"
	}
	return s
}
