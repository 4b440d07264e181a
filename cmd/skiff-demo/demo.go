package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/skiffops/skiff/testenv"
)

// demo is one run: the world it serves, the node's agent and the narrative.
type demo struct {
	opts   options
	docker docker
	out    io.Writer
	start  time.Time

	world  *world
	agent  *agentProcess
	node   nodeConfig
	params fleetParams
	tell   *narrator
}

func (m *demo) say(format string, args ...any) {
	fmt.Fprintf(m.out, "[%5.1fs] %s\n", time.Since(m.start).Seconds(), fmt.Sprintf(format, args...))
}

func (m *demo) pageURL() string { return fmt.Sprintf("http://127.0.0.1:%d/", m.params.Port) }

// run sets the world up, then shows the three acts: the first revision
// arrives, a change is committed, a container is removed. Whatever happens,
// it stops the agent and the servers and leaves the containers running.
func (m *demo) run(ctx context.Context) error {
	if err := m.setUp(ctx); err != nil {
		m.shutDown()
		return err
	}
	defer m.shutDown()
	c1, err := m.firstRevision(ctx)
	if err != nil {
		return err
	}
	c2, err := m.secondRevision(ctx, c1)
	if err != nil {
		return err
	}
	if err := m.heal(ctx, c2); err != nil {
		return err
	}
	if m.opts.untilHealed {
		m.say("done: the node followed two commits and healed itself in %.1fs", time.Since(m.start).Seconds())
		return nil
	}
	return m.follow(ctx)
}

func (m *demo) setUp(ctx context.Context) error {
	o := m.opts
	m.say("skiff demo: node %s, region %s, on this machine (directory %s)", o.node, o.region, o.dir)
	if err := m.startOver(ctx); err != nil {
		return err
	}
	if err := makeDemoDir(o.dir); err != nil {
		return err
	}
	w, err := startWorld(o.dir)
	if err != nil {
		return err
	}
	m.world = w
	m.say("serving on 127.0.0.1: the fleet's Git repository %s", w.git.URL())
	m.say("  the region's mirror %s, and the origin %s, which answers %s late", w.mirror.Addr(), w.origin.Addr(), o.latency)
	port, err := freePort()
	if err != nil {
		return err
	}
	m.params = fleetParams{Node: o.node, Region: o.region, Origin: w.origin.Addr(), Mirror: w.mirror.Addr(), Latency: o.latency, Port: port}
	m.say("building the demo images (a tiny static web server, no pull) and pushing them to both registries")
	if err := pushImages(ctx, m.docker, w, o.node); err != nil {
		return err
	}
	w.origin.setLatency(o.latency)
	m.node = nodeConfig{node: o.node, region: o.region, gitURL: w.git.URL(), dir: o.dir}
	return m.node.write()
}

// startOver removes what an earlier demo of this node left, so every run
// tells the same story; it refuses while that demo still runs.
func (m *demo) startOver(ctx context.Context) error {
	n := nodeConfig{dir: m.opts.dir}
	if running(ctx, n.socket()) {
		return fmt.Errorf("a demo agent already answers on %s: stop that demo (Ctrl-C) first", n.socket())
	}
	left, err := m.docker.containers(ctx, testenv.LabelNode+"="+m.opts.node, false)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		m.say("removing the %d containers an earlier demo left (make demo-clean does this too)", len(left))
	}
	_, err = cleanNode(ctx, m.docker, m.opts)
	return err
}

func (m *demo) firstRevision(ctx context.Context) (string, error) {
	files, err := fleetFiles(m.params.with(revision1))
	if err != nil {
		return "", err
	}
	c1, err := m.world.git.Push(files, "hello 1.0")
	if err != nil {
		return "", err
	}
	pushed := time.Now()
	m.say("committed revision %s: stack %s (the page) and stack %s (an api and a worker)",
		short(c1), stackName(m.opts.node, "hello"), stackName(m.opts.node, "shop"))
	m.agent, err = startAgent(ctx, m.opts.skiff, m.node)
	if err != nil {
		return "", err
	}
	m.tell = &narrator{out: m.out, start: m.start, skiff: m.opts.skiff, agent: m.agent,
		origin: m.world.origin, mirror: m.world.mirror, seen: map[string]string{}}
	m.say("started the agent: %s agent --config %s (log: %s)", m.opts.skiff, m.node.path(), m.node.logPath())
	before := snapshot(m.world.origin, m.world.mirror)
	if _, err := m.tell.waitConverged(ctx, m.goal(c1, revision1), m.opts.timeout); err != nil {
		return "", err
	}
	m.say("revision %s is running, %.1fs after the commit; the registries served:", short(c1), time.Since(pushed).Seconds())
	m.tell.tellRegistries(before)
	m.showPage(ctx)
	m.say("open %s in a browser: the page is served by container %s", m.pageURL(), pageContainer(m.opts.node))
	m.tell.showStatus(ctx, m.node.socket())
	return c1, nil
}

func (m *demo) secondRevision(ctx context.Context, c1 string) (string, error) {
	ids, err := m.containerIDs(ctx)
	if err != nil {
		return "", err
	}
	files, err := fleetFiles(m.params.with(revision2))
	if err != nil {
		return "", err
	}
	c2, err := m.world.git.Push(files, "hello 1.1: a new image and a new greeting")
	if err != nil {
		return "", err
	}
	pushed := time.Now()
	m.say("committed revision %s on top of %s: web %s → %s, greeting %q → %q; the shop stack is unchanged",
		short(c2), short(c1), revision1.WebVersion, revision2.WebVersion, revision1.Greeting, revision2.Greeting)
	if err := m.agent.client.Sync(ctx); err == nil {
		m.say("asked the agent to poll now (skiff sync); it would notice within its 2s interval anyway")
	}
	before := snapshot(m.world.origin, m.world.mirror)
	if _, err := m.tell.waitConverged(ctx, m.goal(c2, revision2), m.opts.timeout); err != nil {
		return "", err
	}
	m.say("revision %s is running, %.1fs after the commit; the registries served:", short(c2), time.Since(pushed).Seconds())
	m.tell.tellRegistries(before)
	after, err := m.containerIDs(ctx)
	if err != nil {
		return "", err
	}
	for _, name := range containers(m.opts.node) {
		if ids[name] == after[name] {
			m.say("  %s: left alone, the same container as before", name)
		} else {
			m.say("  %s: replaced by a new container", name)
		}
	}
	m.showPage(ctx)
	return c2, nil
}

func (m *demo) heal(ctx context.Context, c2 string) error {
	name := pageContainer(m.opts.node)
	ids, err := m.containerIDs(ctx)
	if err != nil {
		return err
	}
	if err := m.docker.removeContainer(ctx, name); err != nil {
		return err
	}
	removed := time.Now()
	m.say("removed container %s behind the agent's back (docker rm -f %s)", name, name)
	deadline := removed.Add(m.opts.timeout)
	for {
		m.tell.tellLog()
		now, err := m.containerIDs(ctx)
		if err != nil {
			return err
		}
		if id := now[name]; id != "" && id != ids[name] {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s was not recreated within %s (the agent's log: %s)", name, m.opts.timeout, m.node.logPath())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
	if _, err := m.tell.waitConverged(ctx, m.goal(c2, revision2), m.opts.timeout); err != nil {
		return err
	}
	m.say("healed: %s is back and healthy %.1fs after it was removed, without Git", name, time.Since(removed).Seconds())
	m.showPage(ctx)
	m.tell.showStatus(ctx, m.node.socket())
	return nil
}

// follow keeps the demo up for the person: they can push their own commits
// and watch the node follow, until Ctrl-C.
func (m *demo) follow(ctx context.Context) error {
	fmt.Fprintf(m.out, `Your turn. The demo keeps running until Ctrl-C; the node follows your commits:

  git clone %s %s/fleet && cd %s/fleet
  # edit stacks/%s/.env (GREETING=...) or the image tag (web:1.0 and web:1.1 exist)
  git commit -am "my change" && git push

  %s status --socket %s
  %s history --socket %s
  docker rm -f %s   # and watch it come back

`, m.world.git.URL(), m.opts.dir, m.opts.dir, stackName(m.opts.node, "hello"), m.opts.skiff, m.node.socket(), m.opts.skiff, m.node.socket(), pageContainer(m.opts.node))
	wanted := ""
	if s, err := m.agent.client.Status(ctx); err == nil {
		wanted = s.WantedRevision
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.agent.exited:
			return fmt.Errorf("the agent exited: %v; its log:\n%s", m.agent.err, m.agent.log.tail(10))
		case <-time.After(time.Second):
		}
		m.tell.tellLog()
		s, err := m.agent.client.Status(ctx)
		if err != nil || s.WantedRevision == wanted {
			continue
		}
		wanted = s.WantedRevision
		if _, err := m.tell.waitConverged(ctx, goal{revision: wanted}, m.opts.timeout); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			m.say("%v", err)
			continue
		}
		m.say("revision %s is running", short(wanted))
		m.tell.showStatus(ctx, m.node.socket())
	}
}

// shutDown stops the agent and the servers; the containers keep running.
func (m *demo) shutDown() {
	if m.agent == nil && m.world == nil {
		return
	}
	m.say("stopping the agent, the Git server and the registries")
	var errs []error
	if m.agent != nil {
		took, err := m.agent.stop()
		errs = append(errs, err)
		m.say("the agent stopped in %s", took.Round(time.Millisecond))
	}
	if m.world != nil {
		errs = append(errs, m.world.close())
	}
	if err := errors.Join(errs...); err != nil {
		m.say("while stopping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	left, err := m.docker.containers(ctx, testenv.LabelNode+"="+m.opts.node, false)
	if err != nil || len(left) == 0 {
		return
	}
	names := make([]string, 0, len(left))
	for _, c := range left {
		names = append(names, c.Name)
	}
	m.say("the containers keep running, as on a node whose agent stops: %s", strings.Join(names, ", "))
	m.say("remove them, and everything else the demo created, with: %s", cleanCommand(m.opts))
}

func (m *demo) goal(commit string, c revisionChange) goal {
	return goal{revision: commit, containers: containers(m.opts.node), page: m.pageURL(), pageText: pageText(m.params, c)}
}

func (m *demo) showPage(ctx context.Context) {
	body, err := getPage(ctx, m.pageURL())
	if err != nil {
		m.say("the page: %v", err)
		return
	}
	m.say("  $ curl %s", m.pageURL())
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		m.say("  %s", line)
	}
}

// containerIDs returns the node's containers: name → ID.
func (m *demo) containerIDs(ctx context.Context) (map[string]string, error) {
	cs, err := m.docker.containers(ctx, testenv.LabelNode+"="+m.opts.node, true)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, c := range cs {
		out[c.Name] = c.ID
	}
	return out, nil
}
