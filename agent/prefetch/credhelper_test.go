package prefetch

import (
	"context"
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

	"github.com/opencontainers/go-digest"

	"github.com/skiffops/skiff/manifests"
)

// helperScript is a credential helper speaking the protocol's get: the
// server address on stdin, the credentials as JSON on stdout. It knows
// three servers, fails for one, and logs each call to $SKIFF_HELPER_LOG.
const helperScript = `#!/bin/sh
[ "$1" = get ] || { echo "unsupported action $1"; exit 1; }
server=$(cat)
echo "$server" >> "$SKIFF_HELPER_LOG"
case "$server" in
  %HOST%|reg.example.net:5000)
    printf '{"ServerURL":"%s","Username":"deploy","Secret":"s3cret-pass"}\n' "$server" ;;
  https://index.docker.io/v1/)
    printf '{"ServerURL":"%s","Username":"<token>","Secret":"hub-identity-token"}\n' "$server" ;;
  broken.example.net)
    echo "the keychain is locked" >&2
    echo "cannot reach the keychain"
    exit 1 ;;
  *)
    echo "credentials not found in native keychain"
    exit 1 ;;
esac
`

// installHelper puts docker-credential-<name> on PATH for the test, knowing
// host besides its fixed servers, and returns the file logging its calls.
func installHelper(t *testing.T, name, host string) string {
	t.Helper()
	dir := t.TempDir()
	script := strings.ReplaceAll(helperScript, "%HOST%", host)
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "calls.log")
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("SKIFF_HELPER_LOG", logFile)
	return logFile
}

func helperCalls(t *testing.T, logFile string) []string {
	t.Helper()
	data, err := os.ReadFile(logFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

// Docker's order: credHelpers for the registry, else credsStore, else the
// inline auths (also when a helper has nothing for the registry).
func TestCredentialHelpers(t *testing.T) {
	calls := installHelper(t, "skifftest", "private.example.net")
	path := writeDockerConfigJSON(t, map[string]any{
		"credsStore":  "skifftest",
		"credHelpers": map[string]string{"special.example.net": "nosuchhelper", "https://broken.example.net": "skifftest"},
		"auths":       map[string]any{"inline.example.net": map[string]string{"username": "i", "password": "ip"}},
	})
	cfg, err := loadDockerConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tt := range []struct {
		host string
		want credentials
		err  string
	}{
		{"reg.example.net:5000", credentials{Username: "deploy", Password: "s3cret-pass"}, ""},
		{"index.docker.io", credentials{IdentityToken: "hub-identity-token"}, ""},
		{"inline.example.net", credentials{Username: "i", Password: "ip"}, ""},
		{"public.example.net", credentials{}, ""},
		{"broken.example.net", credentials{}, "credential helper failed: docker-credential-skifftest for registry broken.example.net: " +
			"error getting credentials - err: exit status 1, out: `cannot reach the keychain`: the keychain is locked"},
		{"special.example.net", credentials{}, `credential helper failed: docker-credential-nosuchhelper for registry special.example.net: ` +
			"not installed (no such executable on PATH)"},
	} {
		got, err := cfg.creds(ctx, tt.host)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.host, err)
		case tt.err != "" && (err == nil || err.Error() != tt.err || !errors.Is(err, ErrCredentialHelper)):
			t.Errorf("%s: error %v\nwant %s", tt.host, err, tt.err)
		case got != tt.want:
			t.Errorf("%s: %+v, want %+v", tt.host, got, tt.want)
		}
	}
	if _, err := cfg.creds(ctx, "reg.example.net:5000"); err != nil {
		t.Fatal(err)
	}
	want := []string{"reg.example.net:5000", "https://index.docker.io/v1/", "inline.example.net", "public.example.net", "broken.example.net"}
	if got := helperCalls(t, calls); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("helper asked for %v, want %v (each registry once)", got, want)
	}
}

func TestCredentialHelperNames(t *testing.T) {
	for _, cfg := range []map[string]any{
		{"credsStore": "../../bin/sh"},
		{"credHelpers": map[string]string{"reg.example.net": "a/b"}},
	} {
		if _, err := loadDockerConfig(writeDockerConfigJSON(t, cfg)); err == nil || !strings.Contains(err.Error(), "is not a credential helper name") {
			t.Errorf("%v: %v", cfg, err)
		}
	}
}

// A helper's credentials reach both the origin's tag resolution (the
// registry token flow) and the engine's pull.
func TestCredentialHelperFeedsTheTokenFlowAndThePull(t *testing.T) {
	var issued atomic.Int32
	ts := tokenServer(t, &issued)
	origin := bearerRegistry(t, ts.URL+"/token")
	installHelper(t, "skifftest", origin.host())
	path := writeDockerConfigJSON(t, map[string]any{"credHelpers": map[string]string{origin.host(): "skifftest"}})
	wantCredentialsUsed(t, origin, &issued, path)
}

// A helper that fails leaves the image missing with an error that names
// the helper and the registry.
func TestCredentialHelperFailureNamesHelperAndRegistry(t *testing.T) {
	reg := newFakeRegistry(t, 0)
	reg.setTag("shop/web:1", digest.FromString("web"))
	installHelper(t, "skifftest", "nothing.example.net")
	path := writeDockerConfigJSON(t, map[string]any{"credHelpers": map[string]string{reg.host(): "nosuchhelper"}})
	p := newTestPrefetcher(t, newFakePuller(), func(o *Options) { o.DockerConfig = path })
	ref := reg.host() + "/shop/web:1"
	_, err := p.Prefetch(context.Background(), manifests.Fleet{}, []Image{{Ref: ref}})
	if !errors.Is(err, ErrCredentialHelper) || !strings.Contains(err.Error(), "docker-credential-nosuchhelper for registry "+reg.host()) {
		t.Errorf("prefetch: %v; want the helper and the registry named", err)
	}
}

// An identity token (what a helper returns as "<token>", ACR's way) is
// traded at the realm for an access token with the OAuth2 POST.
func TestIdentityTokenFlow(t *testing.T) {
	var issued atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "refresh_token" ||
			r.PostForm.Get("refresh_token") != "id-token" || r.PostForm.Get("service") != "test-registry" ||
			r.PostForm.Get("scope") != "repository:shop/web:pull" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		issued.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-123", "expires_in": 300})
	}))
	t.Cleanup(ts.Close)
	reg := bearerRegistry(t, ts.URL+"/oauth2/token")
	c := newRegistryClient(2*time.Second, nil)
	d, err := c.resolve(context.Background(), reg.host(), "shop/web", "1", credentials{IdentityToken: "id-token"})
	if err != nil || d != digest.FromString("web").String() || issued.Load() != 1 {
		t.Errorf("resolve with an identity token: %s, %v (%d tokens issued)", d, err, issued.Load())
	}
}
