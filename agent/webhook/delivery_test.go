package webhook

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skiffops/skiff/testenv"
)

// A receiver that is down (a closed port) or black-holed (accepts, never
// answers) holds up neither the caller of Notify nor the other webhooks:
// its own queue fills, drops its oldest events and counts them.
func TestReceiverDownOrBlackHoledHoldsNothingUp(t *testing.T) {
	good := newReceiver(t, nil)
	hole := testenv.FaultProxy(t, strings.TrimPrefix(good.srv.URL, "http://"))
	if err := hole.BlackHole(); err != nil {
		t.Fatal(err)
	}
	cfg := func(url string) Config { return Config{URL: url, Events: []Kind{RolledBack}, MaxPerMinute: 1000} }
	n, err := New([]Config{cfg(closedURL(t)), cfg("http://" + hole.Addr() + "/hook"), cfg(good.url())},
		Options{Node: "n", Region: "r", QueueSize: 10, Timeout: time.Minute, RetryWaitMin: 10 * time.Millisecond, FlushTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// The first event is under way to the black hole: its sender waits
	// out a minute's timeout. Meanwhile the caller queues 500 more and the
	// last one: the good receiver gets it.
	n.Notify(Event{Kind: RolledBack, Revision: rev, Stack: "first"})
	waitStats(t, n, 1, "a connection to the black hole", func(Stats) bool { return hole.Connections() > 0 })
	for range 500 {
		n.Notify(Event{Kind: RolledBack, Revision: rev, Stack: "s"})
	}
	n.Notify(Event{Kind: RolledBack, Revision: rev, Stack: "last"})
	for last := false; !last; {
		for _, e := range good.payload().Events {
			last = e.Stack == "last"
		}
	}
	if s := n.Stats()[1]; s.Dropped != 491 || s.Queued != 10 || s.Sent != 0 {
		t.Errorf("black hole: %+v; want 491 dropped (501 queued behind the one in flight, 10 kept)", s)
	}
	waitStats(t, n, 0, "the closed port's queue to settle", func(s Stats) bool { return s.Failing && s.Dropped == 492 && s.Sent == 0 })
	if s := waitStats(t, n, 2, "the good receiver", func(s Stats) bool { return s.Queued == 0 }); s.Delivered+s.Dropped != 502 {
		t.Errorf("good receiver: %+v; want every event delivered or counted as dropped", s)
	}
	closed := make(chan struct{})
	go func() {
		n.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for the black-holed send")
	}
}

// A message whose send fails is tried again later, with the events queued
// meanwhile: nothing is lost, and the count of drops reaches the receiver.
func TestFailedMessageIsRequeued(t *testing.T) {
	r := newReceiver(t, func(n int) int {
		if n < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	n := testNotifier(t, nil, Config{URL: r.url(), Events: []Kind{RolledBack, Failed}})
	n.Notify(Event{Kind: RolledBack, Revision: rev, Stack: "a"})
	waitStats(t, n, 0, "the first send to fail", func(s Stats) bool { return s.Failing })
	n.Notify(Event{Kind: Failed, Revision: rev, Stack: "b"})
	var kinds []Kind
	for len(kinds) < 2 {
		for _, e := range r.payload().Events {
			kinds = append(kinds, e.Event)
		}
	}
	if len(kinds) != 2 || kinds[0] != RolledBack || kinds[1] != Failed {
		t.Errorf("delivered %v, want rolled-back then failed", kinds)
	}
	waitStats(t, n, 0, "the webhook to recover", func(s Stats) bool { return !s.Failing && s.Delivered == 2 })
}

// A receiver that refuses a message (404: a wrong URL, 400: a wrong format)
// will never take it: it is dropped and counted, and the next goes on.
func TestRejectedMessageIsDropped(t *testing.T) {
	r := newReceiver(t, func(n int) int {
		if n == 0 {
			return http.StatusNotFound
		}
		return http.StatusOK
	})
	n := testNotifier(t, nil, Config{URL: r.url(), Events: []Kind{RolledBack}})
	n.Notify(Event{Kind: RolledBack, Revision: rev, Stack: "a"})
	waitStats(t, n, 0, "the message to be rejected", func(s Stats) bool { return s.Rejected == 1 })
	n.Notify(Event{Kind: RolledBack, Revision: rev, Stack: "b"})
	if p := r.payload(); len(p.Events) != 1 || p.Events[0].Stack != "b" {
		t.Errorf("after a rejection: %+v", p.Events)
	}
}

func TestNewRefusesBadWebhooks(t *testing.T) {
	_, err := New([]Config{{URL: "ftp://x/y", Name: "notify[0]"}, {URL: "https://ok.example.net", Format: "xml", Name: "notify[1]"}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "notify[0]: ftp://x/…: scheme must be http or https") ||
		!strings.Contains(err.Error(), `notify[1]: unknown format "xml"`) {
		t.Errorf("New: %v", err)
	}
}

func TestNilAndEmptyNotifier(t *testing.T) {
	var n *Notifier
	n.Notify(Event{Kind: Applied})
	n.Close()
	e, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Notify(Event{Kind: Applied})
	e.Close()
}

// Once closed (the agent stops or reloads), events are neither queued nor
// timed.
func TestNotifyAfterClose(t *testing.T) {
	r := newReceiver(t, nil)
	n := testNotifier(t, nil, Config{URL: r.url(), Events: Kinds, PendingAfter: time.Millisecond})
	n.Close()
	n.Notify(Event{Kind: Pending, Revision: rev, Since: time.Now()})
	n.Notify(Event{Kind: Applied, Revision: rev})
	time.Sleep(50 * time.Millisecond)
	r.none()
	if s := n.Stats()[0]; s.Queued != 0 {
		t.Errorf("queued after Close: %+v", s)
	}
}
