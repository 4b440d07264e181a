package manifests

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// This file resolves every path a stack gives to the node: relative paths
// must stay inside the stack directory (symlinks may lead elsewhere in the
// repository, never out of it), absolute paths are paths of the node that the
// policy must allow, and ~ is refused (whose home?). Repository files are
// recorded with their digest.

// ref is one path to resolve, and how to report a refusal.
type ref struct {
	raw    string
	what   string // "bind source", "env_file", ...
	host   bool   // an absolute path of the node may be allowed by policy
	report func(msg string)
}

// resolveRef returns the absolute path to put in the project.
func (c *stackCheck) resolveRef(r ref) (string, bool) {
	switch {
	case r.raw == "":
		r.report(r.what + " is empty")
		return "", false
	case strings.HasPrefix(r.raw, "~"):
		r.report(fmt.Sprintf("%s %s: ~ is not allowed, home directories differ per node; write an absolute path allowed by policy.host_paths", r.what, r.raw))
		return "", false
	case filepath.IsAbs(r.raw) && !r.host:
		r.report(fmt.Sprintf("%s %s must be a file of the stack directory", r.what, r.raw))
		return "", false
	case filepath.IsAbs(r.raw):
		if msg := c.checkHostPath(r.raw); msg != "" {
			r.report(r.what + ": " + msg)
			return "", false
		}
		return path.Clean(r.raw), true
	}
	abs := filepath.Join(c.dir, r.raw)
	if rel, err := filepath.Rel(c.dir, abs); err != nil || !local(rel) {
		r.report(fmt.Sprintf("%s %s leaves the stack directory: only files of the stack directory can be used", r.what, r.raw))
		return "", false
	}
	real, err := c.inRepo(abs)
	if errors.Is(err, fs.ErrNotExist) {
		r.report(fmt.Sprintf("%s %s does not exist in the repository", r.what, r.raw))
		return "", false
	}
	if err != nil {
		r.report(fmt.Sprintf("%s %s: %v", r.what, r.raw, err))
		return "", false
	}
	digest, dir, err := c.digestFile(real)
	if err != nil {
		r.report(fmt.Sprintf("%s %s: %v", r.what, r.raw, err))
		return "", false
	}
	f := File{Path: abs, Rel: c.relToRepo(abs), Digest: digest, Dir: dir}
	if format, ok := sopsFormat(abs); ok && !dir {
		sf, err := c.openSops(real, format)
		if err != nil {
			c.reportSops(func(msg string) { r.report(fmt.Sprintf("%s %s: %s", r.what, r.raw, msg)) }, err)
			return "", false
		}
		f.Sops, c.sops[abs] = format, sf
	}
	c.files[abs] = f
	return abs, true
}

// checkServicePaths resolves the bind sources and env_files of one service.
func (c *stackCheck) checkServicePaths(name string) {
	s := c.project.Services[name]
	for i, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		p, file, line := c.itemAt(name, "volumes", matchTarget(v.Target))
		if src, ok := c.resolveRef(ref{raw: v.Source, what: "bind source", host: true, report: c.reporterIn(name, p, file, line)}); ok {
			s.Volumes[i].Source = src
		}
	}
	var envFiles []types.EnvFile
	for _, ef := range s.EnvFiles {
		if !bool(ef.Required) && c.optionalMissing(ef.Path) {
			continue
		}
		at, file, line := c.itemAt(name, "env_file", matchText("path", ef.Path))
		report := c.reporterIn(name, at, file, line)
		p, ok := c.resolveRef(ref{raw: ef.Path, what: "env_file", report: report})
		switch {
		case !ok:
		case c.files[p].Sops != "":
			c.secretEnvFile(&s, p, ef.Path, report)
		default:
			ef.Path = p
			envFiles = append(envFiles, ef)
		}
	}
	s.EnvFiles = envFiles
	c.project.Services[name] = s
}

// secretEnvFile sets the variables of an encrypted env_file as
// placeholders, under those the service's environment sets itself, and
// keeps the file from compose-go, which would read its ciphertext. A
// variable also set by a plain env_file takes the encrypted value.
func (c *stackCheck) secretEnvFile(s *types.ServiceConfig, p, raw string, report func(string)) {
	if format := c.files[p].Sops; format != "dotenv" {
		report(fmt.Sprintf("env_file %s is a SOPS %s file: an env_file holds KEY=value lines, encrypt it as *.sops.env", raw, format))
		return
	}
	rel, err := filepath.Rel(c.dir, p)
	if err != nil {
		report(fmt.Sprintf("env_file %s: %v", raw, err))
		return
	}
	vars, err := secretEnv(c.sops[p], filepath.ToSlash(rel))
	if err != nil {
		c.reportSops(func(msg string) { report("env_file " + raw + ": " + msg) }, sopsError{err})
		return
	}
	if s.Environment == nil {
		s.Environment = types.MappingWithEquals{}
	}
	for _, k := range sortedKeys(vars) {
		if _, set := s.Environment[k]; !set {
			v := vars[k]
			s.Environment[k] = &v
		}
	}
}

func (c *stackCheck) optionalMissing(p string) bool {
	if filepath.IsAbs(p) || strings.HasPrefix(p, "~") {
		return false
	}
	_, err := c.inRepo(filepath.Join(c.dir, p))
	return errors.Is(err, fs.ErrNotExist)
}

// checkFileObjects resolves the files of the secrets and configs in use.
func (c *stackCheck) checkFileObjects() {
	p := c.project
	for name, s := range p.Secrets {
		s.File = c.fileObject("secrets", name, s.File)
		p.Secrets[name] = s
	}
	for name, o := range p.Configs {
		o.File = c.fileObject("configs", name, o.File)
		p.Configs[name] = o
	}
}

func (c *stackCheck) fileObject(kind, name, file string) string {
	if file == "" {
		return "" // environment:, content: and external: are refused by checkKeys
	}
	at := []string{kind, name, "file"}
	f, line := c.at(at...)
	what := strings.TrimSuffix(kind, "s") + " file"
	p, _ := c.resolveRef(ref{raw: file, what: what, host: true, report: c.reporterIn("", at, f, line)})
	return p
}

func (c *stackCheck) reporterIn(service string, at []string, file string, line int) func(string) {
	return func(msg string) {
		c.add(Error, service, file, line, keyPath(at)+": "+msg)
	}
}

// itemAt locates the item of services.<svc>.<key> that match accepts, in the
// overlay first. Without a match it points at the key itself.
func (c *stackCheck) itemAt(svc, key string, match func(*yaml.Node) bool) ([]string, string, int) {
	for i := len(c.sources) - 1; i >= 0; i-- {
		seq := valueAt(c.sources[i].root, "services", svc, key)
		if seq == nil || seq.Kind != yaml.SequenceNode {
			continue
		}
		for idx, it := range seq.Content {
			if it = deref(it); it != nil && match(it) {
				return []string{"services", svc, key, strconv.Itoa(idx)}, c.sources[i].rel, it.Line
			}
		}
	}
	at := []string{"services", svc, key}
	file, line := c.at(at...)
	return at, file, line
}

// matchTarget matches a volume item, short or long syntax, by its target.
func matchTarget(target string) func(*yaml.Node) bool {
	return func(n *yaml.Node) bool {
		switch n.Kind {
		case yaml.ScalarNode:
			parts := strings.Split(n.Value, ":")
			i := min(1, len(parts)-1)
			return path.Clean(parts[i]) == target
		case yaml.MappingNode:
			t := valueAt(n, "target")
			return t != nil && path.Clean(t.Value) == target
		}
		return false
	}
}

// matchText matches a short-syntax item containing s, or a long-syntax item
// with key equal to s.
func matchText(key, s string) func(*yaml.Node) bool {
	return func(n *yaml.Node) bool {
		switch n.Kind {
		case yaml.ScalarNode:
			return strings.Contains(n.Value, s)
		case yaml.MappingNode:
			v := valueAt(n, key)
			return v != nil && v.Value == s
		}
		return false
	}
}
