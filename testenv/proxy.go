package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	proxyDialTimeout = 10 * time.Second
	proxyBufferSize  = 32 << 10
	proxyAcceptPause = 10 * time.Millisecond
)

// proxyMode is what a TCPFaultProxy does with connections.
type proxyMode int

const (
	// modeForward forwards, after the configured latencies.
	modeForward proxyMode = iota
	// modeBlackHole accepts and holds connections without forwarding a byte.
	modeBlackHole
	// modeCut refuses connections: the listener is closed.
	modeCut
)

// TCPFaultProxy is a TCP proxy on 127.0.0.1 in front of one target, whose faults
// can be switched while connections flow: latency per connection and per
// chunk, a cut (connections reset, new ones refused) and a black hole
// (connections accepted, never answered). It is safe for concurrent use.
type TCPFaultProxy struct {
	target  string
	addr    string // 127.0.0.1:port, kept across Cut
	ctx     context.Context
	stop    context.CancelFunc // cancels ctx, on Close
	running sync.WaitGroup     // accept loops and connection goroutines

	// mu guards the fields below.
	mu          sync.Mutex
	ln          net.Listener // nil while cut or closed
	mode        proxyMode
	closed      bool
	changed     chan struct{} // closed and replaced at every change of mode
	latency     time.Duration
	readLatency time.Duration
	conns       map[net.Conn]struct{} // open connections, both sides
	accepted    int
	toTarget    int64
	fromTarget  int64
}

// StartFaultProxy listens on a free 127.0.0.1 port and forwards every
// connection to target, with no fault until one is switched on. target is
// host:port, or unix:///path for a unix socket such as the Docker engine's
// (cutting that proxy looks like a daemon restart to its clients).
func StartFaultProxy(target string) (*TCPFaultProxy, error) {
	if _, ok := strings.CutPrefix(target, "unix://"); !ok {
		if _, _, err := net.SplitHostPort(target); err != nil {
			return nil, fmt.Errorf("start fault proxy to %q: %w", target, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start fault proxy to %s: %w", target, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	p := &TCPFaultProxy{
		target:  target,
		addr:    ln.Addr().String(),
		ctx:     ctx,
		stop:    stop,
		changed: make(chan struct{}),
		conns:   map[net.Conn]struct{}{},
	}
	p.mu.Lock()
	p.serveLocked(ln)
	p.mu.Unlock()
	return p, nil
}

// FaultProxy starts a TCPFaultProxy to target for the test and closes it in
// t.Cleanup.
func FaultProxy(t testing.TB, target string) *TCPFaultProxy {
	t.Helper()
	p, err := StartFaultProxy(target)
	if err != nil {
		t.Fatalf("start fault proxy: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close fault proxy: %v", err)
		}
	})
	return p
}

// Addr returns the address clients dial, 127.0.0.1:port; it survives Cut.
func (p *TCPFaultProxy) Addr() string { return p.addr }

// Target returns the address the proxy forwards to.
func (p *TCPFaultProxy) Target() string { return p.target }

// SetLatency delays every new connection by d before the proxy dials the
// target and forwards anything.
func (p *TCPFaultProxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

// SetReadLatency delays every chunk read, in both directions, by d before it
// is forwarded; it applies to open connections too.
func (p *TCPFaultProxy) SetReadLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.readLatency = d
}

// Cut makes the target unreachable: it resets every open connection (the
// peer reads "connection reset") and closes the listener, so new connections
// are refused (ECONNREFUSED) until BlackHole or Restore.
func (p *TCPFaultProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.setModeLocked(modeCut)
	_ = p.closeListenerLocked()
	p.resetConnsLocked()
}

// BlackHole makes the proxy a hung server: connections are accepted and held,
// and nothing more is forwarded on any connection, open or new, until Restore
// (which forwards what waited) or Cut (which resets them).
func (p *TCPFaultProxy) BlackHole() error {
	return p.switchTo(modeBlackHole)
}

// Restore forwards again, listening again on the same address after a Cut.
func (p *TCPFaultProxy) Restore() error {
	return p.switchTo(modeForward)
}

// Connections returns how many connections the proxy accepted.
func (p *TCPFaultProxy) Connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Bytes returns how many bytes the proxy passed on to the target and back
// (a chunk is counted just before it is written).
func (p *TCPFaultProxy) Bytes() (toTarget, fromTarget int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.toTarget, p.fromTarget
}

// Close resets every connection, stops listening and waits for all of the
// proxy's goroutines to end.
func (p *TCPFaultProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.stop()
	p.setModeLocked(modeCut)
	err := p.closeListenerLocked()
	p.resetConnsLocked()
	p.mu.Unlock()
	p.running.Wait()
	if err != nil {
		return fmt.Errorf("close fault proxy: %w", err)
	}
	return nil
}

func (p *TCPFaultProxy) switchTo(m proxyMode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("switch fault proxy: %w", net.ErrClosed)
	}
	if p.ln == nil {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			return fmt.Errorf("listen again on %s: %w", p.addr, err)
		}
		p.serveLocked(ln)
	}
	p.setModeLocked(m)
	return nil
}

// setModeLocked switches the mode and wakes everything waiting on it. p.mu
// must be held.
func (p *TCPFaultProxy) setModeLocked(m proxyMode) {
	p.mode = m
	close(p.changed)
	p.changed = make(chan struct{})
}

// serveLocked accepts on ln until it is closed. p.mu must be held.
func (p *TCPFaultProxy) serveLocked(ln net.Listener) {
	p.ln = ln
	p.running.Add(1)
	go p.acceptLoop(ln)
}

func (p *TCPFaultProxy) closeListenerLocked() error {
	if p.ln == nil {
		return nil
	}
	err := p.ln.Close()
	p.ln = nil
	return err
}

// resetConnsLocked closes every open connection with a reset. p.mu must be
// held.
func (p *TCPFaultProxy) resetConnsLocked() {
	for c := range p.conns {
		resetConn(c)
	}
	clear(p.conns)
}

func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close sends RST: the peer sees "connection reset"
	}
	_ = c.Close()
}

func (p *TCPFaultProxy) acceptLoop(ln net.Listener) {
	defer p.running.Done()
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // e.g. out of file descriptors: try again shortly
			if !p.sleep(proxyAcceptPause) {
				return
			}
			continue
		}
		if p.admit(c) {
			go p.serveConn(c)
		}
	}
}

// admit counts and tracks an accepted connection; when it reports true the
// caller must run serveConn, which calls p.running.Done.
func (p *TCPFaultProxy) admit(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.accepted++
	if p.closed || p.mode == modeCut {
		resetConn(c)
		return false
	}
	p.conns[c] = struct{}{}
	p.running.Add(1)
	return true
}

// track adds a connection to the ones Cut and Close reset; false means it
// was reset at once because the proxy is cut or closed.
func (p *TCPFaultProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == modeCut {
		resetConn(c)
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *TCPFaultProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

// serveConn forwards one accepted connection until either side is done.
func (p *TCPFaultProxy) serveConn(client net.Conn) {
	defer p.running.Done()
	defer p.untrack(client)
	if !p.waitForward() || !p.sleep(p.connLatency()) {
		return
	}
	d := net.Dialer{Timeout: proxyDialTimeout}
	network, address := "tcp", p.target
	if path, ok := strings.CutPrefix(p.target, "unix://"); ok {
		network, address = "unix", path
	}
	upstream, err := d.DialContext(p.ctx, network, address)
	if err != nil {
		return // the client sees its connection closed
	}
	defer p.untrack(upstream)
	if !p.track(upstream) {
		return
	}
	p.running.Add(1) // within serveConn's own count, so never racing Wait
	go func() {
		defer p.running.Done()
		p.pipe(upstream, client, true)
	}()
	p.pipe(client, upstream, false)
}

// pipe copies src to dst, chunk by chunk, with the read latency and the
// mode applied before each chunk. At EOF it half-closes dst; on any other
// end it closes both.
func (p *TCPFaultProxy) pipe(dst, src net.Conn, toTarget bool) {
	buf := make([]byte, proxyBufferSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitForward() || !p.sleep(p.chunkLatency()) {
				break
			}
			p.count(toTarget, n) // before the write, so the peer never sees more than counted
			if _, err := dst.Write(buf[:n]); err != nil {
				break
			}
		}
		if errors.Is(err, io.EOF) {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
				return
			}
			break
		}
		if err != nil {
			break
		}
	}
	_ = src.Close()
	_ = dst.Close()
}

// waitForward blocks while the proxy is a black hole, and reports whether to
// go on forwarding: false when it is cut or closed.
func (p *TCPFaultProxy) waitForward() bool {
	for {
		p.mu.Lock()
		mode, closed, changed := p.mode, p.closed, p.changed
		p.mu.Unlock()
		switch {
		case closed || mode == modeCut:
			return false
		case mode == modeForward:
			return true
		}
		<-changed
	}
}

// sleep waits d, and reports false when the proxy was closed meanwhile.
func (p *TCPFaultProxy) sleep(d time.Duration) bool {
	if d <= 0 {
		return p.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.ctx.Done():
		return false
	}
}

func (p *TCPFaultProxy) connLatency() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.latency
}

func (p *TCPFaultProxy) chunkLatency() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readLatency
}

func (p *TCPFaultProxy) count(toTarget bool, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if toTarget {
		p.toTarget += int64(n)
	} else {
		p.fromTarget += int64(n)
	}
}
