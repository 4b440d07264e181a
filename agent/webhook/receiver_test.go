package webhook

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// received is one request a test receiver got.
type received struct {
	body   []byte
	header http.Header
}

// receiver is a webhook receiver on 127.0.0.1 that records every request
// and answers with status(n) for the n-th (from 0); 200 when status is nil.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	got    chan received
	mu     sync.Mutex
	n      int
	status func(n int) int
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	t.Helper()
	r := &receiver{t: t, got: make(chan received, 1000), status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := r.n
		r.n++
		r.mu.Unlock()
		code := http.StatusOK
		if r.status != nil {
			code = r.status(n)
		}
		if code == http.StatusOK {
			r.got <- received{body: body, header: req.Header.Clone()}
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string { return r.srv.URL + "/hooks/T000/secret-token" }

// next waits for the next message taken; the timeout only catches a hang.
func (r *receiver) next() received {
	r.t.Helper()
	select {
	case m := <-r.got:
		return m
	case <-time.After(10 * time.Second):
		r.t.Fatal("no message arrived")
	}
	return received{}
}

// payload waits for the next message and decodes it as JSON.
func (r *receiver) payload() Payload {
	r.t.Helper()
	m := r.next()
	var p Payload
	if err := json.Unmarshal(m.body, &p); err != nil {
		r.t.Fatalf("message is not the documented JSON: %v\n%s", err, m.body)
	}
	return p
}

// none asserts that no message is waiting.
func (r *receiver) none() {
	r.t.Helper()
	select {
	case m := <-r.got:
		r.t.Errorf("unexpected message: %s", m.body)
	default:
	}
}

// closedURL is the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/hook"
}

// testNotifier starts a Notifier for cfgs with fast retries, logging into
// log when it is not nil, and closes it in t.Cleanup.
func testNotifier(t *testing.T, log *bytes.Buffer, cfgs ...Config) *Notifier {
	t.Helper()
	o := Options{
		Node: "edge-07", Region: "eu-west", RetryMax: -1, RetryWaitMin: 10 * time.Millisecond,
		RequeueMax: 50 * time.Millisecond, Timeout: 2 * time.Second, FlushTimeout: 100 * time.Millisecond,
	}
	if log != nil {
		o.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n, err := New(cfgs, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// waitStats polls a webhook's counters until cond holds.
func waitStats(t *testing.T, n *Notifier, i int, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := n.Stats()[i]
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
