package redact

import (
	"net/url"
	"regexp"
)

// urlPassword matches the user:password@ of a URL inside a longer text.
var urlPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^/\s@]*@`)

// Text replaces the passwords of the URLs found in s, such as an error
// message quoting one, with "redacted".
func Text(s string) string {
	return urlPassword.ReplaceAllString(s, "${1}:redacted@")
}

// Endpoint reduces a URL to its scheme and host, for logs and errors about
// a URL whose every part but those may be a secret (a webhook's path or
// query often is its token): https://user:pw@hooks.example.com/T0/B1/x
// becomes https://hooks.example.com/…. A string that is not such a URL
// becomes "(invalid URL)": it may be a secret too.
func Endpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(invalid URL)"
	}
	out := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		out += "/…"
	}
	return out
}
