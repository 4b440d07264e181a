package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffops/skiff/agent/api"
)

// cannedAgent answers the API with fixed data; the real agent behind the
// same API is exercised by the end-to-end tests.
type cannedAgent struct {
	status  api.Status
	history api.History
	synced  chan struct{}
}

func (a *cannedAgent) Status(context.Context) api.Status { return a.status }
func (a *cannedAgent) History(context.Context, int) (api.History, error) {
	return a.history, nil
}
func (a *cannedAgent) Sync() { a.synced <- struct{}{} }
func (a *cannedAgent) Plan(context.Context) (api.Plan, error) {
	return api.Plan{Node: a.status.Node, Actions: []api.PlanAction{
		{Kind: "recreate", Name: "shop-web-1", Update: "stop-first", Reason: "config hash a→b"}}}, nil
}

func serveCanned(t *testing.T, a *cannedAgent) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "skiff.sock")
	s, err := api.Listen(sock, a, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return sock
}

func TestStatusHistorySyncCommands(t *testing.T) {
	offline := time.Now().Add(-3 * time.Minute)
	a := &cannedAgent{
		status: api.Status{
			Node: "edge-07", Region: "eu-west", Version: "v1.0.0", StartedAt: time.Now().Add(-time.Hour),
			AppliedRevision: "0123456789abcdef", WantedRevision: "fedcba9876543210",
			Pending: &api.Pending{Revision: "fedcba9876543210", Since: offline, Reason: "image reg/x:1 not found on any registry"},
			Pulls:   []api.PullProgress{{Image: "reg/y:2", Registry: "mirror:5000", Downloaded: 1_500_000, Total: 3_000_000, Since: offline}},
			Source: api.SourceStatus{URL: "https://git.example.com/fleet.git", Branch: "main", OfflineSince: &offline,
				LastError: "connection refused"},
			Docker: api.DockerStatus{Connected: true, APIVersion: "1.41"},
			Store:  api.StoreStatus{Path: "/var/lib/skiff/state.db"},
			Stacks: []api.StackStatus{{Name: "shop", Revision: "0123456789abcdef", Outcome: "rolled-back",
				FailedRevision: "fedcba9876543210", Error: "health gate: unhealthy",
				Services: []api.ServiceStatus{{Name: "web", Containers: []api.ContainerStatus{{Name: "shop-web-1", State: "running", Health: "healthy"}}}}}},
			UnusedVolumes: []string{"old_data"},
		},
		history: api.History{Revisions: []api.Revision{
			{Commit: "fedcba9876543210", Outcome: "partial", Stacks: map[string]api.StackOutcome{
				"shop": {Outcome: "rolled-back", Error: "health gate: unhealthy"}, "blog": {Outcome: "applied"}}},
			{Commit: "0123456789abcdef", Outcome: "applied", Verified: true},
		}},
		synced: make(chan struct{}, 1),
	}
	sock := serveCanned(t, a)

	code, out, errOut := runCLI(t, "status", "--socket", sock)
	if code != exitOK {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"node      edge-07 (eu-west), skiff v1.0.0",
		"revision  applied 0123456, wanted fedcba9",
		"pending   fedcba9 since 3m0s ago: image reg/x:1 not found on any registry",
		"OFFLINE since", "connection refused",
		"pulling   reg/y:2 from mirror:5000: 1.5 MB of 3.0 MB (started 3m0s ago)",
		"connected (API 1.41)",
		"shop   0123456   rolled-back (fedcba9 failed)  web      shop-web-1  running  healthy",
		"shop: health gate: unhealthy",
		"unused volumes (skiff never removes volumes): old_data",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCLI(t, "status", "--socket", sock, "--json")
	var s api.Status
	if code != exitOK || json.Unmarshal([]byte(out), &s) != nil || s.Node != "edge-07" {
		t.Errorf("status --json: exit %d, %q", code, out)
	}

	code, out, _ = runCLI(t, "history", "--socket", sock)
	if code != exitOK || !strings.Contains(out, "shop rolled-back: health gate: unhealthy") || strings.Contains(out, "blog applied") {
		t.Errorf("history: exit %d:\n%s", code, out)
	}

	code, out, _ = runCLI(t, "plan", "--socket", sock)
	if code != exitOK || out != "recreate (stop-first) shop-web-1: config hash a→b\n" {
		t.Errorf("plan from the agent: exit %d, %q", code, out)
	}

	if code, _, errOut := runCLI(t, "sync", "--socket", sock); code != exitOK {
		t.Fatalf("sync: exit %d: %s", code, errOut)
	}
	select {
	case <-a.synced:
	case <-time.After(5 * time.Second):
		t.Error("sync did not reach the agent")
	}
}

func TestClientCommandsFindTheSocketFromConfig(t *testing.T) {
	a := &cannedAgent{status: api.Status{Node: "from-config"}, synced: make(chan struct{}, 1)}
	sock := serveCanned(t, a)
	cfg := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(cfg, []byte("region: r\napi: {socket: "+sock+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "status", "--config", cfg, "--json")
	if code != exitOK || !strings.Contains(out, "from-config") {
		t.Errorf("status --config: exit %d, %s %s", code, out, errOut)
	}
}

func TestClientCommandsWithoutAgent(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, cmd := range []string{"status", "history", "sync"} {
		code, _, errOut := runCLI(t, cmd, "--socket", sock)
		if code != exitFailure || !strings.Contains(errOut, "no skiff agent answers") || !strings.Contains(errOut, sock) {
			t.Errorf("%s without agent: exit %d, %q", cmd, code, errOut)
		}
	}
}
