package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// Event is a change to one of this node's containers that may need healing.
type Event struct {
	Time      time.Time
	Action    string // die, destroy, oom, health_status: unhealthy, …
	Container string // name
	Stack     string
	Service   string
}

// healingActions are the container events that can leave a node off its
// desired state.
var healingActions = []string{"die", "destroy", "oom", "health_status"}

// Watch calls onEvent for every healing event on this node's containers
// until ctx ends. The engine ends its event stream when the daemon restarts:
// Watch then reconnects, with a capped backoff, and resubscribes from the
// last event it saw, so none is lost. onState hears every change between
// connected and not (with the error), for logs and status.
func (e *Engine) Watch(ctx context.Context, onEvent func(Event), onState func(connected bool, err error)) {
	since := time.Now()
	delay := e.opts.Poll
	connected := false
	for ctx.Err() == nil {
		last, err := e.watchOnce(ctx, since, onEvent, func() {
			if !connected {
				connected = true
				delay = e.opts.Poll
				onState(true, nil)
			}
		})
		if !last.IsZero() {
			since = last
		}
		if ctx.Err() != nil {
			return
		}
		if connected {
			connected = false
			onState(false, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// watchOnce follows one event stream until it ends; it returns the time of
// the last event seen and why the stream ended.
func (e *Engine) watchOnce(ctx context.Context, since time.Time, onEvent func(Event), up func()) (time.Time, error) {
	if err := e.ping(ctx); err != nil {
		return time.Time{}, err
	}
	f := e.nodeFilter(filters.Arg("type", string(events.ContainerEventType)))
	for _, a := range healingActions {
		f.Add("event", a)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, errs := e.cli.Events(ctx, events.ListOptions{Since: sinceArg(since), Filters: f})
	up()
	var last time.Time
	for {
		select {
		case m := <-msgs:
			last = time.Unix(0, m.TimeNano)
			onEvent(Event{
				Time: last, Action: string(m.Action), Container: m.Actor.Attributes["name"],
				Stack: m.Actor.Attributes[LabelProject], Service: m.Actor.Attributes[LabelService],
			})
		case err := <-errs:
			return last, fmt.Errorf("docker event stream ended: %w", err)
		}
	}
}

// sinceArg formats a time as the engine's since filter, to the nanosecond,
// one nanosecond past the last event seen so it is not delivered twice.
func sinceArg(t time.Time) string {
	t = t.Add(time.Nanosecond)
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// ping asks the engine whether it answers, within CallTimeout: the event
// stream itself has no deadline, so a hung engine is found here, and the
// reconnect loop goes on backing off instead of waiting on it.
func (e *Engine) ping(ctx context.Context) error {
	ctx, cancel := e.callCtx(ctx)
	defer cancel()
	if _, err := e.cli.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}
