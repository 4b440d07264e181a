package manifests

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"

	"github.com/skiffops/skiff/internal/sopsfile"
)

// File names of a stack. Only compose.yaml is read (not compose.yml or
// docker-compose.*): one name per role keeps every line number pointing at
// exactly one file.
const (
	ComposeFile = "compose.yaml"
	DotEnvFile  = ".env"
)

// stackInput is what checking one stack for one region needs.
type stackInput struct {
	repo   string // absolute, symlinks resolved
	name   string
	region string
	node   *Node // nil when validating: node names and labels are ignored
	fleet  *Fleet
	// decrypter, when set, says whether this node decrypts a SOPS file.
	decrypter Decrypter
}

// source is one YAML file of a stack as written.
type source struct {
	rel  string // relative to the repository root
	root *yaml.Node
	data []byte
}

// stackCheck carries one stack through loading and checking. Every step adds
// problems; a step that cannot go on returns false.
type stackCheck struct {
	in       stackInput
	dir      string    // absolute path of the stack directory
	rel      string    // stacks/<name>
	sources  []*source // compose.yaml, then the region's overlay if any
	env      types.Mapping
	missing  []string // variables interpolated but not set
	project  *types.Project
	place    map[string]placement      // per placed service
	update   map[string]string         // per placed service
	grace    map[string]time.Duration  // per placed service: x-skiff.health_grace
	files    map[string]File           // repository files by absolute path
	sops     map[string]*sopsfile.File // the SOPS files among them, parsed
	problems []Problem
	stack    *Stack
}

func checkStack(in stackInput) *stackCheck {
	c := &stackCheck{
		in:    in,
		dir:   filepath.Join(in.repo, StacksDir, in.name),
		rel:   StacksDir + "/" + in.name,
		files: map[string]File{},
		sops:  map[string]*sopsfile.File{},
	}
	if !projectName.MatchString(in.name) {
		c.problems = append(c.problems, Problem{File: c.rel, Stack: in.name, Msg: fmt.Sprintf(
			"invalid stack directory name %q: a Compose project name has only lowercase letters, digits, - and _, and starts with a letter or digit", in.name)})
		return c
	}
	if fi, err := os.Lstat(c.dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		c.add(Error, "", c.rel, 0, "a stack must be a directory of the repository, not a symlink")
		return c
	}
	ok := c.readSources() && c.checkKeys() && c.readDotEnv() && c.loadProject() && c.placeServices()
	if !ok {
		return c
	}
	c.checkServices()
	if !hasErrors(c.problems) {
		c.finish()
	}
	return c
}

// readSources reads and parses compose.yaml and the region's overlay.
func (c *stackCheck) readSources() bool {
	base := filepath.Join(c.dir, ComposeFile)
	if _, err := os.Lstat(base); errors.Is(err, fs.ErrNotExist) {
		c.missingCompose()
		return false
	}
	for _, alt := range []string{"compose.yml", "docker-compose.yaml", "docker-compose.yml"} {
		if _, err := os.Lstat(filepath.Join(c.dir, alt)); err == nil {
			c.add(Warning, "", c.rel+"/"+alt, 0, alt+" is ignored: skiff reads only "+ComposeFile+" and compose.<region>.yaml")
		}
	}
	names := []string{ComposeFile}
	if c.in.region != "" {
		overlay := "compose." + c.in.region + ".yaml"
		if _, err := os.Lstat(filepath.Join(c.dir, overlay)); err == nil {
			names = append(names, overlay)
		}
	}
	for _, n := range names {
		s, ok := c.readSource(n)
		if !ok {
			return false
		}
		c.sources = append(c.sources, s)
	}
	return true
}

func (c *stackCheck) missingCompose() {
	for _, alt := range []string{"compose.yml", "docker-compose.yaml", "docker-compose.yml"} {
		if _, err := os.Lstat(filepath.Join(c.dir, alt)); err == nil {
			c.add(Error, "", c.rel+"/"+alt, 0, "rename "+alt+" to "+ComposeFile+": skiff reads only "+ComposeFile+" and compose.<region>.yaml")
			return
		}
	}
	c.add(Error, "", c.rel, 0, "no "+ComposeFile+" in the stack directory")
}

func (c *stackCheck) readSource(name string) (*source, bool) {
	rel := c.rel + "/" + name
	real, err := c.inRepo(filepath.Join(c.dir, name))
	if err != nil {
		c.add(Error, "", rel, 0, err.Error())
		return nil, false
	}
	data, err := readLimited(real, MaxYAMLSize)
	if err != nil {
		c.add(Error, "", rel, 0, err.Error())
		return nil, false
	}
	if !c.checkReserved(rel, data) {
		return nil, false
	}
	root, err := parseYAML(data)
	if err != nil {
		for _, p := range yamlProblems(rel, err) {
			c.add(Error, "", rel, p.Line, p.Msg)
		}
		return nil, false
	}
	if root == nil || root.Kind != yaml.MappingNode {
		line := 0
		if root != nil {
			line = root.Line
		}
		c.add(Error, "", rel, line, "the top level must be a mapping with services:")
		return nil, false
	}
	return &source{rel: rel, root: root, data: data}, true
}

// add records a problem of this stack.
func (c *stackCheck) add(sev Severity, service, file string, line int, msg string) {
	c.problems = append(c.problems, Problem{File: file, Line: line, Stack: c.in.name, Service: service, Severity: sev, Msg: msg})
}

// at locates path in the overlay first, then in compose.yaml; when neither
// has it all, the deepest match wins, and compose.yaml with no line is the
// last resort.
func (c *stackCheck) at(path ...string) (string, int) {
	bestFile, bestLine, bestDepth := c.baseRel(), 0, -1
	for i := len(c.sources) - 1; i >= 0; i-- {
		s := c.sources[i]
		n, full := lookup(s.root, path...)
		if n == nil {
			continue
		}
		if full {
			return s.rel, n.Line
		}
		if d := depthFound(s.root, path); d > bestDepth {
			bestFile, bestLine, bestDepth = s.rel, n.Line, d
		}
	}
	return bestFile, bestLine
}

func depthFound(root *yaml.Node, path []string) int {
	for i := len(path); i > 0; i-- {
		if _, ok := lookup(root, path[:i]...); ok {
			return i
		}
	}
	return 0
}

func (c *stackCheck) baseRel() string {
	return c.rel + "/" + ComposeFile
}

// errorAt and warnAt report a problem at a key path; the message starts with
// the path, as in "services.web.privileged: ...".
func (c *stackCheck) errorAt(service string, path []string, format string, args ...any) {
	c.reportAt(Error, service, path, fmt.Sprintf(format, args...))
}

func (c *stackCheck) warnAt(service string, path []string, format string, args ...any) {
	c.reportAt(Warning, service, path, fmt.Sprintf(format, args...))
}

func (c *stackCheck) reportAt(sev Severity, service string, path []string, msg string) {
	file, line := c.at(path...)
	c.add(sev, service, file, line, keyPath(path)+": "+msg)
}

// keyPath writes a lookup path the way users read it: services.web.ports[0].
func keyPath(path []string) string {
	var b strings.Builder
	for i, p := range path {
		switch {
		case i > 0 && isIndex(p):
			b.WriteString("[" + p + "]")
		case i > 0:
			b.WriteString("." + p)
		default:
			b.WriteString(p)
		}
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// locateText finds the first line of the stack's files containing needle,
// overlay first.
func (c *stackCheck) locateText(needle string) (string, int) {
	for i := len(c.sources) - 1; i >= 0; i-- {
		s := c.sources[i]
		for n, line := range strings.Split(string(s.data), "\n") {
			if strings.Contains(line, needle) {
				return s.rel, n + 1
			}
		}
	}
	return c.baseRel(), 0
}
