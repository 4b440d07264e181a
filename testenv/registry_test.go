package testenv

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
)

// TestRegistryPushPullRun is the acceptance test of the test world: an image
// pushed to a loopback registry, removed locally, pulled back through the
// engine and run, with the registry's log showing the pull.
func TestRegistryPushPullRun(t *testing.T) {
	t.Parallel()
	local := "skiff-test/pull:" + TestName(t)
	// A variant of its own, so removing the image really removes its layer
	// and the pull has to fetch it.
	id := TestImageVariant(t, local, local)
	reg := Registry(t)
	remote := reg.Addr() + "/skiff-test/pull:v1"
	// Registered before Docker(t), so it runs after the container is gone.
	cli := dockerClient(t)
	t.Cleanup(func() { RemoveImageTag(t, cli, remote) })
	env := Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if err := PushImage(ctx, env.Client, local, remote); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{local, remote} {
		if _, err := env.Client.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Fatalf("remove %s: %v", ref, err)
		}
	}
	if _, err := env.Client.ImageInspect(ctx, id); !cerrdefs.IsNotFound(err) {
		t.Fatalf("image %s still present after removal (inspect: %v)", id, err)
	}
	blobsBefore := registryRequests(t, reg, "GET", "/v2/skiff-test/pull/blobs/")

	if err := PullImage(ctx, env.Client, remote); err != nil {
		t.Fatal(err)
	}
	ctr := runTestContainer(t, env, &container.Config{Image: remote, Cmd: []string{"-message", "pulled " + env.Label}})
	if ctr.image != id {
		t.Errorf("pulled image ID = %s, want the pushed %s", ctr.image, id)
	}
	if body := waitTestServer(t, "http://"+ctr.addr+"/"); !strings.Contains(body, "pulled "+env.Label) {
		t.Errorf("GET / = %q, want the message %q", body, "pulled "+env.Label)
	}
	// The engine resolves the tag with HEAD, then GETs the manifest by digest,
	// the config blob and the layer.
	waitRegistryRequests(t, reg, "HEAD", "/v2/skiff-test/pull/manifests/v1", 1)
	waitRegistryRequests(t, reg, "GET", "/v2/skiff-test/pull/manifests/", 1)
	waitRegistryRequests(t, reg, "GET", "/v2/skiff-test/pull/blobs/", blobsBefore+2)
}

func TestStartRegistryServesAndStops(t *testing.T) {
	t.Parallel()
	if _, err := registryBinary(); err != nil {
		missingDocker(t, err.Error())
	}
	dir := t.TempDir()
	reg, err := StartRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := registryRequests(t, reg, "GET", "/v2/"); got < 1 {
		t.Errorf("requests for GET /v2/ after start = %d, want at least the readiness check", got)
	}
	if _, err := getOK(reg.URL() + "/v2/nothing/here/tags/list"); err == nil {
		t.Error("GET of an unknown repository's tags succeeded, want 404")
	}
	if err := reg.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := reg.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := getOK(reg.URL() + "/v2/"); err == nil {
		t.Error("registry still answers after Close")
	}
	if _, err := os.Stat(filepath.Join(dir, "config.yml")); err != nil {
		t.Errorf("config not written into the registry's dir: %v", err)
	}
}

func registryRequests(t *testing.T, reg *RegistryServer, method, prefix string) int {
	t.Helper()
	n, err := reg.Requests(method, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitRegistryRequests waits until the registry's log shows at least min
// answered requests: it logs a request just after answering it.
func waitRegistryRequests(t *testing.T, reg *RegistryServer, method, prefix string, min int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := registryRequests(t, reg, method, prefix)
		if n >= min {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry answered %d %s %s* requests, want at least %d", n, method, prefix, min)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPushImageReportsStreamErrors(t *testing.T) {
	t.Parallel()
	local := "skiff-test/push-fail:" + TestName(t)
	TestImage(t, local)
	remote := "127.0.0.1:1/skiff-test/push-fail:" + TestName(t)
	cli := dockerClient(t)
	t.Cleanup(func() { RemoveImageTag(t, cli, remote) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := PushImage(ctx, cli, local, remote); err == nil {
		t.Fatalf("push to a port nothing listens on succeeded, want the engine's error")
	} else {
		t.Logf("push error (as wanted): %v", err)
	}
}

func TestReadProgress(t *testing.T) {
	tests := []struct {
		name, stream, wantErr string
	}{
		{"empty", "", ""},
		{"progress only", `{"status":"Pushing"}` + "\n" + `{"status":"v1: digest: sha256:abc size: 1"}`, ""},
		{"error detail", `{"status":"Pushing"}{"errorDetail":{"message":"denied: no"},"error":"denied"}`, "denied: no"},
		{"error only", `{"error":"boom"}`, "boom"},
		{"garbage", `{"status":`, "read progress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := readProgress(io.NopCloser(strings.NewReader(tt.stream)))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("readProgress = %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("readProgress = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
