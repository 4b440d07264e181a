package source

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/skiffops/skiff/testenv"
)

func TestDetachAbandonsACallThatIgnoresItsContext(t *testing.T) {
	r := &runner{log: slog.New(slog.DiscardHandler), max: 2}
	release := make(chan struct{})
	orphaned := make(chan string, 1)
	stuck := func(context.Context) (string, error) { <-release; return "late", nil }

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var v string
	var abandoned bool
	_, err := within(t, 5*time.Second, "detach of a stuck call", func() error {
		var err error
		v, abandoned, err = detach(ctx, r, "test", stuck, func(v string, _ error) { orphaned <- v })
		return err
	})
	if !abandoned || v != "" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("detach = %q, %t, %v; want abandoned at the deadline", v, abandoned, err)
	}
	if n := r.hung.Load(); n != 1 {
		t.Errorf("hung = %d after one abandoned call, want 1", n)
	}
	select {
	case v := <-orphaned:
		t.Fatalf("orphan ran (%q) before the call returned", v)
	default:
	}

	close(release)
	select {
	case v := <-orphaned:
		if v != "late" {
			t.Errorf("orphan got %q, want the call's own result", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("orphan never ran after the abandoned call returned")
	}
	eventually(t, "hung to go back to 0", func() bool { return r.hung.Load() == 0 })

	v, abandoned, err = detach(context.Background(), r, "test", func(context.Context) (string, error) { return "ok", nil }, nil)
	if v != "ok" || abandoned || err != nil {
		t.Errorf("detach of a quick call = %q, %t, %v", v, abandoned, err)
	}
}

func TestDetachRefusesWhileTooManyHang(t *testing.T) {
	r := &runner{log: slog.New(slog.DiscardHandler), max: 1}
	r.hung.Store(1)
	ran, orphaned := false, false
	_, abandoned, err := detach(context.Background(), r, "test",
		func(context.Context) (int, error) { ran = true; return 0, nil },
		func(int, error) { orphaned = true })
	if err == nil || ran || !orphaned || !abandoned {
		t.Errorf("detach with the limit reached: err %v, ran %t, orphan called %t; want refused, orphan owning the outcome", err, ran, orphaned)
	}
}

// TestSSHBlackHoleIsAbandoned is the case detach exists for: go-git's ssh
// handshake ignores its context, so against a host that accepts and never
// answers only the abandonment returns.
func TestSSHBlackHoleIsAbandoned(t *testing.T) {
	proxy := testenv.FaultProxy(t, "127.0.0.1:9") // never forwards while black-holed
	if err := proxy.BlackHole(); err != nil {
		t.Fatal(err)
	}
	key, knownHosts := sshFiles(t, proxy.Addr())
	s := newSource(t, Config{URL: "ssh://git@" + proxy.Addr() + "/fleet.git", SSHKeyFile: key,
		KnownHostsFile: knownHosts, Timeout: 300 * time.Millisecond})
	s.calls.max = 2

	for name, call := range map[string]func() error{
		"Head":  func() error { _, err := s.Head(context.Background()); return err },
		"Fetch": func() error { return s.Fetch(context.Background(), "0123456789012345678901234567890123456789") },
	} {
		_, err := within(t, 5*time.Second, name+" over ssh through a black hole", call)
		wantErr(t, name+" over ssh through a black hole", err, ErrUnreachable, context.DeadlineExceeded)
	}
	if n := s.calls.hung.Load(); n != 2 {
		t.Errorf("hung = %d, want the 2 abandoned calls", n)
	}
	start := time.Now()
	_, err := s.Head(context.Background())
	wantErr(t, "Head with too many hung calls", err, ErrUnreachable)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("refusal took %s, want at once", d)
	}
	if len(tmpEntries(t, s)) != 1 {
		t.Errorf("tmp holds %v, want the abandoned fetch's directory only", tmpEntries(t, s))
	}

	proxy.Cut() // resets the held connections: go-git returns at last
	eventually(t, "the abandoned calls to end", func() bool { return s.calls.hung.Load() == 0 })
	eventually(t, "the abandoned fetch to clean up", func() bool { return len(tmpEntries(t, s)) == 0 })
	if _, _, ok := s.Current(); ok {
		t.Error("an abandoned fetch left a checkout")
	}
}
