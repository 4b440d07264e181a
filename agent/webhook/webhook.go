package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/skiffops/skiff/internal/redact"
)

// Config is one webhook.
type Config struct {
	// URL is where messages are POSTed. It may carry credentials (userinfo,
	// a token in the path or query): it is never logged.
	URL string
	// Name says in logs which webhook it is ("notify[0]").
	Name   string
	Format Format // "" is JSON
	// Events are the kinds sent; nil: DefaultEvents.
	Events []Kind
	// PendingAfter and OfflineAfter are how long a condition lasts before
	// the webhook is told. Defaults 10m and 15m.
	PendingAfter time.Duration
	OfflineAfter time.Duration
	// MaxPerMinute bounds the messages sent per minute; the events beyond
	// are coalesced. Default 6.
	MaxPerMinute int
}

// Defaults of a webhook's settings.
const (
	DefaultPendingAfter = 10 * time.Minute
	DefaultOfflineAfter = 15 * time.Minute
	DefaultMaxPerMinute = 6
)

// Options are what the agent provides to every webhook.
type Options struct {
	Node, Region string
	Logger       *slog.Logger
	// QueueSize bounds each webhook's queue of events. Default 100.
	QueueSize int
	// Timeout bounds one attempt to send a message. Default 10s.
	Timeout time.Duration
	// RetryMax, RetryWaitMin and RetryWaitMax are the retries of one send
	// and their capped backoff. Defaults 3 (negative: none), 1s, 30s.
	RetryMax     int
	RetryWaitMin time.Duration
	RetryWaitMax time.Duration
	// RequeueMax caps the wait before a message whose send failed is tried
	// again. Default 5m.
	RequeueMax time.Duration
	// RateWindow is the minute of MaxPerMinute; tests shorten it.
	RateWindow time.Duration
	// FlushTimeout is how long Close waits for queued messages. Default 2s.
	FlushTimeout time.Duration
	Now          func() time.Time
}

func (o *Options) defaults() {
	setDefault(&o.QueueSize, 100)
	setDefault(&o.Timeout, 10*time.Second)
	setDefault(&o.RetryWaitMin, time.Second)
	setDefault(&o.RetryWaitMax, 30*time.Second)
	setDefault(&o.RequeueMax, 5*time.Minute)
	setDefault(&o.RateWindow, time.Minute)
	setDefault(&o.FlushTimeout, 2*time.Second)
	if o.RetryMax == 0 {
		o.RetryMax = 3
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// CheckURL checks a webhook URL: http or https, with a host. A URL written
// in the node configuration itself (inline) may not carry credentials in
// its userinfo: they belong in a url_file.
func CheckURL(raw string, inline bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s: scheme must be http or https", redact.Endpoint(raw))
	}
	if u.Host == "" {
		return fmt.Errorf("%s has no host", redact.Endpoint(raw))
	}
	if inline && u.User != nil {
		return fmt.Errorf("%s carries credentials: put the whole URL in a url_file", redact.Endpoint(raw))
	}
	return nil
}

// Notifier sends events to webhooks. Notify never blocks; Close stops it.
type Notifier struct {
	hooks  []*hook
	cancel context.CancelFunc
	wg     sync.WaitGroup
	flush  time.Duration
	once   sync.Once
}

// New starts a sender per webhook. An empty list gives a Notifier that
// sends nothing.
func New(cfgs []Config, o Options) (*Notifier, error) {
	o.defaults()
	n := &Notifier{flush: o.FlushTimeout}
	var errs []error
	for i, c := range cfgs {
		h, err := newHook(c, &o)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", orName(c.Name, i), err))
			continue
		}
		n.hooks = append(n.hooks, h)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	for _, h := range n.hooks {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			h.run(ctx)
		}()
	}
	return n, nil
}

func orName(name string, i int) string {
	if name != "" {
		return name
	}
	return fmt.Sprintf("webhook %d", i)
}

// Notify hands an event to every webhook that wants it, without waiting
// for any of them. It may be called under the caller's locks.
func (n *Notifier) Notify(e Event) {
	if n == nil {
		return
	}
	for _, h := range n.hooks {
		h.handle(e)
	}
}

// Close stops taking events, gives the senders FlushTimeout to deliver what
// is queued, then abandons the rest and waits for them to end.
func (n *Notifier) Close() {
	if n == nil {
		return
	}
	n.once.Do(func() {
		for _, h := range n.hooks {
			h.close()
		}
		done := make(chan struct{})
		go func() {
			n.wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(n.flush):
		}
		n.cancel()
		<-done
	})
}

// Stats are a webhook's counters.
type Stats struct {
	Name      string
	Endpoint  string // scheme and host of the URL
	Sent      int    // messages delivered
	Delivered int    // events in them
	Dropped   int    // events lost to a full queue
	Rejected  int    // events in messages the receiver refused (4xx)
	Queued    int
	Failing   bool // the last message could not be delivered
}

// Stats returns every webhook's counters, in configuration order.
func (n *Notifier) Stats() []Stats {
	if n == nil {
		return nil
	}
	out := make([]Stats, 0, len(n.hooks))
	for _, h := range n.hooks {
		out = append(out, h.stats())
	}
	return out
}

// newClient is the HTTP client of one webhook: each attempt bounded by
// Timeout, retried on connection errors, 429 and 5xx with backoff capped at
// RetryWaitMax (a Retry-After beyond it is capped too), and no logging of
// its own (it would print the URL).
func newClient(o *Options) *retryablehttp.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: tr, Timeout: o.Timeout},
		RetryWaitMin: o.RetryWaitMin,
		RetryWaitMax: o.RetryWaitMax,
		RetryMax:     max(o.RetryMax, 0),
		CheckRetry:   retryablehttp.DefaultRetryPolicy,
		Backoff: func(lo, hi time.Duration, n int, resp *http.Response) time.Duration {
			return min(retryablehttp.DefaultBackoff(lo, hi, n, resp), hi)
		},
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
}

// subscribed reports whether kinds (nil: the defaults) has k.
func subscribed(kinds []Kind, k Kind) bool {
	if kinds == nil {
		kinds = DefaultEvents
	}
	if k == Online {
		k = Offline
	}
	return slices.Contains(kinds, k)
}
