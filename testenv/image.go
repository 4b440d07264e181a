package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestImageBinary is the path of the test server inside the test image; it is
// also the image's entrypoint, so a container's command is just flags.
const TestImageBinary = "/skiff-test"

// TestImagePort is the port the test server listens on unless -listen says
// otherwise; the image exposes it.
const TestImagePort = "8080/tcp"

// VariantFile is the file in the test image that holds the variant given to
// WithVariant (empty without one).
const VariantFile = "/etc/skiff-variant"

const (
	testImageModule = "github.com/skiffops/skiff/testenv/testimage"
	buildTimeout    = 3 * time.Minute
	imageTimeout    = 2 * time.Minute
)

// imageEpoch is the fixed time of every file and of the image config, so the
// same binary and variant always give the same image ID.
func imageEpoch() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }

// testBinary builds the test server once per process; the file it returns is
// cached across processes under the user cache dir.
var testBinary = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	return buildTestBinary(ctx)
})

// ImageOption changes the test image BuildTestImage packs.
type ImageOption func(*imageSpec)

type imageSpec struct {
	variant string
}

// WithVariant writes variant into VariantFile, so images with different
// variants have different IDs (to force a recreate, for example).
func WithVariant(variant string) ImageOption {
	return func(s *imageSpec) { s.variant = variant }
}

// BuildTestImage packs the test server into an image tagged ref and loads it
// into the engine, without `docker build` and without network. It returns
// the image ID; the same options always give the same ID.
func BuildTestImage(ctx context.Context, cli *client.Client, ref string, opts ...ImageOption) (string, error) {
	var spec imageSpec
	for _, o := range opts {
		o(&spec)
	}
	named, err := parseTag(ref)
	if err != nil {
		return "", fmt.Errorf("build test image %s: %w", ref, err)
	}
	bin, err := testBinary()
	if err != nil {
		return "", fmt.Errorf("build test image %s: %w", ref, err)
	}
	archive, err := imageArchive(bin, named, spec)
	if err != nil {
		return "", fmt.Errorf("build test image %s: %w", ref, err)
	}
	id, err := loadImage(ctx, cli, archive, named)
	if err != nil {
		return "", fmt.Errorf("build test image %s: %w", ref, err)
	}
	return id, nil
}

// TestImage builds the test image tagged ref for t and removes the tag in
// t.Cleanup. Give each test its own ref (for example with TestName), so one
// test's cleanup never removes another's image. Call it before Docker(t):
// cleanups run last-registered-first, and the engine only untags an image a
// container still uses.
func TestImage(t testing.TB, ref string) string {
	t.Helper()
	return TestImageVariant(t, ref, "")
}

// TestImageVariant is TestImage with WithVariant(variant).
func TestImageVariant(t testing.TB, ref, variant string) string {
	t.Helper()
	cli := dockerClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), imageTimeout)
	defer cancel()
	id, err := BuildTestImage(ctx, cli, ref, WithVariant(variant))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { RemoveImageTag(t, cli, ref) })
	return id
}

// RemoveImageTag removes the tag ref, and the image when no other tag holds
// it, for a test's cleanup; a tag that is already gone is not an error.
func RemoveImageTag(t testing.TB, cli *client.Client, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), imageTimeout)
	defer cancel()
	before, err := cli.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return
	}
	// Force lets the engine untag an image a container still uses, leaving
	// the image itself in place.
	_, err = cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
	if err := gone(err, "remove image %s", ref); err != nil {
		t.Errorf("docker cleanup: %v", err)
		return
	}
	if after, err := cli.ImageInspect(ctx, before.ID); err == nil && len(after.RepoTags) == 0 {
		t.Logf("docker cleanup: image %s of %s left untagged: a container still uses it; remove containers before the image", before.ID, ref)
	}
}

// parseTag normalizes ref to the familiar name:tag form `docker load` wants,
// adding ":latest" when ref has no tag.
func parseTag(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("parse reference: %w", err)
	}
	if _, ok := named.(reference.Digested); ok {
		return "", fmt.Errorf("reference %s has a digest: an image can only be loaded under a tag", ref)
	}
	return reference.FamiliarString(reference.TagNameOnly(named)), nil
}

// loadImage loads archive and returns the ID of the image tagged ref. The
// same image may be loaded under another test's tag while that test's cleanup
// removes it: an image gone before it could be tagged is loaded again.
func loadImage(ctx context.Context, cli *client.Client, archive []byte, ref string) (string, error) {
	for attempt := 1; ; attempt++ {
		resp, err := cli.ImageLoad(ctx, bytes.NewReader(archive), client.ImageLoadWithQuiet(true))
		if err != nil {
			return "", fmt.Errorf("load: %w", err)
		}
		if err := readProgress(resp.Body); err != nil {
			return "", fmt.Errorf("load: %w", err)
		}
		inspect, err := cli.ImageInspect(ctx, ref)
		if err == nil {
			return inspect.ID, nil
		}
		if !cerrdefs.IsNotFound(err) || attempt == 3 {
			return "", fmt.Errorf("inspect after load: %w", err)
		}
	}
}

// imageArchive returns an uncompressed `docker save` archive holding one
// image tagged ref, with a single layer.
func imageArchive(binPath, ref string, spec imageSpec) ([]byte, error) {
	bin, err := os.ReadFile(binPath)
	if err != nil {
		return nil, fmt.Errorf("read test binary: %w", err)
	}
	layer, err := rootfsLayer(bin, spec)
	if err != nil {
		return nil, err
	}
	diffID := digest.FromBytes(layer)
	config, err := json.Marshal(imageConfig(diffID))
	if err != nil {
		return nil, fmt.Errorf("encode image config: %w", err)
	}
	configName := digest.FromBytes(config).Encoded() + ".json"
	layerName := diffID.Encoded() + "/layer.tar"
	manifest, err := json.Marshal([]saveManifest{{Config: configName, RepoTags: []string{ref}, Layers: []string{layerName}}})
	if err != nil {
		return nil, fmt.Errorf("encode save manifest: %w", err)
	}
	return tarFiles([]tarFile{
		{name: diffID.Encoded() + "/", mode: 0o755},
		{name: layerName, mode: 0o644, data: layer},
		{name: configName, mode: 0o644, data: config},
		{name: "manifest.json", mode: 0o644, data: manifest},
	})
}

// saveManifest is one entry of manifest.json in a `docker save` archive.
type saveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func imageConfig(diffID digest.Digest) ocispec.Image {
	created := imageEpoch()
	return ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
		Config: ocispec.ImageConfig{
			Entrypoint:   []string{TestImageBinary},
			ExposedPorts: map[string]struct{}{TestImagePort: {}},
			Env:          []string{"PATH=/"},
			WorkingDir:   "/",
			Labels:       map[string]string{"org.opencontainers.image.title": "skiff-test"},
		},
		RootFS:  ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History: []ocispec.History{{Created: &created, CreatedBy: "skiff testenv"}},
	}
}

// rootfsLayer is the image's only layer: the binary, /etc/passwd and
// /etc/group with root and nobody (uid 65534), the variant file and /tmp.
func rootfsLayer(bin []byte, spec imageSpec) ([]byte, error) {
	return tarFiles([]tarFile{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnobody:x:65534:\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")},
		{name: strings.TrimPrefix(VariantFile, "/"), mode: 0o644, data: []byte(spec.variant)},
		{name: strings.TrimPrefix(TestImageBinary, "/"), mode: 0o755, data: bin},
		{name: "tmp/", mode: 0o1777},
	})
}

type tarFile struct {
	name string // a trailing slash makes a directory
	mode int64
	data []byte
}

// tarFiles writes files into a tar archive with fixed owners and times.
func tarFiles(files []tarFile) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, ModTime: imageEpoch(), Format: tar.FormatPAX}
		if strings.HasSuffix(f.name, "/") {
			hdr.Typeflag = tar.TypeDir
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("write tar header %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("write tar file %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	return buf.Bytes(), nil
}

// buildTestBinary builds the test server for linux on this architecture,
// unless the user cache already holds a build of the same sources.
func buildTestBinary(ctx context.Context) (string, error) {
	src, err := testImageDir(ctx)
	if err != nil {
		return "", err
	}
	key, err := sourceKey(src)
	if err != nil {
		return "", err
	}
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		cacheDir = os.TempDir()
	}
	dir := filepath.Join(cacheDir, "skiff-test")
	out := filepath.Join(dir, "skiff-test-"+key)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build test binary: %w", err)
	}
	return out, goBuild(ctx, src, out)
}

// goBuild builds the package in src into out, atomically: test processes of
// several packages may build at the same time.
func goBuild(ctx context.Context, src, out string) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("build test binary: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", tmp.Name(), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOFLAGS=-buildvcs=false")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build test binary in %s: %w\n%s", src, err, output)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("build test binary: %w", err)
	}
	return nil
}

// testImageDir finds the test server's sources: beside this file when the
// sources are there, else through `go list`.
func testImageDir(ctx context.Context) (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Join(filepath.Dir(file), "testimage")
		if _, err := os.Stat(filepath.Join(dir, "main.go")); err == nil {
			return dir, nil
		}
	}
	out, err := exec.CommandContext(ctx, "go", "list", "-f", "{{.Dir}}", testImageModule).Output()
	if err != nil {
		return "", fmt.Errorf("find test image sources: go list %s: %w", testImageModule, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// sourceKey hashes the test server's Go sources, the target architecture and
// the Go version, naming the cached binary.
func sourceKey(dir string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", fmt.Errorf("hash test image sources: %w", err)
	}
	sort.Strings(files)
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", runtime.Version(), runtime.GOARCH)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("hash test image sources: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
