package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/skiffops/skiff/agent/api"
)

// pollEvery is how often the narrator asks the agent for its status.
const pollEvery = 250 * time.Millisecond

// narrator tells what the node does, from the agent's status (its API), its
// log and the registries' counters.
type narrator struct {
	out     io.Writer
	start   time.Time
	skiff   string // the skiff binary, for `skiff status`
	agent   *agentProcess
	origin  *ociRegistry
	mirror  *ociRegistry
	logSeen int
	// seen remembers the container states and pulls already told.
	seen map[string]string
}

// say prints one line of the narrative, stamped with the demo's clock.
func (n *narrator) say(format string, args ...any) {
	fmt.Fprintf(n.out, "[%5.1fs] %s\n", time.Since(n.start).Seconds(), fmt.Sprintf(format, args...))
}

// registryName describes a registry host for a person.
func (n *narrator) registryName(host string) string {
	switch host {
	case n.origin.Addr():
		return "the origin " + host
	case n.mirror.Addr():
		return "the region's mirror " + host
	}
	return host
}

// goal is what a converged node looks like.
type goal struct {
	revision   string   // the commit applied; "" for whatever is wanted
	containers []string // running and healthy; nil for every container in status
	page       string   // the page's URL, "" not to check it
	pageText   string   // what the page must start with
}

// waitConverged narrates until the node has reached g, ctx ends or timeout
// passes; it returns the last status.
func (n *narrator) waitConverged(ctx context.Context, g goal, timeout time.Duration) (api.Status, error) {
	deadline := time.Now().Add(timeout)
	var last api.Status
	var why string
	for {
		n.tellLog()
		s, err := n.agent.client.Status(ctx)
		if err == nil {
			last = s
			n.tellStatus(s)
			ok, reason := converged(ctx, s, g)
			if ok {
				return s, nil
			}
			why = reason
		} else {
			why = err.Error()
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("the node did not converge within %s: %s (the agent's log is in %s)", timeout, why, "agent.log")
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-n.agent.exited:
			return last, fmt.Errorf("the agent exited: %v; its log:\n%s", n.agent.err, n.agent.log.tail(10))
		case <-time.After(pollEvery):
		}
	}
}

// tellLog narrates the agent's log lines that a person cares about.
func (n *narrator) tellLog() {
	events, seen := n.agent.log.since(n.logSeen)
	n.logSeen = seen
	for _, e := range events {
		switch {
		case e.Msg == "new revision on the branch":
			n.say("the agent saw a new revision on the branch: %s", short(e.str("revision")))
		case strings.HasPrefix(e.Msg, "image pulled"):
			line := fmt.Sprintf("pulled %s from %s in %s (%.1f MB, %s)", e.str("image"), n.registryName(e.str("registry")),
				e.duration("duration").Round(time.Millisecond), num(e.Attrs["bytes"])/1e6, e.str("speed"))
			if e.Level == "WARN" {
				line += ": unverified, the origin could not confirm the tag"
			}
			n.say("%s", line)
		case e.Msg == "pull failed":
			n.say("pull of %s from %s failed: %s", e.str("image"), n.registryName(e.str("registry")), e.str("error"))
		case e.Msg == "repair":
			n.say("the agent repairs %s: %s (%s)", e.str("object"), e.str("action"), e.str("reason"))
		case e.Msg == "revision synced":
			n.say("the agent synced revision %s (%s) in %s", short(e.str("revision")), e.str("outcome"), e.duration("took").Round(time.Millisecond))
		case e.Level == "ERROR" || (e.Level == "WARN" && !strings.HasPrefix(e.Msg, "image pulled")):
			n.say("agent %s: %s %s", strings.ToLower(e.Level), e.Msg, attrs(e))
		}
	}
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func attrs(e logEvent) string {
	var parts []string
	for k, v := range e.Attrs {
		parts = append(parts, fmt.Sprintf("%s=%v", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// tellStatus narrates what changed in the status since the last poll.
func (n *narrator) tellStatus(s api.Status) {
	if s.Pending != nil {
		n.once("pending "+s.Pending.Revision+s.Pending.Reason, "revision %s waits: %s", short(s.Pending.Revision), s.Pending.Reason)
	}
	for _, p := range s.Pulls {
		if p.Registry != "" {
			n.once("pull "+p.Image+p.Registry, "pulling %s from %s", p.Image, n.registryName(p.Registry))
		}
	}
	for _, st := range s.Stacks {
		for _, svc := range st.Services {
			for _, c := range svc.Containers {
				state := c.State
				if c.Health != "" {
					state += ", " + c.Health
				}
				if n.seen["container "+c.Name] != state {
					n.seen["container "+c.Name] = state
					n.say("container %s: %s", c.Name, state)
				}
			}
		}
	}
}

// once says something the first time key is seen.
func (n *narrator) once(key, format string, args ...any) {
	if _, told := n.seen[key]; told {
		return
	}
	n.seen[key] = ""
	n.say(format, args...)
}

// converged says whether s (and the page) show g reached, or why not.
func converged(ctx context.Context, s api.Status, g goal) (bool, string) {
	switch {
	case s.WantedRevision == "":
		return false, "no revision seen yet"
	case g.revision != "" && s.WantedRevision != g.revision:
		return false, fmt.Sprintf("wanted revision is %s, not yet %s", short(s.WantedRevision), short(g.revision))
	case s.AppliedRevision != s.WantedRevision:
		why := fmt.Sprintf("applied revision %s, wanted %s", orDash(short(s.AppliedRevision)), short(s.WantedRevision))
		if s.Pending != nil {
			why += ": " + s.Pending.Reason
		}
		return false, why
	case s.Pending != nil:
		return false, "pending: " + s.Pending.Reason
	}
	state := map[string]api.ContainerStatus{}
	for _, st := range s.Stacks {
		if st.Outcome != "applied" {
			return false, fmt.Sprintf("stack %s is %s: %s", st.Name, st.Outcome, st.Error)
		}
		for _, svc := range st.Services {
			for _, c := range svc.Containers {
				state[c.Name] = c
			}
		}
	}
	want := g.containers
	if want == nil {
		for name := range state {
			want = append(want, name)
		}
	}
	for _, name := range want {
		c, ok := state[name]
		switch {
		case !ok:
			return false, "container " + name + " missing"
		case c.State != "running" || (c.Health != "" && c.Health != "healthy"):
			return false, fmt.Sprintf("container %s is %s %s", name, c.State, c.Health)
		}
	}
	if g.page != "" {
		body, err := getPage(ctx, g.page)
		if err != nil {
			return false, err.Error()
		}
		if !strings.HasPrefix(body, g.pageText) {
			return false, fmt.Sprintf("the page says %q, not yet %q", firstLine(body), g.pageText)
		}
	}
	return true, ""
}

// getPage returns the body of the demo page.
func getPage(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("get %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("get %s: %s", url, resp.Status)
	}
	return string(body), nil
}

// showStatus prints `skiff status`, run as a person would.
func (n *narrator) showStatus(ctx context.Context, socket string) {
	fmt.Fprintf(n.out, "\n  $ skiff status\n")
	out, err := exec.CommandContext(ctx, n.skiff, "status", "--socket", socket).CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		fmt.Fprintf(n.out, "  %s\n", line)
	}
	if err != nil {
		fmt.Fprintf(n.out, "  (skiff status: %v)\n", err)
	}
	fmt.Fprintln(n.out)
}

// tellRegistries says what each registry served since before.
func (n *narrator) tellRegistries(before map[*ociRegistry]registryCounters) {
	for _, r := range []*ociRegistry{n.mirror, n.origin} {
		d := r.counters().minus(before[r])
		what := "no image data"
		if r == n.origin {
			what += ": it only resolved the tags to digests"
		}
		if d.blobs > 0 {
			what = fmt.Sprintf("%s, %s of image data", count(d.blobs, "blob"), size(d.bytes))
		}
		n.say("  %s: %s, %s", n.registryName(r.Addr()), count(d.requests, "request"), what)
	}
}

// count writes n and the noun, plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func snapshot(rs ...*ociRegistry) map[*ociRegistry]registryCounters {
	out := map[*ociRegistry]registryCounters{}
	for _, r := range rs {
		out[r] = r.counters()
	}
	return out
}

func size(b int64) string {
	if b >= 1e6 {
		return fmt.Sprintf("%.1f MB", float64(b)/1e6)
	}
	return fmt.Sprintf("%.1f kB", float64(b)/1e3)
}

func short(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
