package prefetch

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Measurement is the latest latency measurement of one registry host, as
// the agent's store keeps it.
type Measurement struct {
	Median     time.Duration // of the samples' GET /v2/ times
	Samples    int
	MeasuredAt time.Time
	LastError  string // why the last probe or pull failed; "" when alive
}

// Alive reports whether the registry answered its last probe and has not
// failed a pull since.
func (m Measurement) Alive() bool { return m.LastError == "" && m.Samples > 0 }

// MeasurementCache keeps measurements across restarts (the agent adapts its
// store to it).
type MeasurementCache interface {
	Registries() (map[string]Measurement, error)
	PutRegistry(host string, m Measurement) error
}

// ranked is one candidate registry with its measurement.
type ranked struct {
	Host string
	Measurement
}

// ranker measures registries and orders them nearest first.
type ranker struct {
	cache   MeasurementCache // nil: memory only
	probe   func(ctx context.Context, host string) (time.Duration, error)
	samples int
	maxAge  time.Duration
	now     func() time.Time
	log     *slog.Logger

	// mu guards mem.
	mu  sync.Mutex
	mem map[string]Measurement // what was measured, should the cache fail
}

// rank returns hosts nearest first: the alive ones by median latency (ties
// keep the configured order), then the unreachable ones in configured
// order. Measurements that are missing, older than maxAge or failed are
// taken again, in parallel.
func (r *ranker) rank(ctx context.Context, hosts []string) []ranked {
	known := r.load()
	out := make([]ranked, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		m, ok := known[h]
		out[i] = ranked{Host: h, Measurement: m}
		// A measurement from the future (the wall clock was set back
		// since, or was wrong then) is as stale as an old one: without
		// this it would be trusted until the clock caught up.
		if age := r.now().Sub(m.MeasuredAt); ok && m.Alive() && age >= 0 && age < r.maxAge {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].Measurement = r.measure(ctx, h)
		}()
	}
	wg.Wait()
	slices.SortStableFunc(out, func(a, b ranked) int {
		if a.Alive() != b.Alive() {
			if a.Alive() {
				return -1
			}
			return 1
		}
		if !a.Alive() {
			return 0
		}
		return cmp.Compare(a.Median, b.Median)
	})
	return out
}

// measure takes up to r.samples samples, stops at the first failure, and
// records the result.
func (r *ranker) measure(ctx context.Context, host string) Measurement {
	var times []time.Duration
	m := Measurement{}
	for range r.samples {
		d, err := r.probe(ctx, host)
		if err != nil {
			m.LastError = err.Error()
			break
		}
		times = append(times, d)
	}
	m.MeasuredAt, m.Samples = r.now(), len(times)
	if len(times) > 0 {
		slices.Sort(times)
		m.Median = times[len(times)/2]
	}
	if m.LastError != "" {
		m.Samples = 0 // a registry that failed a sample is not ranked by it
	}
	r.store(host, m)
	return m
}

// failed records that a pull from host failed, so that the next ranking
// measures it again.
func (r *ranker) failed(host string, reason error) {
	m := r.load()[host]
	m.LastError = reason.Error()
	r.store(host, m)
}

func (r *ranker) load() map[string]Measurement {
	r.mu.Lock()
	out := make(map[string]Measurement, len(r.mem))
	for h, m := range r.mem {
		out[h] = m
	}
	r.mu.Unlock()
	if r.cache == nil {
		return out
	}
	cached, err := r.cache.Registries()
	if err != nil {
		r.log.Warn("read registry measurements", "error", err)
		return out
	}
	for h, m := range cached {
		if cur, ok := out[h]; !ok || m.MeasuredAt.After(cur.MeasuredAt) {
			out[h] = m
		}
	}
	return out
}

func (r *ranker) store(host string, m Measurement) {
	r.mu.Lock()
	r.mem[host] = m
	r.mu.Unlock()
	if r.cache == nil {
		return
	}
	if err := r.cache.PutRegistry(host, m); err != nil {
		r.log.Warn("store registry measurement", "registry", host, "error", err)
	}
}
