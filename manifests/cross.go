package manifests

import (
	"fmt"
	"strconv"
	"strings"
)

// This file checks what services of different stacks (or of one stack)
// cannot share on one node: published host ports and container names. Both
// sides of a clash get an error, so that neither changes: the one already
// running keeps its last good spec, the new one waits for a fix.

// hostPort is one published port of one service.
type hostPort struct {
	ip, proto string
	port      int
}

type bound struct {
	c       *stackCheck
	service string
	port    hostPort
	raw     string // as published, to locate the item
}

// crossCheck reports clashes between the services of checked stacks. With
// sameNode every service is on one node (Load); otherwise (Validate) two
// services clash only when their placements can share a node.
func crossCheck(checks []*stackCheck, sameNode bool) []Problem {
	var ps []Problem
	ports := map[portKey][]bound{}
	names := map[string][]bound{}
	for _, c := range checks {
		if c.stack == nil {
			continue
		}
		for _, s := range projectServices(c.stack.Project) {
			for _, b := range publishedPorts(c, s.Name) {
				k := portKey{b.port.proto, b.port.port}
				ports[k] = append(ports[k], b)
			}
			if s.ContainerName != "" {
				names[s.ContainerName] = append(names[s.ContainerName], bound{c: c, service: s.Name})
			}
		}
	}
	share := func(a, b bound) bool {
		return sameNode || mayShareNode(a.c.place[a.service], b.c.place[b.service])
	}
	reported := map[[2]string]bool{} // one problem per pair of services
	for _, bs := range ports {
		for i, a := range bs {
			for _, b := range bs[i+1:] {
				pair := [2]string{a.id(), b.id()}
				if a.id() != b.id() && !reported[pair] && a.port.clashes(b.port) && share(a, b) {
					reported[pair], reported[[2]string{b.id(), a.id()}] = true, true
					ps = append(ps, portClash(a, b), portClash(b, a))
				}
			}
		}
	}
	for name, bs := range names {
		for i, a := range bs {
			for _, b := range bs[i+1:] {
				if share(a, b) {
					ps = append(ps, nameClash(name, a, b), nameClash(name, b, a))
				}
			}
		}
	}
	return ps
}

type portKey struct {
	proto string
	port  int
}

func (b bound) id() string { return b.c.in.name + "/" + b.service }

func publishedPorts(c *stackCheck, service string) []bound {
	var out []bound
	for _, p := range c.stack.Project.Services[service].Ports {
		lo, hi, ok := portRange(p.Published)
		if !ok {
			continue
		}
		ip := p.HostIP
		if ip == "0.0.0.0" || ip == "::" {
			ip = ""
		}
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		for port := lo; port <= hi && port-lo < 65536; port++ {
			out = append(out, bound{c: c, service: service, port: hostPort{ip: ip, proto: proto, port: port}, raw: p.Published})
		}
	}
	return out
}

func portRange(published string) (lo, hi int, ok bool) {
	if published == "" {
		return 0, 0, false
	}
	a, b, isRange := strings.Cut(published, "-")
	lo, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, false
	}
	hi = lo
	if isRange {
		if hi, err = strconv.Atoi(b); err != nil || hi < lo {
			return 0, 0, false
		}
	}
	return lo, hi, true
}

func (a hostPort) clashes(b hostPort) bool {
	return a.port == b.port && a.proto == b.proto && (a.ip == b.ip || a.ip == "" || b.ip == "")
}

func portClash(a, b bound) Problem {
	at, file, line := a.c.itemAt(a.service, "ports", matchText("published", a.raw))
	return Problem{
		File: file, Line: line, Stack: a.c.in.name, Service: a.service,
		Msg: fmt.Sprintf("%s: host port %d/%s is also published by %s; a node can bind it once",
			keyPath(at), a.port.port, a.port.proto, other(a, b)),
	}
}

func nameClash(name string, a, b bound) Problem {
	at := []string{"services", a.service, "container_name"}
	file, line := a.c.at(at...)
	return Problem{
		File: file, Line: line, Stack: a.c.in.name, Service: a.service,
		Msg: fmt.Sprintf("%s: %q is also the container name of %s", keyPath(at), name, other(a, b)),
	}
}

func other(a, b bound) string {
	if a.c == b.c {
		return "service " + b.service
	}
	return fmt.Sprintf("service %s of stack %s", b.service, b.c.in.name)
}
