package manifests

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Severity says whether a problem refuses its stack.
type Severity int

const (
	// Error refuses the stack it names (or the whole revision for fleet.yaml).
	Error Severity = iota
	// Warning is reported; the stack is still applied.
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Problem is one finding about the repository, located as precisely as the
// sources allow.
type Problem struct {
	File     string // relative to the repository root, slash-separated
	Line     int    // 1-based; 0 when unknown
	Stack    string // empty for repository-wide problems
	Service  string // empty for stack-wide problems
	Severity Severity
	Msg      string
}

// String formats the problem as "file:line: msg", omitting ":line" when the
// line is unknown and marking warnings with "warning: " before the message.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Severity == Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// sortProblems orders problems by file and line, then deterministically by
// everything else, and drops exact duplicates.
func sortProblems(ps []Problem) []Problem {
	slices.SortFunc(ps, compareProblems)
	return slices.Compact(ps)
}

func compareProblems(a, b Problem) int {
	return cmp.Or(
		cmp.Compare(a.File, b.File),
		cmp.Compare(a.Line, b.Line),
		cmp.Compare(a.Severity, b.Severity),
		cmp.Compare(a.Msg, b.Msg),
		cmp.Compare(a.Stack, b.Stack),
		cmp.Compare(a.Service, b.Service),
	)
}

// hasErrors reports whether any problem is an error.
func hasErrors(ps []Problem) bool {
	return slices.ContainsFunc(ps, func(p Problem) bool { return p.Severity == Error })
}

// FleetError refuses a whole revision because fleet.yaml is unreadable or
// invalid. Problems locates every finding.
type FleetError struct {
	Problems []Problem
}

func (e *FleetError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "invalid fleet.yaml: " + strings.Join(lines, "; ")
}

// problemf builds an error problem; callers set Severity for warnings.
func problemf(file string, line int, format string, args ...any) Problem {
	return Problem{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}
