package manifests

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/skiffops/skiff/internal/sopsfile"
)

// Repository files encrypted with SOPS for age recipients (*.sops.yaml,
// *.sops.json, *.sops.env, *.sops) are recognized by name and recorded in
// Stack.Files with their format (File.Sops) and the digest of their
// encrypted content: manifests never decrypts, and never holds plaintext.
// The engine decrypts them on the node, under the runtime directory, where
// containers mount them from; the spec hash covers the encrypted content, so
// a file encrypted again is a change even when its plaintext is not.
//
// Values of encrypted dotenv files (an env_file *.sops.env, or the stack's
// .sops.env for interpolation) stand in the project as placeholders,
// {{sops:FILE:KEY}} with FILE relative to the stack directory: dotenv keys
// are never encrypted, so the names are known without a key. They may reach
// environment values only (the engine substitutes them there when it creates
// the container); anywhere else they are an error naming the variable.
//
// Load checks every SOPS file a stack uses without a key (an age recipient, a
// MAC, options skiff reads) and, given a Decrypter (the agent's keyring),
// that this node decrypts it: a file it cannot decrypt refuses the stack,
// which keeps its last good spec. Validate checks every SOPS file of the
// repository, used or not, without a key.

// SopsDotEnvFile is the stack's encrypted interpolation file, read beside
// (and never together with a variable of) .env.
const SopsDotEnvFile = ".sops.env"

// Decrypter says whether this node can decrypt a SOPS file: it decrypts it
// with the node's identities, verifies its MAC and forgets the plaintext.
// format is a sops format name: yaml, json, dotenv or binary.
type Decrypter interface {
	CheckDecrypt(data []byte, format string) error
}

// LoadOption changes how Load reads a checkout.
type LoadOption func(*loadOptions)

type loadOptions struct {
	decrypter Decrypter
}

// WithDecrypter makes Load refuse the stacks whose SOPS files the node
// cannot decrypt. Without it (skiff render), SOPS files are checked for a
// recipient and a MAC only.
func WithDecrypter(d Decrypter) LoadOption {
	return func(o *loadOptions) { o.decrypter = d }
}

// SecretRef is one placeholder of a value from an encrypted dotenv file.
type SecretRef struct {
	File string // relative to the stack directory, slash-separated
	Key  string
}

// Placeholder is how the value stands in the project.
func (r SecretRef) Placeholder() string {
	return "{{sops:" + r.File + ":" + r.Key + "}}"
}

// placeholderPrefix starts every placeholder; compose files and .env may
// not contain it.
const placeholderPrefix = "{{sops:"

var placeholder = regexp.MustCompile(`\{\{sops:([^{}:]+):([^{}:]+)\}\}`)

// secretKey is what a dotenv key must be to stand in a placeholder.
var secretKey = regexp.MustCompile(`^[^{}:\s]+$`)

// ReplaceSecrets replaces the placeholders of s by their values; a
// placeholder lookup cannot resolve is an error naming it.
func ReplaceSecrets(s string, lookup func(SecretRef) (string, bool)) (string, error) {
	var missing []string
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		sub := placeholder.FindStringSubmatch(m)
		v, ok := lookup(SecretRef{File: sub[1], Key: sub[2]})
		if !ok {
			missing = append(missing, m)
		}
		return v
	})
	if missing != nil {
		return "", fmt.Errorf("no decrypted value for %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// SecretRefs lists the placeholders in s.
func SecretRefs(s string) []SecretRef {
	var out []SecretRef
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		out = append(out, SecretRef{File: m[1], Key: m[2]})
	}
	return out
}

// sopsFormat says whether the repository file at lexical path abs is a
// SOPS file, by its name.
func sopsFormat(abs string) (string, bool) {
	f, ok := sopsfile.Recognize(abs)
	if !ok {
		return "", false
	}
	return sopsfile.FormatName(f), true
}

// sopsError is what is wrong with a SOPS file itself, wherever it is used:
// while validating, checkRepoSops reports it once for the file.
type sopsError struct{ err error }

func (e sopsError) Error() string { return e.err.Error() }
func (e sopsError) Unwrap() error { return e.err }

// openSops reads a SOPS file of the stack, checks it without a key and,
// with a decrypter, that this node decrypts it.
func (c *stackCheck) openSops(real, format string) (*sopsfile.File, error) {
	data, err := os.ReadFile(real)
	if err != nil {
		return nil, err
	}
	file, err := parseSops(data, format)
	if err != nil {
		return nil, err
	}
	if d := c.in.decrypter; d != nil {
		if err := d.CheckDecrypt(data, format); err != nil {
			return nil, fmt.Errorf("cannot be decrypted on this node: %w", err)
		}
	}
	return file, nil
}

// parseSops parses and checks a SOPS file without a key.
func parseSops(data []byte, format string) (*sopsfile.File, error) {
	f, _ := sopsfile.ParseFormat(format)
	file, err := sopsfile.Parse(data, f)
	if err != nil {
		return nil, sopsError{fmt.Errorf("SOPS %s file: %w", format, err)}
	}
	if err := file.Metadata().Check(); err != nil {
		return nil, sopsError{err}
	}
	if f == sopsfile.Dotenv {
		if _, err := secretEnv(file, ""); err != nil {
			return nil, sopsError{err}
		}
	}
	return file, nil
}

// reportSops reports a problem with a SOPS file the stack uses, unless it
// is one checkRepoSops reports while validating.
func (c *stackCheck) reportSops(report func(string), err error) {
	var se sopsError
	if c.in.node == nil && errors.As(err, &se) {
		return
	}
	report(err.Error())
}

// secretEnv returns the placeholders of an encrypted dotenv file's
// variables, by name; rel is the file relative to the stack directory.
func secretEnv(file *sopsfile.File, rel string) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range file.EnvKeys() {
		if !secretKey.MatchString(k) {
			return nil, fmt.Errorf("variable name %q cannot be used: no spaces, colons or braces", k)
		}
		out[k] = SecretRef{File: rel, Key: k}.Placeholder()
	}
	return out, nil
}

// readSopsDotEnv reads the stack's .sops.env: its variables are
// interpolated as placeholders.
func (c *stackCheck) readSopsDotEnv() (map[string]string, bool) {
	abs := filepath.Join(c.dir, SopsDotEnvFile)
	rel := c.rel + "/" + SopsDotEnvFile
	report := func(msg string) { c.add(Error, "", rel, 0, msg) }
	real, err := c.inRepo(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, true
	case err != nil:
		report(err.Error())
		return nil, false
	}
	digest, _, err := c.digestFile(real)
	if err != nil {
		report(err.Error())
		return nil, false
	}
	c.files[abs] = File{Path: abs, Rel: rel, Digest: digest, Sops: "dotenv"}
	file, err := c.openSops(real, "dotenv")
	if err != nil {
		c.reportSops(report, err)
		return nil, false
	}
	vars, _ := secretEnv(file, SopsDotEnvFile) // parseSops checked the names
	return vars, true
}

// checkReserved refuses the placeholder syntax where users write: a
// placeholder must only ever come from an encrypted file.
func (c *stackCheck) checkReserved(rel string, data []byte) bool {
	if i := strings.Index(string(data), placeholderPrefix); i >= 0 {
		line := strings.Count(string(data[:i]), "\n") + 1
		c.add(Error, "", rel, line, placeholderPrefix+"…}} is reserved for the values of encrypted dotenv files")
		return false
	}
	return true
}

// checkSecretUse refuses placeholders anywhere but in environment values,
// the only place the engine substitutes them.
func (c *stackCheck) checkSecretUse(p *types.Project) bool {
	ok := true
	q := *p
	q.Services = types.Services{}
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		for k := range s.Environment {
			if strings.Contains(k, placeholderPrefix) {
				c.errorAt(name, []string{"services", name, "environment"}, "a variable name cannot come from an encrypted file")
				ok = false
			}
		}
		s.Environment = nil
		q.Services[name] = s
	}
	b, err := q.MarshalJSON()
	if err != nil {
		c.add(Error, "", c.baseRel(), 0, "encode the project: "+err.Error())
		return false
	}
	seen := map[SecretRef]bool{}
	for _, r := range SecretRefs(string(b)) {
		if seen[r] {
			continue
		}
		seen[r] = true
		file, line := c.locateVar(r.Key)
		c.add(Error, "", file, line, fmt.Sprintf(
			"variable %s comes from the encrypted %s: it can only be used in environment values; mount a secret for anything else", r.Key, r.File))
		ok = false
	}
	return ok
}

// secretDigests are the digests of the encrypted dotenv files whose
// values the service's environment uses: the spec hash changes with them.
func secretDigests(p *types.Project, s types.ServiceConfig, files map[string]File) []string {
	set := map[string]bool{}
	for _, v := range s.Environment {
		if v == nil {
			continue
		}
		for _, r := range SecretRefs(*v) {
			if f, ok := files[filepath.Join(p.WorkingDir, filepath.FromSlash(r.File))]; ok {
				set[f.Digest] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	return sorted(out)
}

// checkRepoSops checks every SOPS file of the repository without a key,
// whether a stack uses it or not: skiff validate in the repository's CI
// finds a file no node could decrypt before any node refuses it.
func checkRepoSops(repo string) []Problem {
	var ps []Problem
	_ = filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		format, ok := sopsFormat(p)
		if !ok || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(repo, p)
		rel = filepath.ToSlash(rel)
		prob := Problem{File: rel, Stack: stackOf(rel)}
		data, err := os.ReadFile(p)
		if err == nil {
			_, err = parseSops(data, format)
		}
		if err != nil {
			prob.Msg = err.Error()
			ps = append(ps, prob)
		}
		return nil
	})
	return ps
}

// stackOf is the stack a repository path belongs to, "" outside stacks/.
func stackOf(rel string) string {
	parts := strings.SplitN(rel, "/", 3)
	if len(parts) == 3 && parts[0] == StacksDir {
		return parts[1]
	}
	return ""
}
