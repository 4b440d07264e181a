package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiffops/skiff/agent/engine"
	"github.com/skiffops/skiff/reconcile"
	"github.com/skiffops/skiff/testenv"
)

// blackHoleWorld is a world whose engine talks to the daemon through a
// fault proxy, with a short call timeout.
func blackHoleWorld(t *testing.T, timeout time.Duration) (*world, *testenv.TCPFaultProxy) {
	t.Helper()
	w := newWorld(t)
	proxy := testenv.FaultProxy(t, "unix:///var/run/docker.sock")
	eng, err := engine.New(context.Background(), engine.Options{
		Host: "tcp://" + proxy.Addr(), Node: w.node, FilesDir: filepath.Join(t.TempDir(), "files"),
		CallTimeout: timeout, Grace: time.Minute, Poll: 50 * time.Millisecond, HealthTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	w.eng = eng
	return w, proxy
}

// TestCallsHitTheirDeadlineOnAHungEngine black-holes the engine (it accepts
// and never answers) and checks that every call returns within its own
// deadline, with an error that says so.
func TestCallsHitTheirDeadlineOnAHungEngine(t *testing.T) {
	const timeout = 300 * time.Millisecond
	w, proxy := blackHoleWorld(t, timeout)
	st := w.writeStacks(map[string]string{w.stack: "services:\n  web:\n    image: IMAGE\n"})[w.stack]
	ctx := context.Background()
	if err := w.eng.CreateNetwork(ctx, st, "default"); err != nil {
		t.Fatal(err)
	}
	id := w.create(st, "web")
	if err := proxy.BlackHole(); err != nil {
		t.Fatal(err)
	}
	req := reconcile.CreateRequest{Stack: st, Service: "web", Number: 2, Name: reconcile.ContainerName(st, "web", 2), Revision: "r1"}
	calls := map[string]func() error{
		"Observe":         func() error { _, err := w.eng.Observe(ctx); return err },
		"ObserveStack":    func() error { _, err := w.eng.ObserveStack(ctx, st.Name); return err },
		"ImageIDs":        func() error { _, err := w.eng.ImageIDs(ctx, []string{w.image}); return err },
		"CreateNetwork":   func() error { return w.eng.CreateNetwork(ctx, st, "default") },
		"CreateVolume":    func() error { return w.eng.CreateVolume(ctx, st, "none") },
		"CreateContainer": func() error { _, err := w.eng.CreateContainer(ctx, req); return err },
		"StartContainer":  func() error { return w.eng.StartContainer(ctx, id) },
		"StopContainer":   func() error { return w.eng.StopContainer(ctx, id) },
		"RenameContainer": func() error { return w.eng.RenameContainer(ctx, id, "renamed") },
		"RemoveContainer": func() error { return w.eng.RemoveContainer(ctx, id) },
		"RemoveNetwork":   func() error { return w.eng.RemoveNetwork(ctx, "none") },
		"WaitReady":       func() error { return w.eng.WaitReady(ctx, id, 0) },
		"WaitCondition":   func() error { return w.eng.WaitCondition(ctx, []string{id}, "service_started") },
		"TagImage":        func() error { return w.eng.TagImage(ctx, w.image, w.image+"-other") },
		"RemoveImageRef":  func() error { return w.eng.RemoveImageRef(ctx, w.image) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := call()
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want a deadline error", err)
			}
			if took > timeout+time.Second {
				t.Errorf("returned after %s, want about %s", took.Round(time.Millisecond), timeout)
			}
		})
	}
}

// TestWatchRetriesAHungEngine follows events through a black-holed engine:
// Watch must keep trying (each try bounded by the call timeout), never
// report itself connected, and end as soon as its context does.
func TestWatchRetriesAHungEngine(t *testing.T) {
	w, proxy := blackHoleWorld(t, 200*time.Millisecond)
	if err := proxy.BlackHole(); err != nil {
		t.Fatal(err)
	}
	before := proxy.Connections()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	states := make(chan bool, 16)
	go func() {
		defer close(done)
		w.eng.Watch(ctx, func(engine.Event) {}, func(up bool, _ error) { states <- up })
	}()
	deadline := time.Now().Add(10 * time.Second)
	for proxy.Connections() < before+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := proxy.Connections() - before; got < 2 {
		t.Errorf("Watch connected %d times to the hung engine in 10s, want it to keep retrying", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
	select {
	case up := <-states:
		t.Errorf("Watch reported connected=%v to a hung engine", up)
	default:
	}
}

// TestStopWaitsForTheStopTimeout stops a container that ignores its stop
// signal: the call must outlast CallTimeout by the container's own
// stop_grace_period, after which the engine kills it.
func TestStopWaitsForTheStopTimeout(t *testing.T) {
	w := newWorld(t)
	eng, err := engine.New(context.Background(), engine.Options{
		Node: w.node, FilesDir: filepath.Join(t.TempDir(), "files"), CallTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	// The world's own engine, without the short deadline, sets the
	// container up: on a loaded engine a start can take longer than 500ms.
	st := w.writeStacks(map[string]string{w.stack: "services:\n  web:\n    image: IMAGE\n    stop_signal: SIGWINCH\n    stop_grace_period: 2s\n"})[w.stack]
	ctx := context.Background()
	if err := w.eng.CreateNetwork(ctx, st, "default"); err != nil {
		t.Fatal(err)
	}
	id := w.create(st, "web")
	if err := w.eng.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := eng.StopContainer(ctx, id); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("stopped after %s: the stop signal should have been ignored for the 2s grace period", took)
	}
	info, err := w.env.Client.ContainerInspect(ctx, id)
	if err != nil || info.State.Running || info.State.ExitCode != 137 {
		t.Errorf("after stop: %+v, %v; want killed (137)", info.State, err)
	}
	if err := eng.StopContainer(ctx, id); err != nil {
		t.Errorf("stopping a stopped container: %v", err)
	}
	if err := eng.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := eng.RemoveContainer(ctx, id); err != nil {
		t.Errorf("removing a gone container: %v", err)
	}
	if err := eng.StopContainer(ctx, id); err != nil {
		t.Errorf("stopping a gone container: %v", err)
	}
}
