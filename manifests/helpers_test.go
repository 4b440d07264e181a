package manifests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testImage = "registry.example.com/skiff/hello:1.0"

// repo is a repository as a map of slash paths to contents.
type repo map[string]string

// write creates the repository in a new temporary directory.
func (r repo) write(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	r.writeTo(t, dir)
	return dir
}

func (r repo) writeTo(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, StacksDir), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range r {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// with returns a copy of r with more or changed files.
func (r repo) with(more repo) repo {
	out := repo{}
	for k, v := range r {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func load(t testing.TB, dir string, node Node) *Desired {
	t.Helper()
	d, err := Load(dir, node)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return d
}

func lines(ps []Problem) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func errorLines(ps []Problem) []string {
	out := []string{}
	for _, p := range ps {
		if p.Severity == Error {
			out = append(out, p.String())
		}
	}
	return out
}

// placed lists "stack/service" for every placed service.
func placed(d *Desired) []string {
	out := []string{}
	for _, s := range d.Stacks {
		for _, svc := range s.Services {
			out = append(out, s.Name+"/"+svc.Name)
		}
	}
	return out
}

func service(t testing.TB, d *Desired, stack, name string) Service {
	t.Helper()
	for _, s := range d.Stacks {
		for _, svc := range s.Services {
			if s.Name == stack && svc.Name == name {
				return svc
			}
		}
	}
	t.Fatalf("no service %s/%s; placed %v; problems:\n%s", stack, name, placed(d), strings.Join(lines(d.Problems), "\n"))
	return Service{}
}

func stack(t testing.TB, d *Desired, name string) Stack {
	t.Helper()
	for _, s := range d.Stacks {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no stack %s; problems:\n%s", name, strings.Join(lines(d.Problems), "\n"))
	return Stack{}
}

// compose writes a minimal compose file with one service named web.
func compose(extra string) string {
	return "services:\n  web:\n    image: " + testImage + "\n" + extra
}
