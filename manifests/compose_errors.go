package manifests

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/compose-spec/compose-go/v2/errdefs"
	"github.com/compose-spec/compose-go/v2/template"
)

// composeErrors turns a compose-go load error into located problems.
// compose-go errors carry no line: the line is found from the key path or
// the variable the error names.
func (c *stackCheck) composeErrors(err error) {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) && len(joined.Unwrap()) > 1 {
		for _, e := range joined.Unwrap() {
			c.composeErrors(e)
		}
		return
	}
	var missing *template.MissingRequiredError
	if errors.As(err, &missing) {
		file, line := c.locateVar(missing.Variable)
		msg := "required variable " + missing.Variable + " is not set (set it in " + c.rel + "/" + DotEnvFile + ")"
		if missing.Reason != "" {
			msg = "required variable " + missing.Variable + " is not set: " + missing.Reason
		}
		c.add(Error, "", file, line, msg)
		return
	}
	var invalid *template.InvalidTemplateError
	if errors.As(err, &invalid) {
		file, line := c.locateText(firstLine(invalid.Template))
		c.add(Error, "", file, line, "invalid interpolation "+strings.TrimSpace(invalid.Template)+": use ${VAR}, ${VAR:-default}, ${VAR:?error} or $$ for a literal $")
		return
	}
	msg := strings.ReplaceAll(err.Error(), c.in.repo+string(filepath.Separator), "")
	c.composeError(strings.TrimSuffix(msg, ": "+errdefs.ErrInvalid.Error()))
}

var (
	schemaError  = regexp.MustCompile(`^validating [^:]+: (\S*) ?(.*)$`)
	quotedNames  = regexp.MustCompile(`'([^']+)'`)
	serviceQuote = regexp.MustCompile(`service "?([^" ]+)"? `)
	// compose-go refuses container_name with replicas before skiff can.
	replicasNamed = regexp.MustCompile(`can't set container_name and (\S+) as container name must be unique`)
)

// composeError locates one message: a schema error by its key path, any
// other error by the service it names, else at compose.yaml without a line.
func (c *stackCheck) composeError(msg string) {
	if m := schemaError.FindStringSubmatch(msg); m != nil {
		path := splitKeyPath(m[1])
		detail := m[2]
		if strings.HasPrefix(detail, "additional properties") {
			if q := quotedNames.FindStringSubmatch(detail); q != nil {
				path = append(path, q[1])
				detail = "unknown key"
			}
		}
		service := ""
		if len(path) > 1 && path[0] == "services" {
			service = path[1]
		}
		c.reportAt(Error, service, path, detail)
		return
	}
	if m := replicasNamed.FindStringSubmatch(msg); m != nil {
		c.errorAt(m[1], []string{"services", m[1], "container_name"}, "cannot name several replicas alike; remove container_name or run one replica")
		return
	}
	if m := serviceQuote.FindStringSubmatch(msg); m != nil {
		if _, ok := c.sourcesHave("services", m[1]); ok {
			file, line := c.at("services", m[1])
			c.add(Error, m[1], file, line, msg)
			return
		}
	}
	c.add(Error, "", c.baseRel(), 0, msg)
}

func splitKeyPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

func (c *stackCheck) sourcesHave(path ...string) (*source, bool) {
	for i := len(c.sources) - 1; i >= 0; i-- {
		if _, ok := lookup(c.sources[i].root, path...); ok {
			return c.sources[i], true
		}
	}
	return nil, false
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
