package webhook

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/skiffops/skiff/internal/redact"
)

// Kind is what an event says happened.
type Kind string

// The kinds of events. A webhook subscribes to any of Kinds; Online comes
// with Offline.
const (
	Applied    Kind = "applied"     // the node applied a new revision (Outcome: applied, or partial)
	Failed     Kind = "failed"      // a stack's update failed and its last good spec could not be restored
	RolledBack Kind = "rolled-back" // a stack's update failed and it was rolled back to its last good spec
	Refused    Kind = "refused"     // a revision refused as a whole (no Stack), or one stack of it
	Pending    Kind = "pending"     // condition: the wanted revision is not applied yet
	Offline    Kind = "offline"     // condition: the Git source does not answer
	Online     Kind = "online"      // the Git source answers again, after an Offline message
)

// Kinds are the events a webhook can subscribe to.
var Kinds = []Kind{Failed, RolledBack, Refused, Pending, Applied, Offline}

// DefaultEvents are the events of a webhook that names none: everything
// but applied, which comes with every commit.
var DefaultEvents = []Kind{Failed, RolledBack, Refused, Pending, Offline}

// ParseKind checks the name of an event a webhook subscribes to.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return "", fmt.Errorf("unknown event %q (known: %s)", s, strings.Join(names, ", "))
}

// Event is what the agent reports. Pending and Offline are conditions: an
// event with Cleared set ends them.
type Event struct {
	Kind     Kind
	Time     time.Time // when it happened; zero: when reported
	Revision string    // the commit concerned, in full
	Stack    string    // failed, rolled-back, refused: the stack; "" for a whole revision
	Outcome  string    // applied: applied, or partial (some stacks kept their last good spec)
	Error    string    // why: the update's error, the refusal, what a pending revision waits for, Git's error
	Since    time.Time // pending, offline: when the condition began
	Images   []Image   // pending: the images waited for
	Cleared  bool      // pending, offline: the condition is over
}

// Image is one image a pending revision waits for.
type Image struct {
	Image      string   `json:"image"`
	Registries []string `json:"registries,omitempty"` // tried, nearest first
	Error      string   `json:"error,omitempty"`
}

// PayloadVersion is the version of Payload's field set. Fields may be added
// within a version; none is removed or changes meaning.
const PayloadVersion = 1

// Payload is the body of a json webhook message.
type Payload struct {
	Version int    `json:"version"` // PayloadVersion
	Node    string `json:"node"`
	Region  string `json:"region"`
	// Events are one event, or several coalesced by the rate limit or
	// queued while the receiver was down, oldest first.
	Events []PayloadEvent `json:"events"`
	// Dropped counts the events lost to a full queue since the last
	// message this webhook took.
	Dropped int `json:"dropped"`
}

// PayloadEvent is one event of a Payload. event, time and summary are
// always set; the others when the event has them.
type PayloadEvent struct {
	Event    Kind       `json:"event"`   // applied, failed, rolled-back, refused, pending, offline, online
	Time     time.Time  `json:"time"`    // when it happened (RFC 3339)
	Summary  string     `json:"summary"` // one line for people
	Revision string     `json:"revision,omitempty"`
	Stack    string     `json:"stack,omitempty"`
	Outcome  string     `json:"outcome,omitempty"` // applied: applied, or partial
	Error    string     `json:"error,omitempty"`   // URL passwords redacted
	Since    *time.Time `json:"since,omitempty"`   // pending, offline, online: when the condition began
	Images   []Image    `json:"images,omitempty"`  // pending
}

// maxErrorLen bounds an error in a message: chat channels have limits.
const maxErrorLen = 2000

// payloadEvent turns an event into its payload form, as of now.
func payloadEvent(e Event, now time.Time) PayloadEvent {
	p := PayloadEvent{
		Event: e.Kind, Time: e.Time.UTC(), Revision: e.Revision, Stack: e.Stack, Outcome: e.Outcome,
		Error: clip(redact.Text(e.Error)), Images: slices.Clone(e.Images),
	}
	for i := range p.Images {
		p.Images[i].Error = clip(redact.Text(p.Images[i].Error))
	}
	if !e.Since.IsZero() {
		since := e.Since.UTC()
		p.Since = &since
	}
	p.Summary = summary(e, now)
	return p
}

func clip(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	return s[:maxErrorLen] + "…"
}

// summary is the event's one line for people.
func summary(e Event, now time.Time) string {
	rev := short(e.Revision)
	var s string
	switch e.Kind {
	case Applied:
		s = "revision " + rev + " applied"
		if e.Outcome == "partial" {
			s += " in part: some stacks kept their last good spec"
		}
	case Failed:
		s = fmt.Sprintf("stack %s failed at %s and its last good spec could not be restored", e.Stack, rev)
	case RolledBack:
		s = fmt.Sprintf("stack %s rolled back to its last good spec: its update to %s failed", e.Stack, rev)
	case Refused:
		if e.Stack != "" {
			s = fmt.Sprintf("stack %s refused at %s: it keeps its last good spec", e.Stack, rev)
		} else {
			s = "revision " + rev + " refused: the node keeps what it runs"
		}
	case Pending:
		s = fmt.Sprintf("revision %s pending for %s", rev, round(now.Sub(e.Since)))
		if len(e.Images) > 0 {
			refs := make([]string, len(e.Images))
			for i, img := range e.Images {
				refs[i] = img.Image
			}
			s += ": waits for " + strings.Join(refs, ", ")
		}
	case Offline:
		s = fmt.Sprintf("Git source unreachable for %s: the node keeps its last applied state", round(now.Sub(e.Since)))
	case Online:
		s = fmt.Sprintf("Git source reachable again after %s", round(e.Time.Sub(e.Since)))
	default:
		s = string(e.Kind)
	}
	if e.Error != "" && (e.Kind != Pending || len(e.Images) == 0) {
		s += ": " + clip(redact.Text(e.Error))
	}
	return oneLine(s)
}

func short(commit string) string {
	if len(commit) > 7 {
		return commit[:7]
	}
	return commit
}

func round(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
