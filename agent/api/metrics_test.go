package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMetricsFollowStatus(t *testing.T) {
	offline := time.Now()
	p := &provider{status: Status{
		Node: "edge-07", Region: "eu-west", Version: "v1", AppliedRevision: "abc",
		Source: SourceStatus{OfflineSince: &offline, LastError: "connection refused"},
		Docker: DockerStatus{Connected: true},
		Stacks: []StackStatus{
			{Name: "shop", Outcome: "applied", Services: []ServiceStatus{{Name: "web", Containers: []ContainerStatus{
				{Name: "shop-web-1", State: "running"}, {Name: "shop-web-2", State: "running"}, {Name: "shop-web-3", State: "exited"}}}}},
			{Name: "blog", Outcome: "rolled-back"},
		},
		UnusedVolumes: []string{"old_data"},
		Counters:      Counters{Polls: 7, PollFailures: 3},
	}}
	srv := httptest.NewServer(MetricsHandler(p))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`skiff_info{node="edge-07",region="eu-west",version="v1"} 1`,
		`skiff_revision_info{commit="abc",kind="applied"} 1`,
		`skiff_source_up 0`,
		`skiff_docker_up 1`,
		`skiff_containers{service="web",stack="shop",state="running"} 2`,
		`skiff_containers{service="web",stack="shop",state="exited"} 1`,
		`skiff_stacks{outcome="rolled-back"} 1`,
		`skiff_unused_volumes 1`,
		`skiff_polls_total 7`,
		`skiff_poll_failures_total 3`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
