package manifests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
)

// Variables skiff sets for interpolation; they win over .env.
const (
	EnvNode   = "SKIFF_NODE"
	EnvRegion = "SKIFF_REGION"
	// EnvLabelPrefix starts the variable of each node label (LabelVar). The
	// whole prefix belongs to skiff: .env cannot set such a variable, so a
	// node without the label sees it unset and ${SKIFF_LABEL_X:-default}
	// applies.
	EnvLabelPrefix = "SKIFF_LABEL_"
)

// LabelVar returns the interpolation variable of a node label key: the key
// upper-cased, every character but a letter or a digit ('-', '.', '/') as
// '_', after EnvLabelPrefix. gpu-type → SKIFF_LABEL_GPU_TYPE.
func LabelVar(key string) string {
	b := []byte(strings.ToUpper(key))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return EnvLabelPrefix + string(b)
}

// skiffVars are the variables skiff sets for this stack: SKIFF_NODE,
// SKIFF_REGION and, on a node, one per label. Two label keys that give one
// variable (gpu-type, gpu.type) are refused by the node configuration; here
// the last key in sorted order wins, so a render is still deterministic.
func (c *stackCheck) skiffVars() types.Mapping {
	m := types.Mapping{EnvNode: validateNode, EnvRegion: c.in.region}
	if c.in.node == nil {
		return m
	}
	m[EnvNode] = c.in.node.Name
	for _, k := range slices.Sorted(maps.Keys(c.in.node.Labels)) {
		m[LabelVar(k)] = c.in.node.Labels[k]
	}
	return m
}

// validateNode is SKIFF_NODE while validating, where no node is known.
const validateNode = "skiff-validate"

// readDotEnv reads the stack's .env with Compose semantics. Its own
// references see only earlier .env entries and skiff's variables (node,
// region, labels): never the process environment.
func (c *stackCheck) readDotEnv() bool {
	skiff := c.skiffVars()
	c.env = types.Mapping{}
	secret, ok := c.readSopsDotEnv()
	if !ok {
		return false
	}
	rel := c.rel + "/" + DotEnvFile
	real, err := c.inRepo(filepath.Join(c.dir, DotEnvFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		c.add(Error, "", rel, 0, err.Error())
		return false
	default:
		if !c.parseDotEnv(real, rel, skiff) {
			return false
		}
	}
	if !c.addSecretEnv(secret, skiff) {
		return false
	}
	for k, v := range skiff {
		c.env[k] = v
	}
	return true
}

// addSecretEnv adds the placeholders of .sops.env's variables; a variable
// of both .env and .sops.env is an error (which one would win is a guess).
func (c *stackCheck) addSecretEnv(secret map[string]string, skiff types.Mapping) bool {
	rel := c.rel + "/" + SopsDotEnvFile
	ok := true
	for _, k := range sortedKeys(secret) {
		switch _, dup := c.env[k]; {
		case skiff[k] != "":
			c.add(Warning, "", rel, 0, k+" is set by skiff; the .sops.env value is ignored")
		case dup:
			c.add(Error, "", rel, 0, k+" is set in both "+DotEnvFile+" and "+SopsDotEnvFile+": keep it in one")
			ok = false
		default:
			c.env[k] = secret[k]
		}
	}
	return ok
}

var dotenvLine = regexp.MustCompile(`line (\d+): `)

func (c *stackCheck) parseDotEnv(real, rel string, skiff types.Mapping) bool {
	data, err := readLimited(real, MaxYAMLSize)
	if err != nil {
		c.add(Error, "", rel, 0, err.Error())
		return false
	}
	if !c.checkReserved(rel, data) {
		return false
	}
	vars, err := dotenv.ParseWithLookup(bytes.NewReader(data), func(k string) (string, bool) {
		v, ok := skiff[k]
		return v, ok
	})
	if err != nil {
		msg, line := err.Error(), 0
		if m := dotenvLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = strings.Replace(msg, m[0], "", 1)
		}
		c.add(Error, "", rel, line, msg)
		return false
	}
	if _, encrypted := vars["sops_mac"]; encrypted {
		c.add(Error, "", rel, lineWith(data, "sops_mac="), "this .env is encrypted with SOPS: name it "+SopsDotEnvFile+" for skiff to decrypt it on the node")
		return false
	}
	for k, v := range vars {
		if strings.HasPrefix(k, EnvLabelPrefix) {
			c.add(Warning, "", rel, lineWith(data, k+"="), fmt.Sprintf("%s is set by skiff from the node's labels; the .env value is ignored (write ${%s:-default} where it is used)", k, k))
			continue
		}
		if _, set := skiff[k]; set {
			c.add(Warning, "", rel, lineWith(data, k+"="), k+" is set by skiff; the .env value is ignored")
		}
		c.env[k] = v
	}
	return true
}

func lineWith(data []byte, needle string) int {
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, needle) {
			return i + 1
		}
	}
	return 0
}

// loadProject runs compose-go over the stack's files with everything that
// could reach outside the checkout turned off: no include, no extends, no
// path resolution ($HOME), no env_file reading (done later, after the paths
// are checked), no process environment. A panic inside compose-go refuses
// the stack instead of the agent.
func (c *stackCheck) loadProject() (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			c.add(Error, "", c.baseRel(), 0, fmt.Sprintf("compose loader failed: %v", r))
			ok = false
		}
	}()
	details := types.ConfigDetails{WorkingDir: c.dir, Environment: c.env}
	for _, s := range c.sources {
		details.ConfigFiles = append(details.ConfigFiles, types.ConfigFile{
			Filename: filepath.Join(c.in.repo, filepath.FromSlash(s.rel)),
			Content:  s.data,
		})
	}
	rec := &interpolation{validating: c.in.node == nil}
	p, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName(c.in.name, true)
		o.ResolvePaths = false
		o.SkipInclude = true
		o.SkipExtends = true
		o.SkipResolveEnvironment = true
		o.SkipResolveLabels = true
		o.ResourceLoaders = nil
		o.Profiles = []string{"*"} // profiles are refused; load every service to check it
		o.Interpolate.Substitute = rec.substitute
	})
	c.reportMissing(rec.missing)
	if err != nil {
		// Errors already found in the keys as written usually cause this
		// one too; reporting both would say the same thing twice.
		if !hasErrors(c.problems) {
			c.composeErrors(err)
		}
		return false
	}
	for _, s := range details.ConfigFiles {
		p.ComposeFiles = append(p.ComposeFiles, s.Filename)
	}
	c.project = p
	return true
}

// interpolation substitutes like Compose but records, instead of logging,
// the variables that are not set. While validating, no node is known: a
// label variable required with ${SKIFF_LABEL_X:?} is the node's to decide,
// not an error of the repository.
type interpolation struct {
	validating bool
	missing    []string
}

func (r *interpolation) substitute(s string, m template.Mapping) (string, error) {
	return template.SubstituteWithOptions(s, m, template.WithoutLogging, template.WithReplacementFunction(r.replace))
}

func (r *interpolation) replace(sub string, m template.Mapping, cfg *template.Config) (string, error) {
	v, applied, err := template.DefaultReplacementAppliedFunc(sub, m, cfg)
	var req *template.MissingRequiredError
	if r.validating && errors.As(err, &req) && strings.HasPrefix(req.Variable, EnvLabelPrefix) {
		return "", nil
	}
	if err == nil && !applied {
		if name := varName(sub); name != "" && !slices.Contains(r.missing, name) {
			r.missing = append(r.missing, name)
		}
	}
	return v, err
}

var varRef = regexp.MustCompile(`^\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

func varName(sub string) string {
	if m := varRef.FindStringSubmatch(sub); m != nil {
		return m[1]
	}
	return ""
}

func (c *stackCheck) reportMissing(names []string) {
	for _, n := range names {
		file, line := c.locateVar(n)
		var msg string
		switch {
		case !strings.HasPrefix(n, EnvLabelPrefix):
			msg = fmt.Sprintf("the %q variable is not set; defaulting to a blank string (set it in %s/%s)", n, c.rel, DotEnvFile)
		case c.in.node == nil:
			msg = fmt.Sprintf("${%s} has no default: a node without that label gets a blank string (write ${%s:-default})", n, n)
		default:
			msg = fmt.Sprintf("the %q variable is not set: node %s has no such label; defaulting to a blank string (write ${%s:-default})", n, c.in.node.Name, n)
		}
		c.add(Warning, "", file, line, msg)
	}
}

// locateVar finds the first reference to a variable in the stack's files.
func (c *stackCheck) locateVar(name string) (string, int) {
	for _, needle := range []string{"${" + name, "$" + name} {
		if f, l := c.locateText(needle); l > 0 {
			return f, l
		}
	}
	return c.baseRel(), 0
}
