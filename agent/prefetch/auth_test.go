package prefetch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/skiffops/skiff/manifests"
)

const (
	testUser     = "deploy"
	testPassword = "s3cret-pass"
)

// tokenServer issues a token for the test user's basic credentials.
func tokenServer(t *testing.T, issued *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != testUser || pass != testPassword {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("service") != "test-registry" || r.URL.Query().Get("scope") != "repository:shop/web:pull" {
			http.Error(w, "bad service or scope: "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		issued.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": "tok-123", "expires_in": 300})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// bearerRegistry is a fake registry that wants the token server's token.
func bearerRegistry(t *testing.T, realm string) *fakeRegistry {
	t.Helper()
	reg := newFakeRegistry(t, 0)
	reg.setTag("shop/web:1", digest.FromString("web"))
	reg.setAuth(func(r *http.Request) (string, bool) {
		challenge := `Bearer realm="` + realm + `",service="test-registry",scope="repository:shop/web:pull"`
		return challenge, r.Header.Get("Authorization") == "Bearer tok-123"
	})
	return reg
}

func TestTokenFlowWithBasicCredentials(t *testing.T) {
	var issued atomic.Int32
	ts := tokenServer(t, &issued)
	reg := bearerRegistry(t, ts.URL+"/token")
	c := newRegistryClient(2*time.Second, nil)
	cred := credentials{Username: testUser, Password: testPassword}
	for range 2 {
		d, err := c.resolve(context.Background(), reg.host(), "shop/web", "1", cred)
		if err != nil {
			t.Fatal(err)
		}
		if d != digest.FromString("web").String() {
			t.Errorf("digest = %s", d)
		}
	}
	if n := issued.Load(); n != 1 {
		t.Errorf("%d tokens issued for two requests, want 1 (cached)", n)
	}
	if n := reg.count("HEAD", "/v2/shop/web/manifests/1"); n != 3 {
		t.Errorf("%d HEAD requests, want 3 (challenge, retry, cached token)", n)
	}
}

func TestTokenFlowRefusedCredentials(t *testing.T) {
	var issued atomic.Int32
	ts := tokenServer(t, &issued)
	reg := bearerRegistry(t, ts.URL+"/token")
	c := newRegistryClient(2*time.Second, nil)
	_, err := c.resolve(context.Background(), reg.host(), "shop/web", "1", credentials{Username: testUser, Password: "wrong"})
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want unauthorized", err)
	}
	if strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), testUser) {
		t.Errorf("error leaks credentials: %v", err)
	}
}

func TestBasicChallenge(t *testing.T) {
	reg := newFakeRegistry(t, 0)
	reg.setTag("shop/web:1", digest.FromString("web"))
	reg.setAuth(func(r *http.Request) (string, bool) {
		user, pass, ok := r.BasicAuth()
		return `Basic realm="registry"`, ok && user == testUser && pass == testPassword
	})
	c := newRegistryClient(2*time.Second, nil)
	if _, err := c.resolve(context.Background(), reg.host(), "shop/web", "1", credentials{Username: testUser, Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	_, err := c.resolve(context.Background(), reg.host(), "shop/web", "1", credentials{})
	if err == nil {
		// the cached basic header answered: that is fine, and a new client
		// without credentials must still be refused.
		_, err = newRegistryClient(2*time.Second, nil).resolve(context.Background(), reg.host(), "shop/web", "1", credentials{})
	}
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("without credentials: %v, want unauthorized", err)
	}
}

func TestParseChallenge(t *testing.T) {
	for _, tc := range []struct {
		header, scheme string
		params         map[string]string
	}{
		{`Bearer realm="https://auth.example.net/token",service="reg",scope="repository:a/b:pull,push"`, "Bearer",
			map[string]string{"realm": "https://auth.example.net/token", "service": "reg", "scope": "repository:a/b:pull,push"}},
		{`Basic realm="Registry Realm"`, "Basic", map[string]string{"realm": "Registry Realm"}},
		{`Bearer realm=https://a/t, service=x`, "Bearer", map[string]string{"realm": "https://a/t", "service": "x"}},
		{`Bearer realm="q\"uote"`, "Bearer", map[string]string{"realm": `q"uote`}},
		{`Bearer`, "Bearer", map[string]string{}},
	} {
		scheme, params := parseChallenge(tc.header)
		if scheme != tc.scheme || !cmp.Equal(params, tc.params) {
			t.Errorf("parseChallenge(%q) = %q %v, want %q %v", tc.header, scheme, params, tc.scheme, tc.params)
		}
	}
}

func writeDockerConfig(t *testing.T, auths map[string]any) string {
	t.Helper()
	return writeDockerConfigJSON(t, map[string]any{"auths": auths})
}

// writeDockerConfigJSON writes a Docker config file of the given top-level
// keys (auths, credsStore, credHelpers).
func writeDockerConfigJSON(t *testing.T, file map[string]any) string {
	t.Helper()
	data, err := json.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDockerConfigCredentials(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword))
	path := writeDockerConfig(t, map[string]any{
		"reg.example.net:5000":        map[string]string{"auth": basic},
		"https://index.docker.io/v1/": map[string]string{"username": "hub", "password": "hubpass"},
		"http://other.example.net/v2": map[string]string{"username": "o", "password": "p"},
	})
	cfg, err := loadDockerConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for host, want := range map[string]credentials{
		"reg.example.net:5000": {Username: testUser, Password: testPassword},
		"docker.io":            {Username: "hub", Password: "hubpass"},
		"other.example.net":    {Username: "o", Password: "p"},
	} {
		if got, err := cfg.creds(ctx, host); got != want || err != nil {
			t.Errorf("creds(%s) = %+v, %v; want %+v", host, got, err, want)
		}
	}
	if got, err := cfg.creds(ctx, "unknown.example.net"); !got.empty() || err != nil {
		t.Errorf("credentials for a host the config does not name: %+v, %v", got, err)
	}
	auth, err := cfg.registryAuth(ctx, "reg.example.net:5000")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.URLEncoding.DecodeString(auth)
	if err != nil {
		t.Fatal(err)
	}
	var header map[string]string
	if err := json.Unmarshal(raw, &header); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"username": testUser, "password": testPassword, "serveraddress": "reg.example.net:5000"}
	if diff := cmp.Diff(want, header); diff != "" {
		t.Errorf("X-Registry-Auth (-want +got):\n%s", diff)
	}
	if auth, err := cfg.registryAuth(ctx, "unknown.example.net"); auth != "" || err != nil {
		t.Errorf("X-Registry-Auth for a host without credentials: %q, %v", auth, err)
	}
}

func TestDockerConfigLocationAndErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	if got := dockerConfigPath(""); got != filepath.Join(dir, "config.json") {
		t.Errorf("path with DOCKER_CONFIG = %s", got)
	}
	if got := dockerConfigPath("/etc/skiff/docker.json"); got != "/etc/skiff/docker.json" {
		t.Errorf("explicit path = %s", got)
	}
	if cfg, err := loadDockerConfig(filepath.Join(dir, "missing.json")); err != nil || len(cfg.auths) != 0 {
		t.Errorf("missing file: %v, %v", cfg, err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"auths": {"r": {"auth": "`+testPassword+`"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadDockerConfig(bad)
	if err == nil || strings.Contains(err.Error(), testPassword) {
		t.Errorf("bad file: %v; want an error without the file's content", err)
	}
}

// The credentials of the docker config file reach both the origin's tag
// resolution and the engine's pull.
func TestCredentialsFromTheDockerConfigAreUsed(t *testing.T) {
	var issued atomic.Int32
	ts := tokenServer(t, &issued)
	origin := bearerRegistry(t, ts.URL+"/token")
	basic := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword))
	path := writeDockerConfig(t, map[string]any{origin.host(): map[string]string{"auth": basic}})
	wantCredentialsUsed(t, origin, &issued, path)
}

// wantCredentialsUsed prefetches an image of origin with the docker config
// file at path, and checks that the test user's credentials got a token and
// went with the engine's pull.
func wantCredentialsUsed(t *testing.T, origin *fakeRegistry, issued *atomic.Int32, path string) {
	t.Helper()
	puller := newFakePuller()
	p := newTestPrefetcher(t, puller, func(o *Options) { o.DockerConfig = path })
	fleet := manifests.Fleet{Registries: []string{origin.host()}}
	if _, err := p.Prefetch(context.Background(), fleet, []Image{{Ref: origin.host() + "/shop/web:1"}}); err != nil {
		t.Fatal(err)
	}
	if issued.Load() != 1 {
		t.Error("no token was fetched with the credentials")
	}
	pulled := origin.host() + "/shop/web@" + digest.FromString("web").String()
	if puller.auths[pulled] != wantAuth(t, origin.host(), credentials{Username: testUser, Password: testPassword}) {
		t.Errorf("engine pull of %s got X-Registry-Auth %q", pulled, puller.auths[pulled])
	}
}

// wantAuth is the X-Registry-Auth value of cred for host.
func wantAuth(t *testing.T, host string, cred credentials) string {
	t.Helper()
	c := newDockerConfig()
	c.auths[host] = cred
	auth, err := c.registryAuth(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	return auth
}
