package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// provider is a Provider with canned answers; the real one is the agent,
// exercised by the end-to-end tests.
type provider struct {
	status  Status
	history History
	limits  []int
	syncs   atomic.Int32
}

func (p *provider) Status(context.Context) Status { return p.status }

func (p *provider) History(_ context.Context, limit int) (History, error) {
	p.limits = append(p.limits, limit)
	if limit > len(p.history.Revisions) {
		limit = len(p.history.Revisions)
	}
	return History{Revisions: p.history.Revisions[:limit]}, nil
}

func (p *provider) Sync() { p.syncs.Add(1) }

func (p *provider) Plan(context.Context) (Plan, error) {
	return Plan{Node: p.status.Node, Actions: []PlanAction{{Kind: "create", Name: "shop-web-1", Reason: "missing"}}}, nil
}

func serve(t *testing.T, p Provider) (*Client, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "skiff.sock")
	s, err := Listen(path, p, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return NewClient(path), path
}

func TestStatusHistorySync(t *testing.T) {
	offline := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := &provider{
		status: Status{Node: "edge-07", Region: "eu-west", WantedRevision: "b", AppliedRevision: "a",
			Source: SourceStatus{URL: "https://git.example.com/f.git", OfflineSince: &offline},
			Stacks: []StackStatus{{Name: "shop", Revision: "a", Outcome: "applied",
				Services: []ServiceStatus{{Name: "web", Replicas: 1, Containers: []ContainerStatus{{Name: "shop-web-1", State: "running"}}}}}}},
		history: History{Revisions: []Revision{{Commit: "b", Outcome: "pending"}, {Commit: "a", Outcome: "applied"}}},
	}
	c, _ := serve(t, p)
	ctx := context.Background()

	got, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p.status, got); diff != "" {
		t.Errorf("status (-served +received):\n%s", diff)
	}
	h, err := c.History(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Revisions) != 1 || h.Revisions[0].Commit != "b" || p.limits[0] != 1 {
		t.Errorf("history(1) = %+v (provider asked for %v)", h, p.limits)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	plan, err := c.Plan(ctx)
	if err != nil || len(plan.Actions) != 1 || plan.Node != "edge-07" {
		t.Errorf("plan = %+v, %v", plan, err)
	}
	if n := p.syncs.Load(); n != 1 {
		t.Errorf("sync reached the provider %d times", n)
	}
}

func TestErrorsAreJSONWithAMessage(t *testing.T) {
	c, _ := serve(t, &provider{})
	if _, err := c.History(context.Background(), 0); err == nil || !strings.Contains(err.Error(), "limit must be a positive integer") {
		t.Errorf("history(0): %v", err)
	}
	err := c.do(context.Background(), "GET", "/v1/nope", nil)
	if err == nil || !strings.Contains(err.Error(), "no such endpoint: GET /v1/nope") {
		t.Errorf("unknown endpoint: %v", err)
	}
	err = c.do(context.Background(), "GET", "/v1/sync", nil)
	if err == nil {
		t.Error("GET /v1/sync succeeded; only POST may")
	}
}

func TestSocketModeAndStaleSocket(t *testing.T) {
	_, path := serve(t, &provider{})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != SocketMode {
		t.Errorf("socket mode %v, want %v", fi.Mode().Perm(), os.FileMode(SocketMode))
	}
	if _, err := Listen(path, &provider{}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "another agent") {
		t.Errorf("second Listen on a live socket: %v", err)
	}

	stale := filepath.Join(t.TempDir(), "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // a dead agent's socket file stays behind
	s, err := Listen(stale, &provider{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind after Shutdown: %v", err)
	}
}

func TestClientWithoutAgent(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	_, err := c.Status(context.Background())
	if !errors.Is(err, ErrNoAgent) || !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("status without agent: %v", err)
	}
}
