package manifests

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
)

// checkServices checks the placed services and the resources they use, and
// resolves their paths. Errors refuse the stack.
func (c *stackCheck) checkServices() {
	c.checkName()
	c.checkNetworks()
	c.checkVolumes()
	c.checkFileObjects()
	for _, name := range c.project.ServiceNames() {
		s := c.project.Services[name]
		c.checkBuild(&s)
		c.checkImage(s)
		c.checkValues(s)
		c.checkReplicas(s)
		c.checkPolicy(s)
		c.project.Services[name] = s
		c.checkServicePaths(name)
	}
}

// checkName accepts a top-level name only when it is the directory name.
func (c *stackCheck) checkName() {
	for _, s := range c.sources {
		if n := valueAt(s.root, "name"); n != nil && n.Value != c.in.name {
			c.add(Error, "", s.rel, lineOf(s.root, "name"), fmt.Sprintf(
				"name: %q differs from the stack directory name %q, which is the project name; remove name: or rename the directory", n.Value, c.in.name))
		}
	}
}

func (c *stackCheck) checkNetworks() {
	for name, n := range c.project.Networks {
		if !bool(n.External) && n.Driver != "" && n.Driver != "bridge" {
			c.errorAt("", []string{"networks", name, "driver"}, "driver %q is not supported by skiff: only bridge networks", n.Driver)
		}
	}
}

func (c *stackCheck) checkVolumes() {
	for name, v := range c.project.Volumes {
		at := []string{"volumes", name}
		if bool(v.External) {
			continue
		}
		if v.Driver != "" && v.Driver != "local" {
			c.errorAt("", appendPath(at, "driver"), "driver %q is not supported by skiff: only local volumes", v.Driver)
		}
		dev, ok := v.DriverOpts["device"]
		switch {
		case !ok:
		case !filepath.IsAbs(dev):
			c.errorAt("", appendPath(at, "driver_opts", "device"), "device %q: only host paths allowed by policy.host_paths can back a volume", dev)
		default:
			if msg := c.checkHostPath(dev); msg != "" {
				c.errorAt("", appendPath(at, "driver_opts", "device"), "%s", msg)
			}
		}
	}
}

// checkBuild refuses build without image and drops build otherwise: skiff
// never builds.
func (c *stackCheck) checkBuild(s *types.ServiceConfig) {
	if s.Build == nil {
		return
	}
	at := []string{"services", s.Name, "build"}
	if s.Image == "" {
		c.errorAt(s.Name, at, "skiff never builds images: build in CI, push, and set services.%s.image", s.Name)
	} else {
		c.warnAt(s.Name, at, "ignored: skiff never builds, it runs image %s", s.Image)
	}
	s.Build = nil
}

func (c *stackCheck) checkImage(s types.ServiceConfig) {
	if s.Image == "" {
		return // compose-go or checkBuild reported it
	}
	at := []string{"services", s.Name, "image"}
	canonical, err := canonicalImage(s.Image)
	if err != nil {
		c.errorAt(s.Name, at, "%v", err)
		return
	}
	named, _ := reference.ParseNormalizedNamed(s.Image)
	if _, tagged := named.(reference.Tagged); !tagged {
		if _, digested := named.(reference.Digested); !digested {
			c.warnAt(s.Name, at, "%s has neither tag nor digest and runs whatever :latest is when pulled; pin a tag or a digest", s.Image)
		}
	}
	if _, err := reference.ParseNamed(s.Image); err != nil {
		c.warnAt(s.Name, at, "%s is not written with its canonical name %s", s.Image, canonical)
	}
}

// canonicalImage returns the reference with the registry host explicit and
// :latest added when neither tag nor digest is given.
func canonicalImage(img string) (string, error) {
	named, err := reference.ParseNormalizedNamed(img)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %v", img, err)
	}
	return reference.TagNameOnly(named).String(), nil
}

var restartPolicy = regexp.MustCompile(`^(no|always|unless-stopped|on-failure(:[0-9]+)?)$`)

// checkValues checks values the schema leaves open.
func (c *stackCheck) checkValues(s types.ServiceConfig) {
	at := func(key string) []string { return []string{"services", s.Name, key} }
	switch s.PullPolicy {
	case "", types.PullPolicyAlways, types.PullPolicyMissing, types.PullPolicyNever:
	default:
		c.errorAt(s.Name, at("pull_policy"), "%q is not supported by skiff: use always, missing or never", s.PullPolicy)
	}
	if s.Restart != "" && !restartPolicy.MatchString(s.Restart) {
		c.errorAt(s.Name, at("restart"), "%q must be no, always, unless-stopped or on-failure[:N]", s.Restart)
	}
	if strings.HasPrefix(s.NetworkMode, types.ContainerPrefix) {
		c.errorAt(s.Name, at("network_mode"), "%q names a container skiff does not manage; use service:NAME", s.NetworkMode)
	}
	for _, mode := range []struct{ key, val string }{{"pid", s.Pid}, {"ipc", s.Ipc}} {
		if strings.HasPrefix(mode.val, types.ContainerPrefix) {
			c.errorAt(s.Name, at(mode.key), "%q names a container skiff does not manage; use service:NAME", mode.val)
		}
	}
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeBind, types.VolumeTypeVolume, types.VolumeTypeTmpfs:
		default:
			p, file, line := c.itemAt(s.Name, "volumes", matchTarget(v.Target))
			c.add(Error, s.Name, file, line, keyPath(p)+fmt.Sprintf(": volume type %q is not supported by skiff: use bind, volume or tmpfs", v.Type))
		}
	}
}

// checkReplicas refuses what cannot run more than once on one node.
func (c *stackCheck) checkReplicas(s types.ServiceConfig) {
	c.checkStartFirst(s)
	n := s.GetScale()
	if n < 0 {
		c.errorAt(s.Name, []string{"services", s.Name, "deploy", "replicas"}, "must not be negative")
	}
	if n <= 1 {
		return
	}
	if s.ContainerName != "" {
		c.errorAt(s.Name, []string{"services", s.Name, "container_name"}, "cannot name %d replicas alike; remove container_name or run one replica", n)
	}
	for _, p := range s.Ports {
		if p.Published != "" && !strings.Contains(p.Published, "-") {
			at, file, line := c.itemAt(s.Name, "ports", matchText("published", p.Published))
			c.add(Error, s.Name, file, line, keyPath(at)+fmt.Sprintf(
				": host port %s cannot be published by %d replicas on one node; publish a range or run one replica", p.Published, n))
		}
	}
}

// checkStartFirst refuses start-first with a fixed host port: the new
// container could never bind the port the old one still holds.
func (c *stackCheck) checkStartFirst(s types.ServiceConfig) {
	if c.update[s.Name] != UpdateStartFirst {
		return
	}
	for _, p := range s.Ports {
		if p.Published != "" && !strings.Contains(p.Published, "-") {
			at := []string{"services", s.Name, XSkiff, "update"}
			if _, ok := c.sourcesHave(at...); !ok {
				at = []string{XSkiff, "update"}
			}
			c.errorAt(s.Name, at, "start-first runs the new container beside the old one, which holds host port %s; use stop-first or publish a range", p.Published)
			return
		}
	}
}

// finish resolves the environment and builds the stack with its hashes.
func (c *stackCheck) finish() {
	p, err := c.project.WithServicesEnvironmentResolved(true)
	if err != nil {
		c.add(Error, "", c.baseRel(), 0, "env_file: "+err.Error())
		return
	}
	c.project = p
	if !c.checkSecretUse(p) {
		return
	}
	st := &Stack{Name: c.in.name, Dir: c.dir, Project: p}
	for _, s := range projectServices(p) {
		img, _ := canonicalImage(s.Image)
		pull := s.PullPolicy
		if pull == "" {
			pull = types.PullPolicyMissing
		}
		st.Services = append(st.Services, Service{
			Name: s.Name, Image: img, Hash: specHash(p, s, img, c.files),
			Update: c.update[s.Name], Replicas: s.GetScale(), PullPolicy: pull,
			HealthGrace: c.grace[s.Name],
		})
	}
	for _, f := range c.files {
		st.Files = append(st.Files, f)
	}
	sort.Slice(st.Files, func(i, j int) bool { return st.Files[i].Rel < st.Files[j].Rel })
	c.stack = st
}
