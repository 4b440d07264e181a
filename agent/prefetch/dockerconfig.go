package prefetch

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// dockerConfig holds the inline credentials of a Docker config file, keyed
// by registry host. Credential helpers (credsStore, credHelpers) are not
// run: a node agent should not exec helper binaries meant for desktops.
type dockerConfig struct {
	auths   map[string]credentials
	helpers bool // the file names credential helpers, which are ignored
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
	cfg := dockerConfig{auths: map[string]credentials{}}
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
	cfg := dockerConfig{auths: map[string]credentials{}}
	var f configFile
	if err := json.Unmarshal(data, &f); err != nil {
		return cfg, fmt.Errorf("parse docker config %s: invalid JSON", path)
	}
	cfg.helpers = f.CredsStore != "" || len(f.CredHelpers) > 0
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

// lookup returns the credentials for a registry host.
func (c dockerConfig) lookup(host string) (credentials, bool) {
	cr, ok := c.auths[dockerHubAlias(host)]
	return cr, ok && !cr.empty()
}

// registryAuth is the X-Registry-Auth value the engine wants for a pull
// from host: base64url of the JSON credentials, or "" without any.
func (c dockerConfig) registryAuth(host string) string {
	cr, ok := c.lookup(host)
	if !ok {
		return ""
	}
	data, err := json.Marshal(struct {
		Username      string `json:"username,omitempty"`
		Password      string `json:"password,omitempty"`
		IdentityToken string `json:"identitytoken,omitempty"`
		ServerAddress string `json:"serveraddress"`
	}{cr.Username, cr.Password, cr.IdentityToken, host})
	if err != nil {
		return "" // a struct of strings always encodes
	}
	return base64.URLEncoding.EncodeToString(data)
}
