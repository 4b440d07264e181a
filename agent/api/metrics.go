package api

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsHandler serves Prometheus metrics derived from the provider's
// status at each scrape, so they can never disagree with `skiff status`.
func MetricsHandler(p Provider) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		statusCollector{p: p},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// NewMetricsServer returns the HTTP server of api.metrics_listen.
func NewMetricsServer(addr string, p Provider) *http.Server {
	return &http.Server{Addr: addr, Handler: MetricsHandler(p), ReadHeaderTimeout: 5 * time.Second}
}

var (
	descInfo = prometheus.NewDesc("skiff_info", "The agent: node, region and version.",
		[]string{"node", "region", "version"}, nil)
	descRevision = prometheus.NewDesc("skiff_revision_info", "The wanted (branch head) and applied revisions.",
		[]string{"kind", "commit"}, nil)
	descPending       = prometheus.NewDesc("skiff_pending", "1 while the wanted revision waits to be applied.", nil, nil)
	descSourceUp      = prometheus.NewDesc("skiff_source_up", "1 when the last poll of the Git source succeeded.", nil, nil)
	descSourceSuccess = prometheus.NewDesc("skiff_source_last_success_timestamp_seconds",
		"Time of the last successful poll.", nil, nil)
	descDockerUp       = prometheus.NewDesc("skiff_docker_up", "1 while the Docker engine answers.", nil, nil)
	descStoreRecovered = prometheus.NewDesc("skiff_store_recovered",
		"1 when the state database was unusable at boot and was rebuilt.", nil, nil)
	descStacks     = prometheus.NewDesc("skiff_stacks", "Stacks on the node by outcome.", []string{"outcome"}, nil)
	descContainers = prometheus.NewDesc("skiff_containers", "Containers by stack, service and state.",
		[]string{"stack", "service", "state"}, nil)
	descUnusedVolumes = prometheus.NewDesc("skiff_unused_volumes", "Volumes no stack uses any more.", nil, nil)
	descCounters      = map[string]*prometheus.Desc{
		"polls":              prometheus.NewDesc("skiff_polls_total", "Polls of the Git source.", nil, nil),
		"poll_failures":      prometheus.NewDesc("skiff_poll_failures_total", "Failed polls.", nil, nil),
		"fetches":            prometheus.NewDesc("skiff_fetches_total", "Fetches of a new head.", nil, nil),
		"reconciles":         prometheus.NewDesc("skiff_reconciles_total", "Reconciles that changed something.", nil, nil),
		"reconcile_failures": prometheus.NewDesc("skiff_reconcile_failures_total", "Reconciles with a stack not applied.", nil, nil),
		"repairs":            prometheus.NewDesc("skiff_repairs_total", "Actions taken to heal drift between revisions.", nil, nil),
	}
)

type statusCollector struct{ p Provider }

func (c statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo, descRevision, descPending, descSourceUp, descSourceSuccess,
		descDockerUp, descStoreRecovered, descStacks, descContainers, descUnusedVolumes} {
		ch <- d
	}
	for _, d := range descCounters {
		ch <- d
	}
}

func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Status(context.Background())
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descInfo, 1, s.Node, s.Region, s.Version)
	gauge(descRevision, 1, "wanted", s.WantedRevision)
	gauge(descRevision, 1, "applied", s.AppliedRevision)
	gauge(descPending, boolValue(s.Pending != nil))
	gauge(descSourceUp, boolValue(s.Source.OfflineSince == nil && s.Source.LastError == ""))
	if !s.Source.LastSuccess.IsZero() {
		gauge(descSourceSuccess, float64(s.Source.LastSuccess.UnixNano())/1e9)
	}
	gauge(descDockerUp, boolValue(s.Docker.Connected))
	gauge(descStoreRecovered, boolValue(s.Store.Recovered))
	gauge(descUnusedVolumes, float64(len(s.UnusedVolumes)))
	outcomes := map[string]int{}
	for _, st := range s.Stacks {
		outcomes[st.Outcome]++
		for _, svc := range st.Services {
			states := map[string]int{}
			for _, ctr := range svc.Containers {
				states[ctr.State]++
			}
			for state, n := range states {
				gauge(descContainers, float64(n), st.Name, svc.Name, state)
			}
		}
	}
	for outcome, n := range outcomes {
		gauge(descStacks, float64(n), outcome)
	}
	counter := func(name string, v uint64) {
		ch <- prometheus.MustNewConstMetric(descCounters[name], prometheus.CounterValue, float64(v))
	}
	counter("polls", s.Counters.Polls)
	counter("poll_failures", s.Counters.PollFailures)
	counter("fetches", s.Counters.Fetches)
	counter("reconciles", s.Counters.Reconciles)
	counter("reconcile_failures", s.Counters.ReconcileFails)
	counter("repairs", s.Counters.Repairs)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
