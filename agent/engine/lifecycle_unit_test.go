package engine

import (
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

func TestStopWait(t *testing.T) {
	secs := func(n int) *container.Config { return &container.Config{StopTimeout: &n} }
	for _, tt := range []struct {
		name string
		cfg  *container.Config
		want time.Duration
	}{
		{"no config", nil, defaultStopWait},
		{"unset", &container.Config{}, defaultStopWait},
		{"set", secs(90), 90 * time.Second},
		{"zero", secs(0), 0},
		{"wait for ever", secs(-1), maxStopWait},
		{"long", secs(86400), 24 * time.Hour},
	} {
		if got := stopWait(tt.cfg); got != tt.want {
			t.Errorf("%s: stopWait = %s, want %s", tt.name, got, tt.want)
		}
	}
}
