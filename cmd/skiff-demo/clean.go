package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/testenv"
)

// markerFile marks a directory as the demo's own: only such a directory is
// ever removed.
const markerFile = ".skiff-demo"

// cleaned is what cleanNode removed.
type cleaned struct {
	containers int
	images     []string
	dir        bool
}

// runClean is --clean (make demo-clean).
func runClean(ctx context.Context, d docker, o options, stdout, stderr io.Writer) int {
	if running(ctx, nodeConfig{dir: o.dir}.socket()) {
		fmt.Fprintf(stderr, "skiff-demo: a demo agent still answers in %s: stop that demo (Ctrl-C) first\n", o.dir)
		return exitFailure
	}
	c, err := cleanNode(ctx, d, o)
	fmt.Fprintf(stdout, "removed %d containers (with the networks and volumes) of node %s, %d image names", c.containers, o.node, len(c.images))
	if c.dir {
		fmt.Fprintf(stdout, " and %s", o.dir)
	}
	fmt.Fprintln(stdout)
	if err != nil {
		fmt.Fprintf(stderr, "skiff-demo: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// cleanNode removes every container, network and volume labelled with the
// demo's node, the demo's images (on 127.0.0.1 registries, under the node's
// namespace) and the demo's directory. Nothing else is touched.
func cleanNode(ctx context.Context, d docker, o options) (cleaned, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var c cleaned
	left, err := d.containers(ctx, testenv.LabelNode+"="+o.node, false)
	if err != nil {
		return c, err
	}
	c.containers = len(left)
	if err := d.removeNode(ctx, o.node); err != nil {
		return c, err
	}
	c.images, err = d.removeImages(ctx, isDemoImage(o.node))
	if err != nil {
		return c, err
	}
	c.dir, err = removeDemoDir(o.dir)
	return c, err
}

// removeDemoDir removes dir if the demo made it (it holds the marker file),
// and reports whether it did. A missing directory is not an error; a
// directory the demo did not make is refused.
func removeDemoDir(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil && len(entries) > 0 {
		return false, fmt.Errorf("not removing %s: the demo did not create it (no %s in it)", dir, markerFile)
	}
	return true, os.RemoveAll(dir)
}

// makeDemoDir creates dir with its marker file.
func makeDemoDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, markerFile), []byte("created by skiff-demo; make demo-clean removes this directory\n"), 0o644)
}

// running says whether an agent answers on socket.
func running(ctx context.Context, socket string) bool {
	if _, err := os.Stat(socket); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := api.NewClient(socket).Status(ctx)
	return err == nil
}

// cleanCommand is how a person removes what this demo created.
func cleanCommand(o options) string {
	if o.node == defaultNode && o.dir == defaultDir() {
		return "make demo-clean"
	}
	return fmt.Sprintf("go run ./cmd/skiff-demo --clean --node %s --dir %s", o.node, o.dir)
}

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
