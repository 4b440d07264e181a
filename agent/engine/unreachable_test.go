package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/docker/docker/client"
)

// TestIsUnreachable tells an engine that went away from one that answered.
func TestIsUnreachable(t *testing.T) {
	cases := map[string]struct {
		err  error
		want bool
	}{
		"nil":           {nil, false},
		"reset":         {fmt.Errorf("inspect c1: %w", syscall.ECONNRESET), true},
		"refused":       {fmt.Errorf("start c1: %w", syscall.ECONNREFUSED), true},
		"cut mid-reply": {fmt.Errorf("list: %w", errors.Join(errors.New("x"), fmt.Errorf("read: %w", syscall.EPIPE))), true},
		"not found":     {errors.New("no such container: c1"), false},
		"conflict":      {errors.New("conflict: the container name is already in use"), false},
		"gate":          {errors.New("health gate: unhealthy"), false},
		"deadline":      {context.DeadlineExceeded, false},
	}
	for name, c := range cases {
		if got := IsUnreachable(c.err); got != c.want {
			t.Errorf("%s: IsUnreachable(%v) = %v, want %v", name, c.err, got, c.want)
		}
	}
}

// TestIsUnreachableOfARealClient: the errors of calls to a socket nobody
// listens on, as the docker client returns them, read as unreachable.
func TestIsUnreachableOfARealClient(t *testing.T) {
	e := &Engine{opts: Options{CallTimeout: defaultCallTimeout}}
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+filepath.Join(t.TempDir(), "docker.sock")), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	e.cli = cli
	_, err = e.inspect(context.Background(), "c1")
	if !IsUnreachable(err) {
		t.Errorf("inspect through a missing socket: %v, not unreachable", err)
	}
}
