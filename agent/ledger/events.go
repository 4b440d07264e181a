package ledger

import (
	"fmt"
	"slices"

	"github.com/skiffops/skiff/manifests"
)

// Load takes in a revision that was fetched, verified and loaded with a
// stacks/ directory: stacks are the ones it places on the node, refused the
// ones it places but that have errors (name → reason). Every other stack
// the ledger knows is removed. It returns the effects to persist and the
// stacks whose wanted spec changed: an update of those that waits in its
// gate is superseded.
func (l *Ledger) Load(rev string, stacks []manifests.Stack, refused map[string]string) (effects []Effect, changed []string) {
	before := map[string]string{}
	for name, e := range l.entries {
		before[name] = e.wanted()
	}
	placed := map[string]bool{}
	for _, st := range stacks {
		placed[st.Name] = true
		effects = append(effects, l.propose(rev, st)...)
	}
	for _, name := range sortedNames(refused) {
		placed[name] = true
		l.refuse(name, refused[name])
	}
	for _, e := range l.Entries() {
		if !placed[e.Name] {
			l.drop(e.Name, rev)
		}
	}
	for _, e := range l.Entries() {
		if e.wanted() != before[e.Name] {
			changed = append(changed, e.Name)
		}
	}
	return effects, changed
}

// wanted names what the newest revision asks of the stack, for change
// detection: its target's digest, removal, or nothing new.
func (e *Entry) wanted() string {
	switch {
	case e.State == Removing:
		return "remove"
	case e.Target != nil:
		return e.Target.Digest()
	}
	return ""
}

func (l *Ledger) entry(name string) *Entry {
	e, ok := l.entries[name]
	if !ok {
		e = &Entry{Name: name, State: Applied}
		l.entries[name] = e
	}
	return e
}

func (l *Ledger) propose(rev string, st manifests.Stack) []Effect {
	e := l.entry(st.Name)
	spec := st
	d := st.Digest()
	switch {
	case e.Failed.Digest == d:
		e.Target, e.TargetRevision = nil, ""
		if e.State != Failed && e.State != Refused {
			e.State = RolledBack
		}
		if e.Reason == "" {
			e.Reason = fmt.Sprintf("this spec failed at commit %s; it is not retried until a commit changes the stack", short(e.Failed.Commit))
		}
	case e.Spec != nil && e.Spec.Digest() == d:
		// Unchanged (or back to the last good spec): the containers stay,
		// and so does the commit that last changed them.
		e.Spec, e.Target, e.TargetRevision, e.State, e.Reason = &spec, nil, "", Applied, ""
		if e.Failed != (FailedSpec{}) {
			e.Failed = FailedSpec{}
			return []Effect{{Op: OpClearFail, Stack: st.Name}}
		}
	case e.Target != nil && e.Target.Digest() == d:
		e.Target = &spec // already wanted: keep its commit and its state
	default:
		e.Target, e.TargetRevision, e.State, e.Reason = &spec, rev, Pending, ""
	}
	return nil
}

func (l *Ledger) refuse(name, reason string) {
	e := l.entry(name)
	e.Target, e.TargetRevision, e.State, e.Reason = nil, "", Refused, reason
}

func (l *Ledger) drop(name, rev string) {
	e := l.entries[name]
	e.Target, e.TargetRevision, e.State = nil, "", Removing
	e.Reason = fmt.Sprintf("commit %s no longer places it on this node", short(rev))
}

// Begin marks the start of an update of the stack to its target, and
// returns the target and its commit; ok is false when the stack has no
// target (any more) or its target is not the one with digest.
func (l *Ledger) Begin(name, digest string) (spec *manifests.Stack, rev string, ok bool) {
	e, found := l.entries[name]
	if !found || e.Target == nil || e.Target.Digest() != digest {
		return nil, "", false
	}
	e.State, e.Reason = Applying, ""
	return e.Target, e.TargetRevision, true
}

// Wait records why a stack's target is not applied yet (its images are not
// local); the stack keeps running its last good spec.
func (l *Ledger) Wait(name, reason string) {
	if e, ok := l.entries[name]; ok && e.Target != nil {
		e.State, e.Reason = Pending, reason
	}
}

// Applied records that spec, from commit rev, passed its update: it is the
// stack's last good spec.
func (l *Ledger) Applied(name string, spec *manifests.Stack, rev string) []Effect {
	e := l.entry(name)
	e.Spec, e.Revision = spec, rev
	effects := []Effect{{Op: OpSave, Stack: name, Spec: spec, Revision: rev}}
	if e.Failed != (FailedSpec{}) {
		e.Failed = FailedSpec{}
		effects = append(effects, Effect{Op: OpClearFail, Stack: name})
	}
	l.settle(e, spec, Applied, "")
	return effects
}

// RolledBack records that spec failed its update: restored says whether the
// last good spec could be restored. The spec is not retried until a commit
// changes the stack.
func (l *Ledger) RolledBack(name string, spec *manifests.Stack, rev, reason string, restored bool) []Effect {
	state := RolledBack
	if !restored {
		state = Failed
	}
	return l.fail(name, spec, rev, state, reason)
}

// Blocked records that the node refuses spec (a volume definition changed):
// nothing of it was applied, and it is not retried until a commit changes
// the stack.
func (l *Ledger) Blocked(name string, spec *manifests.Stack, rev, reason string) []Effect {
	return l.fail(name, spec, rev, Refused, reason)
}

func (l *Ledger) fail(name string, spec *manifests.Stack, rev string, state State, reason string) []Effect {
	e := l.entry(name)
	e.Failed = FailedSpec{Commit: rev, Digest: spec.Digest()}
	l.settle(e, spec, state, reason)
	return []Effect{{Op: OpFail, Stack: name, Failed: e.Failed}}
}

// settle ends an update of spec: when spec is still the target, the stack
// takes state; when a newer target came meanwhile, that one waits.
func (l *Ledger) settle(e *Entry, spec *manifests.Stack, state State, reason string) {
	switch {
	case e.Target != nil && e.Target.Digest() == spec.Digest():
		e.Target, e.TargetRevision, e.State, e.Reason = nil, "", state, reason
	case e.Target != nil:
		e.State, e.Reason = Pending, ""
	case e.State == Applying:
		e.State, e.Reason = state, reason
	}
}

// Removed records that a departing stack's containers and networks are
// gone: the ledger forgets it.
func (l *Ledger) Removed(name string) []Effect {
	if e, ok := l.entries[name]; !ok || e.State != Removing {
		return nil
	}
	delete(l.entries, name)
	return []Effect{{Op: OpForget, Stack: name}}
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
