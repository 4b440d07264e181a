package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

func TestMeetAll(t *testing.T) {
	c := func(id, state, status string) container.Summary {
		return container.Summary{ID: id, Names: []string{"/app-" + id}, State: state, Status: status}
	}
	running, healthy, starting := c("r", "running", "Up 1 second"), c("h", "running", "Up 3 seconds (healthy)"), c("s", "running", "Up 1 second (health: starting)")
	exited0, exited3, created := c("e0", "exited", "Exited (0) 1 second ago"), c("e3", "exited", "Exited (3) 1 second ago"), c("c", "created", "Created")
	for _, tt := range []struct {
		condition string
		listed    []container.Summary
		ids       []string
		want      string // "" nil, "wait" errNotReady, else in the error
	}{
		{"service_started", []container.Summary{running, exited0}, []string{"r", "e0"}, ""},
		{"service_started", []container.Summary{running, created}, []string{"r", "c"}, "wait"},
		{"service_started", []container.Summary{running, exited3}, []string{"r", "e3"}, "app-e3 exited (3)"},
		{"service_started", []container.Summary{running}, []string{"r", "gone"}, "container gone is gone"},
		{"service_healthy", []container.Summary{healthy}, []string{"h"}, ""},
		{"service_healthy", []container.Summary{healthy, starting}, []string{"h", "s"}, "wait"},
		{"service_healthy", []container.Summary{running}, []string{"r"}, "no healthcheck"},
		{"service_healthy", []container.Summary{c("u", "running", "Up 9 seconds (unhealthy)")}, []string{"u"}, "app-u is unhealthy"},
		{"service_completed_successfully", []container.Summary{exited0}, []string{"e0"}, ""},
		{"service_completed_successfully", []container.Summary{running}, []string{"r"}, "wait"},
		{"service_completed_successfully", []container.Summary{exited0, exited3}, []string{"e0", "e3"}, "exited (3)"},
		// a failure wins over a replica still on its way
		{"service_started", []container.Summary{created, exited3}, []string{"c", "e3"}, "exited (3)"},
	} {
		err := meetAll(tt.listed, tt.ids, tt.condition)
		switch {
		case tt.want == "" && err != nil, tt.want == "wait" && !errors.Is(err, errNotReady),
			tt.want != "" && tt.want != "wait" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s on %v: err = %v, want %q", tt.condition, tt.ids, err, tt.want)
		}
	}
}

func TestKeptRunning(t *testing.T) {
	info := func(status string, exit, restarts int, restarting bool, policy container.RestartPolicyMode) container.InspectResponse {
		return container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{
			State:        &container.State{Status: status, ExitCode: exit, Restarting: restarting},
			RestartCount: restarts,
			HostConfig:   &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: policy}},
		}}
	}
	for _, tt := range []struct {
		name   string
		info   container.InspectResponse
		within bool
		want   string
	}{
		{"running within the grace", info("running", 0, 0, false, "always"), true, "wait"},
		{"ran for the grace", info("running", 0, 0, false, "always"), false, ""},
		{"job done", info("exited", 0, 0, false, "no"), true, ""},
		{"service exited 0", info("exited", 0, 0, false, "always"), true, "exited (0)"},
		{"crashed", info("exited", 2, 0, false, "no"), true, "exited (2)"},
		{"restarting", info("restarting", 1, 0, true, "always"), true, "restarted"},
		{"restarted", info("running", 1, 1, false, "always"), false, "restarted"},
	} {
		err := keptRunning(tt.info, 0, time.Second, tt.within)
		switch {
		case tt.want == "" && err != nil, tt.want == "wait" && !errors.Is(err, errNotReady),
			tt.want != "" && tt.want != "wait" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}
