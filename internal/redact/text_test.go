package redact

import "testing"

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"fetch https://bob:hunter2@git.example.com/f.git: 401":         "fetch https://bob:redacted@git.example.com/f.git: 401",
		"a https://a:b@x.example/ and http://c:d@y.example:8080/z end": "a https://a:redacted@x.example/ and http://c:redacted@y.example:8080/z end",
		"https://bob@git.example.com/f.git":                            "https://bob@git.example.com/f.git",
		"dial tcp 127.0.0.1:5000: connection refused":                  "dial tcp 127.0.0.1:5000: connection refused",
		"user:pass@host without scheme":                                "user:pass@host without scheme",
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T0/B1/secret":      "https://hooks.slack.com/…",
		"https://user:pw@ntfy.example.net/topic":             "https://ntfy.example.net/…",
		"http://127.0.0.1:8080":                              "http://127.0.0.1:8080",
		"http://127.0.0.1:8080/":                             "http://127.0.0.1:8080",
		"https://example.net?token=s3cret":                   "https://example.net/…",
		"not a url with a secret in it":                      "(invalid URL)",
		"https://hooks.example.net/x#fragment-is-secret-too": "https://hooks.example.net/…",
	} {
		if got := Endpoint(in); got != want {
			t.Errorf("Endpoint(%q) = %q, want %q", in, got, want)
		}
	}
}
