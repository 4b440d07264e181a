package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"
)

func TestTestImageServesAndProbes(t *testing.T) {
	t.Parallel()
	ref := "skiff-test/serve:" + TestName(t)
	img := TestImage(t, ref)
	env := Docker(t)

	ctr := runTestContainer(t, env, &container.Config{
		Image: ref,
		User:  "nobody",
		Env:   []string{"SKIFF_TEST_VAR=from-env"},
		Cmd:   []string{"-message", "hello " + env.Label},
		Healthcheck: &container.HealthConfig{
			Test:     []string{"CMD", TestImageBinary, "-probe", "http://127.0.0.1:8080/healthz"},
			Interval: 200 * time.Millisecond,
			Retries:  3,
		},
	})
	if ctr.image != img {
		t.Errorf("container image = %s, want %s from TestImage", ctr.image, img)
	}
	for path, want := range map[string]string{
		"/":                         "hello " + env.Label + "\n",
		"/env":                      "SKIFF_TEST_VAR=from-env\n",
		"/file?path=/etc/passwd":    "nobody:x:65534:65534:",
		"/file?path=" + VariantFile: "",
		"/fetch?url=http://127.0.0.1:8080/healthz": "ok",
	} {
		if body := waitTestServer(t, "http://"+ctr.addr+path); !strings.Contains(body, want) {
			t.Errorf("GET %s = %q, want it to contain %q", path, body, want)
		}
	}
	waitHealth(t, env, ctr.id, "healthy")
}

func TestTestImageUnhealthyAndExit(t *testing.T) {
	t.Parallel()
	ref := "skiff-test/exit:" + TestName(t)
	TestImage(t, ref)
	env := Docker(t)

	sick := runTestContainer(t, env, &container.Config{
		Image: ref,
		Cmd:   []string{"-unhealthy"},
		Healthcheck: &container.HealthConfig{
			Test:     []string{"CMD", TestImageBinary, "-probe", "http://127.0.0.1:8080/healthz"},
			Interval: 200 * time.Millisecond,
			Retries:  1,
		},
	})
	job := runTestContainer(t, env, &container.Config{Image: ref, Cmd: []string{"-exit", "3", "-exit-after", "200ms"}})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitC, errC := env.Client.ContainerWait(ctx, job.id, container.WaitConditionNotRunning)
	select {
	case res := <-waitC:
		if res.StatusCode != 3 {
			t.Errorf("job exit code = %d, want 3", res.StatusCode)
		}
	case err := <-errC:
		t.Errorf("wait for job: %v", err)
	}
	waitHealth(t, env, sick.id, "unhealthy")
}

func TestTestImageVariants(t *testing.T) {
	t.Parallel()
	name := "skiff-test/variant"
	tag := TestName(t)
	plain1 := TestImage(t, name+":"+tag+"-a")
	plain2 := TestImage(t, name+":"+tag+"-b")
	blue := TestImageVariant(t, name+":"+tag+"-blue", "blue "+tag)
	green := TestImageVariant(t, name+":"+tag+"-green", "green "+tag)
	if plain1 != plain2 {
		t.Errorf("the same image built twice has IDs %s and %s, want one", plain1, plain2)
	}
	if blue == green || blue == plain1 || green == plain1 {
		t.Errorf("variants share an image ID: plain %s, blue %s, green %s", plain1, blue, green)
	}
}

// testContainer is a running container of the test image.
type testContainer struct {
	id    string
	image string // image ID
	addr  string // 127.0.0.1:port published for TestImagePort
}

// runTestContainer starts a container labelled for env's cleanup, with
// TestImagePort published on an ephemeral 127.0.0.1 port.
func runTestContainer(t *testing.T, env *DockerEnv, cfg *container.Config) testContainer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg.Labels = env.Labels()
	cfg.ExposedPorts = nat.PortSet{TestImagePort: {}}
	host := &container.HostConfig{PortBindings: nat.PortMap{TestImagePort: {{HostIP: "127.0.0.1"}}}}
	created, err := env.Client.ContainerCreate(ctx, cfg, host, nil, nil, UniqueName("ctr"))
	if err != nil {
		t.Fatalf("create container from %s: %v", cfg.Image, err)
	}
	if err := env.Client.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start container %s: %v", created.ID, err)
	}
	inspect, err := env.Client.ContainerInspect(ctx, created.ID)
	if err != nil {
		t.Fatalf("inspect container %s: %v", created.ID, err)
	}
	ctr := testContainer{id: created.ID, image: inspect.Image}
	if b := inspect.NetworkSettings.Ports[TestImagePort]; len(b) > 0 {
		ctr.addr = "127.0.0.1:" + b[0].HostPort
	}
	return ctr
}

// waitTestServer GETs url until it answers 200 and returns the body.
func waitTestServer(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		body, err := getOK(url)
		if err == nil {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer from the test server: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func getOK(url string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("get %s: read body: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("get %s: status %d: %s", url, resp.StatusCode, body)
	}
	return string(body), nil
}

// waitHealth waits until the container's health status is want.
func waitHealth(t *testing.T, env *DockerEnv, id, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		inspect, err := env.Client.ContainerInspect(context.Background(), id)
		if err != nil {
			t.Fatalf("inspect container %s: %v", id, err)
		}
		got := "none"
		if inspect.State != nil && inspect.State.Health != nil {
			got = inspect.State.Health.Status
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s health = %s, want %s", id, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
