package source

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// runner runs network calls in goroutines of their own, so that a caller
// returns at its deadline even when the call ignores its context, and
// counts the calls it abandoned that are still running.
type runner struct {
	log  *slog.Logger
	max  int32        // hung calls at which new ones are refused
	hung atomic.Int32 // abandoned calls still running
}

// call states, for the hand-over between the caller and the goroutine.
const (
	callRunning int32 = iota
	callReturned
	callAbandoned
)

type result[T any] struct {
	v   T
	err error
}

// detach runs fn under ctx, which should carry a deadline, in a goroutine of
// its own and waits for it or for ctx to end. When ctx ends first, fn is
// abandoned: detach returns ctx's error at once, and the goroutine, when fn
// finally returns, calls orphan with fn's results (to undo what fn left
// behind) and exits. When r.max abandoned calls are still running, fn is
// not run at all and orphan is called at once with fn's zero results.
// Exactly one of the caller and orphan (when not nil) owns the outcome:
// abandoned reports that it is orphan.
func detach[T any](ctx context.Context, r *runner, op string, fn func(context.Context) (T, error),
	orphan func(T, error)) (v T, abandoned bool, err error) {
	if orphan == nil {
		orphan = func(T, error) {}
	}
	if n := r.hung.Load(); n >= r.max {
		err := fmt.Errorf("%d earlier calls still hung", n)
		orphan(v, err)
		return v, true, err
	}
	var state atomic.Int32
	done := make(chan result[T], 1)
	start := time.Now()
	go func() {
		v, err := fn(ctx)
		if state.CompareAndSwap(callRunning, callReturned) {
			done <- result[T]{v, err}
			return
		}
		orphan(v, err)
		n := r.hung.Add(-1)
		level := slog.LevelDebug
		if n == 0 { // the last one: a state change
			level = slog.LevelInfo
		}
		r.log.Log(context.Background(), level, "abandoned git call ended",
			"op", op, "after", time.Since(start).Round(time.Millisecond), "hung", n)
	}()
	select {
	case res := <-done:
		return res.v, false, res.err
	case <-ctx.Done():
	}
	n := r.hung.Add(1) // before the hand-over, so the count never goes negative
	if !state.CompareAndSwap(callRunning, callAbandoned) {
		r.hung.Add(-1) // fn returned meanwhile: its result is the caller's
		res := <-done
		return res.v, false, res.err
	}
	level := slog.LevelDebug
	if n == 1 { // the first one: a state change
		level = slog.LevelWarn
	}
	r.log.Log(context.Background(), level, "git call abandoned at its deadline, left running", "op", op, "hung", n)
	return v, true, ctx.Err()
}
