package main

import (
	"context"
	"fmt"
	"io"

	"github.com/skiffops/skiff/manifests"
)

// runValidate checks every stack of a checkout for every region and prints
// one "file:line: problem" line per finding (warnings marked "warning:").
// It exits 1 when any finding is an error, 0 otherwise.
func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", "--repo DIR", stderr)
	repo := fs.String("repo", "", "checkout of the manifests repository (required)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *repo == "" {
		fmt.Fprintln(stderr, "skiff validate: --repo is required")
		fs.Usage()
		return exitUsage
	}
	ps, err := manifests.Validate(*repo)
	if err != nil {
		printRefusal(stderr, "validate", err)
		return exitFailure
	}
	printProblems(stdout, ps)
	errs, warns := 0, 0
	for _, p := range ps {
		if p.Severity == manifests.Error {
			errs++
		} else {
			warns++
		}
	}
	if errs > 0 {
		fmt.Fprintf(stderr, "skiff validate: %d error(s), %d warning(s)\n", errs, warns)
		return exitFailure
	}
	return exitOK
}
