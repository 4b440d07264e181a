package main

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"text/template"
	"time"
)

// fleetFS is the demo's manifests repository, as templates: the registries'
// addresses, the node's name and the page's port are only known at run time.
//
//go:embed all:fleet
var fleetFS embed.FS

// fleetParams fill the templates of one revision.
type fleetParams struct {
	Node       string // also the prefix of the stacks and the images' namespace
	Region     string
	Origin     string // host:port of the origin registry
	Mirror     string // host:port of the region's mirror
	Latency    time.Duration
	Port       int // the page's port on 127.0.0.1
	WebVersion string
	Greeting   string
}

// The revisions the demo commits by itself: the second one changes the
// page's image and its text, and leaves the shop stack alone.
var (
	revision1 = revisionChange{WebVersion: "1.0", Greeting: "Hello"}
	revision2 = revisionChange{WebVersion: "1.1", Greeting: "Hello again"}
)

type revisionChange struct{ WebVersion, Greeting string }

func (p fleetParams) with(c revisionChange) fleetParams {
	p.WebVersion, p.Greeting = c.WebVersion, c.Greeting
	return p
}

// stackName is the Compose project of one of the fleet's stacks on node:
// prefixed by the node, so that its containers' names are the demo's own.
func stackName(node, stack string) string { return node + "-" + stack }

// fleetFiles renders the repository for p: slash-separated path → content.
// stacks/<stack>/ becomes stacks/<node>-<stack>/.
func fleetFiles(p fleetParams) (map[string]string, error) {
	root, err := fs.Sub(fleetFS, "fleet")
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		tmpl, err := template.New(name).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return fmt.Errorf("demo fleet %s: %w", name, err)
		}
		var out bytes.Buffer
		if err := tmpl.Execute(&out, p); err != nil {
			return fmt.Errorf("demo fleet %s: %w", name, err)
		}
		files[repoPath(p.Node, name)] = out.String()
		return nil
	})
	return files, err
}

func repoPath(node, name string) string {
	rest, ok := strings.CutPrefix(name, "stacks/")
	if !ok {
		return name
	}
	stack, file, _ := strings.Cut(rest, "/")
	return path.Join("stacks", stackName(node, stack), file)
}

// demoImage is one image the demo builds and pushes to both registries.
type demoImage struct {
	name, tag string
}

// demoImages are every image the fleet's revisions use.
var demoImages = []demoImage{
	{"web", revision1.WebVersion},
	{"api", "1.0"},
	{"web", revision2.WebVersion},
}

// ref is the image's name on the registry at host.
func (i demoImage) ref(host, node string) string {
	return host + "/" + node + "/" + i.name + ":" + i.tag
}

// containers are the containers a converged node runs, by name.
func containers(node string) []string {
	return []string{
		stackName(node, "hello") + "-web-1",
		stackName(node, "shop") + "-api-1",
		stackName(node, "shop") + "-worker-1",
	}
}

// pageContainer is the container the demo removes behind the agent's back.
func pageContainer(node string) string { return stackName(node, "hello") + "-web-1" }

// pageText is what the page starts with once revision c is applied.
func pageText(p fleetParams, c revisionChange) string {
	return fmt.Sprintf("%s from %s in %s, served by web %s", c.Greeting, p.Node, p.Region, c.WebVersion)
}
