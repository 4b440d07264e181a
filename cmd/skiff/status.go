package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/skiffops/skiff/agent"
	"github.com/skiffops/skiff/agent/api"
)

// socketFlags finds the running agent's socket: --socket, else the
// api.socket of --config, else the default. The store is never opened:
// bbolt's lock is the agent's.
type socketFlags struct {
	socket, config string
}

func bindSocketFlags(fs *flag.FlagSet) *socketFlags {
	sf := &socketFlags{}
	fs.StringVar(&sf.socket, "socket", "", "the agent's API socket (default: api.socket of --config, else "+agent.DefaultSocket+")")
	fs.StringVar(&sf.config, "config", "", "read the socket path from this node configuration `file`")
	return sf
}

func (sf *socketFlags) client() (*api.Client, error) {
	switch {
	case sf.socket != "":
		return api.NewClient(sf.socket), nil
	case sf.config != "":
		cf := &configFlags{path: sf.config, values: map[string]*overrideValue{}}
		cfg, err := cf.loadLocal()
		if err != nil {
			return nil, err
		}
		return api.NewClient(cfg.API.Socket), nil
	}
	return api.NewClient(agent.DefaultSocket), nil
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("status", "[--json] [--socket PATH | --config FILE]", stderr)
	sf := bindSocketFlags(fs)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	c, err := sf.client()
	if err != nil {
		fmt.Fprintf(stderr, "skiff status: %v\n", err)
		return exitFailure
	}
	s, err := c.Status(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "skiff status: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		return printJSON(stdout, stderr, s)
	}
	printStatus(stdout, s, time.Now())
	return exitOK
}

func printStatus(w io.Writer, s api.Status, now time.Time) {
	fmt.Fprintf(w, "node      %s (%s), skiff %s, up %s\n", s.Node, s.Region, s.Version, now.Sub(s.StartedAt).Round(time.Second))
	fmt.Fprintf(w, "revision  applied %s, wanted %s\n", orDash(short(s.AppliedRevision)), orDash(short(s.WantedRevision)))
	if s.Why != "" {
		fmt.Fprintf(w, "why       %s\n", s.Why)
	}
	if p := s.Pending; p != nil {
		fmt.Fprintf(w, "pending   %s since %s: %s\n", short(p.Revision), ago(now, p.Since), p.Reason)
	}
	for _, p := range s.Pulls {
		fmt.Fprintf(w, "pulling   %s\n", pullLine(p, now))
	}
	fmt.Fprintf(w, "source    %s (%s): %s\n", s.Source.URL, s.Source.Branch, sourceLine(s.Source, now))
	fmt.Fprintf(w, "docker    %s\n", dockerLine(s.Docker, now))
	fmt.Fprintf(w, "store     %s\n", storeLine(s.Store))
	if len(s.Stacks) > 0 {
		fmt.Fprintln(w)
		printStacks(w, s.Stacks)
	}
	if len(s.UnusedVolumes) > 0 {
		fmt.Fprintf(w, "\nunused volumes (skiff never removes volumes): %s\n", strings.Join(s.UnusedVolumes, ", "))
	}
}

func printStacks(w io.Writer, stacks []api.StackStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STACK\tREVISION\tOUTCOME\tSERVICE\tCONTAINER\tSTATE\tHEALTH")
	for _, st := range stacks {
		outcome := st.Outcome
		if st.FailedRevision != "" {
			outcome += " (" + short(st.FailedRevision) + " failed)"
		}
		if len(st.Services) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\n", st.Name, short(st.Revision), outcome)
		}
		for _, svc := range st.Services {
			if len(svc.Containers) == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\tmissing\t-\n", st.Name, short(st.Revision), outcome, svc.Name)
			}
			for _, c := range svc.Containers {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", st.Name, short(st.Revision), outcome, svc.Name, c.Name, c.State, orDash(c.Health))
			}
		}
	}
	tw.Flush()
	for _, st := range stacks {
		if st.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", st.Name, st.Error)
		}
	}
}

func pullLine(p api.PullProgress, now time.Time) string {
	if p.Registry == "" {
		return fmt.Sprintf("%s: waiting (%s)", p.Image, ago(now, p.Since))
	}
	line := fmt.Sprintf("%s from %s: %.1f MB", p.Image, p.Registry, float64(p.Downloaded)/1e6)
	if p.Total > 0 {
		line += fmt.Sprintf(" of %.1f MB", float64(p.Total)/1e6)
	}
	return line + " (started " + ago(now, p.Since) + ")"
}

func sourceLine(s api.SourceStatus, now time.Time) string {
	if s.OfflineSince != nil {
		return fmt.Sprintf("OFFLINE since %s (%s): %s", s.OfflineSince.Local().Format(time.DateTime), ago(now, *s.OfflineSince), s.LastError)
	}
	line := "last sync " + ago(now, s.LastSuccess)
	if s.LastError != "" {
		line += "; last error: " + s.LastError
	}
	return line
}

func dockerLine(d api.DockerStatus, now time.Time) string {
	if d.Connected {
		return "connected (API " + d.APIVersion + ")"
	}
	line := "NOT CONNECTED"
	if d.OfflineSince != nil {
		line += " since " + ago(now, *d.OfflineSince)
	}
	if d.LastError != "" {
		line += ": " + d.LastError
	}
	return line
}

func storeLine(s api.StoreStatus) string {
	line := "ok (" + s.Path + ")"
	if s.Recovered {
		line = fmt.Sprintf("REBUILT at boot: %s; the old file was moved to %s", s.Reason, s.MovedTo)
	}
	if s.WriteError != "" {
		since := ""
		if s.WriteErrorSince != nil {
			since = " since " + s.WriteErrorSince.Local().Format(time.DateTime)
		}
		line += fmt.Sprintf("; WRITES FAILING%s: %s (the node runs on what the agent knows in memory)", since, s.WriteError)
	}
	return line
}

func runHistory(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("history", "[--json] [--limit N] [--socket PATH | --config FILE]", stderr)
	sf := bindSocketFlags(fs)
	asJSON := fs.Bool("json", false, "print the history as JSON")
	limit := fs.Int("limit", 20, "show at most `N` revisions, newest first")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	c, err := sf.client()
	if err != nil {
		fmt.Fprintf(stderr, "skiff history: %v\n", err)
		return exitFailure
	}
	h, err := c.History(ctx, *limit)
	if err != nil {
		fmt.Fprintf(stderr, "skiff history: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		return printJSON(stdout, stderr, h)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COMMIT\tSEEN\tOUTCOME\tVERIFIED\tDETAILS")
	for _, r := range h.Revisions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", short(r.Commit), r.SeenAt.Local().Format(time.DateTime), r.Outcome, yesNo(r.Verified), revisionDetails(r))
	}
	tw.Flush()
	return exitOK
}

// revisionDetails names the stacks that did not apply, and why.
func revisionDetails(r api.Revision) string {
	var parts []string
	if r.Error != "" {
		parts = append(parts, r.Error)
	}
	for _, name := range sortedStackNames(r.Stacks) {
		o := r.Stacks[name]
		switch {
		case o.Outcome == "applied":
		case o.Error == "":
			parts = append(parts, name+" "+o.Outcome)
		default:
			parts = append(parts, fmt.Sprintf("%s %s: %s", name, o.Outcome, o.Error))
		}
	}
	return strings.Join(parts, "; ")
}

func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sync", "[--socket PATH | --config FILE]", stderr)
	sf := bindSocketFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	c, err := sf.client()
	if err == nil {
		err = c.Sync(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "skiff sync: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, "sync requested: the agent polls its source now (see skiff status)")
	return exitOK
}
