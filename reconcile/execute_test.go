package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skiffops/skiff/manifests"
)

// fakeEngine records the calls the executor makes, as "verb args" lines, and
// fails the calls named in fail.
type fakeEngine struct {
	calls []string
	fail  map[string]error
}

func (f *fakeEngine) call(format string, args ...any) error {
	c := fmt.Sprintf(format, args...)
	f.calls = append(f.calls, c)
	return f.fail[c]
}

func (f *fakeEngine) CreateNetwork(_ context.Context, s *manifests.Stack, key string) error {
	return f.call("create-network %s %s", s.Name, key)
}

func (f *fakeEngine) CreateVolume(_ context.Context, s *manifests.Stack, key string) error {
	return f.call("create-volume %s %s", s.Name, key)
}

func (f *fakeEngine) CreateContainer(_ context.Context, r CreateRequest) (string, error) {
	if r.Revision != "c0ffee" || r.Stack == nil {
		return "", fmt.Errorf("bad request %+v", r)
	}
	return "new-" + r.Name, f.call("create %s", r.Name)
}

func (f *fakeEngine) StartContainer(_ context.Context, id string) error {
	return f.call("start %s", id)
}

func (f *fakeEngine) StopContainer(_ context.Context, id string) error {
	return f.call("stop %s", id)
}

func (f *fakeEngine) RenameContainer(_ context.Context, id, name string) error {
	return f.call("rename %s %s", id, name)
}

func (f *fakeEngine) RemoveContainer(_ context.Context, id string) error {
	return f.call("remove %s", id)
}

func (f *fakeEngine) RemoveNetwork(_ context.Context, id string) error {
	return f.call("remove-network %s", id)
}

func (f *fakeEngine) WaitReady(_ context.Context, id string) error {
	return f.call("ready %s", id)
}

func (f *fakeEngine) WaitCondition(_ context.Context, stack, service, condition string) error {
	return f.call("wait %s %s %s", stack, service, condition)
}

var errUnhealthy = errors.New("container is unhealthy")

func TestApply(t *testing.T) {
	stale := func(name string) Observed {
		return with(name, func(c *Container) { c.Hash = "v1-old" })
	}
	tests := []struct {
		name    string
		o       Observed
		fail    map[string]error
		outcome Outcome
		calls   []string
	}{
		{"fresh node", Observed{}, nil, Applied, []string{
			"create-network shop default", "create-volume shop data",
			"create shop-db-1", "start new-shop-db-1", "ready new-shop-db-1",
			"wait shop db service_started", "create shop-web-1", "start new-shop-web-1", "ready new-shop-web-1",
			"create shop-web-2", "start new-shop-web-2", "ready new-shop-web-2",
		}},
		{"stop-first update", stale("shop-db-1"), nil, Applied, []string{
			"stop 1", "rename 1 1_shop-db-1", "create shop-db-1", "start new-shop-db-1", "ready new-shop-db-1",
			"remove 1",
		}},
		{"stop-first update fails its health gate: the old container is back", stale("shop-db-1"),
			map[string]error{"ready new-shop-db-1": errUnhealthy}, RolledBack, []string{
				"stop 1", "rename 1 1_shop-db-1", "create shop-db-1", "start new-shop-db-1", "ready new-shop-db-1",
				"remove new-shop-db-1", "rename 1 shop-db-1", "start 1",
			}},
		{"start-first update", stale("shop-web-1"), nil, Applied, []string{
			"wait shop db service_started", "rename 2 2_shop-web-1", "create shop-web-1", "start new-shop-web-1",
			"ready new-shop-web-1", "remove 2",
		}},
		{"start-first update fails: the old container never stopped", stale("shop-web-1"),
			map[string]error{"start new-shop-web-1": errors.New("port is already allocated")}, RolledBack, []string{
				"wait shop db service_started", "rename 2 2_shop-web-1", "create shop-web-1", "start new-shop-web-1",
				"remove new-shop-web-1", "rename 2 shop-web-1",
			}},
		{"rollback that fails too", stale("shop-db-1"),
			map[string]error{"ready new-shop-db-1": errUnhealthy, "start 1": errors.New("engine gone")}, Failed, []string{
				"stop 1", "rename 1 1_shop-db-1", "create shop-db-1", "start new-shop-db-1", "ready new-shop-db-1",
				"remove new-shop-db-1", "rename 1 shop-db-1", "start 1",
			}},
		{"exited container is started and gated", with("shop-db-1", func(c *Container) { c.State, c.ExitCode = StateExited, 137 }),
			nil, Applied, []string{"start 1", "ready 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := &fakeEngine{fail: tt.fail}
			d := desired(shopStack())
			res := Apply(context.Background(), eng, d, Build(d, tt.o))
			if diff := cmp.Diff(tt.calls, eng.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if len(res.Stacks) != 1 || res.Stacks[0].Outcome != tt.outcome {
				t.Fatalf("result %+v, want one stack %s", res.Stacks, tt.outcome)
			}
			if err := res.Err(); (err != nil) != (tt.outcome != Applied) {
				t.Errorf("Err() = %v for outcome %s", err, tt.outcome)
			}
			for failed := range tt.fail {
				if tt.outcome != Applied && !strings.Contains(res.Err().Error(), tt.fail[failed].Error()) {
					t.Errorf("error %q does not say why (%v)", res.Err(), tt.fail[failed])
				}
			}
		})
	}
}

func TestApplyRestartsRemovedContainersOnRollback(t *testing.T) {
	dbOnly := shopStack()
	dbOnly.Services = dbOnly.Services[:1]
	delete(dbOnly.Project.Services, "web")
	o := converged()
	o.Containers[0].Hash = "v1-old" // db must be recreated too
	eng := &fakeEngine{fail: map[string]error{"ready new-shop-db-1": errUnhealthy}}
	d := desired(dbOnly)
	res := Apply(context.Background(), eng, d, Build(d, o))
	want := []string{
		"stop 3", "stop 2", // web left the stack: stopped now, removed at commit
		"stop 1", "rename 1 1_shop-db-1", "create shop-db-1", "start new-shop-db-1", "ready new-shop-db-1",
		"remove new-shop-db-1", "rename 1 shop-db-1", "start 1", "start 2", "start 3",
	}
	if diff := cmp.Diff(want, eng.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if res.Stacks[0].Outcome != RolledBack {
		t.Errorf("outcome %s, want rolled back", res.Stacks[0].Outcome)
	}
}

func TestApplyStacksAreIndependent(t *testing.T) {
	other := shopStack()
	other.Name = "blog"
	other.Project.Name = "blog"
	eng := &fakeEngine{fail: map[string]error{"create blog-db-1": errors.New("no such image")}}
	d := desired(other, shopStack())
	o := converged() // shop runs; blog is new
	res := Apply(context.Background(), eng, d, Build(d, o))
	if len(res.Stacks) != 1 || res.Stacks[0].Stack != "blog" || res.Stacks[0].Outcome != RolledBack {
		t.Fatalf("results %+v, want blog rolled back and shop untouched", res.Stacks)
	}
	o.Containers[0].Hash = "v1-old"
	eng = &fakeEngine{fail: map[string]error{"create blog-db-1": errors.New("no such image")}}
	res = Apply(context.Background(), eng, d, Build(d, o))
	outcomes := map[string]Outcome{}
	for _, s := range res.Stacks {
		outcomes[s.Stack] = s.Outcome
	}
	if diff := cmp.Diff(map[string]Outcome{"blog": RolledBack, "shop": Applied}, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

func TestApplyRemovedStackCommitsInOrder(t *testing.T) {
	eng := &fakeEngine{}
	res := Apply(context.Background(), eng, Desired{Revision: "c0ffee"}, Build(Desired{}, converged()))
	want := []string{"stop 3", "stop 2", "stop 1", "remove 3", "remove 2", "remove 1", "remove-network n1"}
	if diff := cmp.Diff(want, eng.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if res.Err() != nil {
		t.Errorf("Err() = %v", res.Err())
	}
}

func TestApplyLabelsWithTheStacksOwnRevision(t *testing.T) {
	var got []string
	eng := &revisionEngine{fakeEngine: &fakeEngine{}, revisions: &got}
	d := desired(shopStack())
	d.StackRevisions = map[string]string{"shop": "older"}
	Apply(context.Background(), eng, d, Build(d, Observed{}))
	for _, r := range got {
		if r != "older" {
			t.Fatalf("containers created with revisions %v, want the stack's own", got)
		}
	}
	if len(got) != 3 {
		t.Errorf("%d containers created, want 3", len(got))
	}
}

// revisionEngine records the revision of every container created.
type revisionEngine struct {
	*fakeEngine
	revisions *[]string
}

func (e *revisionEngine) CreateContainer(_ context.Context, r CreateRequest) (string, error) {
	*e.revisions = append(*e.revisions, r.Revision)
	return "new-" + r.Name, nil
}

func TestApplyHealingStartsWithoutAGateButUpdatesAreGated(t *testing.T) {
	o := with("shop-db-1", func(c *Container) { c.State, c.ExitCode = StateExited, 137 })
	for i := range o.Containers {
		if o.Containers[i].Name == "shop-web-2" {
			o.Containers = append(o.Containers[:i], o.Containers[i+1:]...)
			break
		}
	}
	o.Containers[1].Hash = "v1-old" // shop-web-1 must be recreated
	eng := &fakeEngine{}
	d := desired(shopStack())
	d.Healing = true
	Apply(context.Background(), eng, d, Build(d, o))
	want := []string{
		"start 1",
		"wait shop db service_started", "rename 2 2_shop-web-1", "create shop-web-1", "start new-shop-web-1", "ready new-shop-web-1",
		"create shop-web-2", "start new-shop-web-2",
		"remove 2",
	}
	if diff := cmp.Diff(want, eng.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}
