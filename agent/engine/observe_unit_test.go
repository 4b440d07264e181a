package engine

import (
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/google/go-cmp/cmp"

	"github.com/skiffops/skiff/reconcile"
)

func TestObservedContainerNetworks(t *testing.T) {
	listed := []reconcile.Network{{ID: "n-front", Name: "app_front"}, {ID: "n-back", Name: "app_back"}}
	for _, tt := range []struct {
		name     string
		settings *container.NetworkSettingsSummary
		want     map[string]string
	}{
		{"no settings", nil, nil},
		{"no networks", &container.NetworkSettingsSummary{}, nil},
		{"started: the IDs as listed", &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{
			"app_front": {NetworkID: "n-old"}, "app_back": {NetworkID: "n-back"},
		}}, map[string]string{"app_front": "n-old", "app_back": "n-back"}},
		{"never started: resolved by name", &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{
			"app_front": {}, "gone": {}, "nil": nil,
		}}, map[string]string{"app_front": "n-front", "gone": ""}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cs := []reconcile.Container{observedContainer(container.Summary{ID: "c1", NetworkSettings: tt.settings})}
			resolveUnstarted(cs, listed)
			if diff := cmp.Diff(tt.want, cs[0].Networks); diff != "" {
				t.Errorf("Networks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	for _, tt := range []struct {
		status, health string
		exit           int
	}{
		{"Up 3 minutes (healthy)", "healthy", 0},
		{"Up 2 seconds (health: starting)", "starting", 0},
		{"Up 1 hour (unhealthy)", "unhealthy", 0},
		{"Exited (137) 5 seconds ago", "", 137},
		{"Exited (0) About a minute ago", "", 0},
		{"Created", "", 0},
	} {
		exit, health := parseStatus(tt.status)
		if exit != tt.exit || health != tt.health {
			t.Errorf("parseStatus(%q) = %d, %q; want %d, %q", tt.status, exit, health, tt.exit, tt.health)
		}
	}
}
