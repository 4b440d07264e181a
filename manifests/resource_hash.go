package manifests

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
)

// Networks and volumes carry a hash of their definition
// (io.skiff.network-hash, io.skiff.volume-hash) so that a changed definition
// is seen without inspecting the object: a network is recreated, a volume
// is refused (skiff never recreates data). The rules of hash.go apply: every
// field omitempty, values normalized, a new field only as omitempty.

type networkDefV1 struct {
	Driver     string            `json:"driver,omitempty"`
	DriverOpts map[string]string `json:"driver_opts,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
	Attachable bool              `json:"attachable,omitempty"`
	EnableIPv6 bool              `json:"enable_ipv6,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	IPAMDriver string            `json:"ipam_driver,omitempty"`
	IPAM       []ipamPoolV1      `json:"ipam,omitempty"`
	IPAMOpts   map[string]string `json:"ipam_options,omitempty"`
}

type ipamPoolV1 struct {
	Subnet  string `json:"subnet,omitempty"`
	IPRange string `json:"ip_range,omitempty"`
	Gateway string `json:"gateway,omitempty"`
}

type volumeDefV1 struct {
	Driver     string            `json:"driver,omitempty"`
	DriverOpts map[string]string `json:"driver_opts,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// NetworkHash is the definition hash of the stack's network key: what the
// engine is asked when it creates the network. The name is not part of it
// (a different name is a different network).
func (s Stack) NetworkHash(key string) string {
	n := s.Project.Networks[key]
	d := networkDefV1{
		Driver: n.Driver, DriverOpts: n.DriverOpts, Internal: n.Internal, Attachable: n.Attachable,
		Labels: map[string]string(n.Labels), IPAMDriver: n.Ipam.Driver, IPAMOpts: map[string]string(n.Ipam.Options),
	}
	if d.Driver == "bridge" {
		d.Driver = "" // the engine's default
	}
	if n.EnableIPv6 != nil {
		d.EnableIPv6 = *n.EnableIPv6
	}
	for _, p := range n.Ipam.Config {
		if p != nil {
			d.IPAM = append(d.IPAM, ipamPoolV1{Subnet: p.Subnet, IPRange: p.IPRange, Gateway: p.Gateway})
		}
	}
	sort.Slice(d.IPAM, func(i, j int) bool { return d.IPAM[i].Subnet < d.IPAM[j].Subnet })
	return resourceHash("network", d)
}

// VolumeHash is the definition hash of the stack's volume key.
func (s Stack) VolumeHash(key string) string {
	v := s.Project.Volumes[key]
	d := volumeDefV1{Driver: v.Driver, DriverOpts: v.DriverOpts, Labels: map[string]string(v.Labels)}
	if d.Driver == "local" {
		d.Driver = "" // the engine's default
	}
	return resourceHash("volume", d)
}

func resourceHash(kind string, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("manifests: encode %s definition: %v", kind, err)) // only plain types
	}
	sum := sha256.Sum256(append([]byte("skiff-"+kind+"/v1\n"), b...))
	return HashPrefix + hex.EncodeToString(sum[:])
}

// Digest summarizes what a stack asks of the node: each placed service's
// spec hash and replica count, and the definition hashes of the networks
// and volumes it uses. Two loads of a stack with the same digest need no
// change on the node.
func (s Stack) Digest() string {
	h := sha256.New()
	for _, svc := range s.Services {
		fmt.Fprintf(h, "service %s %s %d\n", svc.Name, svc.Hash, svc.Replicas)
	}
	if s.Project == nil {
		return HashPrefix + hex.EncodeToString(h.Sum(nil))
	}
	for _, key := range sortedKeys(s.Project.Networks) {
		fmt.Fprintf(h, "network %s %s\n", key, s.NetworkHash(key))
	}
	for _, key := range sortedKeys(s.Project.Volumes) {
		fmt.Fprintf(h, "volume %s %s\n", key, s.VolumeHash(key))
	}
	return HashPrefix + hex.EncodeToString(h.Sum(nil))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
