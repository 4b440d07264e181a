package ledger

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skiffops/skiff/manifests"
)

// spec is stack name whose one service has spec hash h.
func spec(name, h string) manifests.Stack {
	return manifests.Stack{Name: name, Services: []manifests.Service{{Name: "web", Hash: h, Replicas: 1}}}
}

// summary is what a test compares of an entry.
type summary struct {
	State          State
	Spec, Target   string // the service hash, "" when none
	Revision       string
	TargetRevision string
	Failed         string
}

func sum(l *Ledger, name string) summary {
	e, ok := l.Get(name)
	if !ok {
		return summary{State: "gone"}
	}
	s := summary{State: e.State, Revision: e.Revision, TargetRevision: e.TargetRevision, Failed: e.Failed.Commit}
	if e.Spec != nil {
		s.Spec = e.Spec.Services[0].Hash
	}
	if e.Target != nil {
		s.Target = e.Target.Services[0].Hash
	}
	return s
}

// applied returns a ledger where stack app runs spec a from commit c1.
func applied() *Ledger {
	l := New()
	l.Restore(spec("app", "a"), "c1", FailedSpec{})
	return l
}

func load(l *Ledger, rev string, stacks ...manifests.Stack) ([]Effect, []string) {
	return l.Load(rev, stacks, nil)
}

func update(t *testing.T, l *Ledger, st manifests.Stack) (*manifests.Stack, string) {
	t.Helper()
	target, rev, ok := l.Begin(st.Name, st.Digest())
	if !ok {
		t.Fatalf("begin %s: no target", st.Name)
	}
	return target, rev
}

func TestTransitions(t *testing.T) {
	tests := []struct {
		name    string
		from    func() *Ledger // nil: applied()
		run     func(t *testing.T, l *Ledger) []Effect
		want    summary
		effects []Op
	}{
		{"a new stack waits for its cut-over", New, func(t *testing.T, l *Ledger) []Effect {
			e, _ := load(l, "c2", spec("app", "a"))
			return e
		}, summary{State: Pending, Target: "a", TargetRevision: "c2"}, nil},
		{"a new stack applied", New, func(t *testing.T, l *Ledger) []Effect {
			load(l, "c2", spec("app", "a"))
			target, rev := update(t, l, spec("app", "a"))
			return l.Applied("app", target, rev)
		}, summary{State: Applied, Spec: "a", Revision: "c2"}, []Op{OpSave}},
		{"a commit that leaves the stack alone keeps its revision", nil, func(t *testing.T, l *Ledger) []Effect {
			e, _ := load(l, "c2", spec("app", "a"))
			return e
		}, summary{State: Applied, Spec: "a", Revision: "c1"}, nil},
		{"a changed stack is pending, running its last good spec", nil, func(t *testing.T, l *Ledger) []Effect {
			e, _ := load(l, "c2", spec("app", "b"))
			return e
		}, summary{State: Pending, Spec: "a", Revision: "c1", Target: "b", TargetRevision: "c2"}, nil},
		{"applying", nil, func(t *testing.T, l *Ledger) []Effect {
			load(l, "c2", spec("app", "b"))
			update(t, l, spec("app", "b"))
			return nil
		}, summary{State: Applying, Spec: "a", Revision: "c1", Target: "b", TargetRevision: "c2"}, nil},
		{"rolled back", nil, func(t *testing.T, l *Ledger) []Effect {
			load(l, "c2", spec("app", "b"))
			target, rev := update(t, l, spec("app", "b"))
			return l.RolledBack("app", target, rev, "health gate", true)
		}, summary{State: RolledBack, Spec: "a", Revision: "c1", Failed: "c2"}, []Op{OpFail}},
		{"failed: the restore failed too", nil, func(t *testing.T, l *Ledger) []Effect {
			load(l, "c2", spec("app", "b"))
			target, rev := update(t, l, spec("app", "b"))
			return l.RolledBack("app", target, rev, "health gate; restore: no image", false)
		}, summary{State: Failed, Spec: "a", Revision: "c1", Failed: "c2"}, []Op{OpFail}},
		{"a failed spec is not retried by a commit that leaves it alone", nil, func(t *testing.T, l *Ledger) []Effect {
			load(l, "c2", spec("app", "b"))
			target, rev := update(t, l, spec("app", "b"))
			l.RolledBack("app", target, rev, "health gate", true)
			e, _ := load(l, "c3", spec("app", "b"))
			return e
		}, summary{State: RolledBack, Spec: "a", Revision: "c1", Failed: "c2"}, nil},
		{"a commit that changes a failed stack is tried", nil, func(t *testing.T, l *Ledger) []Effect {
			load(l, "c2", spec("app", "b"))
			target, rev := update(t, l, spec("app", "b"))
			l.RolledBack("app", target, rev, "health gate", true)
			e, _ := load(l, "c3", spec("app", "c"))
			return e
		}, summary{State: Pending, Spec: "a", Revision: "c1", Target: "c", TargetRevision: "c3", Failed: "c2"}, nil},
		{"applying after a failure clears it", nil, func(t *testing.T, l *Ledger) []Effect {
			load(l, "c2", spec("app", "b"))
			target, rev := update(t, l, spec("app", "b"))
			l.RolledBack("app", target, rev, "health gate", true)
			load(l, "c3", spec("app", "c"))
			target, rev = update(t, l, spec("app", "c"))
			return l.Applied("app", target, rev)
		}, summary{State: Applied, Spec: "c", Revision: "c3"}, []Op{OpSave, OpClearFail}},
		{"a revert to the last good spec clears the failure", nil, func(t *testing.T, l *Ledger) []Effect {
			load(l, "c2", spec("app", "b"))
			target, rev := update(t, l, spec("app", "b"))
			l.RolledBack("app", target, rev, "health gate", true)
			e, _ := load(l, "c3", spec("app", "a"))
			return e
		}, summary{State: Applied, Spec: "a", Revision: "c1"}, []Op{OpClearFail}},
		{"refused keeps the last good spec", nil, func(t *testing.T, l *Ledger) []Effect {
			e, _ := l.Load("c2", nil, map[string]string{"app": "compose.yaml:3: bad"})
			return e
		}, summary{State: Refused, Spec: "a", Revision: "c1"}, nil},
		{"blocked by the node (volume changed) is refused and not retried", nil, func(t *testing.T, l *Ledger) []Effect {
			load(l, "c2", spec("app", "b"))
			target, rev := update(t, l, spec("app", "b"))
			l.Blocked("app", target, rev, "volumes.data changed")
			e, _ := load(l, "c3", spec("app", "b"))
			return e
		}, summary{State: Refused, Spec: "a", Revision: "c1", Failed: "c2"}, nil},
		{"superseded: the newer spec waits, the older one applied is the last good", nil, func(t *testing.T, l *Ledger) []Effect {
			load(l, "c2", spec("app", "b"))
			target, rev := update(t, l, spec("app", "b"))
			load(l, "c3", spec("app", "c"))
			return l.Applied("app", target, rev)
		}, summary{State: Pending, Spec: "b", Revision: "c2", Target: "c", TargetRevision: "c3"}, []Op{OpSave}},
		{"a commit that leaves an update in flight alone keeps it", nil, func(t *testing.T, l *Ledger) []Effect {
			load(l, "c2", spec("app", "b"))
			update(t, l, spec("app", "b"))
			e, _ := load(l, "c3", spec("app", "b"))
			return e
		}, summary{State: Applying, Spec: "a", Revision: "c1", Target: "b", TargetRevision: "c2"}, nil},
		{"dropped by a good revision", nil, func(t *testing.T, l *Ledger) []Effect {
			e, _ := load(l, "c2")
			return e
		}, summary{State: Removing, Spec: "a", Revision: "c1"}, nil},
		{"removed", nil, func(t *testing.T, l *Ledger) []Effect {
			load(l, "c2")
			return l.Removed("app")
		}, summary{State: "gone"}, []Op{OpForget}},
		{"placed again while removing", nil, func(t *testing.T, l *Ledger) []Effect {
			load(l, "c2")
			e, _ := load(l, "c3", spec("app", "a"))
			return e
		}, summary{State: Applied, Spec: "a", Revision: "c1"}, nil},
		{"adopted after a store loss is left untouched", New, func(t *testing.T, l *Ledger) []Effect {
			l.Adopt([]string{"app"})
			return nil
		}, summary{State: Adopted}, nil},
		{"an adopted stack a revision places gets its spec", New, func(t *testing.T, l *Ledger) []Effect {
			l.Adopt([]string{"app"})
			load(l, "c2", spec("app", "a"))
			target, rev := update(t, l, spec("app", "a"))
			return l.Applied("app", target, rev)
		}, summary{State: Applied, Spec: "a", Revision: "c2"}, []Op{OpSave}},
		{"an adopted stack a revision drops goes", New, func(t *testing.T, l *Ledger) []Effect {
			l.Adopt([]string{"app"})
			load(l, "c2")
			return l.Removed("app")
		}, summary{State: "gone"}, []Op{OpForget}},
		{"an unreadable stored stack is adopted", New, func(t *testing.T, l *Ledger) []Effect {
			l.Unreadable("app", "unknown encoding version 9")
			return nil
		}, summary{State: Adopted}, nil},
		{"pending with a reason", nil, func(t *testing.T, l *Ledger) []Effect {
			load(l, "c2", spec("app", "b"))
			l.Wait("app", "image x: manifest unknown")
			return nil
		}, summary{State: Pending, Spec: "a", Revision: "c1", Target: "b", TargetRevision: "c2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := tt.from
			if from == nil {
				from = applied
			}
			l := from()
			effects := tt.run(t, l)
			if diff := cmp.Diff(tt.want, sum(l, "app")); diff != "" {
				t.Errorf("entry (-want +got):\n%s", diff)
			}
			var ops []Op
			for _, e := range effects {
				ops = append(ops, e.Op)
			}
			if diff := cmp.Diff(tt.effects, ops); diff != "" {
				t.Errorf("effects (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadReportsWhatChanged(t *testing.T) {
	l := applied()
	l.Restore(spec("other", "o"), "c1", FailedSpec{})
	l.Restore(spec("gone", "g"), "c1", FailedSpec{})
	_, changed := load(l, "c2", spec("app", "b"), spec("other", "o"))
	if diff := cmp.Diff([]string{"app", "gone"}, changed); diff != "" {
		t.Errorf("changed (-want +got):\n%s", diff)
	}
	_, changed = load(l, "c3", spec("app", "b"), spec("other", "o"))
	if len(changed) != 0 {
		t.Errorf("an identical revision changed %q", changed)
	}
}

func TestHeals(t *testing.T) {
	l := applied()
	l.Restore(spec("busy", "b"), "c1", FailedSpec{})
	l.Restore(spec("gone", "g"), "c1", FailedSpec{})
	load(l, "c2", spec("app", "a2"), spec("busy", "b2"))
	l.Adopt([]string{"found"})
	l.Begin("busy", spec("busy", "b2").Digest())
	var heals []string
	for _, e := range l.Entries() {
		if e.Heals() {
			heals = append(heals, e.Name)
		}
	}
	// app is pending (heals to its last good spec); busy is being updated;
	// gone is being removed; found has no spec.
	if diff := cmp.Diff([]string{"app"}, heals); diff != "" {
		t.Errorf("heals (-want +got):\n%s", diff)
	}
	if l.Complete() {
		t.Error("a ledger with an adopted stack is complete")
	}
	if n := len(l.Specs()); n != 5 {
		t.Errorf("specs: %d, want app's two, busy's two and gone's", n)
	}
	if !slices.ContainsFunc(l.Entries(), func(e Entry) bool { return e.Name == "found" && e.State == Adopted }) {
		t.Error("adopted stack missing")
	}
}

func TestBeginRefusesAStaleTarget(t *testing.T) {
	l := applied()
	load(l, "c2", spec("app", "b"))
	load(l, "c3", spec("app", "c"))
	if _, _, ok := l.Begin("app", spec("app", "b").Digest()); ok {
		t.Error("began an update to a superseded target")
	}
	if _, rev, ok := l.Begin("app", spec("app", "c").Digest()); !ok || rev != "c3" {
		t.Errorf("begin the newest target: ok %v, rev %s", ok, rev)
	}
}
