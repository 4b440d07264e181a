package manifests

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// XSkiff is the Compose extension key of skiff's placement and update order.
const XSkiff = "x-skiff"

// placement is where a service may run: the stack's x-skiff and the
// service's both apply. nil lists mean "everywhere".
type placement struct {
	regions []string
	nodes   []string
	labels  map[string]string
	never   bool // the two levels contradict each other
}

// xskiff is one decoded x-skiff block.
type xskiff struct {
	placement
	update string
	grace  time.Duration // health_grace; 0 when not set
}

// DefaultHealthGrace is how long a container without healthcheck must keep
// running, without a restart, to pass the health gate (x-skiff.health_grace).
const DefaultHealthGrace = 5 * time.Second

// placeServices decodes x-skiff at both levels, keeps the services placed
// on this node (or, when validating, in this region) and checks that no kept
// service depends on a removed one. It returns false when the stack runs
// nothing here; problems of services placed elsewhere are dropped, as they
// are reported where those services run.
func (c *stackCheck) placeServices() bool {
	stack, ok := c.decodeXSkiff(c.project.Extensions[XSkiff], XSkiff)
	placed := map[string]bool{}
	c.place, c.update, c.grace = map[string]placement{}, map[string]string{}, map[string]time.Duration{}
	for _, name := range c.project.ServiceNames() {
		svc, svcOK := c.decodeXSkiff(c.project.Services[name].Extensions[XSkiff], "services", name, XSkiff)
		ok = ok && svcOK
		p := combine(stack.placement, svc.placement)
		if !c.matches(p) {
			continue
		}
		placed[name] = true
		c.place[name] = p
		c.update[name] = cmp.Or(svc.update, stack.update, UpdateStopFirst)
		c.grace[name] = cmp.Or(svc.grace, stack.grace, DefaultHealthGrace)
	}
	if !ok {
		return false
	}
	c.problems = slices.DeleteFunc(c.problems, func(p Problem) bool {
		return p.Service != "" && !placed[p.Service]
	})
	if len(placed) == 0 {
		c.problems = nil
		return false
	}
	c.dropUnplaced(placed)
	return true
}

// matches decides placement for the node, or only for the region when
// validating.
func (c *stackCheck) matches(p placement) bool {
	if p.never || (p.regions != nil && !slices.Contains(p.regions, c.in.region)) {
		return false
	}
	n := c.in.node
	if n == nil {
		return true
	}
	if p.nodes != nil && !slices.Contains(p.nodes, n.Name) {
		return false
	}
	for k, v := range p.labels {
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// combine intersects the stack's placement with the service's.
func combine(a, b placement) placement {
	out := placement{regions: intersect(a.regions, b.regions), nodes: intersect(a.nodes, b.nodes)}
	out.never = a.never || b.never
	if len(a.labels)+len(b.labels) > 0 {
		out.labels = map[string]string{}
	}
	for _, m := range []map[string]string{a.labels, b.labels} {
		for k, v := range m {
			if old, ok := out.labels[k]; ok && old != v {
				out.never = true
			}
			out.labels[k] = v
		}
	}
	return out
}

func intersect(a, b []string) []string {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	out := []string{}
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// mayShareNode reports whether two placements can put services on one node
// of the same region: node lists intersect or one is open, and their label
// selectors do not contradict.
func mayShareNode(a, b placement) bool {
	return !combine(a, b).never && (a.nodes == nil || b.nodes == nil || len(intersect(a.nodes, b.nodes)) > 0)
}

// dropUnplaced removes the services placed elsewhere and what only they used.
func (c *stackCheck) dropUnplaced(placed map[string]bool) {
	p := c.project
	for _, name := range p.ServiceNames() {
		if !placed[name] {
			delete(p.Services, name)
		}
	}
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		for dep, d := range s.DependsOn {
			if placed[dep] {
				continue
			}
			if d.Required {
				c.errorAt(name, []string{"services", name, "depends_on", dep},
					"depends on %q, which x-skiff places elsewhere: place both together or make the dependency required: false", dep)
			}
			delete(s.DependsOn, dep)
		}
		p.Services[name] = s
	}
	c.project = p.WithoutUnnecessaryResources()
}

// decodeXSkiff decodes one x-skiff value, reporting bad values at path.
func (c *stackCheck) decodeXSkiff(v any, path ...string) (xskiff, bool) {
	var x xskiff
	if v == nil {
		return x, true
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		c.errorAt(serviceOf(path), path, "must be a mapping")
		return x, false
	}
	ok := true
	bad := func(key, format string, args ...any) {
		c.errorAt(serviceOf(path), appendPath(path, key), format, args...)
		ok = false
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch val := m[k]; k {
		case "regions", "nodes":
			list, err := stringList(val)
			if err != nil {
				bad(k, "%v", err)
			} else if k == "regions" {
				x.regions = list
			} else {
				x.nodes = list
			}
		case "labels":
			labels, err := stringMap(val)
			if err != nil {
				bad(k, "%v", err)
			}
			x.labels = labels
		case "update":
			s, _ := val.(string)
			if s != UpdateStopFirst && s != UpdateStartFirst {
				bad(k, "must be %s or %s", UpdateStopFirst, UpdateStartFirst)
			}
			x.update = s
		case "health_grace":
			d, err := graceValue(val)
			if err != nil {
				bad(k, "%v", err)
			}
			x.grace = d
		default:
			bad(k, "unknown key: x-skiff has regions, nodes, labels, update and health_grace")
		}
	}
	return x, ok
}

// graceValue reads a health_grace: a duration with a unit, from 1s to 10m.
func graceValue(v any) (time.Duration, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("must be a duration with a unit, as 10s")
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration (use a unit: 500ms, 10s, 1m)", s)
	case d < 100*time.Millisecond || d > 10*time.Minute:
		return 0, fmt.Errorf("%s is out of range: from 100ms to 10m", s)
	}
	return d, nil
}

func serviceOf(path []string) string {
	if len(path) > 1 && path[0] == "services" {
		return path[1]
	}
	return ""
}

func stringList(v any) ([]string, error) {
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("must be a list of names")
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := scalarString(it)
		if !ok || s == "" {
			return nil, fmt.Errorf("must be a list of names")
		}
		out = append(out, s)
	}
	return out, nil
}

func stringMap(v any) (map[string]string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("must be a mapping of label names to values")
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		s, ok := scalarString(val)
		if !ok {
			return nil, fmt.Errorf("label %q must have a scalar value", k)
		}
		out[k] = s
	}
	return out, nil
}

func scalarString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	case int:
		return strconv.Itoa(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case uint64:
		return strconv.FormatUint(t, 10), true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	}
	return "", false
}

// projectServices lists the services of a project, sorted.
func projectServices(p *types.Project) []types.ServiceConfig {
	out := make([]types.ServiceConfig, 0, len(p.Services))
	for _, name := range p.ServiceNames() {
		out = append(out, p.Services[name])
	}
	return out
}
