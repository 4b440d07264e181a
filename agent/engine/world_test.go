package engine_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/skiffops/skiff/agent/engine"
	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/reconcile"
	"github.com/skiffops/skiff/testenv"
)

// world is one node (a unique node name on the shared engine) with a
// repository of one stack, converged by the real planner, executor and
// engine.
type world struct {
	t     testing.TB
	env   *testenv.DockerEnv
	eng   *engine.Engine
	node  string
	stack string
	image string
	repo  string
	files string // the engine's FilesDir
}

func newWorld(t testing.TB) *world {
	t.Helper()
	node := testenv.TestName(t)
	image := "skiff-test/" + node + ":1"
	testenv.TestImage(t, image) // before Docker(t): its cleanup must run after the containers'
	w := &world{
		t: t, env: testenv.Docker(t), node: node, stack: "s" + strings.ReplaceAll(node, "-", ""), image: image,
		repo: t.TempDir(), files: filepath.Join(t.TempDir(), "files"),
	}
	w.env.CleanupNode(t, node)
	eng, err := engine.New(context.Background(), engine.Options{
		Node: node, FilesDir: w.files,
		Grace: time.Second, Poll: 100 * time.Millisecond, HealthTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	w.eng = eng
	return w
}

// write replaces the stack's directory with files (relative paths); the
// string IMAGE in any file is replaced by the test image.
func (w *world) write(files map[string]string) {
	w.t.Helper()
	dir := filepath.Join(w.repo, "stacks", w.stack)
	if err := os.RemoveAll(dir); err != nil {
		w.t.Fatal(err)
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			w.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(body, "IMAGE", w.image)), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
}

// plan loads the repository for the node and plans it against the engine.
func (w *world) plan(revision string) (reconcile.Desired, reconcile.Plan) {
	w.t.Helper()
	ctx := context.Background()
	d, err := manifests.Load(w.repo, manifests.Node{Name: w.node, Region: "test"})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, p := range d.Problems {
		if p.Severity == manifests.Error {
			w.t.Fatalf("manifest problem: %s", p)
		}
	}
	var refs []string
	for _, s := range d.Stacks {
		for _, svc := range s.Services {
			refs = append(refs, svc.Image)
		}
	}
	images, err := w.eng.ImageIDs(ctx, refs)
	if err != nil {
		w.t.Fatal(err)
	}
	observed, err := w.eng.Observe(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	desired := reconcile.Desired{Stacks: d.Stacks, Revisions: map[string]string{}, Images: images}
	for _, s := range d.Stacks {
		desired.Revisions[s.Name] = revision
	}
	for _, c := range observed.Containers {
		placed := slices.ContainsFunc(d.Stacks, func(s manifests.Stack) bool { return s.Name == c.Stack })
		if !placed && !slices.Contains(d.Refused(), c.Stack) && !slices.Contains(desired.Remove, c.Stack) {
			desired.Remove = append(desired.Remove, c.Stack)
		}
	}
	return desired, reconcile.Build(desired, observed)
}

// converge plans and applies the repository, and returns the result.
func (w *world) converge(revision string) reconcile.Result {
	w.t.Helper()
	d, p := w.plan(revision)
	w.t.Logf("plan for %s:\n%s", revision, p)
	_ = d
	return reconcile.Apply(context.Background(), w.eng, p, reconcile.Options{Gate: true})
}

// mustConverge converges and fails on any stack that did not apply, then
// checks that a second plan is empty.
func (w *world) mustConverge(revision string) {
	w.t.Helper()
	if err := w.converge(revision).Err(); err != nil {
		w.t.Fatalf("converge %s: %v", revision, err)
	}
	if _, p := w.plan(revision); !p.Empty() {
		w.t.Fatalf("not converged after applying %s; plan:\n%s", revision, p)
	}
}

// containers returns the stack's containers by name → ID, from the same
// label query docker compose ps uses.
func (w *world) containers() map[string]string {
	w.t.Helper()
	f := filters.NewArgs(filters.Arg("label", engine.LabelProject+"="+w.stack))
	cs, err := w.env.Client.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f})
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range cs {
		out[strings.TrimPrefix(c.Names[0], "/")] = c.ID
	}
	return out
}

// get GETs url and returns the body; it fails the test on an error.
func get(t testing.TB, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	var last error
	for range 20 { // a published port can take a moment to answer
		resp, err := client.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(body)
			}
			last = rerr
			if last == nil {
				last = &statusError{resp.StatusCode, string(body)}
			}
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("get %s: %v", url, last)
	return ""
}

type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return http.StatusText(e.code) + ": " + e.body }

// execGet runs the test image's one-shot GET inside a container and returns
// its exit code and output.
func (w *world) execGet(containerName, url string) (int, string) {
	w.t.Helper()
	ctx := context.Background()
	exec, err := w.env.Client.ContainerExecCreate(ctx, containerName, container.ExecOptions{
		Cmd: []string{testenv.TestImageBinary, "-get", url}, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	att, err := w.env.Client.ContainerExecAttach(ctx, exec.ID, container.ExecAttachOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	out, _ := io.ReadAll(att.Reader)
	att.Close()
	info, err := w.env.Client.ContainerExecInspect(ctx, exec.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	return info.ExitCode, string(out)
}

// volumeAt returns the name of the volume mounted at target in a container.
func (w *world) volumeAt(containerName, target string) string {
	w.t.Helper()
	info, err := w.env.Client.ContainerInspect(context.Background(), containerName)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, m := range info.Mounts {
		if m.Destination == target {
			return m.Name
		}
	}
	return ""
}
