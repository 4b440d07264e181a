package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Format is how a webhook's messages are written.
type Format string

// The formats.
const (
	JSON  Format = "json"  // Payload, application/json
	Slack Format = "slack" // {"text": …}: Slack's incoming webhooks, and the many chat tools that copy them
	Ntfy  Format = "ntfy"  // a plain text body with Title, Priority and Tags headers
)

// ParseFormat checks a format name; "" is JSON.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case "":
		return JSON, nil
	case JSON, Slack, Ntfy:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (known: json, slack, ntfy)", s)
}

// message is one request's body and headers.
type message struct {
	body   []byte
	header http.Header
}

// render writes a message of events for node in the format.
func render(f Format, p Payload) (message, error) {
	h := http.Header{}
	switch f {
	case Slack:
		body, err := json.Marshal(struct {
			Text string `json:"text"`
		}{slackText(p)})
		h.Set("Content-Type", "application/json")
		return message{body, h}, err
	case Ntfy:
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Title", ntfyTitle(p))
		h.Set("Priority", ntfyPriority(p.Events))
		h.Set("Tags", ntfyTags(p.Events))
		return message{[]byte(plainText(p)), h}, nil
	}
	body, err := json.Marshal(p)
	h.Set("Content-Type", "application/json")
	return message{body, h}, err
}

// lines are the events' summaries, with what was lost.
func lines(p Payload) []string {
	out := make([]string, 0, len(p.Events)+1)
	for _, e := range p.Events {
		out = append(out, e.Summary)
	}
	if p.Dropped > 0 {
		out = append(out, fmt.Sprintf("(%d older events were dropped: the queue was full)", p.Dropped))
	}
	return out
}

func where(p Payload) string {
	return fmt.Sprintf("%s (%s)", p.Node, p.Region)
}

func slackText(p Payload) string {
	l := lines(p)
	if len(p.Events) == 1 && p.Dropped == 0 {
		return fmt.Sprintf("skiff %s: %s", where(p), l[0])
	}
	return fmt.Sprintf("skiff %s, %d events:\n• %s", where(p), len(p.Events), strings.Join(l, "\n• "))
}

func plainText(p Payload) string {
	return strings.Join(lines(p), "\n") + "\n"
}

func ntfyTitle(p Payload) string {
	if len(p.Events) == 1 {
		e := p.Events[0]
		what := string(e.Event)
		if e.Stack != "" {
			what = e.Stack + " " + what
		}
		return oneLine(fmt.Sprintf("skiff %s: %s", p.Node, what))
	}
	return oneLine(fmt.Sprintf("skiff %s: %d events", p.Node, len(p.Events)))
}

// ntfyPriority is the highest of the events': a failure is high, a
// pending revision default, good news low.
func ntfyPriority(events []PayloadEvent) string {
	rank := map[Kind]int{Applied: 1, Online: 1, Pending: 2, Failed: 3, RolledBack: 3, Refused: 3, Offline: 3}
	best := 0
	for _, e := range events {
		best = max(best, rank[e.Event])
	}
	return [...]string{"default", "low", "default", "high"}[best]
}

// ntfyTags are ntfy's emoji short codes for the events, and "skiff".
func ntfyTags(events []PayloadEvent) string {
	emoji := map[Kind]string{
		Applied: "white_check_mark", Online: "white_check_mark", Pending: "hourglass",
		Failed: "x", RolledBack: "rewind", Refused: "no_entry", Offline: "electric_plug",
	}
	tags := []string{}
	for _, e := range events {
		if t := emoji[e.Event]; t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return strings.Join(append(tags, "skiff"), ",")
}

// payload is the message of events for a node, as of now.
func payload(node, region string, events []Event, dropped int, now time.Time) Payload {
	p := Payload{Version: PayloadVersion, Node: node, Region: region, Events: make([]PayloadEvent, len(events)), Dropped: dropped}
	for i, e := range events {
		p.Events[i] = payloadEvent(e, now)
	}
	return p
}
