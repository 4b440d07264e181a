package engine

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/mount"
	"github.com/google/go-cmp/cmp"
)

var mountFiles = map[string]string{
	"site/index.html": "hi\n",
	"app.conf":        "conf: 1\n",
	"pw.txt":          "s3cret\n",
}

func TestBuildSpecMounts(t *testing.T) {
	st := loadStack(t, `
services:
  web:
    image: registry.example.com/shop/web:1.4
    volumes:
      - data:/data
      - data:/data-ro:ro
      - explicit:/explicit
      - type: volume
        source: data
        target: /nocopy
        volume: {nocopy: true}
      - /anonymous
      - ./site:/srv/site:ro
      - ./app.conf:/etc/app.conf
      - /srv/logs:/logs
      - type: bind
        source: ./site
        target: /strict
        bind: {create_host_path: false}
      - type: bind
        source: /srv/shared
        target: /shared
        bind: {propagation: rslave}
      - ./site:/labelled:z
      - type: bind
        source: ./site
        target: /labelled-long
        bind: {selinux: Z, propagation: rshared}
      - type: tmpfs
        target: /cache
        tmpfs: {size: 1048576, mode: 0o700}
    secrets:
      - pw
      - {source: pw, target: custom}
      - {source: pw, target: /etc/pw}
    configs:
      - app
      - {source: app, target: /etc/other.conf}
      - {source: app, target: rel.conf}
volumes:
  data: {}
  explicit: {name: my-volume}
secrets:
  pw: {file: ./pw.txt}
configs:
  app: {file: ./app.conf}
`, mountFiles)
	req := request(st, "web")
	req.Inherit = map[string]string{"/anonymous": "old-anon", "/image-volume": "old-image"}
	h := mustSpec(t, req).Host

	site, conf, pw := "/state/files/stacks/app/site", "/state/files/stacks/app/app.conf", "/state/files/stacks/app/pw.txt"
	wantBinds := []string{
		"app_data:/data:rw",
		"app_data:/data-ro:ro",
		"my-volume:/explicit:rw",
		site + ":/srv/site:ro",
		conf + ":/etc/app.conf:ro", // repository files are always read-only
		"/srv/logs:/logs:rw",
		site + ":/labelled:ro,z",
		site + ":/labelled-long:ro,Z,rshared",
	}
	if diff := cmp.Diff(wantBinds, h.Binds); diff != "" {
		t.Errorf("Binds (-want +got):\n%s", diff)
	}
	secret := &mount.BindOptions{}
	wantMounts := []mount.Mount{
		{Type: mount.TypeVolume, Source: "old-anon", Target: "/anonymous", VolumeOptions: &mount.VolumeOptions{}},
		{Type: mount.TypeBind, Source: conf, Target: "/app", ReadOnly: true},
		{Type: mount.TypeTmpfs, Target: "/cache", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o700}},
		{Type: mount.TypeBind, Source: conf, Target: "/etc/other.conf", ReadOnly: true},
		{Type: mount.TypeBind, Source: pw, Target: "/etc/pw", ReadOnly: true, BindOptions: secret},
		{Type: mount.TypeVolume, Source: "old-image", Target: "/image-volume"},
		{Type: mount.TypeVolume, Source: "app_data", Target: "/nocopy", VolumeOptions: &mount.VolumeOptions{NoCopy: true}},
		{Type: mount.TypeBind, Source: conf, Target: "/rel.conf", ReadOnly: true},
		{Type: mount.TypeBind, Source: pw, Target: "/run/secrets/custom", ReadOnly: true, BindOptions: secret},
		{Type: mount.TypeBind, Source: pw, Target: "/run/secrets/pw", ReadOnly: true, BindOptions: secret},
		{Type: mount.TypeBind, Source: "/srv/shared", Target: "/shared", BindOptions: &mount.BindOptions{Propagation: "rslave", CreateMountpoint: true}},
		{Type: mount.TypeBind, Source: site, Target: "/strict", ReadOnly: true, BindOptions: &mount.BindOptions{}},
	}
	if diff := cmp.Diff(wantMounts, h.Mounts); diff != "" {
		t.Errorf("Mounts (-want +got):\n%s", diff)
	}
}

func TestBuildSpecMountErrors(t *testing.T) {
	tests := []struct {
		name, volumes, key string
		drop               bool // leave the repository files out of Files
	}{
		{
			name:    "repository file without a copy",
			volumes: "      - ./app.conf:/etc/app.conf\n",
			key:     "services.web.volumes[0].source", drop: true,
		},
		{
			name:    "selinux on a node path that must exist",
			volumes: "      - type: bind\n        source: /srv/data\n        target: /data\n        bind: {selinux: z, create_host_path: false}\n",
			key:     "services.web.volumes[0].bind.selinux",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := loadStack(t, "services:\n  web:\n    image: registry.example.com/shop/web:1.4\n    volumes:\n"+tt.volumes, mountFiles)
			req := request(st, "web")
			if tt.drop {
				req.Files = nil
			}
			_, err := buildSpec(req)
			if !errors.Is(err, errCannotHonour) || !strings.HasPrefix(err.Error(), tt.key+": ") {
				t.Errorf("err = %v, want errCannotHonour starting with %q", err, tt.key)
			}
		})
	}
}

func TestBuildSpecSecretTargetClash(t *testing.T) {
	st := loadStack(t, `
services:
  web:
    image: registry.example.com/shop/web:1.4
    volumes: ["./app.conf:/run/secrets/pw"]
    secrets: [pw]
secrets:
  pw: {file: ./pw.txt}
`, mountFiles)
	_, err := buildSpec(request(st, "web"))
	if !errors.Is(err, errCannotHonour) || !strings.Contains(err.Error(), "services.web.secrets[0]: target /run/secrets/pw is already mounted by volumes[0]") {
		t.Errorf("err = %v, want the clash named (compose drops the secret silently)", err)
	}
}

// uid, gid and mode of secrets and configs are honoured with a copy that
// has them: from materializeStack, looked up by variantKey.
func TestBuildSpecSecretOwnerAndMode(t *testing.T) {
	st := loadStack(t, `
services:
  web:
    image: registry.example.com/shop/web:1.4
    secrets:
      - {source: pw, mode: 0o400}
      - {source: host, target: host, mode: 0o400}
secrets:
  pw: {file: ./pw.txt}
  host: {file: /srv/pw}
`, mountFiles)
	req := request(st, "web")
	_, err := buildSpec(req)
	if !errors.Is(err, errCannotHonour) || !strings.Contains(err.Error(), "services.web.secrets[0]: no copy of") {
		t.Errorf("without the variant: err = %v, want errCannotHonour", err)
	}

	files, err := newFileStore(t.TempDir(), nil).materializeStack(st)
	if err != nil {
		t.Fatal(err)
	}
	req.Files = files
	_, err = buildSpec(req)
	if !errors.Is(err, errCannotHonour) || !strings.Contains(err.Error(), "services.web.secrets[1]: uid, gid and mode need a file of the stack directory") {
		t.Errorf("mode on a node path: err = %v, want errCannotHonour", err)
	}
	svc := st.Project.Services["web"]
	svc.Secrets = svc.Secrets[:1]
	st.Project.Services["web"] = svc
	req.Files = files
	m := mustSpec(t, req).Host.Mounts
	if len(m) != 1 || m[0].Target != "/run/secrets/pw" || !strings.HasSuffix(filepath.Dir(m[0].Source), "---400") {
		t.Errorf("mounts = %+v, want the 0400 variant at /run/secrets/pw", m)
	}
}
