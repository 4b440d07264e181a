package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/skiffops/skiff/manifests"
)

// stackTx applies one stack's plan with an undo log.
type stackTx struct {
	eng  Engine
	plan StackPlan
	opts Options
	// netsTouched is set once a network was removed: containers attached
	// to it before can no longer start, so undo only renames them back
	// and the caller's restore recreates them. Written before the levels
	// run, read by undo.
	netsTouched bool

	mu      sync.Mutex // guards the fields below: a level's actions run concurrently
	undo    []func(context.Context) error
	commit  []func(context.Context) error
	ids     map[string][]string // per service, the replicas that carry the spec
	results []ActionResult
}

func (tx *stackTx) run(ctx context.Context) error {
	if len(tx.plan.Depart) > 0 {
		res, err := Depart(ctx, tx.eng, StackPlan{Depart: tx.plan.Depart, Spec: tx.plan.Spec})
		tx.results = append(tx.results, res...)
		if err != nil {
			return err
		}
	}
	if err := tx.setAsideEarly(ctx); err != nil {
		return err
	}
	if err := tx.prepare(ctx); err != nil {
		return err
	}
	for _, level := range tx.plan.Levels {
		if len(level) == 0 {
			continue
		}
		if err := tx.awaitConditions(level); err != nil {
			return err
		}
		if err := tx.runLevel(ctx, level); err != nil {
			return err
		}
	}
	return nil
}

// setAsideEarly stops and renames the old containers attached to networks
// this plan recreates: a network cannot be removed while they use it.
func (tx *stackTx) setAsideEarly(ctx context.Context) error {
	var early []Action
	for _, level := range tx.plan.Levels {
		for _, a := range level {
			if a.Kind == Recreate && a.Early {
				early = append(early, a)
			}
		}
	}
	res := runAll(early, func(a Action) error { return tx.setAside(ctx, *a.Container, a.Name, true) })
	tx.results = append(tx.results, res...)
	return resultsErr(res)
}

func (tx *stackTx) prepare(ctx context.Context) error {
	for _, a := range tx.plan.Prepare {
		start := time.Now()
		err := tx.prepareOne(ctx, a)
		tx.record(a, err, start)
		if err != nil {
			return fmt.Errorf("%s %s: %w", a.Kind, a.Name, err)
		}
	}
	return nil
}

func (tx *stackTx) prepareOne(ctx context.Context, a Action) error {
	switch a.Kind {
	case CreateNetwork:
		if err := tx.eng.CreateNetwork(ctx, tx.plan.Spec, a.Key); err != nil {
			return err
		}
		tx.onUndo(func(ctx context.Context) error { return tx.eng.RemoveNetwork(ctx, a.Name) })
	case RecreateNetwork:
		tx.netsTouched = true
		if err := tx.eng.RemoveNetwork(ctx, a.Network.ID); err != nil {
			return err
		}
		if err := tx.eng.CreateNetwork(ctx, tx.plan.Spec, a.Key); err != nil {
			return err
		}
		// Undo removes the new network; restoring the last good spec
		// creates the old definition again.
		tx.onUndo(func(ctx context.Context) error { return tx.eng.RemoveNetwork(ctx, a.Name) })
	case CreateVolume:
		return tx.eng.CreateVolume(ctx, tx.plan.Spec, a.Key) // never undone: volumes are never removed
	default:
		return fmt.Errorf("unknown prepare action %q", a.Kind)
	}
	return nil
}

// awaitConditions waits, in an update, for the depends_on conditions of the
// level's services on the replicas of their dependencies that carry the
// spec; each pair is awaited concurrently.
func (tx *stackTx) awaitConditions(level []Action) error {
	if !tx.opts.Gate {
		return nil
	}
	type wait struct{ service, dep, cond string }
	var waits []wait
	for _, a := range level {
		cfg := tx.plan.Spec.Project.Services[a.Service]
		for _, dep := range sortedKeys(cfg.DependsOn) {
			w := wait{a.Service, dep, cfg.DependsOn[dep].Condition}
			if _, ok := tx.plan.Spec.Project.Services[dep]; ok && !slices.Contains(waits, w) {
				waits = append(waits, w)
			}
		}
	}
	errs := make([]error, len(waits))
	var wg sync.WaitGroup
	for i, w := range waits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := tx.idsOf(w.dep)
			if len(ids) == 0 {
				errs[i] = fmt.Errorf("service %s depends on %s, which has no replica", w.service, w.dep)
				return
			}
			if err := tx.eng.WaitCondition(tx.opts.Wait, ids, w.cond); err != nil {
				errs[i] = fmt.Errorf("service %s: dependency %s (%s): %w", w.service, w.dep, w.cond, err)
			}
		}()
	}
	wg.Wait()
	return tx.waitErr(errors.Join(errs...))
}

// runLevel runs the actions of a level at once; the first failure cancels
// the others' waits.
func (tx *stackTx) runLevel(ctx context.Context, level []Action) error {
	wait, cancel := context.WithCancel(tx.opts.Wait)
	defer cancel()
	errs := make([]error, len(level))
	var wg sync.WaitGroup
	for i, a := range level {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := tx.do(ctx, wait, a)
			tx.record(a, err, start)
			if err != nil {
				errs[i] = fmt.Errorf("%s %s: %w", a.Kind, a.Name, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	return tx.waitErr(firstCause(errs))
}

// firstCause returns the first error that is not the cancellation of a
// sibling's failure.
func firstCause(errs []error) error {
	var cancelled error
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled):
			if cancelled == nil {
				cancelled = err
			}
		default:
			return err
		}
	}
	return cancelled
}

// waitErr turns an error seen while the transaction's waits were abandoned
// into ErrAbandoned with its cause.
func (tx *stackTx) waitErr(err error) error {
	if err == nil {
		return nil
	}
	if tx.opts.Wait.Err() != nil {
		return fmt.Errorf("%w: %w", ErrAbandoned, context.Cause(tx.opts.Wait))
	}
	return err
}

func (tx *stackTx) do(ctx, wait context.Context, a Action) error {
	switch a.Kind {
	case Create:
		return tx.createAndStart(ctx, wait, a, "")
	case Recreate:
		return tx.recreate(ctx, wait, a)
	case Start:
		c := *a.Container
		if err := tx.restoreName(ctx, c, a.Name); err != nil {
			return err
		}
		if err := tx.eng.StartContainer(ctx, c.ID); err != nil {
			return err
		}
		tx.onUndo(func(ctx context.Context) error { return tx.eng.StopContainer(ctx, c.ID) })
		tx.addID(a.Service, c.ID)
		return tx.gate(wait, a.Service, c.ID)
	case Rename:
		return tx.restoreName(ctx, *a.Container, a.Name)
	}
	return fmt.Errorf("unknown container action %q", a.Kind)
}

// recreate replaces a replica. stop-first stops the old container before the
// new one starts; start-first starts the new one beside it. Either way the
// old container is renamed out of the way and removed only at commit, so a
// failed gate restores it.
func (tx *stackTx) recreate(ctx, wait context.Context, a Action) error {
	old := *a.Container
	if !a.Early {
		if err := tx.setAside(ctx, old, a.Name, a.Update != manifests.UpdateStartFirst); err != nil {
			return err
		}
	}
	if err := tx.createAndStart(ctx, wait, a, old.ID); err != nil {
		return err
	}
	tx.onCommit(func(ctx context.Context) error { return tx.eng.RemoveContainer(ctx, old.ID) })
	return nil
}

// setAside stops c (when asked and it runs) and renames it out of the way of
// the replica's name; undo restores its name and state.
func (tx *stackTx) setAside(ctx context.Context, c Container, name string, stop bool) error {
	if stop && (c.State == StateRunning || c.State == StateRestarting) {
		if err := tx.eng.StopContainer(ctx, c.ID); err != nil {
			return err
		}
		tx.onUndo(func(ctx context.Context) error {
			if tx.netsTouched {
				return nil // its network is gone: the restore recreates it
			}
			return tx.eng.StartContainer(ctx, c.ID)
		})
	}
	aside := asideName(c.ID, name)
	if c.Name == aside {
		return nil
	}
	if err := tx.eng.RenameContainer(ctx, c.ID, aside); err != nil {
		return err
	}
	tx.onUndo(func(ctx context.Context) error { return tx.eng.RenameContainer(ctx, c.ID, c.Name) })
	return nil
}

func (tx *stackTx) createAndStart(ctx, wait context.Context, a Action, replaces string) error {
	req := CreateRequest{Stack: tx.plan.Spec, Service: a.Service, Number: a.Number, Name: a.Name, Revision: tx.plan.Revision, Replaces: replaces}
	id, err := tx.eng.CreateContainer(ctx, req)
	if err != nil {
		return err
	}
	tx.onUndo(func(ctx context.Context) error { return tx.eng.RemoveContainer(ctx, id) })
	if err := tx.eng.StartContainer(ctx, id); err != nil {
		return err
	}
	tx.addID(a.Service, id)
	return tx.gate(wait, a.Service, id)
}

// restoreName gives a container set aside by an earlier update its
// replica's name back.
func (tx *stackTx) restoreName(ctx context.Context, c Container, name string) error {
	if c.Name == name {
		return nil
	}
	if err := tx.eng.RenameContainer(ctx, c.ID, name); err != nil {
		return err
	}
	tx.onUndo(func(ctx context.Context) error { return tx.eng.RenameContainer(ctx, c.ID, c.Name) })
	return nil
}

func (tx *stackTx) gate(wait context.Context, service, id string) error {
	if !tx.opts.Gate {
		return nil
	}
	svc, _ := findService(tx.plan.Spec, service)
	if err := tx.eng.WaitReady(wait, id, svc.HealthGrace); err != nil {
		return fmt.Errorf("health gate: %w", err)
	}
	return nil
}

// finish runs the commit log: the old containers go, all at once, then the
// networks no service uses.
func (tx *stackTx) finish(ctx context.Context) error {
	errs := make([]error, len(tx.commit))
	var wg sync.WaitGroup
	for i, f := range tx.commit {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(ctx)
		}()
	}
	wg.Wait()
	for _, a := range tx.plan.Cleanup {
		start := time.Now()
		err := tx.eng.RemoveNetwork(ctx, a.Network.ID)
		tx.record(a, err, start)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
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

func (tx *stackTx) onUndo(f func(context.Context) error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.undo = append(tx.undo, f)
}

func (tx *stackTx) onCommit(f func(context.Context) error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.commit = append(tx.commit, f)
}

func (tx *stackTx) addID(service, id string) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.ids[service] = append(tx.ids[service], id)
}

func (tx *stackTx) idsOf(service string) []string {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return slices.Clone(tx.ids[service])
}

func (tx *stackTx) record(a Action, err error, start time.Time) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.results = append(tx.results, ActionResult{Action: a, Err: err, Duration: time.Since(start)})
}

// asideName is the name an old container carries while its replacement
// starts: its short ID before the replica's name, as docker compose does.
func asideName(id, name string) string {
	if len(id) > 12 {
		id = id[:12]
	}
	return id + "_" + name
}
