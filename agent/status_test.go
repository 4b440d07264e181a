package agent

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/agent/ledger"
	"github.com/skiffops/skiff/agent/prefetch"
	"github.com/skiffops/skiff/manifests"
)

func TestWhy(t *testing.T) {
	tests := []struct {
		name string
		st   api.Status
		want string
	}{
		{"in step", api.Status{WantedRevision: "c1", AppliedRevision: "c1",
			Stacks: []api.StackStatus{{Name: "a", Outcome: "applied"}}}, ""},
		{"refused", api.Status{WantedRevision: "c2", Refused: &api.Refused{Revision: "c2", Reason: "no stacks/ directory"}},
			"revision c2 refused: no stacks/ directory"},
		{"an older refusal is not the reason", api.Status{WantedRevision: "c3", Refused: &api.Refused{Revision: "c2", Reason: "x"}}, ""},
		{"pending on an image", api.Status{Pending: &api.Pending{Revision: "c2", Stacks: []api.PendingStack{{Stack: "shop",
			Images: []api.PendingImage{{Image: "reg/shop:2", Registries: []string{"m", "o"}, Error: "o: manifest unknown"}}}}}},
			"stack shop waits for image reg/shop:2 (tried m, o): o: manifest unknown"},
		{"pending on a fetch", api.Status{Pending: &api.Pending{Revision: "c2", Reason: "fetch c2: unreachable"}},
			"revision c2 pending: fetch c2: unreachable"},
		{"kept its last good spec", api.Status{Stacks: []api.StackStatus{{Name: "shop", Revision: "c1", Outcome: "rolled-back", Error: "health gate"}}},
			"stack shop keeps its last good spec (c1): rolled-back: health gate"},
		{"a new stack that failed runs nothing", api.Status{Stacks: []api.StackStatus{{Name: "new", Outcome: "refused", Error: "volumes.x changed"}}},
			"stack new runs nothing: refused: volumes.x changed"},
		{"adopted", api.Status{Stacks: []api.StackStatus{{Name: "old", Outcome: "adopted", Error: "found on the node"}}},
			"stack old: found on the node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := why(tt.st); got != tt.want {
				t.Errorf("why = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPendingImageIsDefiniteOnlyWhenTheRegistriesSaidSo(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		definite bool
	}{
		{"origin has no such tag", &prefetch.ImageError{Ref: "r/a:1", Err: prefetch.ErrNotFound}, true},
		{"every registry denied", &prefetch.ImageError{Ref: "r/a:1", Attempts: []prefetch.Attempt{
			{Registry: "m", Err: prefetch.ErrUnauthorized}, {Registry: "o", Err: prefetch.ErrNotFound}}}, true},
		{"one did not answer", &prefetch.ImageError{Ref: "r/a:1", Attempts: []prefetch.Attempt{
			{Registry: "m", Err: prefetch.ErrUnreachable}, {Registry: "o", Err: prefetch.ErrNotFound}}}, false},
		{"not an image error", errors.New("engine down"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p := pendingImage("r/a:1", tt.err); p.Definite != tt.definite {
				t.Errorf("definite = %v, want %v (%+v)", p.Definite, tt.definite, p)
			}
		})
	}
}

func TestRetryDelaySlowsDownForDefiniteAnswers(t *testing.T) {
	r := retryState{b: backoff{jitter: 0}}
	transient := map[string][]api.PendingImage{"a": {{Image: "x"}}}
	definite := map[string][]api.PendingImage{"a": {{Image: "x", Definite: true}}}
	if d := retryDelay(&r, 30*time.Second, transient); d != time.Second {
		t.Errorf("first transient retry after %s, want 1s", d)
	}
	if d := retryDelay(&r, 30*time.Second, transient); d != 2*time.Second {
		t.Errorf("second transient retry after %s, want 2s", d)
	}
	if d := retryDelay(&r, 30*time.Second, definite); d != 30*time.Second {
		t.Errorf("first definite retry after %s, want the interval", d)
	}
	for range 10 {
		retryDelay(&r, 30*time.Second, definite)
	}
	if d := retryDelay(&r, 30*time.Second, definite); d != 10*time.Minute {
		t.Errorf("definite retries capped at %s, want 10m", d)
	}
	if d := retryDelay(&r, 30*time.Second, nil); d != time.Second {
		t.Errorf("a retry with nothing waiting on images after %s, want 1s", d)
	}
}

func TestDesiredOf(t *testing.T) {
	st := func(name string) manifests.Stack { return manifests.Stack{Name: name} }
	l := ledger.New()
	l.Restore(st("kept"), "c1", ledger.FailedSpec{})
	l.Restore(st("changed"), "c1", ledger.FailedSpec{})
	l.Restore(st("gone"), "c1", ledger.FailedSpec{})
	changed := st("changed")
	changed.Services = []manifests.Service{{Name: "web", Hash: "v1-new"}}
	l.Load("c2", []manifests.Stack{st("kept"), changed}, nil)
	l.Adopt([]string{"found"})
	d := desiredOf(l.Entries())
	var names []string
	for _, s := range d.Stacks {
		names = append(names, s.Name+"@"+d.Revisions[s.Name])
	}
	if diff := cmp.Diff([]string{"changed@c2", "kept@c1"}, names); diff != "" {
		t.Errorf("stacks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"gone"}, d.Remove); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	if strings.Contains(strings.Join(names, " "), "found") {
		t.Error("an adopted stack is planned")
	}
}
