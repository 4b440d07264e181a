package engine_test

import (
	"context"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skiffops/skiff/reconcile"
	"github.com/skiffops/skiff/testenv"
)

const healthcheck = `
    healthcheck:
      test: ["CMD", "/skiff-test", "-probe", "http://127.0.0.1:8080/healthz"]
      interval: 1s
      timeout: 2s
      retries: 3`

// shopCompose exercises the keys stacks use in the field. webPort and
// udpPort are published on 127.0.0.1; apiMessage changes between revisions.
func shopCompose(webPort, udpPort, apiMessage string, withUDP bool) string {
	s := `
services:
  web:
    image: IMAGE
    command: ["-listen", ":8080", "-message", "web v1"]
    ports: ["127.0.0.1:` + webPort + `:8080"]
    networks: [front, back]
    env_file: [web.env]
    environment: {GREETING: hi}
    volumes:
      - ./static:/static:ro
      - data:/data
    tmpfs: [/scratch]
    secrets: [token]
    configs: [motd]
    restart: unless-stopped
    user: "65534"
    working_dir: /tmp
    hostname: webhost
    cap_drop: [ALL]
    ulimits: {nofile: {soft: 1024, hard: 2048}}
    logging: {driver: json-file, options: {max-size: 1m}}
    stop_signal: SIGINT
    stop_grace_period: 5s
    extra_hosts: ["skiff.invalid:127.0.0.2"]
    mem_limit: 64m
    cpus: 0.5
    labels: {tier: front}
    depends_on:
      api: {condition: service_healthy}` + healthcheck + `
  api:
    image: IMAGE
    command: ["-listen", ":8080", "-message", "` + apiMessage + `"]
    networks:
      back:
        aliases: [backend]
    deploy:
      replicas: 3
      resources: {limits: {memory: 64M, pids: 100}}
    x-skiff: {update: start-first}` + healthcheck + `
  lonely:
    image: IMAGE
    networks: [front]
`
	if withUDP {
		s += `  udp:
    image: IMAGE
    command: ["-listen", ":8080", "-udp", ":9000"]
    ports: ["127.0.0.1:` + udpPort + `:9000/udp"]
`
	}
	return s + `networks: {front: {}, back: {}}
volumes: {data: {}}
secrets: {token: {file: ./token.txt}}
configs: {motd: {file: ./motd.txt}}
`
}

func shopFiles(webPort, udpPort, apiMessage string, withUDP bool) map[string]string {
	return map[string]string{
		"compose.yaml":      shopCompose(webPort, udpPort, apiMessage, withUDP),
		"web.env":           "FROM_ENV_FILE=yes\n",
		"static/index.html": "<h1>static</h1>\n",
		"token.txt":         "s3cret\n",
		"motd.txt":          "message of the day\n",
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func TestConvergeStackByBehaviour(t *testing.T) {
	w := newWorld(t)
	webPort, udpPort := freePort(t), freePort(t)
	web := "http://127.0.0.1:" + webPort

	w.write(shopFiles(webPort, udpPort, "api v1", true))
	w.mustConverge("rev1")

	t.Run("published tcp port", func(t *testing.T) {
		if body := get(t, web+"/"); !strings.HasPrefix(body, "web v1") {
			t.Errorf("GET / = %q", body)
		}
	})
	t.Run("service name and alias DNS on a shared network", func(t *testing.T) {
		for _, host := range []string{"api", "backend"} {
			if body := get(t, web+"/fetch?url=http://"+host+":8080/"); !strings.HasPrefix(body, "api v1") {
				t.Errorf("web → %s: %q", host, body)
			}
		}
	})
	t.Run("networks are isolated", func(t *testing.T) {
		lonely := w.stack + "-lonely-1"
		if code, out := w.execGet(lonely, "http://web:8080/"); code != 0 {
			t.Errorf("lonely → web on the shared front network failed (%d): %s", code, out)
		}
		if code, _ := w.execGet(lonely, "http://api:8080/"); code == 0 {
			t.Error("lonely reached api on a network it is not on")
		}
	})
	t.Run("bind mount, secret, config and env_file", func(t *testing.T) {
		for path, want := range map[string]string{
			"/static/index.html": "<h1>static</h1>\n",
			"/run/secrets/token": "s3cret\n",
			"/motd":              "message of the day\n",
		} {
			if got := get(t, web+"/file?path="+path); got != want {
				t.Errorf("file %s = %q, want %q", path, got, want)
			}
		}
		env := get(t, web+"/env")
		for _, kv := range []string{"FROM_ENV_FILE=yes", "GREETING=hi"} {
			if !strings.Contains(env, kv) {
				t.Errorf("environment lacks %s:\n%s", kv, env)
			}
		}
	})
	t.Run("published udp port", func(t *testing.T) {
		conn, err := net.Dial("udp", "127.0.0.1:"+udpPort)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		buf := make([]byte, 64)
		for range 20 { // udp: retry until the echo server answers
			_ = conn.SetDeadline(time.Now().Add(250 * time.Millisecond))
			if _, err := conn.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			if n, err := conn.Read(buf); err == nil {
				if got := string(buf[:n]); got != "ping" {
					t.Fatalf("udp echo = %q", got)
				}
				return
			}
		}
		t.Error("no udp echo")
	})
	t.Run("replicas and compose names", func(t *testing.T) {
		names := slices.Sorted(maps.Keys(w.containers()))
		want := []string{w.stack + "-api-1", w.stack + "-api-2", w.stack + "-api-3",
			w.stack + "-lonely-1", w.stack + "-udp-1", w.stack + "-web-1"}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("containers of project %s (-want +got):\n%s", w.stack, diff)
		}
	})
	inspectWeb(t, w)

	before := w.containers()
	w.write(shopFiles(webPort, udpPort, "api v2", true))
	_, p := w.plan("rev2")
	for _, a := range p.Actions() {
		if a.Kind != reconcile.Recreate || a.Service != "api" || a.Update != "start-first" {
			t.Errorf("changing api plans %s", a)
		}
	}
	w.mustConverge("rev2")
	after := w.containers()
	for name, id := range before {
		changed := after[name] != id
		if isAPI := strings.Contains(name, "-api-"); changed != isAPI {
			t.Errorf("%s: recreated=%v, want recreated only for api", name, changed)
		}
	}
	if body := get(t, web+"/fetch?url=http://api:8080/"); !strings.HasPrefix(body, "api v2") {
		t.Errorf("web → api after the update: %q", body)
	}

	w.write(shopFiles(webPort, udpPort, "api v2", false))
	w.mustConverge("rev3")
	final := w.containers()
	if _, ok := final[w.stack+"-udp-1"]; ok {
		t.Error("udp was removed from the stack but its container is still there")
	}
	for name, id := range final {
		if after[name] != id {
			t.Errorf("%s changed when only udp was removed", name)
		}
	}
}

// inspectWeb checks the engine-level settings that behaviour alone does not
// show.
func inspectWeb(t *testing.T, w *world) {
	t.Helper()
	info, err := w.env.Client.ContainerInspect(context.Background(), w.stack+"-web-1")
	if err != nil {
		t.Fatal(err)
	}
	c, h := info.Config, info.HostConfig
	checks := []struct {
		what      string
		got, want any
	}{
		{"user", c.User, "65534"},
		{"hostname", c.Hostname, "webhost"},
		{"working dir", c.WorkingDir, "/tmp"},
		{"stop signal", c.StopSignal, "SIGINT"},
		{"stop timeout", *c.StopTimeout, 5},
		{"label", c.Labels["tier"], "front"},
		{"node label", c.Labels["io.skiff.node"], w.node},
		{"revision label", c.Labels["io.skiff.revision"], "rev1"},
		{"memory", h.Memory, int64(64 << 20)},
		{"cpus", h.NanoCPUs, int64(5e8)},
		{"restart", string(h.RestartPolicy.Name), "unless-stopped"},
		{"log driver", h.LogConfig.Type, "json-file"},
		{"log max-size", h.LogConfig.Config["max-size"], "1m"},
		{"extra hosts", strings.Join(h.ExtraHosts, ","), "skiff.invalid:127.0.0.2"},
		{"tmpfs", len(h.Tmpfs), 1},
		{"cap drop", strings.Join(h.CapDrop, ","), "ALL"},
	}
	for _, c := range checks {
		if !cmp.Equal(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if len(h.Ulimits) != 1 || h.Ulimits[0].Soft != 1024 || h.Ulimits[0].Hard != 2048 {
		t.Errorf("ulimits = %+v", h.Ulimits)
	}
}

func TestFailedHealthGateRollsBack(t *testing.T) {
	w := newWorld(t)
	svc := func(flags string) map[string]string {
		return map[string]string{"compose.yaml": `
services:
  app:
    image: IMAGE
    command: ["-listen", ":8080"` + flags + `]
    volumes: ["/cache"]` + healthcheck + `
`}
	}
	w.write(svc(""))
	w.mustConverge("good")
	before := w.containers()

	w.write(svc(`, "-unhealthy"`))
	res := w.converge("bad")
	if len(res.Stacks) != 1 || res.Stacks[0].Outcome != reconcile.RolledBack {
		t.Fatalf("result %+v, want the stack rolled back", res.Stacks)
	}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), "unhealthy") {
		t.Errorf("error %v does not say the new container was unhealthy", err)
	}
	if diff := cmp.Diff(before, w.containers()); diff != "" {
		t.Errorf("containers after rollback (-before +after):\n%s", diff)
	}
	o, err := w.eng.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range o.Containers {
		if c.State != reconcile.StateRunning || c.Revision != "good" {
			t.Errorf("%s: state %s revision %s, want the good one running", c.Name, c.State, c.Revision)
		}
	}

	// A good update recreates the container and keeps its anonymous volume.
	cacheBefore := w.volumeAt(w.stack+"-app-1", "/cache")
	w.write(svc(`, "-message", "v2"`))
	w.mustConverge("good2")
	if after := w.volumeAt(w.stack+"-app-1", "/cache"); after != cacheBefore || after == "" {
		t.Errorf("anonymous volume at /cache: %q before the update, %q after", cacheBefore, after)
	}
	if diff := cmp.Diff(before, w.containers()); diff == "" {
		t.Error("the good update did not recreate the container")
	}
}
