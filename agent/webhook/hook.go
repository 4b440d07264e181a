package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/skiffops/skiff/internal/redact"
)

// maxBatch bounds the events of one message.
const maxBatch = 50

// hook is one webhook: its queue, its conditions and its sender.
type hook struct {
	cfg      Config
	url      string
	endpoint string // what logs and errors show of url
	opts     *Options
	log      *slog.Logger
	client   *retryablehttp.Client
	bucket   *bucket       // the sender's only
	wake     chan struct{} // 1-buffered: events queued, or closing

	mu       sync.Mutex // guards the fields below
	queue    []Event
	dropped  int  // events dropped since the last message delivered
	batch    bool // the next message takes every queued event (after a failure)
	closed   bool
	failing  bool
	dropping bool // a full queue was logged; cleared by a delivery
	pending  condition
	offline  condition
	counts   Stats
}

// condition is a Pending or Offline report, told once it lasted long enough.
type condition struct {
	active bool
	event  Event // the latest report; Since is the first's
	timer  *time.Timer
	gen    int // of timer, so that a stale one does nothing
	told   bool
}

func newHook(c Config, o *Options) (*hook, error) {
	if err := CheckURL(c.URL, false); err != nil {
		return nil, err
	}
	f, err := ParseFormat(string(c.Format))
	if err != nil {
		return nil, err
	}
	c.Format = f
	setDefault(&c.PendingAfter, DefaultPendingAfter)
	setDefault(&c.OfflineAfter, DefaultOfflineAfter)
	setDefault(&c.MaxPerMinute, DefaultMaxPerMinute)
	h := &hook{
		cfg: c, url: c.URL, endpoint: redact.Endpoint(c.URL), opts: o,
		client: newClient(o), bucket: newBucket(c.MaxPerMinute, o.RateWindow, o.Now()),
		wake: make(chan struct{}, 1),
	}
	h.log = o.Logger.With("component", "webhook", "webhook", c.Name, "endpoint", h.endpoint)
	h.counts = Stats{Name: c.Name, Endpoint: h.endpoint}
	return h, nil
}

// handle takes an event the agent reports.
func (h *hook) handle(e Event) {
	if !subscribed(h.cfg.Events, e.Kind) {
		return
	}
	if e.Time.IsZero() {
		e.Time = h.opts.Now()
	}
	switch e.Kind {
	case Pending:
		h.condition(&h.pending, e, h.cfg.PendingAfter)
	case Offline:
		h.condition(&h.offline, e, h.cfg.OfflineAfter)
	default:
		h.push(e)
	}
}

// condition records a report of c: a new one (or pending for another
// revision) is told after its delay from Since; a change updates what will
// be told; Cleared ends it, and an offline that was told is followed by
// Online.
func (h *hook) condition(c *condition, e Event, after time.Duration) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	if e.Cleared {
		told := c.active && c.told
		c.stop()
		h.mu.Unlock()
		if told && e.Kind == Offline {
			h.push(Event{Kind: Online, Time: e.Time, Since: e.Since})
		}
		return
	}
	if c.active && c.event.Revision == e.Revision {
		e.Since = c.event.Since
		c.event = e
		h.mu.Unlock()
		return
	}
	c.stop()
	if e.Since.IsZero() {
		e.Since = e.Time
	}
	c.active, c.event = true, e
	gen := c.gen
	c.timer = time.AfterFunc(max(0, e.Since.Add(after).Sub(h.opts.Now())), func() { h.fire(c, gen) })
	h.mu.Unlock()
}

// stop ends a condition; the caller holds h.mu.
func (c *condition) stop() {
	if c.timer != nil {
		c.timer.Stop()
	}
	*c = condition{gen: c.gen + 1}
}

// fire tells a condition that lasted its delay.
func (h *hook) fire(c *condition, gen int) {
	h.mu.Lock()
	if !c.active || c.told || c.gen != gen || h.closed {
		h.mu.Unlock()
		return
	}
	c.told = true
	e := c.event
	h.mu.Unlock()
	h.push(e)
}

// push queues an event, dropping the oldest when the queue is full.
func (h *hook) push(e Event) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	if len(h.queue) >= h.opts.QueueSize {
		h.queue = h.queue[1:]
		h.dropped++
		h.counts.Dropped++
		if !h.dropping {
			h.dropping = true
			h.log.Warn("webhook queue full: dropping the oldest events until the receiver takes them", "queue", h.opts.QueueSize)
		}
	}
	h.queue = append(h.queue, e)
	h.mu.Unlock()
	poke(h.wake)
}

func (h *hook) close() {
	h.mu.Lock()
	h.closed = true
	h.pending.stop()
	h.offline.stop()
	h.mu.Unlock()
	poke(h.wake)
}

func poke(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run sends the queue's events until ctx ends, or until it is empty once
// the hook is closed.
func (h *hook) run(ctx context.Context) {
	wait := h.opts.RetryWaitMin
	for {
		events, dropped, ok := h.next(ctx)
		if !ok {
			return
		}
		err := h.send(ctx, events, dropped)
		var rej rejected
		switch {
		case err == nil:
			h.delivered(len(events), dropped)
			wait = h.opts.RetryWaitMin
			continue
		case errors.As(err, &rej):
			h.reject(len(events), dropped, err)
			continue
		case ctx.Err() != nil:
			return
		}
		h.requeue(events, err)
		if !sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, h.opts.RequeueMax)
	}
}

// next waits for events and for the rate limit, and takes a message's
// worth: one event while the limit allows at once, else (or after a
// failure) every queued event, up to maxBatch.
func (h *hook) next(ctx context.Context) (events []Event, dropped int, ok bool) {
	for {
		h.mu.Lock()
		n, closed := len(h.queue), h.closed
		h.mu.Unlock()
		if n > 0 {
			break
		}
		if closed {
			return nil, 0, false
		}
		select {
		case <-ctx.Done():
			return nil, 0, false
		case <-h.wake:
		}
	}
	prompt := true
	for !h.bucket.take(h.opts.Now()) {
		prompt = false
		if !sleep(ctx, h.bucket.wait(h.opts.Now())) {
			return nil, 0, false
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	take := 1
	if !prompt || h.batch {
		take = min(len(h.queue), maxBatch)
	}
	events = append([]Event(nil), h.queue[:take]...)
	h.queue = h.queue[take:]
	h.batch = false
	return events, h.dropped, true
}

// rejected is a message the receiver refused: sending it again is no use.
type rejected struct{ status int }

func (r rejected) Error() string {
	return fmt.Sprintf("the receiver refused the message: status %d", r.status)
}

// send POSTs one message, with retries.
func (h *hook) send(ctx context.Context, events []Event, dropped int) error {
	msg, err := render(h.cfg.Format, payload(h.opts.Node, h.opts.Region, events, dropped, h.opts.Now()))
	if err != nil {
		return fmt.Errorf("render message: %w", err)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, h.url, msg.body)
	if err != nil {
		return h.scrub(err)
	}
	req.Header = msg.header
	req.Header.Set("User-Agent", "skiff")
	resp, err := h.client.Do(req)
	if err != nil {
		return h.scrub(err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return rejected{resp.StatusCode}
	}
	return fmt.Errorf("status %d", resp.StatusCode)
}

// scrub keeps the URL out of a transport error: the *url.Error around it
// quotes it whole (path and query hold tokens), and so may what is inside.
func (h *hook) scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := strings.ReplaceAll(err.Error(), h.url, h.endpoint)
	if u, perr := url.Parse(h.url); perr == nil {
		if u.RawQuery != "" {
			msg = strings.ReplaceAll(msg, u.RawQuery, "…")
		}
		if len(u.Path) > 1 {
			msg = strings.ReplaceAll(msg, u.Path, "/…")
		}
	}
	return errors.New(redact.Text(msg))
}

func (h *hook) delivered(events, dropped int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts.Sent++
	h.counts.Delivered += events
	h.dropped -= dropped
	h.dropping = false
	if h.failing {
		h.failing = false
		h.log.Info("webhook takes messages again")
	}
}

func (h *hook) reject(events, dropped int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts.Rejected += events
	h.dropped -= dropped
	h.log.Error("webhook refused a message; it is dropped (check the URL and the format)", "events", events, "error", err)
}

// requeue puts the events of a message that could not be delivered back at
// the head of the queue, within its bound: the next message takes them
// with whatever queued meanwhile.
func (h *hook) requeue(events []Event, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	q := append(events, h.queue...)
	if over := len(q) - h.opts.QueueSize; over > 0 {
		q = q[over:]
		h.dropped += over
		h.counts.Dropped += over
	}
	h.queue, h.batch = q, true
	if !h.failing {
		h.failing = true
		h.log.Warn("webhook unreachable; its events are queued and retried", "error", err)
	}
}

func (h *hook) stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.counts
	s.Queued, s.Failing = len(h.queue), h.failing
	return s
}

// sleep waits d or until ctx ends, and reports whether ctx is alive.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
