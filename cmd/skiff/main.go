// Command skiff is the pull-based GitOps agent for Docker nodes and its CLI.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitFailure = 1 // the output explains what failed
	exitUsage   = 2
)

// command is one subcommand. run returns the process exit code; it never
// calls os.Exit itself, so every subcommand can be tested as a function.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"agent", "run the node agent (what systemd runs)", runAgent},
		{"status", "applied vs wanted revision, stacks, services, health, offline since", runStatus},
		{"history", "revisions seen and applied on this node, with outcomes", runHistory},
		{"sync", "ask the running agent to poll now", runSync},
		{"plan", "show what the next reconcile would change, and why (dry run)", runPlan},
		{"render", "print the Compose projects a node would run", runRender},
		{"validate", "check every stack of a repository for every region", runValidate},
		{"config", "check a node configuration: skiff config check --config FILE", runConfig},
		{"version", "print the version and commit", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "skiff: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: skiff <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "run 'skiff <command> -h' for the flags of a command")
}
