package manifests

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// This file checks the keys of each file as written, before compose-go
// loads it: every key skiff does not support is an error naming the key and
// its line, never silently dropped. x-* extensions are free, except x-skiff.

// rule says which keys a mapping may have. A key mapped to nil is allowed
// with anything below it.
type rule struct {
	keys  map[string]*rule  // allowed keys of a mapping
	each  *rule             // for mappings keyed by user names (services, networks...)
	items *rule             // for sequences of mappings
	why   map[string]string // refused keys with a specific reason
}

func allow(names ...string) map[string]*rule {
	m := make(map[string]*rule, len(names))
	for _, n := range names {
		m[n] = nil
	}
	return m
}

func with(m map[string]*rule, key string, r *rule) map[string]*rule {
	m[key] = r
	return m
}

const notSupported = "not supported by skiff"

var (
	deployRule = &rule{keys: with(allow("replicas"), "resources", &rule{keys: map[string]*rule{
		"limits":       {keys: allow("cpus", "memory", "pids")},
		"reservations": {keys: allow("memory")},
	}})}

	healthRule = &rule{
		keys: allow("test", "interval", "timeout", "retries", "start_period", "disable"),
		why:  map[string]string{"start_interval": "needs Docker API 1.44; skiff drives engines from API 1.41, so it cannot be honoured"},
	}

	serviceVolumeRule = &rule{keys: map[string]*rule{
		"type": nil, "source": nil, "target": nil, "read_only": nil, "consistency": nil,
		"bind":   {keys: allow("propagation", "selinux", "create_host_path")},
		"volume": {keys: allow("nocopy")},
		"tmpfs":  {keys: allow("size", "mode")},
	}}

	serviceRule = &rule{
		keys: map[string]*rule{
			"image": nil, "command": nil, "entrypoint": nil, "environment": nil, "labels": nil,
			"expose": nil, "tmpfs": nil, "network_mode": nil, "restart": nil, "scale": nil,
			"user": nil, "working_dir": nil, "hostname": nil, "domainname": nil, "cap_add": nil,
			"cap_drop": nil, "devices": nil, "sysctls": nil, "ulimits": nil, "stop_signal": nil,
			"stop_grace_period": nil, "extra_hosts": nil, "mem_limit": nil, "mem_reservation": nil,
			"cpus": nil, "pids_limit": nil, "pull_policy": nil, "privileged": nil, "pid": nil,
			"ipc": nil, "userns_mode": nil, "read_only": nil, "init": nil, "tty": nil,
			"stdin_open": nil, "dns": nil, "dns_search": nil, "security_opt": nil, "shm_size": nil,
			"group_add": nil, "container_name": nil, "build": nil, "platform": nil,
			"env_file":    {items: &rule{keys: allow("path", "required")}},
			"ports":       {items: &rule{keys: allow("target", "published", "host_ip", "protocol", "mode", "name", "app_protocol")}},
			"volumes":     {items: serviceVolumeRule},
			"networks":    {each: &rule{keys: allow("aliases", "ipv4_address")}},
			"secrets":     {items: &rule{keys: allow("source", "target", "uid", "gid", "mode")}},
			"configs":     {items: &rule{keys: allow("source", "target", "uid", "gid", "mode")}},
			"depends_on":  {each: &rule{keys: allow("condition", "restart", "required")}},
			"healthcheck": healthRule,
			"deploy":      deployRule,
			"logging":     {keys: allow("driver", "options")},
		},
		why: map[string]string{
			"extends":    notSupported + ": write the service out, or share settings with a YAML anchor",
			"profiles":   notSupported + ": place services with x-skiff instead",
			"label_file": notSupported + ": write the labels in labels:",
		},
	}

	fileObjectRule = &rule{
		keys: allow("file", "name"),
		why: map[string]string{
			"environment": notSupported + ": use file: with a file in the stack directory",
			"content":     notSupported + ": use file: with a file in the stack directory",
			"external":    notSupported + ": external secrets and configs need Swarm; use file:",
		},
	}

	topRule = &rule{
		keys: map[string]*rule{
			"name":     nil,
			"services": {each: serviceRule},
			"networks": {each: &rule{keys: allow("name", "driver", "internal", "labels", "external")}},
			"volumes":  {each: &rule{keys: allow("name", "driver", "driver_opts", "labels", "external")}},
			"secrets":  {each: fileObjectRule},
			"configs":  {each: fileObjectRule},
			"version":  nil,
		},
		why: map[string]string{
			"include": notSupported + ": a stack is loaded from its own directory only",
		},
	}
)

// checkKeys checks every key of every file of the stack. It never stops
// loading: errors found here refuse the stack later.
func (c *stackCheck) checkKeys() bool {
	for _, s := range c.sources {
		c.checkRule(s, s.root, topRule, nil, 0)
		if n, ok := lookup(s.root, "version"); ok {
			c.add(Warning, "", s.rel, n.Line, "version: obsolete and ignored")
		}
	}
	return true
}

func (c *stackCheck) checkRule(s *source, n *yaml.Node, r *rule, path []string, depth int) {
	n = deref(n)
	if n == nil || r == nil || depth > maxDepth {
		return
	}
	switch {
	case n.Kind == yaml.SequenceNode && r.items != nil:
		for i, item := range n.Content {
			c.checkRule(s, item, r.items, appendPath(path, strconv.Itoa(i)), depth+1)
		}
	case n.Kind == yaml.MappingNode && r.keys != nil:
		for _, e := range entries(n) {
			c.checkKey(s, e, r, path, depth)
		}
	case n.Kind == yaml.MappingNode && r.each != nil:
		for _, e := range entries(n) {
			c.checkRule(s, e.value, r.each, appendPath(path, e.key.Value), depth+1)
		}
	}
}

func (c *stackCheck) checkKey(s *source, e entry, r *rule, path []string, depth int) {
	k := e.key.Value
	p := appendPath(path, k)
	switch {
	case strings.HasPrefix(k, "x-"):
		return // x-skiff is decoded, and checked, after interpolation
	}
	if why, refused := r.why[k]; refused {
		c.keyError(s, e.key, p, why)
		return
	}
	sub, ok := r.keys[k]
	if !ok {
		c.keyError(s, e.key, p, notSupported)
		return
	}
	c.checkRule(s, e.value, sub, p, depth+1)
}

func (c *stackCheck) keyError(s *source, key *yaml.Node, path []string, msg string) {
	service := ""
	if len(path) > 1 && path[0] == "services" {
		service = path[1]
	}
	c.add(Error, service, s.rel, key.Line, keyPath(path)+": "+msg)
}

// appendPath returns a new slice: paths are kept in problems and must not share
// backing arrays.
func appendPath(path []string, elems ...string) []string {
	out := make([]string, 0, len(path)+len(elems))
	return append(append(out, path...), elems...)
}
