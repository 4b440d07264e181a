package source

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/skiffops/skiff/testenv"
)

func TestHeadIsThePushedCommitWithoutFetchOrWrite(t *testing.T) {
	srv := testenv.GitServer(t)
	push(t, srv, map[string]string{"stacks/web/compose.yaml": "services: {}\n"})
	s := newSource(t, Config{URL: srv.URL()})
	pull(t, s) // so that Dir holds a repository and a checkout to disturb
	want := push(t, srv, map[string]string{"stacks/web/compose.yaml": "services: {web: {}}\n"})

	before, reqBefore := snapshot(t, s.cfg.Dir), srv.Requests()
	got, err := s.Head(context.Background())
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if got != want || got != srv.Head() {
		t.Errorf("Head = %s, want the pushed %s (server says %s)", got, want, srv.Head())
	}
	reqAfter := srv.Requests()
	wantReq := reqBefore
	wantReq.AdvertiseUpload++
	if reqAfter != wantReq {
		t.Errorf("requests of one Head: before %+v, after %+v; want one AdvertiseUpload more and nothing else", reqBefore, reqAfter)
	}
	after := snapshot(t, s.cfg.Dir)
	if len(after) != len(before) {
		t.Errorf("Head changed the files under Dir: %d entries before, %d after", len(before), len(after))
	}
	for p, desc := range before {
		if after[p] != desc {
			t.Errorf("Head changed %s: %q → %q", p, desc, after[p])
		}
	}
}

func TestHeadWritesNothingOnAFreshNode(t *testing.T) {
	srv := testenv.GitServer(t)
	push(t, srv, map[string]string{"a": "1"})
	s := newSource(t, Config{URL: srv.URL()})
	if _, err := s.Head(context.Background()); err != nil {
		t.Fatalf("Head: %v", err)
	}
	if files := snapshot(t, s.cfg.Dir); len(files) != 0 {
		t.Errorf("New and Head wrote %v, want nothing", files)
	}
}

func TestHeadNoBranch(t *testing.T) {
	srv := testenv.GitServer(t)
	ctx := context.Background()
	s := newSource(t, Config{URL: srv.URL()})
	_, err := s.Head(ctx)
	wantErr(t, "Head of an empty repository", err, ErrNoBranch)

	push(t, srv, map[string]string{"a": "1"})
	dev := newSource(t, Config{URL: srv.URL(), Branch: "dev"})
	_, err = dev.Head(ctx)
	wantErr(t, "Head of a missing branch", err, ErrNoBranch)
	err = dev.Fetch(ctx, srv.Head())
	wantErr(t, "Fetch of a missing branch", err, ErrNoBranch)
	if left := tmpEntries(t, dev); len(left) != 0 {
		t.Errorf("failed fetch left %v in tmp", left)
	}
}

func TestHeadServerDownIsUnreachableAtOnce(t *testing.T) {
	srv := testenv.GitServer(t)
	head := push(t, srv, map[string]string{"a": "1"})
	s := newSource(t, Config{URL: srv.URL()})
	if err := srv.SetDown(true); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := s.Head(context.Background())
	wantErr(t, "Head with the server down", err, ErrUnreachable)
	err = s.Fetch(context.Background(), head)
	wantErr(t, "Fetch with the server down", err, ErrUnreachable)
	if d := time.Since(start); d > testTimeout/2 {
		t.Errorf("refused connections took %s to report, want well under the %s deadline", d, testTimeout)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a refused connection reported as a timeout: %v", err)
	}
}

func TestBlackHoledRemoteHitsTheDeadline(t *testing.T) {
	srv := testenv.GitServer(t)
	head := push(t, srv, map[string]string{"a": "1"})
	proxy := testenv.FaultProxy(t, srv.Addr())
	if err := proxy.BlackHole(); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, Config{URL: srv.URLVia(proxy.Addr()), Timeout: 300 * time.Millisecond})
	for name, call := range map[string]func() error{
		"Head":  func() error { _, err := s.Head(context.Background()); return err },
		"Fetch": func() error { return s.Fetch(context.Background(), head) },
	} {
		d, err := within(t, 5*time.Second, name+" through a black hole", call)
		wantErr(t, name+" through a black hole", err, ErrUnreachable, context.DeadlineExceeded)
		if d < 300*time.Millisecond {
			t.Errorf("%s through a black hole returned after %s, want about the 300ms deadline", name, d)
		}
	}
	if proxy.Connections() == 0 {
		t.Error("the calls never reached the proxy")
	}
	eventually(t, "the fetch's temporary directory to go", func() bool { return len(tmpEntries(t, s)) == 0 })
}

func TestCallerCancelIsNotUnreachable(t *testing.T) {
	srv := testenv.GitServer(t)
	push(t, srv, map[string]string{"a": "1"})
	proxy := testenv.FaultProxy(t, srv.Addr())
	if err := proxy.BlackHole(); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, Config{URL: srv.URLVia(proxy.Addr())})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := s.Head(ctx)
	wantErr(t, "Head canceled by its caller", err, context.Canceled)
	if errors.Is(err, ErrUnreachable) {
		t.Errorf("a canceled call reported the remote unreachable: %v", err)
	}
}
