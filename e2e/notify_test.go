package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffops/skiff/testenv"
)

// hookPayload is the part of the documented webhook JSON (agent/webhook
// Payload, version 1) this test reads.
type hookPayload struct {
	Version int    `json:"version"`
	Node    string `json:"node"`
	Region  string `json:"region"`
	Events  []struct {
		Event    string `json:"event"`
		Revision string `json:"revision"`
		Stack    string `json:"stack"`
		Outcome  string `json:"outcome"`
		Error    string `json:"error"`
		Summary  string `json:"summary"`
	} `json:"events"`
	Dropped int `json:"dropped"`
}

// hookReceiver records the webhook messages the agent sends it.
type hookReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []hookPayload
	raw []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var p hookPayload
		err := json.Unmarshal(body, &p)
		r.mu.Lock()
		r.raw = append(r.raw, string(body))
		if err == nil {
			r.got = append(r.got, p)
		}
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// events lists the messages received as "event stack@rev" lines.
func (r *hookReceiver) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.got {
		for _, e := range p.Events {
			out = append(out, fmt.Sprintf("%s %s@%s", e.Event, e.Stack, e.Revision[:7]))
		}
	}
	return out
}

// TestAgentTellsWebhooksOfARollback: a stack's new spec fails its health
// gate; the receiver gets one rolled-back message naming the stack, the
// revision and the error, between the applied messages of the good
// revisions around it. Two more webhooks, one on a closed port and one
// black-holed, hold up neither the loop nor the API.
func TestAgentTellsWebhooksOfARollback(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	r := newHookReceiver(t)
	hole := testenv.FaultProxy(t, strings.TrimPrefix(r.srv.URL, "http://"))
	if err := hole.BlackHole(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	cfg, err := os.OpenFile(w.node.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(cfg, `notify:
  - url: %s/hooks/secret-token-good
    events: [applied, rolled-back, failed, refused]
  - url: http://%s/hooks/secret-token-hole
    events: [applied, rolled-back, failed, refused]
  - url: http://%s/hooks/secret-token-closed
    events: [applied, rolled-back, failed, refused]
`, r.srv.URL, hole.Addr(), closed)
	cfg.Close()

	files := func(msg, probe string) map[string]string {
		s := service("web", w.image, msg)
		s = strings.Replace(s, "http://127.0.0.1:8080/healthz", probe, 1)
		return map[string]string{"stacks/" + w.stack + "/compose.yaml": "services:\n" + s}
	}
	const good, bad = "http://127.0.0.1:8080/healthz", "http://127.0.0.1:9/healthz"
	c1 := w.pushFiles(t, files("v1", good), "v1")
	w.node.start()
	w.waitApplied(t, c1)
	c2 := w.pushFiles(t, files("v2", bad), "v2 fails its health gate")
	waitFor(t, "the stack rolled back", 60*time.Second, func() (bool, string) {
		s := w.node.status()
		return stackOutcome(s, w.stack) == "rolled-back", fmt.Sprintf("%+v", s.Stacks)
	})
	polls := w.node.status().Counters.Polls
	c3 := w.pushFiles(t, files("v3", good), "v3")
	w.waitApplied(t, c3)
	want := []string{"applied @" + c1[:7], "rolled-back " + w.stack + "@" + c2[:7], "applied @" + c3[:7]}
	waitFor(t, "three messages", 30*time.Second, func() (bool, string) {
		return len(r.events()) >= len(want), fmt.Sprint(r.events())
	})
	if got := r.events(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("webhook events:\n got %q\nwant %q", got, want)
	}
	r.mu.Lock()
	for i, p := range r.got {
		if p.Version != 1 || p.Node != w.node.name || p.Region != "test" || len(p.Events) != 1 || p.Dropped != 0 {
			t.Errorf("message %d: %s", i, r.raw[i])
		}
	}
	rb := r.got[1].Events[0]
	r.mu.Unlock()
	if rb.Error == "" || !strings.Contains(rb.Summary, "rolled back") {
		t.Errorf("rolled-back event: %+v", rb)
	}
	if s := w.node.status(); s.Counters.Polls <= polls {
		t.Errorf("polls stopped at %d while two webhooks do not answer", s.Counters.Polls)
	}
	if hole.Connections() == 0 {
		t.Error("the black-holed webhook was never tried")
	}
	if strings.Contains(w.node.log.String(), "secret-token") {
		t.Errorf("the agent's log carries a webhook's token:\n%s", w.node.log.String())
	}
}
