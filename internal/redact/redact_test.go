package redact

import "testing"

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://bob:hunter2@git.example.com/f.git": "https://bob:redacted@git.example.com/f.git",
		"https://bob@git.example.com/f.git":         "https://bob@git.example.com/f.git",
		"https://git.example.com/f.git":             "https://git.example.com/f.git",
		"git@host:org/repo.git":                     "git@host:org/repo.git",
		"::not a url":                               "::not a url",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}
