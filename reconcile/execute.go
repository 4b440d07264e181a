package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/skiffops/skiff/manifests"
)

// Outcome is how applying a stack's actions ended.
type Outcome string

// Outcomes of a stack.
const (
	// Applied: every action succeeded; the stack runs its desired spec.
	Applied Outcome = "applied"
	// RolledBack: an action or a health gate failed and the stack's
	// previous containers were restored. Do not retry until a new commit.
	RolledBack Outcome = "rolled-back"
	// Failed: an action failed and so did restoring the previous state;
	// the next reconcile repairs what it can.
	Failed Outcome = "failed"
)

// StackResult reports one stack of a plan.
type StackResult struct {
	Stack   string
	Outcome Outcome
	Err     error // why it was rolled back or failed
	Actions []ActionResult
	// Cleanup holds errors of the removals that follow a successful
	// update (old containers, unused networks): the stack runs its new
	// spec, and the next reconcile removes what is left.
	Cleanup error
}

// ActionResult reports one action.
type ActionResult struct {
	Action   Action
	Err      error
	Duration time.Duration
}

// Result reports a whole plan, stack by stack, in plan order.
type Result struct {
	Stacks []StackResult
}

// Err joins the errors of the stacks that did not apply.
func (r Result) Err() error {
	var errs []error
	for _, s := range r.Stacks {
		if s.Outcome != Applied {
			errs = append(errs, fmt.Errorf("stack %s %s: %w", s.Stack, s.Outcome, s.Err))
		}
	}
	return errors.Join(errs...)
}

// undoTimeout bounds a rollback, which runs even when the plan's context
// was cancelled: a half-updated stack is worse than a late agent.
const undoTimeout = 2 * time.Minute

// Apply executes a plan built from d, stack by stack. A stack is applied as
// a unit: old containers are kept, stopped and renamed, until the new ones
// passed the health gate, and restored when anything fails. One stack's
// failure does not stop the others.
func Apply(ctx context.Context, eng Engine, d Desired, p Plan) Result {
	var res Result
	for _, name := range p.Stacks() {
		tx := &stackTx{eng: eng, stack: findStack(d, name), revision: d.RevisionOf(name), healing: d.Healing, waited: map[string]bool{}}
		res.Stacks = append(res.Stacks, tx.run(ctx, name, p.ForStack(name)))
	}
	return res
}

func findStack(d Desired, name string) *manifests.Stack {
	for i := range d.Stacks {
		if d.Stacks[i].Name == name {
			return &d.Stacks[i]
		}
	}
	return nil // a stack being removed
}

// stackTx applies the actions of one stack with an undo log.
type stackTx struct {
	eng      Engine
	stack    *manifests.Stack
	revision string
	healing  bool                          // see Desired.Healing
	undo     []func(context.Context) error // run in reverse on failure
	commit   []func(context.Context) error // run in order on success
	waited   map[string]bool               // services whose dependencies were awaited
}

func (tx *stackTx) run(ctx context.Context, name string, actions []Action) StackResult {
	r := StackResult{Stack: name, Outcome: Applied}
	for _, a := range actions {
		start := time.Now()
		err := tx.do(ctx, a)
		r.Actions = append(r.Actions, ActionResult{Action: a, Err: err, Duration: time.Since(start)})
		if err != nil {
			r.Err = fmt.Errorf("%s %s: %w", a.Kind, a.Name, err)
			r.Outcome = RolledBack
			if uerr := tx.rollback(ctx); uerr != nil {
				r.Outcome = Failed
				r.Err = errors.Join(r.Err, fmt.Errorf("roll back: %w", uerr))
			}
			return r
		}
	}
	var errs []error
	for _, f := range tx.commit {
		errs = append(errs, f(ctx))
	}
	r.Cleanup = errors.Join(errs...)
	return r
}

func (tx *stackTx) rollback(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
	defer cancel()
	var errs []error
	for _, f := range slices.Backward(tx.undo) {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

func (tx *stackTx) onUndo(f func(context.Context) error)   { tx.undo = append(tx.undo, f) }
func (tx *stackTx) onCommit(f func(context.Context) error) { tx.commit = append(tx.commit, f) }

func (tx *stackTx) do(ctx context.Context, a Action) error {
	switch a.Kind {
	case CreateNetwork:
		return tx.eng.CreateNetwork(ctx, tx.stack, a.Key)
	case CreateVolume:
		return tx.eng.CreateVolume(ctx, tx.stack, a.Key)
	case Create:
		return tx.create(ctx, a)
	case Start:
		return tx.start(ctx, a)
	case Recreate:
		return tx.recreate(ctx, a)
	case Remove:
		return tx.remove(ctx, a)
	case RemoveNetwork:
		id := a.Network.ID
		tx.onCommit(func(ctx context.Context) error { return tx.eng.RemoveNetwork(ctx, id) })
		return nil
	}
	return fmt.Errorf("unknown action kind %q", a.Kind)
}

// create makes a missing replica and gates it on health.
func (tx *stackTx) create(ctx context.Context, a Action) error {
	if err := tx.awaitDependencies(ctx, a.Service); err != nil {
		return err
	}
	id, err := tx.eng.CreateContainer(ctx, tx.request(a))
	if err != nil {
		return err
	}
	tx.onUndo(func(ctx context.Context) error { return tx.eng.RemoveContainer(ctx, id) })
	return tx.startReplica(ctx, id)
}

func (tx *stackTx) start(ctx context.Context, a Action) error {
	if err := tx.awaitDependencies(ctx, a.Service); err != nil {
		return err
	}
	return tx.startReplica(ctx, a.Container.ID)
}

// startReplica starts a replica of the current spec: gated when the spec
// is new, at once when healing.
func (tx *stackTx) startReplica(ctx context.Context, id string) error {
	if tx.healing {
		return tx.eng.StartContainer(ctx, id)
	}
	return tx.startGated(ctx, id)
}

// recreate replaces a replica. stop-first stops the old container before the
// new one starts; start-first starts the new one beside it. Either way the
// old container is renamed out of the way and removed only at commit, so a
// failed health gate restores it.
func (tx *stackTx) recreate(ctx context.Context, a Action) error {
	if err := tx.awaitDependencies(ctx, a.Service); err != nil {
		return err
	}
	old := *a.Container
	if a.Update != manifests.UpdateStartFirst {
		if err := tx.stop(ctx, old); err != nil {
			return err
		}
	}
	if err := tx.eng.RenameContainer(ctx, old.ID, asideName(old)); err != nil {
		return err
	}
	tx.onUndo(func(ctx context.Context) error { return tx.eng.RenameContainer(ctx, old.ID, old.Name) })
	req := tx.request(a)
	req.Replaces = old.ID
	id, err := tx.eng.CreateContainer(ctx, req)
	if err != nil {
		return err
	}
	tx.onUndo(func(ctx context.Context) error { return tx.eng.RemoveContainer(ctx, id) })
	if err := tx.startGated(ctx, id); err != nil {
		return err
	}
	tx.onCommit(func(ctx context.Context) error { return tx.eng.RemoveContainer(ctx, old.ID) })
	return nil
}

// remove stops a container now and removes it at commit, so that a later
// failure in the same stack can start it again.
func (tx *stackTx) remove(ctx context.Context, a Action) error {
	c := *a.Container
	if err := tx.stop(ctx, c); err != nil {
		return err
	}
	tx.onCommit(func(ctx context.Context) error { return tx.eng.RemoveContainer(ctx, c.ID) })
	return nil
}

// stop stops c and, when it was running, registers its restart as undo.
func (tx *stackTx) stop(ctx context.Context, c Container) error {
	if c.State != StateRunning && c.State != StateRestarting {
		return nil
	}
	if err := tx.eng.StopContainer(ctx, c.ID); err != nil {
		return err
	}
	tx.onUndo(func(ctx context.Context) error { return tx.eng.StartContainer(ctx, c.ID) })
	return nil
}

func (tx *stackTx) startGated(ctx context.Context, id string) error {
	if err := tx.eng.StartContainer(ctx, id); err != nil {
		return err
	}
	if err := tx.eng.WaitReady(ctx, id); err != nil {
		return fmt.Errorf("health gate: %w", err)
	}
	return nil
}

// awaitDependencies waits, once per service, for the conditions of its
// depends_on entries on services of the same stack.
func (tx *stackTx) awaitDependencies(ctx context.Context, service string) error {
	if tx.waited[service] || tx.stack == nil {
		return nil
	}
	tx.waited[service] = true
	cfg := tx.stack.Project.Services[service]
	for _, dep := range sortedKeys(cfg.DependsOn) {
		if _, ok := tx.stack.Project.Services[dep]; !ok {
			continue
		}
		cond := cfg.DependsOn[dep].Condition
		if err := tx.eng.WaitCondition(ctx, tx.stack.Name, dep, cond); err != nil {
			return fmt.Errorf("dependency %s (%s): %w", dep, cond, err)
		}
	}
	return nil
}

func (tx *stackTx) request(a Action) CreateRequest {
	return CreateRequest{Stack: tx.stack, Service: a.Service, Number: a.Number, Name: a.Name, Revision: tx.revision}
}

// asideName is the name an old container carries while its replacement
// starts: its short ID before its name, as docker compose does.
func asideName(c Container) string {
	id := c.ID
	if len(id) > 12 {
		id = id[:12]
	}
	return id + "_" + c.Name
}
