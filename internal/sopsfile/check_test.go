package sopsfile_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/skiffops/skiff/internal/sopsfile"
	"github.com/skiffops/skiff/testenv/sopsenc"
)

func TestRecognize(t *testing.T) {
	for name, want := range map[string]string{
		"db.sops.yaml":                "yaml",
		"db.sops.yml":                 "yaml",
		"stacks/app/conf.sops.json":   "json",
		"stacks/app/.sops.env":        "dotenv",
		"secrets.sops.env":            "dotenv",
		"cert.pem.sops":               "binary",
		"stacks/app/tls/key.der.sops": "binary",
		"db.yaml":                     "",
		"sops.yaml":                   "",
		".sops.yaml.bak":              "",
		"notes.sops.txt":              "",
		"app.sops.ini":                "",
		"x.sopsy":                     "",
	} {
		f, ok := sopsfile.Recognize(name)
		got := ""
		if ok {
			got = sopsfile.FormatName(f)
		}
		if got != want {
			t.Errorf("Recognize(%q) = %q, want %q", name, got, want)
		}
		if ok {
			if back, ok := sopsfile.ParseFormat(got); !ok || back != f {
				t.Errorf("ParseFormat(%q) = %v, %v", got, back, ok)
			}
		}
	}
}

// TestCheckWithoutKey is what skiff validate sees: files that no node could
// decrypt are told apart from good ones without any key.
func TestCheckWithoutKey(t *testing.T) {
	_, recipient := newIdentity(t)
	good, err := sopsenc.Encrypt([]byte("password: x\n"), "yaml", sopsenc.Options{Groups: [][]string{{recipient}}})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(re, repl string) []byte {
		out := regexp.MustCompile(re).ReplaceAll(good, []byte(repl))
		if string(out) == string(good) {
			t.Fatalf("%s matches nothing in\n%s", re, good)
		}
		return out
	}
	cases := []struct {
		name, data, want string
	}{
		{"good", string(good), ""},
		{"no age recipient", string(edit(`(?s)    age:\n.*?    lastmodified:`, "    pgp:\n        - fp: ABCDEF\n          enc: x\n    lastmodified:")), "no age recipient"},
		{"no MAC", string(edit(`(?m)^    mac: .*\n`, "")), "no MAC"},
		{"comment regex", string(edit(`(?m)^    unencrypted_suffix: .*\n`, "    unencrypted_comment_regex: keep\n")), "comment-regex are not supported"},
		{"two rules", string(edit(`(?m)^    unencrypted_suffix: .*\n`, "    unencrypted_suffix: _x\n    encrypted_regex: y\n")), "more than one of"},
		{"no lastmodified", string(edit(`(?m)^    lastmodified: .*\n`, "")), "lastmodified"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := sopsfile.Parse([]byte(c.data), sopsfile.YAML)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			err = f.Metadata().Check()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("check: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("check: %v, want %q", err, c.want)
			}
		})
	}
}

func TestParseRefusesPlainFiles(t *testing.T) {
	for _, c := range []struct {
		format sopsfile.Format
		data   string
	}{
		{sopsfile.YAML, "password: hunter2\n"},
		{sopsfile.JSON, `{"password": "hunter2"}`},
		{sopsfile.Dotenv, "PASSWORD=hunter2\n"},
		{sopsfile.Binary, `{"data": "hunter2"}`},
	} {
		_, err := sopsfile.Parse([]byte(c.data), c.format)
		if !errors.Is(err, sopsfile.ErrNotEncrypted) {
			t.Errorf("%s: %v, want ErrNotEncrypted", sopsfile.FormatName(c.format), err)
		}
	}
	for _, c := range []struct {
		format sopsfile.Format
		data   string
	}{
		{sopsfile.YAML, "- a list\n"},
		{sopsfile.JSON, `[1, 2]`},
		{sopsfile.JSON, `{"a": 1} trailing`},
		{sopsfile.Dotenv, "no equals sign\n"},
		{sopsfile.Binary, `{"sops": {}}`},
	} {
		if _, err := sopsfile.Parse([]byte(c.data), c.format); err == nil || errors.Is(err, sopsfile.ErrNotEncrypted) {
			t.Errorf("%s %q: %v, want a parse error", sopsfile.FormatName(c.format), c.data, err)
		}
	}
}

func TestShamirMetadata(t *testing.T) {
	_, a := newIdentity(t)
	_, b := newIdentity(t)
	_, c := newIdentity(t)
	for _, format := range []string{"yaml", "dotenv"} {
		plain := "password: x\n"
		if format == "dotenv" {
			plain = "PASSWORD=x\n"
		}
		enc, err := sopsenc.Encrypt([]byte(plain), format, sopsenc.Options{Groups: [][]string{{a}, {b, c}}, Threshold: 2})
		if err != nil {
			t.Fatal(err)
		}
		f, _ := sopsfile.ParseFormat(format)
		file, err := sopsfile.Parse(enc, f)
		if err != nil {
			t.Fatal(err)
		}
		m := file.Metadata()
		if len(m.Groups) != 2 || len(m.Groups[1].Age) != 2 || m.Threshold() != 2 {
			t.Errorf("%s: groups %+v threshold %d", format, m.Groups, m.Threshold())
		}
		if err := m.Check(); err != nil {
			t.Errorf("%s: check: %v", format, err)
		}
	}
}
