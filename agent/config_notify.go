package agent

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/skiffops/skiff/agent/webhook"
	"github.com/skiffops/skiff/manifests"
)

// NotifyConfig is one webhook the agent tells what happens on the node
// (README: Notifications). Exactly one of URL and URLFile is set; a URL
// that carries credentials (userinfo, or a token in its path such as
// Slack's) belongs in URLFile, which holds the URL alone.
type NotifyConfig struct {
	URL          string        `yaml:"url"`
	URLFile      string        `yaml:"url_file"`
	Format       string        `yaml:"format"`         // json (default), slack, ntfy
	Events       []string      `yaml:"events"`         // default: every event but applied
	PendingAfter time.Duration `yaml:"pending_after"`  // default 10m
	OfflineAfter time.Duration `yaml:"offline_after"`  // default 15m
	MaxPerMinute int           `yaml:"max_per_minute"` // default 6; events beyond are coalesced
}

// validateNotify checks the notify list; url_file is read when the agent
// starts, not here.
func (c Config) validateNotify() []error {
	var errs []error
	for i, n := range c.Notify {
		add := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("notify[%d]%s: %s", i, field, fmt.Sprintf(format, args...)))
		}
		switch {
		case n.URL == "" && n.URLFile == "":
			add("", "set url, or url_file for a URL that carries credentials")
		case n.URL != "" && n.URLFile != "":
			add("", "set url or url_file, not both")
		case n.URL != "":
			if err := webhook.CheckURL(n.URL, true); err != nil {
				add(".url", "%v", err)
			}
		case !filepath.IsAbs(n.URLFile):
			add(".url_file", "must be an absolute path, got %q", n.URLFile)
		}
		if _, err := webhook.ParseFormat(n.Format); err != nil {
			add(".format", "%v", err)
		}
		if n.Events != nil && len(n.Events) == 0 {
			add(".events", "is empty: list the events to send, or leave it out for the default (all but applied)")
		}
		for j, e := range n.Events {
			if _, err := webhook.ParseKind(e); err != nil {
				add(fmt.Sprintf(".events[%d]", j), "%v", err)
			} else if slices.Index(n.Events, e) != j {
				add(fmt.Sprintf(".events[%d]", j), "%q is listed twice", e)
			}
		}
		for field, d := range map[string]time.Duration{".pending_after": n.PendingAfter, ".offline_after": n.OfflineAfter} {
			if d < 0 {
				add(field, "must not be negative, got %s", d)
			}
		}
		if n.MaxPerMinute < 0 {
			add(".max_per_minute", "must not be negative, got %d", n.MaxPerMinute)
		}
	}
	return errs
}

// validateLabelVars refuses two label keys that give one interpolation
// variable (gpu-type and gpu.type are both SKIFF_LABEL_GPU_TYPE).
func (c Config) validateLabelVars() []error {
	byVar := map[string][]string{}
	for k := range c.Labels {
		byVar[manifests.LabelVar(k)] = append(byVar[manifests.LabelVar(k)], k)
	}
	var errs []error
	for _, v := range slices.Sorted(maps.Keys(byVar)) {
		if keys := byVar[v]; len(keys) > 1 {
			slices.Sort(keys)
			errs = append(errs, fmt.Errorf("labels: keys %s all give the interpolation variable %s: keep one", strings.Join(keys, ", "), v))
		}
	}
	return errs
}
