package webhook

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

const rev = "0123456789abcdef0123456789abcdef01234567"

// Each event a webhook subscribes to is one message with the documented
// JSON, field for field.
func TestEachEventIsOneMessageOfTheDocumentedJSON(t *testing.T) {
	r := newReceiver(t, nil)
	all := append([]Kind(nil), Kinds...)
	n := testNotifier(t, nil, Config{URL: r.url(), Name: "notify[0]", Events: all, MaxPerMinute: 100})
	tests := []struct {
		event Event
		want  PayloadEvent
	}{
		{Event{Kind: Applied, Time: t0, Revision: rev, Outcome: "applied"},
			PayloadEvent{Event: Applied, Time: t0, Summary: "revision 0123456 applied", Revision: rev, Outcome: "applied"}},
		{Event{Kind: RolledBack, Time: t0, Revision: rev, Stack: "shop", Error: "web-1: unhealthy"},
			PayloadEvent{Event: RolledBack, Time: t0, Revision: rev, Stack: "shop", Error: "web-1: unhealthy",
				Summary: "stack shop rolled back to its last good spec: its update to 0123456 failed: web-1: unhealthy"}},
		{Event{Kind: Failed, Time: t0, Revision: rev, Stack: "shop", Error: "web-1: unhealthy; restore: no such image"},
			PayloadEvent{Event: Failed, Time: t0, Revision: rev, Stack: "shop", Error: "web-1: unhealthy; restore: no such image",
				Summary: "stack shop failed at 0123456 and its last good spec could not be restored: web-1: unhealthy; restore: no such image"}},
		{Event{Kind: Refused, Time: t0, Revision: rev, Stack: "db", Error: "volume data changed"},
			PayloadEvent{Event: Refused, Time: t0, Revision: rev, Stack: "db", Error: "volume data changed",
				Summary: "stack db refused at 0123456: it keeps its last good spec: volume data changed"}},
		{Event{Kind: Refused, Time: t0, Revision: rev, Error: "no stacks/ directory"},
			PayloadEvent{Event: Refused, Time: t0, Revision: rev, Error: "no stacks/ directory",
				Summary: "revision 0123456 refused: the node keeps what it runs: no stacks/ directory"}},
	}
	for _, tt := range tests {
		n.Notify(tt.event)
		got := r.payload()
		want := Payload{Version: 1, Node: "edge-07", Region: "eu-west", Events: []PayloadEvent{tt.want}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: payload (-want +got):\n%s", tt.event.Kind, diff)
		}
	}
	r.none()
	waitStats(t, n, 0, "every message counted", func(s Stats) bool { return s.Sent == len(tests) && s.Delivered == len(tests) && s.Dropped == 0 })
}

// The payload's JSON keys are the documented ones: a renamed field would
// break receivers.
func TestPayloadKeys(t *testing.T) {
	since := t0.Add(-time.Hour)
	p := payload("n", "r", []Event{{Kind: Pending, Time: t0, Revision: rev, Since: since, Error: "x",
		Images: []Image{{Image: "reg/a:1", Registries: []string{"reg"}, Error: "manifest unknown"}}}}, 2, t0)
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"node":"n","region":"r","events":[{"event":"pending","time":"2026-12-01T10:00:00Z",` +
		`"summary":"revision 0123456 pending for 1h0m0s: waits for reg/a:1","revision":"` + rev + `","error":"x",` +
		`"since":"2026-12-01T09:00:00Z","images":[{"image":"reg/a:1","registries":["reg"],"error":"manifest unknown"}]}],"dropped":2}`
	if string(data) != want {
		t.Errorf("payload JSON:\n got %s\nwant %s", data, want)
	}
}

// Events a webhook does not subscribe to are never sent; conditions it
// does not subscribe to are never timed.
func TestSuppressedEventsAreNotSent(t *testing.T) {
	r := newReceiver(t, nil)
	n := testNotifier(t, nil, Config{URL: r.url(), Events: []Kind{RolledBack}, PendingAfter: time.Millisecond, OfflineAfter: time.Millisecond})
	n.Notify(Event{Kind: Applied, Revision: rev})
	n.Notify(Event{Kind: Refused, Revision: rev, Error: "unsigned"})
	n.Notify(Event{Kind: Failed, Revision: rev, Stack: "a"})
	n.Notify(Event{Kind: Pending, Revision: rev, Since: time.Now().Add(-time.Hour)})
	n.Notify(Event{Kind: Offline, Since: time.Now().Add(-time.Hour), Error: "connection refused"})
	n.Notify(Event{Kind: Offline, Cleared: true, Since: time.Now().Add(-time.Hour)})
	time.Sleep(50 * time.Millisecond) // the conditions' delays pass
	n.Notify(Event{Kind: RolledBack, Revision: rev, Stack: "shop"})
	p := r.payload()
	if len(p.Events) != 1 || p.Events[0].Event != RolledBack {
		t.Errorf("first message: %+v, want the rolled-back event alone", p.Events)
	}
	r.none()
}

func TestDefaultEventsLeaveOutApplied(t *testing.T) {
	r := newReceiver(t, nil)
	n := testNotifier(t, nil, Config{URL: r.url()})
	n.Notify(Event{Kind: Applied, Revision: rev})
	n.Notify(Event{Kind: Refused, Revision: rev})
	if p := r.payload(); p.Events[0].Event != Refused {
		t.Errorf("first message: %+v, want refused (applied is not a default)", p.Events)
	}
	r.none()
}

// A pending revision is told once, after pending_after, with the images it
// waits for as last reported; one that settles sooner is never told.
func TestPendingIsToldOnceItLasted(t *testing.T) {
	r := newReceiver(t, nil)
	n := testNotifier(t, nil, Config{URL: r.url(), Events: []Kind{Pending, Refused}, PendingAfter: 200 * time.Millisecond})
	since := time.Now()
	n.Notify(Event{Kind: Pending, Revision: rev, Since: since, Error: "stack shop is being updated"})
	img := Image{Image: "reg.example.net/shop/api:1.5", Registries: []string{"reg-eu:5000", "reg.example.net"}, Error: "manifest unknown"}
	n.Notify(Event{Kind: Pending, Revision: rev, Since: since.Add(time.Second), Images: []Image{img}})
	p := r.payload()
	e := p.Events[0]
	if len(p.Events) != 1 || e.Event != Pending || e.Revision != rev || e.Since == nil || !e.Since.Equal(since.UTC()) ||
		!cmp.Equal(e.Images, []Image{img}) || !strings.Contains(e.Summary, "waits for reg.example.net/shop/api:1.5") {
		t.Errorf("pending message: %+v", p.Events)
	}
	n.Notify(Event{Kind: Pending, Revision: rev, Since: since, Images: []Image{img}}) // still pending: told already
	n.Notify(Event{Kind: Pending, Cleared: true})
	other := strings.Repeat("f", 40)
	n.Notify(Event{Kind: Pending, Revision: other, Since: time.Now()}) // settles in time
	n.Notify(Event{Kind: Pending, Cleared: true})
	time.Sleep(300 * time.Millisecond)
	n.Notify(Event{Kind: Refused, Revision: other})
	if p := r.payload(); p.Events[0].Event != Refused {
		t.Errorf("after the pending message: %+v, want only the refused", p.Events)
	}
	r.none()
}

// Git unreachable longer than offline_after is told once, and its end too;
// a shorter outage is not told at all.
func TestOfflineThenOnline(t *testing.T) {
	r := newReceiver(t, nil)
	n := testNotifier(t, nil, Config{URL: r.url(), Events: []Kind{Offline, Refused}, OfflineAfter: 150 * time.Millisecond})
	n.Notify(Event{Kind: Offline, Since: time.Now(), Error: "ls-remote: connection refused"})
	n.Notify(Event{Kind: Offline, Since: time.Now(), Error: "ls-remote: i/o timeout"}) // the same outage
	off := r.payload().Events[0]
	if off.Event != Offline || off.Error != "ls-remote: i/o timeout" || !strings.HasPrefix(off.Summary, "Git source unreachable for ") {
		t.Errorf("offline message: %+v", off)
	}
	n.Notify(Event{Kind: Offline, Cleared: true, Since: off.Since.Local()})
	on := r.payload().Events[0]
	if on.Event != Online || on.Since == nil || !on.Since.Equal(*off.Since) || !strings.HasPrefix(on.Summary, "Git source reachable again after ") {
		t.Errorf("online message: %+v", on)
	}
	n.Notify(Event{Kind: Offline, Since: time.Now()})
	n.Notify(Event{Kind: Offline, Cleared: true, Since: time.Now()})
	time.Sleep(250 * time.Millisecond)
	n.Notify(Event{Kind: Refused, Revision: rev})
	if p := r.payload(); p.Events[0].Event != Refused {
		t.Errorf("a short outage was told: %+v", p.Events)
	}
	r.none()
}

// Beyond the rate limit, events are coalesced into the next message: a
// flapping node sends few messages, and loses nothing.
func TestRateLimitCoalesces(t *testing.T) {
	r := newReceiver(t, nil)
	o := Config{URL: r.url(), Events: []Kind{RolledBack}, MaxPerMinute: 2}
	n, err := New([]Config{o}, Options{Node: "n", Region: "r", RateWindow: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for i := range 10 {
		n.Notify(Event{Kind: RolledBack, Revision: rev, Stack: "s" + string(rune('0'+i))})
	}
	var stacks []string
	var sizes []int
	for len(stacks) < 10 {
		p := r.payload()
		sizes = append(sizes, len(p.Events))
		for _, e := range p.Events {
			stacks = append(stacks, e.Stack)
		}
	}
	if !cmp.Equal(sizes, []int{1, 1, 8}) {
		t.Errorf("message sizes %v, want [1 1 8]: two at once, the rest coalesced", sizes)
	}
	if want := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"}; !cmp.Equal(stacks, want) {
		t.Errorf("events in order %v, want %v", stacks, want)
	}
}

func TestSlackAndNtfyFormats(t *testing.T) {
	slack, ntfy := newReceiver(t, nil), newReceiver(t, nil)
	n := testNotifier(t, nil,
		Config{URL: slack.url(), Format: Slack, Events: []Kind{RolledBack}},
		Config{URL: ntfy.url(), Format: Ntfy, Events: []Kind{RolledBack}})
	n.Notify(Event{Kind: RolledBack, Revision: rev, Stack: "shop", Error: "web-1: unhealthy"})
	var body map[string]string
	m := slack.next()
	if err := json.Unmarshal(m.body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"text": "skiff edge-07 (eu-west): stack shop rolled back to its last good spec: its update to 0123456 failed: web-1: unhealthy"}
	if diff := cmp.Diff(want, body); diff != "" || m.header.Get("Content-Type") != "application/json" {
		t.Errorf("slack body (-want +got):\n%s%s", diff, m.header)
	}
	m = ntfy.next()
	if got := string(m.body); got != "stack shop rolled back to its last good spec: its update to 0123456 failed: web-1: unhealthy\n" {
		t.Errorf("ntfy body %q", got)
	}
	for k, v := range map[string]string{"Title": "skiff edge-07: shop rolled-back", "Priority": "high", "Tags": "rewind,skiff"} {
		if got := m.header.Get(k); got != v {
			t.Errorf("ntfy %s = %q, want %q", k, got, v)
		}
	}
}

func TestCoalescedSlackAndNtfy(t *testing.T) {
	p := payload("n", "r", []Event{{Kind: Applied, Revision: rev}, {Kind: Failed, Revision: rev, Stack: "a"}}, 3, t0)
	if got := slackText(p); got != "skiff n (r), 2 events:\n• revision 0123456 applied\n• stack a failed at 0123456 and its last good spec could not be restored\n• (3 older events were dropped: the queue was full)" {
		t.Errorf("slack text %q", got)
	}
	if ntfyTitle(p) != "skiff n: 2 events" || ntfyPriority(p.Events) != "high" || ntfyTags(p.Events) != "white_check_mark,x,skiff" {
		t.Errorf("ntfy headers %q %q %q", ntfyTitle(p), ntfyPriority(p.Events), ntfyTags(p.Events))
	}
}

// The URL's credentials and token appear in no log line and in no error;
// a password in an event's error is redacted in the payload.
func TestCredentialsStayOut(t *testing.T) {
	var log bytes.Buffer
	down := strings.Replace(closedURL(t), "http://", "http://bot:pa55word@", 1) + "/T000/B000/XXXXsecret?token=qtoken"
	r := newReceiver(t, nil)
	n := testNotifier(t, &log, Config{URL: down, Name: "notify[0]", Events: []Kind{Refused}}, Config{URL: r.url(), Name: "notify[1]", Events: []Kind{Refused}})
	n.Notify(Event{Kind: Refused, Revision: rev, Error: "fetch https://git:gitpass@git.example.net/fleet.git: 401"})
	p := r.payload()
	if e := p.Events[0]; strings.Contains(e.Error+e.Summary, "gitpass") || !strings.Contains(e.Error, "git:redacted@") {
		t.Errorf("payload error not redacted: %+v", e)
	}
	waitStats(t, n, 0, "the closed port to fail", func(s Stats) bool { return s.Failing })
	n.Close()
	out := log.String()
	for _, secret := range []string{"pa55word", "XXXXsecret", "qtoken", "T000", "bot"} {
		if strings.Contains(out, secret) {
			t.Errorf("log carries %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "webhook unreachable") || !strings.Contains(out, "endpoint=http://127.0.0.1:") {
		t.Errorf("log does not say which webhook fails:\n%s", out)
	}
}

func TestCheckURL(t *testing.T) {
	for _, tt := range []struct {
		url    string
		inline bool
		err    string
	}{
		{"https://hooks.slack.com/services/T0/B0/x", true, ""},
		{"http://127.0.0.1:8080/hook", true, ""},
		{"https://bot:secret@ntfy.example.net/alerts", true, "https://ntfy.example.net/… carries credentials: put the whole URL in a url_file"},
		{"https://bot@ntfy.example.net/alerts", true, "carries credentials"},
		{"https://bot:secret@ntfy.example.net/alerts", false, ""},
		{"ftp://example.net/x", true, "ftp://example.net/…: scheme must be http or https"},
		{"https:///path", true, "(invalid URL) has no host"},
		{"::", true, "is not a valid URL"},
	} {
		err := CheckURL(tt.url, tt.inline)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("CheckURL(%q): %v", tt.url, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("CheckURL(%q) = %v, want %q", tt.url, err, tt.err)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("CheckURL(%q) error quotes the secret: %v", tt.url, err)
		}
	}
}
