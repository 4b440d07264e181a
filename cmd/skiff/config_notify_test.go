package main

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skiffops/skiff/agent"
)

// notify is a list of mappings: each item decodes field by field, and
// every error names the file, the line and the item.
func TestLoadConfigNotify(t *testing.T) {
	body := minimal + `notify:
  - url: https://ntfy.example.net/edge-alerts
    format: ntfy
    events: [failed, rolled-back, offline]
    offline_after: 5m
  - url_file: /etc/skiff/slack-webhook.url
    format: slack
    pending_after: 30m
    max_per_minute: 2
`
	cfg, err := loadWith(t, body)
	if err != nil {
		t.Fatal(err)
	}
	want := []agent.NotifyConfig{
		{URL: "https://ntfy.example.net/edge-alerts", Format: "ntfy", Events: []string{"failed", "rolled-back", "offline"}, OfflineAfter: 5 * time.Minute},
		{URLFile: "/etc/skiff/slack-webhook.url", Format: "slack", PendingAfter: 30 * time.Minute, MaxPerMinute: 2},
	}
	if diff := cmp.Diff(want, cfg.Notify); diff != "" {
		t.Errorf("notify (-want +got):\n%s", diff)
	}
}

func TestLoadConfigNotifyErrors(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		wants []string
	}{
		{"unknown key in an item", "notify:\n  - url: https://h.example/x\n    formt: slack\n",
			[]string{"agent.yaml:6:", `unknown key "notify[0].formt"`, "known: url, url_file, format, events, pending_after, offline_after, max_per_minute"}},
		{"not a list", "notify: {url: https://h.example/x}\n", []string{"agent.yaml:4:", "notify: must be a list of mappings"}},
		{"item not a mapping", "notify: [https://h.example/x]\n", []string{"agent.yaml:4:", "notify[0]: must be a mapping"}},
		{"number", "notify: [{url: https://h.example/x, max_per_minute: many}]\n", []string{"agent.yaml:4:", `notify[0].max_per_minute: "many" is not a whole number`}},
		{"duration", "notify: [{url: https://h.example/x}, {url: https://h.example/y, pending_after: 10}]\n",
			[]string{"agent.yaml:4:", `notify[1].pending_after: "10" is not a duration`}},
		{"credentials inline", "notify: [{url: \"https://bot:hunter2@ntfy.example.net/a\"}]\n",
			[]string{"notify[0].url: https://ntfy.example.net/… carries credentials: put the whole URL in a url_file"}},
		{"neither url nor file", "notify: [{format: slack}]\n", []string{"notify[0]: set url, or url_file"}},
		{"both", "notify: [{url: https://h.example/x, url_file: /etc/x}]\n", []string{"notify[0]: set url or url_file, not both"}},
		{"relative url_file", "notify: [{url_file: hook.url}]\n", []string{`notify[0].url_file: must be an absolute path, got "hook.url"`}},
		{"scheme", "notify: [{url: \"ftp://h.example/x\"}]\n", []string{"notify[0].url: ftp://h.example/…: scheme must be http or https"}},
		{"format", "notify: [{url: https://h.example/x, format: teams}]\n", []string{`notify[0].format: unknown format "teams"`}},
		{"event", "notify: [{url: https://h.example/x, events: [failed, exploded]}]\n",
			[]string{`notify[0].events[1]: unknown event "exploded" (known: failed, rolled-back, refused, pending, applied, offline)`}},
		{"event twice", "notify: [{url: https://h.example/x, events: [failed, failed]}]\n", []string{`notify[0].events[1]: "failed" is listed twice`}},
		{"no events", "notify: [{url: https://h.example/x, events: []}]\n", []string{"notify[0].events: is empty"}},
		{"negative", "notify: [{url: https://h.example/x, offline_after: -1m, max_per_minute: -1}]\n",
			[]string{"notify[0].offline_after: must not be negative", "notify[0].max_per_minute: must not be negative"}},
		{"label variables clash", minimal + "labels: {gpu-type: a, gpu.type: b}\n", []string{"labels: keys gpu-type, gpu.type all give the interpolation variable SKIFF_LABEL_GPU_TYPE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if !strings.HasPrefix(body, minimal) {
				body = minimal + body
			}
			_, err := loadWith(t, body)
			wantLoadError(t, err, tt.wants)
		})
	}
}

// A list of mappings has no flag: it is set in the file.
func TestNotifyHasNoFlag(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	bindConfigFlags(fs)
	if fs.Lookup("notify") != nil {
		t.Error("a --notify flag exists")
	}
}
