package prefetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/opencontainers/go-digest"
)

// manifestTypes are the manifest media types a tag may point to; asking for
// all of them makes the registry answer with the digest the engine pulls.
var manifestTypes = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

const maxManifestSize = 4 << 20

// registryClient makes the small requests prefetch sends to registries
// itself: latency probes and tag resolution. The engine pulls the bytes.
type registryClient struct {
	api       *retryablehttp.Client // requests, retried on connection errors and 5xx
	probe     *retryablehttp.Client // latency samples: one fresh connection each, no retry
	plainHTTP []string

	// mu guards tokens.
	mu     sync.Mutex
	tokens map[string]bearerToken // host + " " + scope → token
}

func newRegistryClient(timeout time.Duration, plainHTTP []string) *registryClient {
	return &registryClient{
		api:       newRetryClient(timeout, 1, false),
		probe:     newRetryClient(timeout, 0, true),
		plainHTTP: plainHTTP,
		tokens:    map[string]bearerToken{},
	}
}

func newRetryClient(timeout time.Duration, retries int, fresh bool) *retryablehttp.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = fresh
	return &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: tr, Timeout: timeout},
		RetryWaitMin: 100 * time.Millisecond,
		RetryWaitMax: time.Second,
		RetryMax:     retries,
		CheckRetry:   retryablehttp.DefaultRetryPolicy,
		Backoff:      retryablehttp.DefaultBackoff,
		// The last response or error as it is: callers say what failed.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		// Logger stays nil: failures are reported by the caller, once.
	}
}

// baseURL is the registry's API root. The engine trusts registries on
// loopback without TLS, and so does skiff; others are spoken to over
// HTTPS unless listed as plain HTTP.
func (c *registryClient) baseURL(host string) string {
	if c.isPlainHTTP(host) {
		return "http://" + host
	}
	if host == "docker.io" {
		return "https://registry-1.docker.io"
	}
	return "https://" + host
}

func (c *registryClient) isPlainHTTP(host string) bool {
	if slices.Contains(c.plainHTTP, host) {
		return true
	}
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ping times one GET /v2/ over a new connection. 200 and 401 (the registry
// wants credentials) both mean it is alive.
func (c *registryClient) ping(ctx context.Context, host string) (time.Duration, error) {
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, c.baseURL(host)+"/v2/", nil)
	if err != nil {
		return 0, fmt.Errorf("probe %s: %w", host, err)
	}
	start := time.Now()
	resp, err := c.probe.Do(req)
	if err != nil {
		return 0, fmt.Errorf("probe %s: %w", host, transportError(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	elapsed := time.Since(start)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
		return 0, fmt.Errorf("probe %s: GET /v2/: status %d", host, resp.StatusCode)
	}
	return elapsed, nil
}

// resolve asks host for the digest of path:tag with one HEAD request (a GET
// when the registry does not send Docker-Content-Digest).
func (c *registryClient) resolve(ctx context.Context, host, path, tag string, cred credentials) (string, error) {
	url := fmt.Sprintf("%s/v2/%s/manifests/%s", c.baseURL(host), path, tag)
	scope := "repository:" + path + ":pull"
	resp, err := c.send(ctx, http.MethodHead, url, host, scope, cred)
	if err != nil {
		return "", fmt.Errorf("resolve %s:%s at %s: %w", path, tag, host, err)
	}
	resp.Body.Close()
	if d, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil {
		return d.String(), nil
	}
	resp, err = c.send(ctx, http.MethodGet, url, host, scope, cred)
	if err != nil {
		return "", fmt.Errorf("resolve %s:%s at %s: %w", path, tag, host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize))
	if err != nil {
		return "", fmt.Errorf("resolve %s:%s at %s: read manifest: %w", path, tag, host, err)
	}
	return digest.FromBytes(body).String(), nil
}

// send makes a manifest request, answering the registry's auth challenge
// once, and returns a 200 response or an error naming the status.
func (c *registryClient) send(ctx context.Context, method, url, host, scope string, cred credentials) (*http.Response, error) {
	resp, err := c.do(ctx, method, url, c.cachedAuth(host, scope))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		challenge := resp.Header.Get("WWW-Authenticate")
		resp.Body.Close()
		authz, err := c.authorize(ctx, host, scope, challenge, cred)
		if err != nil {
			return nil, err
		}
		if resp, err = c.do(ctx, method, url, authz); err != nil {
			return nil, err
		}
	}
	if err := statusError(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

func (c *registryClient) do(ctx context.Context, method, url, authz string) (*http.Response, error) {
	req, err := retryablehttp.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", manifestTypes)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := c.api.Do(req)
	if err != nil {
		return nil, transportError(err)
	}
	return resp, nil
}

// transportError drops the *url.Error around a transport failure: its
// message repeats the URL that the caller's context already names.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// statusError maps a manifest response's status to the package's reasons.
func statusError(resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: status %d", ErrUnauthorized, resp.StatusCode)
	}
	return fmt.Errorf("status %d", resp.StatusCode)
}
