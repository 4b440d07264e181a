package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skiffops/skiff/manifests"
)

// fakeEngine records the calls the executor makes, as "verb args" lines, and
// fails the calls named in fail. It is safe for the concurrent calls of a
// level; ready, when set, decides WaitReady.
type fakeEngine struct {
	mu    sync.Mutex
	calls []string
	fail  map[string]error
	ready func(ctx context.Context, id string) error
}

func (f *fakeEngine) call(format string, args ...any) error {
	c := fmt.Sprintf(format, args...)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	return f.fail[c]
}

func (f *fakeEngine) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
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

func (f *fakeEngine) WaitReady(ctx context.Context, id string, _ time.Duration) error {
	if err := f.call("ready %s", id); err != nil {
		return err
	}
	if f.ready != nil {
		return f.ready(ctx, id)
	}
	return nil
}

func (f *fakeEngine) WaitCondition(_ context.Context, ids []string, condition string) error {
	return f.call("wait %s %s", strings.Join(ids, ","), condition)
}

var errUnhealthy = errors.New("container is unhealthy")

func applyShop(t *testing.T, eng *fakeEngine, o Observed, opts Options) StackResult {
	t.Helper()
	sp, _ := Build(desired(shopStack()), o).Stack("shop")
	return ApplyStack(context.Background(), eng, sp, opts)
}

// phases splits a call log at the given lines, sorting each part: calls
// within a level are concurrent, their order is not part of the contract.
func phases(calls []string, cuts ...string) [][]string {
	var out [][]string
	cur := []string{}
	for _, c := range calls {
		if slices.Contains(cuts, c) {
			slices.Sort(cur)
			out = append(out, cur, []string{c})
			cur = []string{}
			continue
		}
		cur = append(cur, c)
	}
	slices.Sort(cur)
	return append(out, cur)
}

func TestApplyStackOnAnEmptyNode(t *testing.T) {
	eng := &fakeEngine{}
	r := applyShop(t, eng, Observed{}, Options{Gate: true})
	if r.Outcome != Applied {
		t.Fatalf("outcome %s: %v", r.Outcome, r.Err)
	}
	want := [][]string{
		{"create shop-db-1", "create-network shop default", "create-volume shop data", "ready new-shop-db-1", "start new-shop-db-1"},
		{"wait new-shop-db-1 service_started"},
		{"create shop-web-1", "create shop-web-2", "ready new-shop-web-1", "ready new-shop-web-2", "start new-shop-web-1", "start new-shop-web-2"},
	}
	if diff := cmp.Diff(want, phases(eng.log(), "wait new-shop-db-1 service_started")); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// The containers of a level are started together and their gates overlap:
// every gate of the level waits until all of them are in their gate.
func TestApplyStackGatesALevelConcurrently(t *testing.T) {
	var arrived sync.WaitGroup
	arrived.Add(2)
	eng := &fakeEngine{ready: func(ctx context.Context, id string) error {
		if !strings.Contains(id, "web") {
			return nil
		}
		arrived.Done()
		done := make(chan struct{})
		go func() { arrived.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the other gate of the level never started")
		}
	}}
	if r := applyShop(t, eng, Observed{}, Options{Gate: true}); r.Outcome != Applied {
		t.Fatalf("outcome %s: %v", r.Outcome, r.Err)
	}
}

func TestApplyStackRollsBackAFailedGate(t *testing.T) {
	eng := &fakeEngine{fail: map[string]error{"ready new-shop-web-2": errUnhealthy}}
	o := converged()
	for i := range o.Containers {
		o.Containers[i].Hash = "v1-old"
	}
	r := applyShop(t, eng, o, Options{Gate: true})
	if r.Outcome != RolledBack || !errors.Is(r.Err, errUnhealthy) {
		t.Fatalf("outcome %s: %v, want rolled back on the unhealthy web-2", r.Outcome, r.Err)
	}
	calls := eng.log()
	for _, want := range []string{"remove new-shop-web-2", "remove new-shop-web-1", "remove new-shop-db-1",
		"rename 1 shop-db-1", "start 1", "rename 2 shop-web-1", "rename 3 shop-web-2"} {
		if !slices.Contains(calls, want) {
			t.Errorf("rollback did not %q; calls %q", want, calls)
		}
	}
	for _, c := range calls {
		if c == "remove 1" || c == "remove 2" || c == "remove 3" {
			t.Errorf("an old container was removed: %q", c)
		}
	}
}

func TestApplyStackConditionsJudgeTheNewReplicasOnly(t *testing.T) {
	eng := &fakeEngine{}
	// db and web both change: web must wait on the new db, never on the
	// old one, stopped and set aside.
	o := converged()
	for i := range o.Containers {
		o.Containers[i].Hash = "v1-old"
	}
	if r := applyShop(t, eng, o, Options{Gate: true}); r.Outcome != Applied {
		t.Fatalf("outcome %s: %v", r.Outcome, r.Err)
	}
	if calls := eng.log(); !slices.Contains(calls, "wait new-shop-db-1 service_started") {
		t.Errorf("web did not wait on the new db alone: %q", calls)
	}
	// db left alone: web waits on the running db.
	eng = &fakeEngine{}
	if r := applyShop(t, eng, with("shop-web-1", func(c *Container) { c.Hash = "v1-old" }), Options{Gate: true}); r.Outcome != Applied {
		t.Fatalf("outcome %s: %v", r.Outcome, r.Err)
	}
	if calls := eng.log(); !slices.Contains(calls, "wait 1 service_started") {
		t.Errorf("web did not wait on the running db: %q", calls)
	}
}

func TestApplyStackAbandonedWhenSuperseded(t *testing.T) {
	wait, supersede := context.WithCancelCause(context.Background())
	errSuperseded := errors.New("superseded by commit 2")
	eng := &fakeEngine{ready: func(ctx context.Context, id string) error {
		supersede(errSuperseded)
		<-ctx.Done()
		return ctx.Err()
	}}
	r := applyShop(t, eng, with("shop-db-1", func(c *Container) { c.Hash = "v1-old" }), Options{Gate: true, Wait: wait})
	if r.Outcome != Abandoned || !errors.Is(r.Err, ErrAbandoned) || !errors.Is(r.Err, errSuperseded) {
		t.Fatalf("outcome %s: %v, want abandoned with its cause", r.Outcome, r.Err)
	}
	for _, c := range eng.log() {
		if strings.HasPrefix(c, "remove") || c == "rename 1 shop-db-1" || c == "start 1" {
			t.Errorf("an abandoned transaction was undone or committed: %q", c)
		}
	}
}

func TestApplyStackHealingStartsWithoutGates(t *testing.T) {
	eng := &fakeEngine{}
	o := with("shop-db-1", func(c *Container) { c.State, c.ExitCode = StateExited, 137 })
	o.Containers = slices.DeleteFunc(o.Containers, func(c Container) bool { return c.Name == "shop-web-2" })
	if r := applyShop(t, eng, o, Options{}); r.Outcome != Applied {
		t.Fatalf("outcome %s: %v", r.Outcome, r.Err)
	}
	want := []string{"start 1", "create shop-web-2", "start new-shop-web-2"}
	if diff := cmp.Diff(want, eng.log()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestApplyStackRecreatesANetwork(t *testing.T) {
	st := shopStack()
	n := st.Project.Networks["default"]
	n.Internal = true
	st.Project.Networks["default"] = n
	sp, _ := Build(desired(st), converged()).Stack("shop")
	eng := &fakeEngine{}
	if r := ApplyStack(context.Background(), eng, sp, Options{Gate: true}); r.Outcome != Applied {
		t.Fatalf("outcome %s: %v", r.Outcome, r.Err)
	}
	got := phases(eng.log(), "remove-network n1", "create-network shop default")
	early := []string{"rename 1 1_shop-db-1", "rename 2 2_shop-web-1", "rename 3 3_shop-web-2", "stop 1", "stop 2", "stop 3"}
	if diff := cmp.Diff(early, got[0]); diff != "" {
		t.Errorf("before the network is removed (-want +got):\n%s", diff)
	}
	if last := got[len(got)-1]; !slices.Contains(last, "remove 1") || !slices.Contains(last, "create shop-web-1") {
		t.Errorf("after the network: %q", last)
	}
}

func TestApplyStackRestoresAReplicaSetAside(t *testing.T) {
	eng := &fakeEngine{}
	sp, _ := Build(desired(shopStack()), supersededNode()).Stack("shop")
	if r := ApplyStack(context.Background(), eng, sp, Options{Gate: true}); r.Outcome != Applied {
		t.Fatalf("outcome %s: %v", r.Outcome, r.Err)
	}
	want := []string{"remove 2", "wait 1 service_started", "rename old1 shop-web-1", "start old1", "ready old1"}
	if diff := cmp.Diff(want, eng.log()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestApplyStackBlockedDoesNothing(t *testing.T) {
	eng := &fakeEngine{}
	r := ApplyStack(context.Background(), eng, StackPlan{Stack: "shop", Err: errors.New("volume changed")}, Options{Gate: true})
	if r.Outcome != Blocked || len(eng.log()) != 0 {
		t.Errorf("outcome %s, calls %q", r.Outcome, eng.log())
	}
}

func TestApplyDepartsBeforeArriving(t *testing.T) {
	store := shopStack()
	store.Name, store.Project.Name = "store", "store"
	d := desired(store)
	d.Revisions["store"] = "c0ffee"
	d.Remove = []string{"shop"}
	eng := &fakeEngine{}
	res := Apply(context.Background(), eng, Build(d, converged()), Options{Gate: true})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	calls := eng.log()
	lastRemove, firstCreate := -1, len(calls)
	for i, c := range calls {
		if strings.HasPrefix(c, "remove") {
			lastRemove = i
		}
		if strings.HasPrefix(c, "create ") && i < firstCreate {
			firstCreate = i
		}
	}
	if lastRemove < 0 || lastRemove > firstCreate {
		t.Errorf("store was created before shop departed: %q", calls)
	}
}
