package manifests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPolicyMatrix(t *testing.T) {
	tests := []struct {
		name    string
		service string // lines added to service web
		extra   string // top-level lines
		allow   string // fleet.yaml policy that allows it
		denied  string // the message when denied, without file:line
	}{
		{"privileged", "privileged: true", "", "privileged: true",
			`services.web.privileged: privileged containers are denied by policy; allow with "policy: {privileged: true}" in fleet.yaml`},
		{"unconfined seccomp", "security_opt: [seccomp=unconfined]", "", "privileged: true",
			`services.web.security_opt: "seccomp=unconfined" lifts confinement like a privileged container and is denied by policy; allow with "policy: {privileged: true}" in fleet.yaml`},
		{"host network", "network_mode: host", "", "host_namespaces: true",
			`services.web.network_mode: host namespaces are denied by policy; allow with "policy: {host_namespaces: true}" in fleet.yaml`},
		{"host pid", "pid: host", "", "host_namespaces: true",
			`services.web.pid: host namespaces are denied by policy; allow with "policy: {host_namespaces: true}" in fleet.yaml`},
		{"host ipc", "ipc: host", "", "host_namespaces: true",
			`services.web.ipc: host namespaces are denied by policy; allow with "policy: {host_namespaces: true}" in fleet.yaml`},
		{"host userns", "userns_mode: host", "", "host_namespaces: true",
			`services.web.userns_mode: host namespaces are denied by policy; allow with "policy: {host_namespaces: true}" in fleet.yaml`},
		{"devices", "devices: [/dev/fuse]", "", "devices: true",
			`services.web.devices: devices are denied by policy; allow with "policy: {devices: true}" in fleet.yaml`},
		{"cap_add", "cap_add: [CAP_NET_ADMIN]", "", "cap_add: [net_admin]",
			`services.web.cap_add: capability NET_ADMIN is not allowed by policy; allow with "policy: {cap_add: [NET_ADMIN]}" in fleet.yaml`},
		{"docker socket", "volumes: [/var/run/docker.sock:/var/run/docker.sock]", "", "docker_socket: true",
			`services.web.volumes[0]: bind source: /var/run/docker.sock exposes the Docker socket, which is denied by policy; allow with "policy: {docker_socket: true}" in fleet.yaml`},
		{"directory holding the docker socket", "volumes: [/run:/host-run]", "", "docker_socket: true",
			`services.web.volumes[0]: bind source: /run exposes the Docker socket, which is denied by policy; allow with "policy: {docker_socket: true}" in fleet.yaml`},
		{"host path", "volumes: [/srv/data/web:/data]", "", `host_paths: ["/srv/data"]`,
			`services.web.volumes[0]: bind source: host path /srv/data/web is outside the stack directory and not allowed by policy; allow with "policy: {host_paths: [\"/srv/data/\"]}" in fleet.yaml`},
		{"host path of a secret", "secrets: [tls]", "secrets: {tls: {file: /etc/ssl/private/key.pem}}", `host_paths: ["/etc/ssl/"]`,
			`secrets.tls.file: secret file: host path /etc/ssl/private/key.pem is outside the stack directory and not allowed by policy; allow with "policy: {host_paths: [\"/etc/ssl/private/\"]}" in fleet.yaml`},
		{"volume device", "volumes: [disk:/disk]", "volumes: {disk: {driver_opts: {type: none, o: bind, device: /mnt/disk}}}", `host_paths: ["/mnt/"]`,
			`volumes.disk.driver_opts.device: host path /mnt/disk is outside the stack directory and not allowed by policy; allow with "policy: {host_paths: [\"/mnt/\"]}" in fleet.yaml`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := repo{"stacks/app/compose.yaml": compose("    "+tt.service+"\n") + tt.extra + "\n"}
			d := load(t, r.write(t), Node{Name: "n1"})
			got := errorLines(d.Problems)
			if len(got) != 1 || !strings.HasSuffix(got[0], ": "+tt.denied) {
				t.Errorf("denied: got %q\nwant one error ending in %q", got, tt.denied)
			}
			if len(d.Stacks) != 0 {
				t.Error("a denied stack was returned")
			}
			r["fleet.yaml"] = "policy: {" + tt.allow + "}\n"
			d = load(t, r.write(t), Node{Name: "n1"})
			if got := errorLines(d.Problems); len(got) != 0 || len(d.Stacks) != 1 {
				t.Errorf("allowed by %q: errors %q", tt.allow, got)
			}
		})
	}
}

func TestPolicyHostPathBoundaries(t *testing.T) {
	tests := []struct {
		path, prefix string
		want         bool
	}{
		{"/srv/a", "/srv/", true},
		{"/srv/a", "/srv", true},
		{"/srv", "/srv/", true},
		{"/srvx/a", "/srv", false},
		{"/srv/../etc", "/srv/", false},
		{"/anything", "/", true},
	}
	for _, tt := range tests {
		c := &stackCheck{in: stackInput{fleet: &Fleet{Policy: Policy{HostPaths: []string{tt.prefix}}}}}
		if got := c.checkHostPath(tt.path) == ""; got != tt.want {
			t.Errorf("host path %s under policy %s: allowed = %v, want %v", tt.path, tt.prefix, got, tt.want)
		}
	}
}

func TestPathsNeverLeaveTheRepository(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // error suffix; "" when the stack loads
	}{
		{"symlink to a shared file of the repository", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "shared/conf"), "shared")
			symlink(t, "../../shared/conf", filepath.Join(dir, "stacks/app/conf"))
		}, ""},
		{"relative symlink leaving the repository", func(t *testing.T, dir string) {
			rel, _ := filepath.Rel(filepath.Join(dir, "stacks/app"), filepath.Join(outside, "secret"))
			symlink(t, rel, filepath.Join(dir, "stacks/app/conf"))
		}, "leaves the repository"},
		{"absolute symlink", func(t *testing.T, dir string) {
			symlink(t, filepath.Join(outside, "secret"), filepath.Join(dir, "stacks/app/conf"))
		}, "leaves the repository"},
		{"symlinked directory leaving the repository", func(t *testing.T, dir string) {
			symlink(t, outside, filepath.Join(dir, "stacks/app/link"))
			write(t, filepath.Join(dir, "stacks/app/conf"), "x")
		}, ""},
		{"symlink inside a bound directory leaving the repository", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "stacks/app/conf/ok"), "x")
			symlink(t, filepath.Join(outside, "secret"), filepath.Join(dir, "stacks/app/conf/evil"))
		}, "leaves the repository"},
		{"symlink loop", func(t *testing.T, dir string) {
			symlink(t, "conf", filepath.Join(dir, "stacks/app/conf"))
		}, "too many levels of symbolic links"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := repo{"stacks/app/compose.yaml": compose("    volumes: [./conf:/conf]\n")}.write(t)
			tt.setup(t, dir)
			d := load(t, dir, Node{Name: "n1"})
			errs := errorLines(d.Problems)
			switch {
			case tt.want == "" && len(errs) > 0:
				t.Errorf("unexpected errors: %q", errs)
			case tt.want != "" && (len(errs) != 1 || !strings.Contains(errs[0], tt.want)):
				t.Errorf("errors %q, want one containing %q", errs, tt.want)
			}
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestCrossStackClashesOnOneNode(t *testing.T) {
	r := repo{
		"stacks/a/compose.yaml": compose("    ports: [\"8080:80\"]\n    container_name: door\n"),
		"stacks/b/compose.yaml": compose("    ports: [\"0.0.0.0:8080:81\"]\n"),
		"stacks/c/compose.yaml": compose("    ports: [\"8080:80/udp\", \"127.0.0.2:9090:90\"]\n    container_name: door\n"),
		"stacks/d/compose.yaml": compose("    ports: [\"127.0.0.1:9090:90\"]\n"),
		"stacks/e/compose.yaml": "x-skiff: {nodes: [other]}\n" + compose("    ports: [\"8080:80\"]\n"),
	}
	d := load(t, r.write(t), Node{Name: "n1"})
	want := []string{
		"stacks/a/compose.yaml:4: services.web.ports[0]: host port 8080/tcp is also published by service web of stack b; a node can bind it once",
		`stacks/a/compose.yaml:5: services.web.container_name: "door" is also the container name of service web of stack c`,
		"stacks/b/compose.yaml:4: services.web.ports[0]: host port 8080/tcp is also published by service web of stack a; a node can bind it once",
		`stacks/c/compose.yaml:5: services.web.container_name: "door" is also the container name of service web of stack a`,
	}
	if diff := cmp.Diff(want, lines(d.Problems)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"d/web"}, placed(d)); diff != "" {
		t.Errorf("both sides of a clash must be refused (-want +got):\n%s", diff)
	}
}

func TestValidateClashesOnlyWhereServicesCanMeet(t *testing.T) {
	r := repo{
		"stacks/a/compose.yaml": "x-skiff: {nodes: [n1, n2]}\n" + compose("    ports: [\"8080:80\"]\n"),
		"stacks/b/compose.yaml": "x-skiff: {nodes: [n3]}\n" + compose("    ports: [\"8080:80\"]\n"),
		"stacks/c/compose.yaml": "x-skiff: {labels: {disk: ssd}}\n" + compose("    ports: [\"9090:80\"]\n"),
		"stacks/d/compose.yaml": "x-skiff: {labels: {disk: hdd}}\n" + compose("    ports: [\"9090:80\"]\n"),
		"stacks/e/compose.yaml": "x-skiff: {labels: {gpu: \"true\"}}\n" + compose("    ports: [\"7070:80\"]\n"),
		"stacks/f/compose.yaml": "x-skiff: {nodes: [n3]}\n" + compose("    ports: [\"7070:80\"]\n"),
	}
	ps, err := Validate(r.write(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"stacks/e/compose.yaml:5: services.web.ports[0]: host port 7070/tcp is also published by service web of stack f; a node can bind it once",
		"stacks/f/compose.yaml:5: services.web.ports[0]: host port 7070/tcp is also published by service web of stack e; a node can bind it once",
	}
	if diff := cmp.Diff(want, lines(ps)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
