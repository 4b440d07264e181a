package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

const gatesCompose = `
x-probe: &probe ["CMD", "/skiff-test", "-probe", "http://127.0.0.1:8080/healthz"]
services:
  plain:
    image: IMAGE
  healthy:
    image: IMAGE
    healthcheck: {test: *probe, interval: 300ms, timeout: 2s, retries: 3}
  unhealthy:
    image: IMAGE
    command: ["-unhealthy"]
    healthcheck: {test: *probe, interval: 300ms, timeout: 2s, retries: 1}
  slow:
    image: IMAGE
    healthcheck: {test: *probe, interval: 1h, start_period: 1h}
  done:
    image: IMAGE
    command: ["-exit", "0", "-exit-after", "200ms"]
  failed:
    image: IMAGE
    command: ["-exit", "3", "-exit-after", "200ms"]
`

// gates starts one replica of every service of gatesCompose and returns
// their IDs by service.
func (w *world) gates() map[string]string {
	w.t.Helper()
	w.write(map[string]string{"compose.yaml": gatesCompose})
	st := w.load()[w.stack]
	if err := w.eng.CreateNetwork(context.Background(), st, "default"); err != nil {
		w.t.Fatal(err)
	}
	ids := map[string]string{}
	for _, svc := range st.Services {
		ids[svc.Name] = w.create(st, svc.Name)
		w.start(ids[svc.Name])
	}
	return ids
}

func TestWaitReady(t *testing.T) {
	w := newWorld(t) // Options.Grace 1s
	ids := w.gates()
	ctx := context.Background()
	for _, tt := range []struct {
		service string
		grace   time.Duration
		want    string // "" for nil
		min     time.Duration
	}{
		{"plain", 0, "", time.Second},                                   // Options.Grace
		{"plain", 2500 * time.Millisecond, "", 2500 * time.Millisecond}, // the service's own grace
		{"healthy", 0, "", 0},
		{"unhealthy", 0, "unhealthy", 0},
		{"done", 0, "", 0},
		{"failed", 0, "exited (3)", 0},
	} {
		start := time.Now()
		err := w.eng.WaitReady(ctx, ids[tt.service], tt.grace)
		took := time.Since(start)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s, grace %s: %v", tt.service, tt.grace, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s, grace %s: err = %v, want %q", tt.service, tt.grace, err, tt.want)
		case took < tt.min:
			t.Errorf("%s, grace %s: passed after %s, before its grace period", tt.service, tt.grace, took)
		}
	}
}

// TestWaitReadyAbandoned: a gate superseded by a newer commit is abandoned
// by cancelling its context; it must return at once with ctx's error,
// whether it waits for a healthcheck or for the grace period.
func TestWaitReadyAbandoned(t *testing.T) {
	w := newWorld(t)
	ids := w.gates()
	for _, service := range []string{"slow", "plain"} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		start := time.Now()
		err := w.eng.WaitReady(ctx, ids[service], time.Hour)
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: returned %s after the cancel", service, took-300*time.Millisecond)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", service, err)
		}
		cancel()
	}
}

// TestWaitCondition judges depends_on conditions on exactly the containers
// given: the replicas of a dependency that carry its new spec.
func TestWaitCondition(t *testing.T) {
	w := newWorld(t)
	ids := w.gates()
	ctx := context.Background()
	for _, tt := range []struct {
		condition string
		services  []string
		want      string // "" for nil
	}{
		{"service_started", []string{"plain", "healthy", "done"}, ""},
		{"service_started", []string{"plain", "failed"}, "exited (3)"},
		{"service_healthy", []string{"healthy"}, ""},
		{"service_healthy", []string{"healthy", "unhealthy"}, "is unhealthy"},
		{"service_healthy", []string{"plain"}, "has no healthcheck"},
		{"service_completed_successfully", []string{"done"}, ""},
		{"service_completed_successfully", []string{"done", "failed"}, "exited (3)"},
	} {
		var list []string
		for _, s := range tt.services {
			list = append(list, ids[s])
		}
		err := w.eng.WaitCondition(ctx, list, tt.condition)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s on %v: err = %v, want %q", tt.condition, tt.services, err, tt.want)
		}
	}

	// A dependency replica that is gone fails the wait at once.
	if err := w.eng.RemoveContainer(ctx, ids["plain"]); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := w.eng.WaitCondition(ctx, []string{ids["healthy"], ids["plain"]}, "service_started")
	if err == nil || !strings.Contains(err.Error(), "is gone") || time.Since(start) > 5*time.Second {
		t.Errorf("with a gone container: err = %v after %s, want at once that it is gone", err, time.Since(start))
	}
	if err := w.eng.WaitCondition(ctx, nil, "service_started"); err == nil {
		t.Error("waiting on no container: no error")
	}
}
