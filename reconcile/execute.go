package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Outcome is how applying a stack's plan ended.
type Outcome string

// Outcomes of a stack.
const (
	// Applied: every action succeeded; the stack runs its desired spec.
	Applied Outcome = "applied"
	// RolledBack: an action or a health gate failed and what the
	// transaction did was undone. The caller restores the stack's last
	// good spec and does not retry this one until a new commit.
	RolledBack Outcome = "rolled-back"
	// Failed: an action failed and so did undoing; the caller restores
	// the last good spec from where the node is.
	Failed Outcome = "failed"
	// Abandoned: the waits were abandoned (Options.Wait ended: a newer
	// commit supersedes this one, or the agent stops). Nothing was undone:
	// the next plan goes on from where the node is.
	Abandoned Outcome = "abandoned"
	// Blocked: the plan says the stack cannot be applied (StackPlan.Err);
	// nothing was done.
	Blocked Outcome = "blocked"
)

// StackResult reports one stack.
type StackResult struct {
	Stack   string
	Outcome Outcome
	Err     error // why it did not apply
	Actions []ActionResult
	// Cleanup holds errors of the removals that follow a successful update
	// (old containers, unused networks): the stack runs its new spec, and
	// the next plan removes what is left.
	Cleanup error
}

// ActionResult reports one action.
type ActionResult struct {
	Action   Action
	Err      error
	Duration time.Duration
}

// Options say how a stack's plan is applied.
type Options struct {
	// Gate makes this an update: every container it starts must pass the
	// health gate, and a level starts only when the depends_on conditions
	// of its services hold on the replicas that carry the spec. Without
	// it (healing, restoring a last good spec), containers are started at
	// once, level after level.
	Gate bool
	// Wait bounds the waits (health gates and conditions). When it ends
	// the transaction is abandoned where it is, nothing undone. nil: ctx.
	Wait context.Context
}

// undoTimeout bounds a rollback, which runs even when ctx was cancelled: a
// half-updated stack is worse than a late agent.
const undoTimeout = 2 * time.Minute

// ErrAbandoned wraps the cause of an abandoned transaction.
var ErrAbandoned = errors.New("abandoned")

// Depart removes what leaves the node in sp: its Depart containers (all at
// once: they are final, never undone) and, for a departing stack, its
// networks after them.
func Depart(ctx context.Context, eng Engine, sp StackPlan) ([]ActionResult, error) {
	res := runAll(sp.Depart, func(a Action) error { return eng.RemoveContainer(ctx, a.Container.ID) })
	err := resultsErr(res)
	if sp.Spec == nil && err == nil {
		for _, a := range sp.Cleanup {
			start := time.Now()
			nerr := eng.RemoveNetwork(ctx, a.Network.ID)
			res = append(res, ActionResult{Action: a, Err: nerr, Duration: time.Since(start)})
		}
		err = resultsErr(res)
	}
	return res, err
}

// ApplyStack applies a stack's plan as one transaction: departures first,
// then networks and volumes, then level after level, the containers of a
// level created and started together and their gates run concurrently. Old
// containers are stopped and set aside, not removed, until every new one
// passed; on failure what was done is undone. A departing stack (Spec nil)
// is only departed.
func ApplyStack(ctx context.Context, eng Engine, sp StackPlan, opts Options) StackResult {
	r := StackResult{Stack: sp.Stack, Outcome: Applied}
	if sp.Err != nil {
		r.Outcome, r.Err = Blocked, sp.Err
		return r
	}
	if opts.Wait == nil {
		opts.Wait = ctx
	}
	tx := &stackTx{eng: eng, plan: sp, opts: opts, ids: map[string][]string{}}
	for svc, ids := range sp.Current {
		tx.ids[svc] = append([]string(nil), ids...)
	}
	err := tx.run(ctx)
	r.Actions = tx.results
	switch {
	case err == nil:
		r.Cleanup = tx.finish(ctx)
	case errors.Is(err, ErrAbandoned):
		r.Outcome, r.Err = Abandoned, err
	default:
		r.Outcome, r.Err = RolledBack, err
		if uerr := tx.rollback(ctx); uerr != nil {
			r.Outcome = Failed
			r.Err = errors.Join(err, fmt.Errorf("roll back: %w", uerr))
		}
	}
	return r
}

// Result reports a whole plan.
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

// Apply applies a whole plan: the departures of every stack first, so that
// ports, names and addresses are free, then each stack's transaction in
// turn. It is the simple form of what the agent does per stack.
func Apply(ctx context.Context, eng Engine, p Plan, opts Options) Result {
	var res Result
	departed := map[string]error{}
	for _, sp := range p.Stacks {
		if len(sp.Depart) > 0 || sp.Spec == nil {
			_, departed[sp.Stack] = Depart(ctx, eng, sp)
		}
	}
	for _, sp := range p.Stacks {
		if err := departed[sp.Stack]; err != nil {
			res.Stacks = append(res.Stacks, StackResult{Stack: sp.Stack, Outcome: Failed, Err: err})
			continue
		}
		if sp.Spec == nil {
			res.Stacks = append(res.Stacks, StackResult{Stack: sp.Stack, Outcome: Applied})
			continue
		}
		sp.Depart = nil
		res.Stacks = append(res.Stacks, ApplyStack(ctx, eng, sp, opts))
	}
	return res
}

// runAll runs f on every action at once and reports each.
func runAll(actions []Action, f func(Action) error) []ActionResult {
	res := make([]ActionResult, len(actions))
	var wg sync.WaitGroup
	for i, a := range actions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := f(a)
			res[i] = ActionResult{Action: a, Err: err, Duration: time.Since(start)}
		}()
	}
	wg.Wait()
	return res
}

func resultsErr(res []ActionResult) error {
	var errs []error
	for _, r := range res {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.Action.Kind, r.Action.Name, r.Err))
		}
	}
	return errors.Join(errs...)
}
