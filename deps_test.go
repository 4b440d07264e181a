package skiff_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The dependency arrows of DESIGN.md §4. A package of the module may import
// only the packages of the module listed here (tests may also import testenv),
// and a restricted library only from the packages listed for it. Adding a
// package to the module means adding it to this table: the test fails on a
// package it does not know.
const module = "github.com/skiffops/skiff"

var internalArrows = map[string][]string{
	"cmd/skiff":         {"agent", "agent/api", "manifests"},
	"cmd/skiff-demo":    {"testenv", "agent/api"}, // the demo program: the real world on loopback
	"agent":             {"manifests", "reconcile", "agent/ledger", "agent/source", "agent/prefetch", "agent/engine", "agent/store", "agent/api", "agent/secrets", "agent/webhook", "internal/redact"},
	"agent/ledger":      {"manifests"}, // pure: per-stack bookkeeping
	"agent/source":      {"internal/redact", "internal/durable"},
	"agent/prefetch":    {"manifests"},
	"agent/engine":      {"reconcile", "manifests", "internal/durable", "internal/sopsfile"},
	"agent/store":       {"internal/durable"},
	"agent/api":         {"agent/store"},
	"agent/webhook":     {"internal/redact"},   // notifications: events to webhooks
	"agent/secrets":     {"internal/sopsfile"}, // the node's age identities
	"internal/sopsfile": {},                    // pure: the SOPS file format
	"manifests":         {"internal/sopsfile"},
	"reconcile":         {"manifests"},
	"testenv":           {"*"},
	"testenv/testimage": {},
	"testenv/sopsenc":   {},                           // tests only: sops' own encryption, with every cloud SDK
	"internal/durable":  {},                           // leaf: fsync a file or directory
	"internal/redact":   {},                           // leaf: strip credentials from URLs
	"e2e":               {"agent/api", "agent/store"}, // tests only: they run the skiff binary (and open its store once it stopped)
	"packaging":         {},                           // tests only: the unit and install.sh
	"packaging/mkpkg":   {},                           // builds the .deb and .rpm
	".":                 {},                           // this test
}

// restricted libraries: import path prefix → the only packages that may
// import it directly.
var restricted = map[string][]string{
	"github.com/docker/docker":                    {"agent/engine", "testenv"},
	"go.etcd.io/bbolt":                            {"agent/store", "e2e"}, // e2e writes damaged and old stores, as a disk holds them
	"github.com/go-git/go-git/v5":                 {"agent/source", "testenv"},
	"github.com/compose-spec/compose-go/v2":       {"manifests", "reconcile", "agent/engine", "testenv"},
	"github.com/hashicorp/go-retryablehttp":       {"agent/prefetch", "agent/webhook", "testenv"},
	"github.com/docker/docker-credential-helpers": {"agent/prefetch"}, // runs the helpers of the Docker config
	"github.com/google/go-containerregistry":      {"cmd/skiff-demo"},
	"github.com/goreleaser/nfpm/v2":               {"packaging/mkpkg"},
	// sops' format names and Shamir shares only: its other packages link
	// every cloud KMS SDK (see TestBinaryLinksNoCloudSDK).
	"github.com/getsops/sops/v3": {"internal/sopsfile", "agent/secrets", "testenv/sopsenc"},
	"filippo.io/age":             {"agent/secrets", "testenv/sopsenc"},
}

// pure packages must not do I/O of their own: no network, no processes, and
// for the planner no file system either.
var forbiddenStd = map[string][]string{
	"reconcile":    {"os", "os/exec", "net", "net/http", "syscall"},
	"agent/ledger": {"os", "os/exec", "net", "net/http", "syscall", "time"},
	"manifests":    {"os/exec", "net", "net/http", "syscall"},
}

// binaries whose transitive dependencies must not include testenv.
var binaries = []string{"cmd/skiff"}

type listedPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

func TestDependencyArrows(t *testing.T) {
	pkgs := goList(t)
	if len(pkgs) < len(binaries) {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	for _, v := range checkArrows(pkgs) {
		t.Error(v)
	}
}

// TestCheckArrowsCatchesViolations feeds the checker imports that break each
// kind of rule, so that a checker that cannot fail would fail here.
func TestCheckArrowsCatchesViolations(t *testing.T) {
	m := func(rel string) string { return module + "/" + rel }
	bad := []listedPackage{
		{ImportPath: m("reconcile"), Imports: []string{"github.com/docker/docker/client", "os/exec", m("agent/store")}},
		{ImportPath: m("manifests"), Imports: []string{"go.etcd.io/bbolt"}},
		{ImportPath: m("agent/api"), Imports: []string{m("testenv")}, TestImports: []string{m("testenv")}},
		{ImportPath: m("cmd/skiff"), Deps: []string{m("testenv"), m("testenv/sopsenc")}},
		{ImportPath: m("agent/newthing")},
	}
	got := strings.Join(checkArrows(bad), "\n")
	for _, want := range []string{
		"reconcile imports github.com/docker/docker/client",
		"reconcile imports os/exec",
		"reconcile imports " + m("agent/store"),
		"manifests imports go.etcd.io/bbolt",
		"agent/api imports " + m("testenv"),
		"cmd/skiff depends on " + m("testenv") + ":",
		"cmd/skiff depends on " + m("testenv/sopsenc"),
		"agent/newthing is not in the dependency table",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("violation %q not reported; got:\n%s", want, got)
		}
	}
	if strings.Count(got, "agent/api imports") != 1 {
		t.Errorf("a test importing testenv must be allowed; got:\n%s", got)
	}
}

func checkArrows(pkgs []listedPackage) []string {
	var out []string
	for _, p := range pkgs {
		rel := relPath(p.ImportPath)
		allowed, known := internalArrows[rel]
		if !known {
			out = append(out, fmt.Sprintf("%s is not in the dependency table of deps_test.go: add it with its allowed imports", rel))
			continue
		}
		for _, imp := range p.Imports {
			if why := forbidden(rel, allowed, imp, false); why != "" {
				out = append(out, fmt.Sprintf("%s imports %s: %s", rel, imp, why))
			}
		}
		for _, imp := range append(slices.Clone(p.TestImports), p.XTestImports...) {
			if why := forbidden(rel, allowed, imp, true); why != "" {
				out = append(out, fmt.Sprintf("%s (tests) imports %s: %s", rel, imp, why))
			}
		}
		if slices.Contains(binaries, rel) {
			for _, dep := range p.Deps {
				if dep == module+"/testenv" || strings.HasPrefix(dep, module+"/testenv/") {
					out = append(out, fmt.Sprintf("%s depends on %s: test code in a binary", rel, dep))
				}
			}
		}
	}
	return out
}

// forbidden says why rel may not import imp, or "" when it may.
func forbidden(rel string, allowed []string, imp string, inTest bool) string {
	if strings.HasPrefix(imp, module+"/") || imp == module {
		target := relPath(imp)
		switch {
		case target == rel, slices.Contains(allowed, "*"), slices.Contains(allowed, target):
			return ""
		case inTest && (target == "testenv" || strings.HasPrefix(target, "testenv/")):
			return ""
		}
		return "not an arrow of DESIGN.md §4"
	}
	for prefix, owners := range restricted {
		if (imp == prefix || strings.HasPrefix(imp, prefix+"/")) && !slices.Contains(owners, rel) {
			return "only " + strings.Join(owners, ", ") + " may import " + prefix
		}
	}
	if slices.Contains(forbiddenStd[rel], imp) {
		return rel + " is pure: no I/O of its own"
	}
	return ""
}

func relPath(importPath string) string {
	if importPath == module {
		return "."
	}
	return strings.TrimPrefix(importPath, module+"/")
}

func goList(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-deps=false", "-json=ImportPath,Imports,TestImports,XTestImports,Deps", "./...")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// cloudSDK matches the import paths of the cloud KMS SDKs (and the key
// service) that the sops packages above its format pull in.
var cloudSDK = regexp.MustCompile(`(?i)aws|azure|google\.golang\.org/api|cloud\.google|hashicorp/vault|huaweicloud|google\.golang\.org/grpc|sops/v3/keyservice`)

// TestBinaryLinksNoCloudSDK keeps the skiff binary free of the cloud SDKs
// that most of the sops module links: skiff decrypts SOPS files for age
// recipients only (internal/sopsfile, agent/secrets).
func TestBinaryLinksNoCloudSDK(t *testing.T) {
	for _, sdk := range []string{"github.com/aws/aws-sdk-go-v2/service/kms", "github.com/Azure/azure-sdk-for-go/sdk/azcore",
		"google.golang.org/api/option", "cloud.google.com/go/kms/apiv1", "github.com/hashicorp/vault/api",
		"github.com/huaweicloud/huaweicloud-sdk-go-v3/core", "github.com/getsops/sops/v3/keyservice"} {
		if !cloudSDK.MatchString(sdk) {
			t.Fatalf("the pattern misses %s", sdk)
		}
	}
	for _, bin := range binaries {
		out, err := exec.Command("go", "list", "-deps", "./"+bin).Output()
		if err != nil {
			t.Fatalf("go list -deps ./%s: %v", bin, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if cloudSDK.MatchString(dep) {
				t.Errorf("%s links %s", bin, dep)
			}
		}
	}
}
