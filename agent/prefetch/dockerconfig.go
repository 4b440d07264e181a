package prefetch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// credentials are one registry's entry of the Docker config file.
type credentials struct {
	Username      string
	Password      string
	IdentityToken string
}

func (c credentials) empty() bool {
	return c.Username == "" && c.Password == "" && c.IdentityToken == ""
}

// dockerConfig holds the credentials of a Docker config file as Docker
// finds them: a registry named in credHelpers asks that helper, else
// credsStore's helper when there is one, else the inline "auths" (also
// used when a helper has no credentials for the registry). Helpers run
// through the credential-helper protocol (credhelper.go) when a registry's
// credentials are first needed, once per registry for the config's life:
// one prefetch round.
type dockerConfig struct {
	auths       map[string]credentials
	credsStore  string            // helper for every registry
	credHelpers map[string]string // registry host → helper
	helpers     *helperMemo
}

// dockerConfigPath is the config file to read: explicit when set, else
// $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
func dockerConfigPath(explicit string) string {
	if explicit != "" {
		return explicit
	}
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		return filepath.Join(dir, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".docker", "config.json")
}

// loadDockerConfig reads the credentials of the Docker config file at path.
// A missing file is an empty config.
func loadDockerConfig(path string) (dockerConfig, error) {
	cfg := newDockerConfig()
	if path == "" {
		return cfg, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("read docker config: %w", err)
	}
	return parseDockerConfig(data, path)
}

// configFile is the part of ~/.docker/config.json skiff reads.
type configFile struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
	} `json:"auths"`
	CredsStore  string            `json:"credsStore"`
	CredHelpers map[string]string `json:"credHelpers"`
}

// parseDockerConfig decodes a config file. Its errors never quote the
// file's content: it holds secrets.
func parseDockerConfig(data []byte, path string) (dockerConfig, error) {
	cfg := newDockerConfig()
	var f configFile
	if err := json.Unmarshal(data, &f); err != nil {
		return cfg, fmt.Errorf("parse docker config %s: invalid JSON", path)
	}
	if f.CredsStore != "" && !helperName.MatchString(f.CredsStore) {
		return cfg, fmt.Errorf("parse docker config %s: credsStore %q is not a credential helper name", path, f.CredsStore)
	}
	cfg.credsStore = f.CredsStore
	for key, name := range f.CredHelpers {
		if !helperName.MatchString(name) {
			return cfg, fmt.Errorf("parse docker config %s: credHelpers[%q]: %q is not a credential helper name", path, key, name)
		}
		cfg.credHelpers[configHost(key)] = name
	}
	for key, a := range f.Auths {
		c := credentials{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}
		if a.Auth != "" {
			user, pass, err := decodeAuth(a.Auth)
			if err != nil {
				return cfg, fmt.Errorf("parse docker config %s: auths[%q]: %w", path, key, err)
			}
			c.Username, c.Password = user, pass
		}
		cfg.auths[configHost(key)] = c
	}
	return cfg, nil
}

func decodeAuth(s string) (user, pass string, err error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", errors.New(`"auth" is not base64`)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errors.New(`"auth" is not base64 of user:password`)
	}
	return user, pass, nil
}

// configHost reduces a key of "auths" ("https://index.docker.io/v1/",
// "reg.example.net:5000") to the registry host.
func configHost(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	key, _, _ = strings.Cut(key, "/")
	return dockerHubAlias(key)
}

// dockerHubAlias maps Docker Hub's several host names to docker.io.
func dockerHubAlias(host string) string {
	switch host {
	case "index.docker.io", "registry-1.docker.io":
		return "docker.io"
	}
	return host
}

func newDockerConfig() dockerConfig {
	return dockerConfig{auths: map[string]credentials{}, credHelpers: map[string]string{}, helpers: newHelperMemo()}
}

// helperName is what may follow "docker-credential-": a name, never a path.
var helperName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// creds returns the credentials for a registry host: empty without any. An
// error is a helper that failed, naming the helper and the registry.
func (c dockerConfig) creds(ctx context.Context, host string) (credentials, error) {
	host = dockerHubAlias(host)
	name := c.credHelpers[host]
	if name == "" {
		name = c.credsStore
	}
	if name != "" && c.helpers != nil {
		cr, err := c.helpers.get(ctx, name, host)
		if !errors.Is(err, errNoCredentials) {
			return cr, err
		}
	}
	return c.auths[host], nil
}

// registryAuth is the X-Registry-Auth value the engine wants for a pull
// from host: base64url of the JSON credentials, or "" without any.
func (c dockerConfig) registryAuth(ctx context.Context, host string) (string, error) {
	cr, err := c.creds(ctx, host)
	if err != nil || cr.empty() {
		return "", err
	}
	data, err := json.Marshal(struct {
		Username      string `json:"username,omitempty"`
		Password      string `json:"password,omitempty"`
		IdentityToken string `json:"identitytoken,omitempty"`
		ServerAddress string `json:"serveraddress"`
	}{cr.Username, cr.Password, cr.IdentityToken, host})
	if err != nil {
		return "", nil // a struct of strings always encodes
	}
	return base64.URLEncoding.EncodeToString(data), nil
}
