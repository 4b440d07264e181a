package engine

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"

	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/testenv"
)

const dockerSpecCompose = `
services:
  web:
    image: IMAGE
    command: ["-listen", ":8080", "-message", "spec test"]
    environment: {PLAIN: value, OVERRIDE: compose}
    env_file: [web.env]
    labels: {app.tier: front}
    ports: ["127.0.0.1::8080", "127.0.0.1::9000/udp"]
    expose: ["5000"]
    tmpfs: ["/run/scratch:size=65536"]
    volumes:
      - data:/data
      - /anonymous
      - ./site:/srv/site:ro
      - ./app.conf:/etc/app.conf
      - HOSTDIR:/host
      - type: tmpfs
        target: /cache
        tmpfs: {size: 1048576}
    networks:
      front: {aliases: [www]}
      back: {}
    secrets:
      - {source: pw, mode: 0o400, uid: "UID"}
    configs: [app]
    healthcheck:
      test: ["CMD", "/skiff-test", "-probe", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      timeout: 2s
      retries: 30
      start_period: 1s
    restart: on-failure:3
    user: "UID:1000"
    working_dir: /srv
    hostname: webhost
    domainname: example.org
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    sysctls: {net.core.somaxconn: "1024"}
    ulimits: {nofile: {soft: 1024, hard: 2048}}
    logging: {driver: json-file, options: {max-size: 1m}}
    stop_signal: SIGINT
    stop_grace_period: 3s
    extra_hosts: ["db.local:10.0.0.5"]
    mem_limit: 64m
    cpus: 0.5
    pids_limit: 100
    init: true
    read_only: true
    security_opt: ["no-new-privileges:true"]
    shm_size: 32m
    group_add: ["1234"]
volumes:
  data: {}
networks:
  front: {}
  back: {}
secrets:
  pw: {file: ./pw.txt}
configs:
  app: {file: ./app.conf}
`

// TestBuildSpecOnDocker creates, connects and starts a container from
// buildSpec for a service with most keys, and checks what the engine made
// of it and what the process sees.
func TestBuildSpecOnDocker(t *testing.T) {
	name := testenv.TestName(t)
	image := "skiff-spec-test/" + name + ":1"
	imageID := testenv.TestImage(t, image) // before Docker(t): its cleanup runs after the containers'
	env := testenv.Docker(t)
	node, stack := name, "spec"+strings.ReplaceAll(name, "-", "")
	env.CleanupNode(t, node)
	st := dockerSpecStack(t, image, stack)
	ctx := context.Background()
	prepareStackObjects(t, env, st, node)

	files, err := newFileStore(filepath.Join(t.TempDir(), "files"), nil).materializeStack(st)
	if err != nil {
		t.Fatal(err)
	}
	spec := mustSpec(t, specRequest{
		Stack: st, Service: "web", Number: 1, Name: stack + "-web-1", Node: node,
		Revision: "c0ffee", Image: image, ImageID: imageID, Files: files,
	})
	id := createFromSpec(t, env.Client, spec)
	if err := env.Client.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	info := waitHealthy(t, env.Client, id)
	checkInspect(t, info, stack)
	checkInside(t, env.Client, id)
}

// dockerSpecStack writes and loads the test stack. The container runs as
// the owner of its 0400 secret: uid 1000, or the test's own uid when it
// cannot give files away.
func dockerSpecStack(t *testing.T, image, stack string) *manifests.Stack {
	t.Helper()
	repo, host := t.TempDir(), t.TempDir()
	uid := strconv.Itoa(os.Geteuid())
	if os.Geteuid() == 0 {
		uid = "1000"
	}
	compose := strings.NewReplacer("IMAGE", image, "HOSTDIR", host, "UID", uid).Replace(dockerSpecCompose)
	writeFiles(t, repo, map[string]string{
		"fleet.yaml":                           "policy:\n  host_paths: [\"" + host + "\"]\n  cap_add: [NET_ADMIN]\n",
		"stacks/" + stack + "/compose.yaml":    compose,
		"stacks/" + stack + "/web.env":         "FROM_FILE=yes\nOVERRIDE=file\n",
		"stacks/" + stack + "/app.conf":        "conf: 1\n",
		"stacks/" + stack + "/pw.txt":          "s3cret\n",
		"stacks/" + stack + "/site/index.html": "<h1>site</h1>\n",
	})
	return loadRepo(t, repo)
}

// prepareStackObjects creates the networks and the named volume the
// reconciler would, labelled for cleanup.
func prepareStackObjects(t *testing.T, env *testenv.DockerEnv, st *manifests.Stack, node string) {
	t.Helper()
	ctx := context.Background()
	labels := env.Labels()
	labels[LabelNode] = node
	for _, key := range []string{"front", "back"} {
		if _, err := env.Client.NetworkCreate(ctx, st.Name+"_"+key, network.CreateOptions{Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.Client.VolumeCreate(ctx, volume.CreateOptions{Name: st.Name + "_data", Labels: labels}); err != nil {
		t.Fatal(err)
	}
}

// createFromSpec creates the container and connects its extra networks, as
// the engine does before start.
func createFromSpec(t *testing.T, cli *client.Client, spec containerSpec) string {
	t.Helper()
	ctx := context.Background()
	created, err := cli.ContainerCreate(ctx, spec.Config, spec.Host, spec.Networking, spec.Platform, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range spec.Extra {
		if err := cli.NetworkConnect(ctx, x.Network, created.ID, x.Endpoint); err != nil {
			t.Fatal(err)
		}
	}
	return created.ID
}

func waitHealthy(t *testing.T, cli *client.Client, id string) container.InspectResponse {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		info, err := cli.ContainerInspect(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Health != nil && info.State.Health.Status == container.Healthy {
			return info
		}
		if !info.State.Running || time.Now().After(deadline) {
			t.Fatalf("container not healthy: state %+v", info.State)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func checkInspect(t *testing.T, info container.InspectResponse, stack string) {
	t.Helper()
	c, h := info.Config, info.HostConfig
	checks := []struct {
		what string
		ok   bool
	}{
		{"labels", c.Labels[LabelProject] == stack && c.Labels[LabelService] == "web" && c.Labels["app.tier"] == "front" && c.Labels[LabelManaged] == "true"},
		{"env", slices.Contains(c.Env, "OVERRIDE=compose") && slices.Contains(c.Env, "FROM_FILE=yes")},
		{"hostname", c.Hostname == "webhost" && c.Domainname == "example.org" && c.WorkingDir == "/srv"},
		{"stop", c.StopSignal == "SIGINT" && c.StopTimeout != nil && *c.StopTimeout == 3},
		{"restart", h.RestartPolicy.Name == "on-failure" && h.RestartPolicy.MaximumRetryCount == 3},
		{"resources", h.Memory == 64<<20 && h.NanoCPUs == 5e8 && h.PidsLimit != nil && *h.PidsLimit == 100},
		{"ulimits", len(h.Ulimits) == 1 && h.Ulimits[0].Soft == 1024 && h.Ulimits[0].Hard == 2048},
		{"security", h.ReadonlyRootfs && h.Init != nil && *h.Init && slices.Equal(h.SecurityOpt, []string{"no-new-privileges:true"})},
		{"caps", slices.Equal(h.CapAdd, []string{"CAP_NET_ADMIN"}) && slices.Equal(h.CapDrop, []string{"CAP_MKNOD"})},
		{"logging", h.LogConfig.Type == "json-file" && h.LogConfig.Config["max-size"] == "1m"},
		{"ports", len(info.NetworkSettings.Ports["8080/tcp"]) == 1 && len(info.NetworkSettings.Ports["9000/udp"]) == 1},
		{"front aliases", containsAll(info.NetworkSettings.Networks[stack+"_front"], stack+"-web-1", "web", "www")},
		{"back aliases", containsAll(info.NetworkSettings.Networks[stack+"_back"], stack+"-web-1", "web")},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s not as specified: Config %+v HostConfig %+v", c.what, info.Config, info.HostConfig)
		}
	}
	var targets []string
	for _, m := range info.Mounts {
		targets = append(targets, m.Destination)
	}
	for _, want := range []string{"/data", "/anonymous", "/srv/site", "/etc/app.conf", "/host", "/cache", "/run/secrets/pw", "/app"} {
		if !slices.Contains(targets, want) {
			t.Errorf("no mount at %s: %v", want, targets)
		}
	}
}

func containsAll(ep *network.EndpointSettings, aliases ...string) bool {
	if ep == nil {
		return false
	}
	for _, a := range aliases {
		if !slices.Contains(ep.Aliases, a) {
			return false
		}
	}
	return true
}

// checkInside asks the test server what the process sees: files from the
// repository copies (the secret readable by its owner) and the environment.
func checkInside(t *testing.T, cli *client.Client, id string) {
	t.Helper()
	for path, want := range map[string]string{
		"/file?path=/run/secrets/pw":      "s3cret",
		"/file?path=/srv/site/index.html": "<h1>site</h1>",
		"/file?path=/app":                 "conf: 1",
		"/file?path=/etc/app.conf":        "conf: 1",
		"/env":                            "PLAIN=value",
	} {
		code, out := specExec(t, cli, id, testenv.TestImageBinary, "-get", "http://127.0.0.1:8080"+path)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("GET %s inside: exit %d, %q; want %q", path, code, out, want)
		}
	}
}

func specExec(t *testing.T, cli *client.Client, id string, cmd ...string) (int, string) {
	t.Helper()
	ctx := context.Background()
	exec, err := cli.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	att, err := cli.ContainerExecAttach(ctx, exec.ID, container.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(att.Reader)
	att.Close()
	res, err := cli.ContainerExecInspect(ctx, exec.ID)
	if err != nil {
		t.Fatal(err)
	}
	return res.ExitCode, string(out)
}
