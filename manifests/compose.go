package manifests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
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
)

// validateNode is SKIFF_NODE while validating, where no node is known.
const validateNode = "skiff-validate"

// readDotEnv reads the stack's .env with Compose semantics. Its own
// references see only earlier .env entries, SKIFF_NODE and SKIFF_REGION:
// never the process environment.
func (c *stackCheck) readDotEnv() bool {
	skiff := types.Mapping{EnvNode: validateNode, EnvRegion: c.in.region}
	if c.in.node != nil {
		skiff[EnvNode] = c.in.node.Name
	}
	c.env = types.Mapping{}
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
	for k, v := range skiff {
		c.env[k] = v
	}
	return true
}

var dotenvLine = regexp.MustCompile(`line (\d+): `)

func (c *stackCheck) parseDotEnv(real, rel string, skiff types.Mapping) bool {
	data, err := readLimited(real, MaxYAMLSize)
	if err != nil {
		c.add(Error, "", rel, 0, err.Error())
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
	for k, v := range vars {
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
	rec := &interpolation{}
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
// the variables that are not set.
type interpolation struct {
	missing []string
}

func (r *interpolation) substitute(s string, m template.Mapping) (string, error) {
	return template.SubstituteWithOptions(s, m, template.WithoutLogging, template.WithReplacementFunction(r.replace))
}

func (r *interpolation) replace(sub string, m template.Mapping, cfg *template.Config) (string, error) {
	v, applied, err := template.DefaultReplacementAppliedFunc(sub, m, cfg)
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
		c.add(Warning, "", file, line, fmt.Sprintf("the %q variable is not set; defaulting to a blank string (set it in %s/%s)", n, c.rel, DotEnvFile))
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
