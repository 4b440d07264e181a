// Package redact strips credentials from URLs before they reach a log, an
// error or the store.
package redact

import "net/url"

// URL replaces the password of a URL with "redacted". Strings that are not
// URLs, or carry no password, are returned unchanged.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "redacted")
	}
	return u.String()
}
