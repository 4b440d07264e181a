package engine_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/skiffops/skiff/manifests"
)

// writerSource is a static program that tries to write into a path, for
// containers of the test image, which has no shell.
const writerSource = `package main

import (
	"fmt"
	"os"
)

func main() {
	err := os.WriteFile(os.Args[1], []byte("written by a container\n"), 0o644)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
}
`

// buildWriter builds writerSource and returns the binary's bytes.
func buildWriter(t testing.TB) []byte {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"go.mod": "module writer\n\ngo 1.22\n", "main.go": writerSource} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", "writer", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build writer: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "writer"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exec runs cmd in a container and returns its exit code and output.
func (w *world) exec(id string, cmd ...string) (int, string) {
	w.t.Helper()
	ctx := context.Background()
	ex, err := w.env.Client.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		w.t.Fatal(err)
	}
	att, err := w.env.Client.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	out, _ := io.ReadAll(att.Reader)
	att.Close()
	res, err := w.env.Client.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	return res.ExitCode, string(out)
}

const sharedFilesCompose = `
services:
  web:
    image: IMAGE
    volumes: [./app.conf:/etc/app.conf, ./site:/srv/site, ./writer:/writer]
  peer:
    image: IMAGE
    volumes: [./app.conf:/etc/app.conf]
`

// sharedFilesStack writes a stack whose two services mount the same
// repository file, with the writer in the stack directory.
func (w *world) sharedFilesStack() *manifests.Stack {
	w.t.Helper()
	writer := buildWriter(w.t)
	w.write(map[string]string{"compose.yaml": sharedFilesCompose, "app.conf": "original\n", "site/index.html": "<h1>site</h1>\n"})
	if err := os.WriteFile(filepath.Join(w.repo, "stacks", w.stack, "writer"), writer, 0o755); err != nil {
		w.t.Fatal(err)
	}
	st := w.load()[w.stack]
	if err := w.eng.CreateNetwork(context.Background(), st, "default"); err != nil {
		w.t.Fatal(err)
	}
	return st
}

func (w *world) start(id string) {
	w.t.Helper()
	if err := w.eng.StartContainer(context.Background(), id); err != nil {
		w.t.Fatal(err)
	}
}

// TestRepositoryFilesAreReadOnly: compose would mount ./app.conf writable;
// skiff mounts the shared copy read-only, so a container cannot change what
// another sees.
func TestRepositoryFilesAreReadOnly(t *testing.T) {
	w := newWorld(t)
	st := w.sharedFilesStack()
	web, peer := w.create(st, "web"), w.create(st, "peer")
	w.start(web)
	w.start(peer)

	for _, target := range []string{"/etc/app.conf", "/srv/site/index.html", "/srv/site/new"} {
		code, out := w.exec(web, "/writer", target)
		if code == 0 || !strings.Contains(out, "read-only file system") {
			t.Errorf("writing %s in a container: exit %d, %q; want a read-only file system", target, code, out)
		}
	}
	info, err := w.env.Client.ContainerInspect(context.Background(), web)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range info.Mounts {
		if m.Type == mount.TypeBind && m.RW {
			t.Errorf("%s is mounted writable from %s", m.Destination, m.Source)
		}
	}
	if code, out := w.execGet(peer, "http://127.0.0.1:8080/file?path=/etc/app.conf"); code != 0 || !strings.HasSuffix(out, "original\n") {
		t.Errorf("the other container reads %q (exit %d), want the original bytes", out, code)
	}
}

// TestCollectFilesKeepsMountedCopies: CollectFiles with no spec to keep
// still keeps what a container on the engine mounts, and removes it once
// the container is gone.
func TestCollectFilesKeepsMountedCopies(t *testing.T) {
	w := newWorld(t)
	w.write(map[string]string{"compose.yaml": "services:\n  web:\n    image: IMAGE\n    volumes: [./app.conf:/etc/app.conf]\n", "app.conf": "conf\n"})
	st := w.load()[w.stack]
	ctx := context.Background()
	if err := w.eng.CreateNetwork(ctx, st, "default"); err != nil {
		t.Fatal(err)
	}
	id := w.create(st, "web") // created, never started: its mounts count already
	if n, err := w.eng.CollectFiles(ctx, nil); err != nil || n != 0 {
		t.Fatalf("collect with a container mounting the copy: removed %d, %v; want 0", n, err)
	}
	if err := os.RemoveAll(w.repo); err != nil {
		t.Fatal(err)
	}
	if err := w.eng.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	id = w.create(st, "web") // offline, from the copy
	w.start(id)
	if err := w.eng.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n, err := w.eng.CollectFiles(ctx, []*manifests.Stack{st}); err != nil || n != 0 {
		t.Fatalf("collect keeping the stack: removed %d, %v; want 0", n, err)
	}
	if n, err := w.eng.CollectFiles(ctx, nil); err != nil || n != 1 {
		t.Fatalf("collect with nothing to keep: removed %d, %v; want 1", n, err)
	}
	if ents, _ := os.ReadDir(w.files); len(ents) != 0 {
		t.Errorf("left in the files directory: %v", ents)
	}
}
