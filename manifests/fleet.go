package manifests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"go.yaml.in/yaml/v4"
)

// FleetFile is the name of the optional fleet description at the repository root.
const FleetFile = "fleet.yaml"

// Fleet is fleet.yaml: the regions with their registries, the origin
// registries and the policy every stack is checked against.
type Fleet struct {
	Regions    map[string]Region `yaml:"regions"`
	Registries []string          `yaml:"registries"` // origins: host[:port]
	Policy     Policy            `yaml:"policy"`
}

// Region is one region of fleet.yaml.
type Region struct {
	Registries []string `yaml:"registries"` // mirrors, nearest first: host[:port]
}

// Policy says what stacks may ask of a node. The zero Policy (no policy block)
// denies all of it.
type Policy struct {
	HostPaths      []string `yaml:"host_paths"`      // absolute prefixes allowed as bind sources
	Privileged     bool     `yaml:"privileged"`      // privileged, unconfined security_opt
	HostNamespaces bool     `yaml:"host_namespaces"` // network_mode/pid/ipc/userns_mode: host
	DockerSocket   bool     `yaml:"docker_socket"`   // the Docker socket as a bind source
	Devices        bool     `yaml:"devices"`         // devices:
	CapAdd         []string `yaml:"cap_add"`         // capabilities a stack may add
}

// RegistriesFor returns where to look for an image of an origin registry, in
// order: the region's mirrors, then the node-local additions, then the
// origins, without duplicates.
func (f Fleet) RegistriesFor(region string, nodeLocal []string) []string {
	var out []string
	for _, list := range [][]string{f.Regions[region].Registries, nodeLocal, f.Registries} {
		for _, r := range list {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}

// IsOrigin reports whether host is one of the origin registries.
func (f Fleet) IsOrigin(host string) bool {
	return slices.Contains(f.Registries, host)
}

var regionName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// loadFleet reads fleet.yaml from the repository root. A missing file is an
// empty fleet with everything denied; anything else that is wrong refuses
// the revision with a *FleetError.
func loadFleet(repo string) (Fleet, error) {
	data, err := readLimited(filepath.Join(repo, FleetFile), MaxYAMLSize)
	if errors.Is(err, fs.ErrNotExist) {
		return Fleet{}, nil
	}
	if err != nil {
		return Fleet{}, &FleetError{Problems: []Problem{problemf(FleetFile, 0, "%v", err)}}
	}
	return parseFleet(data)
}

func parseFleet(data []byte) (Fleet, error) {
	var f Fleet
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&f)
	if errors.Is(err, io.EOF) {
		return Fleet{}, nil // empty file
	}
	if err != nil {
		return Fleet{}, &FleetError{Problems: yamlProblems(FleetFile, err)}
	}
	var extra yaml.Node
	if dec.Decode(&extra) == nil {
		return Fleet{}, &FleetError{Problems: []Problem{problemf(FleetFile, extra.Line, "only one YAML document is allowed")}}
	}
	root, _ := parseYAML(data) // decoded above, so this parses
	if ps := checkFleet(f, root); len(ps) > 0 {
		return Fleet{}, &FleetError{Problems: sortProblems(ps)}
	}
	return f, nil
}

// checkFleet checks the values the YAML decoder cannot: names, registry
// syntax and policy paths.
func checkFleet(f Fleet, root *yaml.Node) []Problem {
	var ps []Problem
	at := func(keys ...string) int { return lineOf(root, keys...) }
	for name, r := range f.Regions {
		if !regionName.MatchString(name) {
			ps = append(ps, problemf(FleetFile, at("regions", name), "regions: invalid region name %q", name))
		}
		for _, reg := range r.Registries {
			if err := checkRegistry(reg); err != nil {
				ps = append(ps, problemf(FleetFile, at("regions", name, "registries"), "regions.%s.registries: %v", name, err))
			}
		}
	}
	for _, reg := range f.Registries {
		if err := checkRegistry(reg); err != nil {
			ps = append(ps, problemf(FleetFile, at("registries"), "registries: %v", err))
		}
	}
	for _, p := range f.Policy.HostPaths {
		if !path.IsAbs(p) {
			ps = append(ps, problemf(FleetFile, at("policy", "host_paths"), "policy.host_paths: %q is not an absolute path", p))
		}
	}
	for _, c := range f.Policy.CapAdd {
		if normalizeCap(c) == "" {
			ps = append(ps, problemf(FleetFile, at("policy", "cap_add"), "policy.cap_add: empty capability"))
		}
	}
	return ps
}

// checkRegistry accepts host[:port] with no scheme and no path.
func checkRegistry(r string) error {
	if strings.Contains(r, "://") {
		return fmt.Errorf("%q: write host[:port] without a scheme", r)
	}
	named, err := reference.ParseNormalizedNamed(r + "/probe")
	if err != nil || reference.Domain(named) != r {
		return fmt.Errorf("%q is not a registry host[:port]", r)
	}
	return nil
}

// normalizeCap writes a capability the way policy and stacks are compared:
// upper case without the CAP_ prefix.
func normalizeCap(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	return strings.TrimPrefix(c, "CAP_")
}

// yamlProblems turns a yaml decoding error into located problems.
func yamlProblems(file string, err error) []Problem {
	var many *yaml.LoadErrors
	if errors.As(err, &many) {
		ps := make([]Problem, 0, len(many.Errors))
		for _, e := range many.Errors {
			ps = append(ps, problemf(file, e.Mark.Line, "%s", cleanYAMLMessage(e.Message)))
		}
		return sortProblems(ps)
	}
	var one *yaml.LoadError
	if errors.As(err, &one) {
		return []Problem{problemf(file, one.Mark.Line, "%s", cleanYAMLMessage(one.Message))}
	}
	return []Problem{problemf(file, 0, "%s", cleanYAMLMessage(err.Error()))}
}

var (
	unknownField = regexp.MustCompile(`^field (\S+) not found in type .*$`)
	wrongType    = regexp.MustCompile("^cannot \\w+ !!(\\w+) `([^`]*)` into (\\S+)$")
)

// cleanYAMLMessage removes Go type names from decoder messages: users write
// YAML, not Go.
func cleanYAMLMessage(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown key %q", m[1])
	}
	if m := wrongType.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("expected %s, got %s %q", yamlKind(m[3]), yamlKind(m[1]), m[2])
	}
	return msg
}

// yamlKind names a YAML tag or a Go type the way a YAML author knows it.
func yamlKind(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"), t == "seq":
		return "a list"
	case strings.HasPrefix(t, "map["), t == "map", strings.HasPrefix(t, "manifests."):
		return "a mapping"
	case t == "bool":
		return "a boolean"
	case t == "str", t == "string":
		return "a string"
	case t == "int", t == "float":
		return "a number"
	}
	return t
}
