package prefetch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// bearerToken is an Authorization header value (a registry token, or basic
// credentials the registry accepted) and when to stop sending it unasked.
type bearerToken struct {
	value   string
	expires time.Time
}

const (
	defaultTokenLife = 60 * time.Second // the distribution spec's default
	basicLife        = 10 * time.Minute
	tokenMargin      = 10 * time.Second
	maxTokenResponse = 1 << 20
)

// cachedAuth returns the Authorization header of a live token for host and
// scope, or "".
func (c *registryClient) cachedAuth(host, scope string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tokens[host+" "+scope]
	if !ok || time.Now().After(t.expires) {
		return ""
	}
	return t.value
}

func (c *registryClient) remember(host, scope string, t bearerToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens[host+" "+scope] = t
}

// authorize answers a 401's WWW-Authenticate challenge: basic credentials
// for Basic, or a token from the realm for Bearer (the registry token flow,
// anonymous when there are no credentials).
func (c *registryClient) authorize(ctx context.Context, host, scope, header string, cred credentials) (string, error) {
	scheme, params := parseChallenge(header)
	switch strings.ToLower(scheme) {
	case "basic":
		if cred.Username == "" {
			return "", fmt.Errorf("%w: the registry wants credentials and the docker config has none for %s", ErrUnauthorized, host)
		}
		authz := "Basic " + basicAuth(cred)
		c.remember(host, scope, bearerToken{value: authz, expires: time.Now().Add(basicLife)})
		return authz, nil
	case "bearer":
		if s := params["scope"]; s != "" {
			scope = s
		}
		t, err := c.fetchToken(ctx, params["realm"], params["service"], scope, cred)
		if err != nil {
			return "", err
		}
		c.remember(host, scope, t)
		return t.value, nil
	}
	return "", fmt.Errorf("%w: status 401 with an unknown challenge %q", ErrUnauthorized, scheme)
}

func basicAuth(cred credentials) string {
	return base64.StdEncoding.EncodeToString([]byte(cred.Username + ":" + cred.Password))
}

// fetchToken gets a pull token from the realm, with basic credentials when
// there are some.
func (c *registryClient) fetchToken(ctx context.Context, realm, service, scope string, cred credentials) (bearerToken, error) {
	u, err := url.Parse(realm)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return bearerToken{}, fmt.Errorf("%w: bad token realm in the registry's challenge", ErrUnauthorized)
	}
	q := u.Query()
	if service != "" {
		q.Set("service", service)
	}
	q.Set("scope", scope)
	var req *retryablehttp.Request
	if cred.IdentityToken != "" {
		req, err = identityTokenRequest(ctx, u, q, cred.IdentityToken)
	} else {
		u.RawQuery = q.Encode()
		req, err = retryablehttp.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	}
	if err != nil {
		return bearerToken{}, fmt.Errorf("get token: %w", err)
	}
	if cred.Username != "" && cred.IdentityToken == "" {
		req.SetBasicAuth(cred.Username, cred.Password)
	}
	resp, err := c.api.Do(req)
	if err != nil {
		return bearerToken{}, fmt.Errorf("get token from %s: %w", u.Host, transportError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return bearerToken{}, fmt.Errorf("%w: token from %s: status %d", ErrUnauthorized, u.Host, resp.StatusCode)
	}
	return decodeToken(resp.Body)
}

// identityTokenRequest trades an identity token (a refresh token, as
// credential helpers return for "<token>") for an access token: the OAuth2
// POST of the distribution token spec.
func identityTokenRequest(ctx context.Context, realm *url.URL, q url.Values, token string) (*retryablehttp.Request, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "client_id": {"skiff"}}
	for _, k := range []string{"service", "scope"} {
		if v := q.Get(k); v != "" {
			form.Set(k, v)
		}
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, realm.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

func decodeToken(r io.Reader) (bearerToken, error) {
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(io.LimitReader(r, maxTokenResponse)).Decode(&body); err != nil {
		return bearerToken{}, fmt.Errorf("%w: token response is not JSON", ErrUnauthorized)
	}
	value := body.Token
	if value == "" {
		value = body.AccessToken
	}
	if value == "" {
		return bearerToken{}, fmt.Errorf("%w: token response has no token", ErrUnauthorized)
	}
	t := bearerToken{value: "Bearer " + value}
	life := defaultTokenLife
	if body.ExpiresIn > 0 {
		life = time.Duration(body.ExpiresIn) * time.Second
	}
	t.expires = time.Now().Add(life - min(tokenMargin, life/2))
	return t, nil
}

// parseChallenge splits `Bearer realm="…",service="…",scope="…"` into its
// scheme and parameters; commas inside quotes belong to the value.
func parseChallenge(header string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	params := map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; {
		var key, value string
		key, rest, _ = strings.Cut(rest, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		value, rest = challengeValue(rest)
		if key != "" {
			params[key] = value
		}
		rest = strings.TrimLeft(rest, ", ")
	}
	return scheme, params
}

// challengeValue reads one value, quoted (with \-escapes) or up to the next
// comma, and returns it with the rest of the header.
func challengeValue(s string) (string, string) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, `"`) {
		v, rest, _ := strings.Cut(s, ",")
		return strings.TrimSpace(v), rest
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), ""
}
