package manifests

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// This file checks what a service asks of the node against fleet.yaml's
// policy. Every refusal names the key and the policy line that would allow it.

// dockerSockets are the usual paths of the Docker socket on a node.
var dockerSockets = []string{"/var/run/docker.sock", "/run/docker.sock"}

func allowWith(policyLine string) string {
	return fmt.Sprintf("allow with %q in %s", "policy: {"+policyLine+"}", FleetFile)
}

func (c *stackCheck) checkPolicy(s types.ServiceConfig) {
	pol, svc := c.in.fleet.Policy, s.Name
	at := func(key string) []string { return []string{"services", svc, key} }
	if s.Privileged && !pol.Privileged {
		c.errorAt(svc, at("privileged"), "privileged containers are denied by policy; %s", allowWith("privileged: true"))
	}
	for _, ns := range []struct{ key, val string }{
		{"network_mode", s.NetworkMode}, {"pid", s.Pid}, {"ipc", s.Ipc}, {"userns_mode", s.UserNSMode},
	} {
		if ns.val == "host" && !pol.HostNamespaces {
			c.errorAt(svc, at(ns.key), "host namespaces are denied by policy; %s", allowWith("host_namespaces: true"))
		}
	}
	if len(s.Devices) > 0 && !pol.Devices {
		c.errorAt(svc, at("devices"), "devices are denied by policy; %s", allowWith("devices: true"))
	}
	for _, capName := range s.CapAdd {
		if capName = normalizeCap(capName); !slices.ContainsFunc(pol.CapAdd, func(a string) bool { return normalizeCap(a) == capName }) {
			c.errorAt(svc, at("cap_add"), "capability %s is not allowed by policy; %s", capName,
				allowWith("cap_add: ["+strings.Join(append(slices.Clone(pol.CapAdd), capName), ", ")+"]"))
		}
	}
	for _, opt := range s.SecurityOpt {
		if unconfined(opt) && !pol.Privileged {
			c.errorAt(svc, at("security_opt"), "%q lifts confinement like a privileged container and is denied by policy; %s", opt, allowWith("privileged: true"))
		}
	}
}

// unconfined reports whether a security_opt entry turns a protection off.
func unconfined(opt string) bool {
	k, v, _ := strings.Cut(strings.ReplaceAll(opt, ":", "="), "=")
	switch k {
	case "seccomp", "apparmor", "systempaths":
		return v == "unconfined"
	case "label":
		return v == "disable"
	}
	return false
}

// checkHostPath decides on an absolute path of the node used as a bind
// source (or volume device): the Docker socket needs docker_socket, anything
// else a host_paths prefix. It returns the refusal, or "".
func (c *stackCheck) checkHostPath(p string) string {
	pol := c.in.fleet.Policy
	p = path.Clean(p)
	if exposesDockerSocket(p) {
		if pol.DockerSocket {
			return ""
		}
		return fmt.Sprintf("%s exposes the Docker socket, which is denied by policy; %s", p, allowWith("docker_socket: true"))
	}
	for _, prefix := range pol.HostPaths {
		if underPrefix(p, prefix) {
			return ""
		}
	}
	suggest := path.Dir(p)
	if suggest != "/" {
		suggest += "/"
	}
	list := append(quoteAll(pol.HostPaths), strconv.Quote(suggest))
	return fmt.Sprintf("host path %s is outside the stack directory and not allowed by policy; %s", p, allowWith("host_paths: ["+strings.Join(list, ", ")+"]"))
}

// underPrefix matches whole path components: /srv/ and /srv allow /srv/a
// but not /srvx.
func underPrefix(p, prefix string) bool {
	prefix = path.Clean(prefix)
	return prefix == "/" || p == prefix || strings.HasPrefix(p, prefix+"/")
}

// exposesDockerSocket reports whether binding p gives the container the
// Docker socket: the socket itself, a directory holding it, or any file
// named docker.sock.
func exposesDockerSocket(p string) bool {
	if path.Base(p) == "docker.sock" {
		return true
	}
	for _, s := range dockerSockets {
		if underPrefix(s, p) {
			return true
		}
	}
	return false
}

func quoteAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strconv.Quote(s)
	}
	return out
}
