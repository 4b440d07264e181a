package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/reference"

	"github.com/skiffops/skiff/testenv"
)

// puller is prefetch.Puller, copied: the engine may not import
// agent/prefetch (DESIGN.md §4), so the agent, which sees both, asserts the
// real one; this copy keeps the method set from drifting unnoticed.
type puller interface {
	ImageIDs(ctx context.Context, refs []string) (map[string]string, error)
	PullImage(ctx context.Context, ref, auth string, progress func(downloaded, total int64)) (id, digest string, err error)
	TagImage(ctx context.Context, source, target string) error
	RemoveImageRef(ctx context.Context, ref string) error
}

var _ puller = (*Engine)(nil)

func TestReadPullStreamSumsDownloads(t *testing.T) {
	stream := `{"status":"Pulling from shop/web","id":"1"}
{"status":"Pulling fs layer","progressDetail":{},"id":"a"}
{"status":"Pulling fs layer","progressDetail":{},"id":"b"}
{"status":"Downloading","progressDetail":{"current":100,"total":1000},"id":"a"}
{"status":"Downloading","progressDetail":{"current":50,"total":500},"id":"b"}
{"status":"Download complete","progressDetail":{},"id":"a"}
{"status":"Extracting","progressDetail":{"current":3000,"total":4000},"id":"a"}
{"status":"Pull complete","progressDetail":{},"id":"a"}
{"status":"Digest: sha256:abc"}
`
	var calls [][2]int64
	err := readPullStream(strings.NewReader(stream), func(d, total int64) { calls = append(calls, [2]int64{d, total}) })
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 9 {
		t.Errorf("%d progress calls for 9 messages", len(calls))
	}
	if last := calls[len(calls)-1]; last != [2]int64{1050, 1500} {
		t.Errorf("final progress = %v, want 1050 of 1500 (extraction is not download)", last)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] < calls[i-1][0] {
			t.Errorf("downloaded went back: %v", calls)
		}
	}
}

func TestReadPullStreamReportsTheEnginesError(t *testing.T) {
	stream := `{"status":"Pulling from shop/web","id":"1"}
{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}
`
	err := readPullStream(strings.NewReader(stream), nil)
	if err == nil || err.Error() != "manifest unknown" {
		t.Fatalf("err = %v, want the stream's error", err)
	}
}

func TestRepoDigest(t *testing.T) {
	const d = "sha256:0123456789012345678901234567890123456789012345678901234567890123"
	const other = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	for _, tc := range []struct {
		ref, want string
		digests   []string
	}{
		{"reg.example.net/shop/web:1", d, []string{"mirror.example.net/shop/web@" + other, "reg.example.net/shop/web@" + d}},
		{"reg.example.net/shop/web@" + d, d, nil},
		{"reg.example.net/shop/web:1", "", []string{"mirror.example.net/shop/web@" + other}},
	} {
		named, err := reference.ParseNormalizedNamed(tc.ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := repoDigest(named, tc.digests); got != tc.want {
			t.Errorf("repoDigest(%s, %v) = %q, want %q", tc.ref, tc.digests, got, tc.want)
		}
	}
}

// pullWorld is a registry behind a fault proxy holding one test image
// that the engine does not have.
type pullWorld struct {
	eng       *Engine
	proxy     *testenv.TCPFaultProxy
	id        string
	path      string // repository path in the registry
	mirrorTag string // proxy/path:1
	digest    string
	canonical string // a name of our own for the image
}

func newPullWorld(t *testing.T) *pullWorld {
	t.Helper()
	name := testenv.TestName(t)
	local := "skiff-test/" + name + ":src"
	id := testenv.TestImageVariant(t, local, name)
	env := testenv.Docker(t)
	reg := testenv.Registry(t)
	proxy := testenv.FaultProxy(t, reg.Addr())
	ctx := context.Background()
	pushed := reg.Addr() + "/shop/" + name + ":1"
	if err := testenv.PushImage(ctx, env.Client, local, pushed); err != nil {
		t.Fatal(err)
	}
	img, err := env.Client.ImageInspect(ctx, pushed)
	if err != nil || len(img.RepoDigests) != 1 {
		t.Fatalf("inspect pushed image: %v, %v", err, img.RepoDigests)
	}
	_, dg, _ := strings.Cut(img.RepoDigests[0], "@")
	testenv.RemoveImageTag(t, env.Client, pushed)
	testenv.RemoveImageTag(t, env.Client, local)
	w := &pullWorld{
		proxy: proxy, id: id, digest: dg, path: "shop/" + name,
		mirrorTag: proxy.Addr() + "/shop/" + name + ":1",
		canonical: "skiff-test/" + name + ":canonical",
	}
	t.Cleanup(func() {
		for _, ref := range []string{proxy.Addr() + "/shop/" + name + "@" + dg, w.mirrorTag, w.canonical} {
			testenv.RemoveImageTag(t, env.Client, ref)
		}
	})
	w.eng, err = New(ctx, Options{Node: name, FilesDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.eng.Close() })
	return w
}

func TestPullImageReportsProgressAndDigest(t *testing.T) {
	w := newPullWorld(t)
	w.proxy.SetReadLatency(time.Millisecond) // a download in several steps
	ctx := context.Background()
	var mu sync.Mutex
	var last [2]int64
	calls := 0
	id, dg, err := w.eng.PullImage(ctx, w.mirrorTag, "", func(d, total int64) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		last = [2]int64{d, total}
	})
	if err != nil {
		t.Fatal(err)
	}
	if id != w.id || dg != w.digest {
		t.Errorf("pulled %s %s, want %s %s", id, dg, w.id, w.digest)
	}
	if calls < 3 || last[0] == 0 || last[0] != last[1] {
		t.Errorf("%d progress calls, last %v; want several, ending with all bytes downloaded", calls, last)
	}

	if err := w.eng.TagImage(ctx, id, w.canonical); err != nil {
		t.Fatal(err)
	}
	if err := w.eng.RemoveImageRef(ctx, w.mirrorTag); err != nil {
		t.Fatal(err)
	}
	ids, err := w.eng.ImageIDs(ctx, []string{w.mirrorTag, w.canonical})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ids[w.mirrorTag]; ok || ids[w.canonical] != id {
		t.Errorf("after renaming: %v; want only %s → %s", ids, w.canonical, id)
	}
	if err := w.eng.RemoveImageRef(ctx, w.canonical); !errors.Is(err, errLastName) {
		t.Errorf("removing the image's last name: %v, want refused", err)
	}
	if err := w.eng.RemoveImageRef(ctx, w.mirrorTag); err != nil {
		t.Errorf("removing a name already gone: %v", err)
	}
}

func TestPullByDigestKeepsTheDigestName(t *testing.T) {
	w := newPullWorld(t)
	id, err := w.eng.Pull(context.Background(), w.proxy.Addr()+"/"+w.path+"@"+w.digest)
	if err != nil {
		t.Fatal(err)
	}
	// A digest reference from any host serving the path finds it.
	elsewhere := "reg.example.net/" + w.path + "@" + w.digest
	ids, err := w.eng.ImageIDs(context.Background(), []string{elsewhere})
	if err != nil || ids[elsewhere] != id || id != w.id {
		t.Errorf("ImageIDs(%s) = %v, %v; want %s", elsewhere, ids, err, w.id)
	}
}

func TestPullImageIsAbandonedWithItsContext(t *testing.T) {
	w := newPullWorld(t)
	if err := w.proxy.BlackHole(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, _, err := w.eng.PullImage(ctx, w.mirrorTag, "", nil)
	if err == nil {
		t.Fatal("pull from a black hole succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancelled pull returned after %s", d)
	}
}
