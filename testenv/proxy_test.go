package testenv

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The timings below are lower bounds only: a loaded machine is slower, never
// faster. A wait that must not happen gets a generous deadline instead.
const (
	proxyTestLatency = 150 * time.Millisecond
	proxyTestTimeout = 300 * time.Millisecond
	proxyTestPatient = 10 * time.Second
)

// startEcho serves TCP echo on 127.0.0.1 until the test ends.
func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	// mu guards conns and closed.
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	closed := false
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				_ = c.Close()
				return
			}
			conns[c] = struct{}{}
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// startHello serves "hello" over HTTP on 127.0.0.1 until the test ends.
func startHello(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// get fetches http://addr/ on a new connection.
func get(addr string, timeout time.Duration) (string, error) {
	client := &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	res, err := client.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return string(body), err
}

// echoConn is a client connection to an echo server.
type echoConn struct {
	net.Conn
	r *bufio.Reader
}

func dialEcho(t *testing.T, addr string) *echoConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, proxyTestPatient)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &echoConn{Conn: c, r: bufio.NewReader(c)}
}

// roundTrip writes a line and reads the echo within timeout.
func (c *echoConn) roundTrip(line string, timeout time.Duration) (string, error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	return c.readLine(timeout)
}

func (c *echoConn) readLine(timeout time.Duration) (string, error) {
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	got, err := c.r.ReadString('\n')
	if len(got) > 0 && got[len(got)-1] == '\n' {
		got = got[:len(got)-1]
	}
	return got, err
}

func mustEcho(t *testing.T, c *echoConn, line string) {
	t.Helper()
	got, err := c.roundTrip(line, proxyTestPatient)
	if err != nil || got != line {
		t.Fatalf("echo %q = %q, %v", line, got, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestFaultProxyForwards(t *testing.T) {
	t.Parallel()
	p := FaultProxy(t, startHello(t))
	body, err := get(p.Addr(), proxyTestPatient)
	if err != nil || body != "hello" {
		t.Fatalf("GET through proxy = %q, %v; want hello", body, err)
	}
	if n := p.Connections(); n != 1 {
		t.Errorf("Connections() = %d, want 1", n)
	}
	up, down := p.Bytes()
	if up == 0 || down < int64(len("hello")) {
		t.Errorf("Bytes() = %d to target, %d back; want both counted", up, down)
	}
}

func TestFaultProxyLatency(t *testing.T) {
	t.Parallel()
	p := FaultProxy(t, startHello(t))
	p.SetLatency(proxyTestLatency)
	start := time.Now()
	body, err := get(p.Addr(), proxyTestPatient)
	elapsed := time.Since(start)
	if err != nil || body != "hello" {
		t.Fatalf("GET through proxy = %q, %v; want hello", body, err)
	}
	if elapsed < proxyTestLatency {
		t.Errorf("GET with %v connection latency took %v", proxyTestLatency, elapsed)
	}
}

func TestFaultProxyReadLatency(t *testing.T) {
	t.Parallel()
	p := FaultProxy(t, startEcho(t))
	c := dialEcho(t, p.Addr())
	mustEcho(t, c, "warm") // the connection is forwarded before the latency starts

	p.SetReadLatency(proxyTestLatency)
	start := time.Now()
	mustEcho(t, c, "ping")
	// One chunk each way, each delayed.
	if elapsed, want := time.Since(start), 2*proxyTestLatency; elapsed < want {
		t.Errorf("echo with %v read latency took %v, want at least %v", proxyTestLatency, elapsed, want)
	}
}

func TestFaultProxyCut(t *testing.T) {
	t.Parallel()
	p := FaultProxy(t, startEcho(t))
	addr := p.Addr()
	open := dialEcho(t, addr)
	mustEcho(t, open, "before")

	p.Cut()
	// The open connection is reset: the read fails at once, not by deadline.
	if got, err := open.readLine(proxyTestPatient); err == nil || isTimeout(err) {
		t.Errorf("read on a cut connection = %q, %v; want reset or EOF", got, err)
	}
	if c, err := net.DialTimeout("tcp", addr, proxyTestPatient); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			_ = c.Close()
		}
		t.Fatalf("dial while cut: err = %v, want connection refused", err)
	}
	if _, err := get(addr, proxyTestPatient); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("GET while cut: err = %v, want connection refused", err)
	}

	if err := p.Restore(); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if p.Addr() != addr {
		t.Fatalf("address changed from %s to %s", addr, p.Addr())
	}
	mustEcho(t, dialEcho(t, addr), "after")
}

func TestFaultProxyBlackHole(t *testing.T) {
	t.Parallel()
	p := FaultProxy(t, startEcho(t))
	open := dialEcho(t, p.Addr())
	mustEcho(t, open, "before")

	if err := p.BlackHole(); err != nil {
		t.Fatalf("black hole: %v", err)
	}
	held := dialEcho(t, p.Addr()) // accepted: a hung server, not a refused one
	for name, c := range map[string]*echoConn{"open": open, "new": held} {
		if got, err := c.roundTrip(name, proxyTestTimeout); !isTimeout(err) {
			t.Errorf("%s connection in a black hole = %q, %v; want a timeout", name, got, err)
		}
	}
	if _, err := get(p.Addr(), proxyTestTimeout); !isTimeout(err) {
		t.Errorf("GET in a black hole: err = %v, want a timeout", err)
	}

	if err := p.Restore(); err != nil {
		t.Fatalf("restore: %v", err)
	}
	// What waited in the black hole is forwarded late.
	for name, c := range map[string]*echoConn{"open": open, "new": held} {
		if got, err := c.readLine(proxyTestPatient); err != nil || got != name {
			t.Errorf("%s connection after restore = %q, %v; want %q", name, got, err, name)
		}
	}
	mustEcho(t, dialEcho(t, p.Addr()), "after")
}

func TestFaultProxyCutBlackHole(t *testing.T) {
	t.Parallel()
	p := FaultProxy(t, startEcho(t))
	if err := p.BlackHole(); err != nil {
		t.Fatal(err)
	}
	held := dialEcho(t, p.Addr())
	if _, err := held.roundTrip("x", proxyTestTimeout); !isTimeout(err) {
		t.Fatalf("black hole: err = %v, want a timeout", err)
	}
	p.Cut()
	if got, err := held.readLine(proxyTestPatient); err == nil || isTimeout(err) {
		t.Errorf("held connection after cut = %q, %v; want reset or EOF", got, err)
	}
	if err := p.BlackHole(); err != nil {
		t.Fatalf("black hole after cut: %v", err)
	}
	if _, err := dialEcho(t, p.Addr()).roundTrip("y", proxyTestTimeout); !isTimeout(err) {
		t.Errorf("black hole after cut: err = %v, want a timeout", err)
	}
}

func TestFaultProxyCloseEndsEverything(t *testing.T) {
	t.Parallel()
	target := startEcho(t)
	p, err := StartFaultProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	forwarding := dialEcho(t, p.Addr())
	mustEcho(t, forwarding, "x")
	p.SetLatency(time.Hour)
	_ = dialEcho(t, p.Addr()) // waits in the connection latency
	if err := p.BlackHole(); err != nil {
		t.Fatal(err)
	}
	_ = dialEcho(t, p.Addr()) // held in the black hole

	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(proxyTestPatient):
		t.Fatal("Close still waiting for the proxy's goroutines")
	}
	if _, err := forwarding.readLine(proxyTestPatient); err == nil || isTimeout(err) {
		t.Errorf("read after Close: err = %v, want reset or EOF", err)
	}
	if err := p.Restore(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Restore after Close: err = %v, want %v", err, net.ErrClosed)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// TestFaultProxyInFrontOfGit plays DESIGN §7's Git faults: black-holed, the
// poll hits its deadline; cut, it is refused at once; restored, it works.
func TestFaultProxyInFrontOfGit(t *testing.T) {
	t.Parallel()
	s := GitServer(t)
	want := mustPush(t, s, map[string]string{"fleet.yaml": "x\n"}, "one")
	p := FaultProxy(t, s.Addr())
	url := s.URLVia(p.Addr())
	lsRemoteWithin := func(d time.Duration) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return lsRemote(ctx, url, nil)
	}
	if got, err := lsRemoteWithin(proxyTestPatient); err != nil || got != want {
		t.Fatalf("ls-remote through proxy = %q, %v; want %s", got, err, want)
	}

	if err := p.BlackHole(); err != nil {
		t.Fatal(err)
	}
	if _, err := lsRemoteWithin(proxyTestTimeout); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ls-remote into a black hole: err = %v, want %v", err, context.DeadlineExceeded)
	}
	p.Cut()
	if _, err := lsRemoteWithin(proxyTestPatient); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("ls-remote while cut: err = %v, want connection refused", err)
	}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	if got, err := lsRemoteWithin(proxyTestPatient); err != nil || got != want {
		t.Errorf("ls-remote after restore = %q, %v; want %s", got, err, want)
	}
}
