package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/skiffops/skiff/agent/api"
)

// agentStopTimeout is how long the agent gets to stop on SIGTERM before
// it is killed; it never stops the containers either way.
const agentStopTimeout = 10 * time.Second

// nodeConfig is the demo node's agent.yaml.
type nodeConfig struct {
	node, region, gitURL string
	dir                  string // holds agent.yaml, state/, skiff.sock, agent.log
}

func (c nodeConfig) path() string   { return filepath.Join(c.dir, "agent.yaml") }
func (c nodeConfig) socket() string { return filepath.Join(c.dir, "skiff.sock") }
func (c nodeConfig) logPath() string {
	return filepath.Join(c.dir, "agent.log")
}

func (c nodeConfig) write() error {
	data := fmt.Sprintf(`# Written by skiff-demo: one node following the demo's Git server.
node: %s
region: %s
source: {url: %q, interval: 2s, timeout: 10s}
state_dir: %s
api: {socket: %s}
`, c.node, c.region, c.gitURL, filepath.Join(c.dir, "state"), c.socket())
	return os.WriteFile(c.path(), []byte(data), 0o644)
}

// agentProcess is the real skiff agent, run by the demo.
type agentProcess struct {
	cmd    *exec.Cmd
	client *api.Client
	log    *agentLog
	exited chan struct{} // closed when the process has exited
	err    error         // the process's exit, once exited is closed
}

// startAgent runs `skiff agent --config FILE --log-format json` with its log
// going to agent.log (and to the narrative), and waits until its API answers.
func startAgent(ctx context.Context, skiff string, cfg nodeConfig) (*agentProcess, error) {
	logFile, err := os.Create(cfg.logPath())
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	a := &agentProcess{
		client: api.NewClient(cfg.socket()),
		log:    &agentLog{},
		exited: make(chan struct{}),
	}
	a.cmd = exec.Command(skiff, "agent", "--config", cfg.path(), "--log-format", "json")
	a.cmd.Stdout, a.cmd.Stderr = pw, pw
	// Its own process group: Ctrl-C reaches the demo, which stops the
	// agent itself; and the agent is told to stop if the demo dies.
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := a.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s agent: %w", skiff, err)
	}
	go a.log.read(pr, logFile)
	go func() {
		a.err = a.cmd.Wait()
		pw.Close()
		close(a.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := a.client.Status(ctx); err == nil {
			return a, nil
		} else if time.Now().After(deadline) || ctx.Err() != nil {
			a.stop()
			return nil, fmt.Errorf("the agent's API did not answer on %s: %w (see %s)", cfg.socket(), err, cfg.logPath())
		}
		select {
		case <-a.exited:
			return nil, fmt.Errorf("the agent exited at start: %v; its log:\n%s", a.err, a.log.tail(10))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for the agent to exit, killing it after
// agentStopTimeout. It returns how long the agent took.
func (a *agentProcess) stop() (time.Duration, error) {
	start := time.Now()
	select {
	case <-a.exited:
		return 0, nil
	default:
	}
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, err
	}
	select {
	case <-a.exited:
		return time.Since(start), nil
	case <-time.After(agentStopTimeout):
		_ = a.cmd.Process.Kill()
		<-a.exited
		return time.Since(start), fmt.Errorf("the agent did not stop within %s: killed", agentStopTimeout)
	}
}

// logEvent is one line of the agent's JSON log.
type logEvent struct {
	Msg   string
	Level string
	Attrs map[string]any
}

func (e logEvent) str(key string) string {
	switch v := e.Attrs[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// duration reads a duration attribute: slog's JSON handler writes it in
// nanoseconds.
func (e logEvent) duration(key string) time.Duration {
	switch v := e.Attrs[key].(type) {
	case float64:
		return time.Duration(v)
	case string:
		d, _ := time.ParseDuration(v)
		return d
	}
	return 0
}

// agentLog copies the agent's log to a file and keeps its events for the
// narrative.
type agentLog struct {
	// mu guards the fields below.
	mu     sync.Mutex
	events []logEvent
	lines  []string
}

func (l *agentLog) read(r io.Reader, file *os.File) {
	defer file.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(file, line)
		var fields map[string]any
		ev := logEvent{}
		if json.Unmarshal([]byte(line), &fields) == nil {
			ev.Msg, _ = fields["msg"].(string)
			ev.Level, _ = fields["level"].(string)
			delete(fields, "msg")
			delete(fields, "level")
			delete(fields, "time")
			ev.Attrs = fields
		} else {
			ev.Msg = line
		}
		l.mu.Lock()
		l.events = append(l.events, ev)
		l.lines = append(l.lines, line)
		l.mu.Unlock()
	}
}

// since returns the events after the first n, and the new count.
func (l *agentLog) since(n int) ([]logEvent, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]logEvent(nil), l.events[n:]...), len(l.events)
}

func (l *agentLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := ""
	for _, line := range l.lines[max(0, len(l.lines)-n):] {
		out += "  " + line + "\n"
	}
	return out
}
