package manifests

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// The spec hash says whether a container must be recreated. It is skiff's
// own (DESIGN §6, §9): a versioned, canonical encoding of everything that
// reaches the container, built field by field into the structs below, so
// that neither an upgrade of compose-go nor of skiff moves it unless the
// container really has to change.
//
// Rules for changing this file:
//   - Every field is omitempty. A key supported later becomes a new omitempty
//     field: absent from existing services, it leaves their hashes alone.
//   - Never rename a JSON name or change how a value is written; that is a
//     new version (v2) with its own structs, and a migration note.
//   - Values are normalized (durations in nanoseconds, effective limits,
//     sorted lists where order does not reach the container) so that equal
//     containers hash equal however they are written.
//   - Repository files count by content digest, never by checkout path; the
//     stack name and the replica count do not count at all (the engine
//     derives names from them, and scaling must not recreate).

// HashPrefix starts every spec hash of this encoding version.
const HashPrefix = "v1-"

type specV1 struct {
	Image             string              `json:"image,omitempty"`
	Platform          string              `json:"platform,omitempty"`
	Command           *[]string           `json:"command,omitempty"`
	Entrypoint        *[]string           `json:"entrypoint,omitempty"`
	Env               map[string]string   `json:"env,omitempty"`
	Labels            map[string]string   `json:"labels,omitempty"`
	User              string              `json:"user,omitempty"`
	WorkingDir        string              `json:"working_dir,omitempty"`
	Hostname          string              `json:"hostname,omitempty"`
	Domainname        string              `json:"domainname,omitempty"`
	ContainerName     string              `json:"container_name,omitempty"`
	Ports             []portV1            `json:"ports,omitempty"`
	Expose            []string            `json:"expose,omitempty"`
	Mounts            []mountV1           `json:"mounts,omitempty"`
	Tmpfs             []string            `json:"tmpfs,omitempty"`
	NetworkMode       string              `json:"network_mode,omitempty"`
	Networks          []networkV1         `json:"networks,omitempty"`
	Secrets           []fileRefV1         `json:"secrets,omitempty"`
	Configs           []fileRefV1         `json:"configs,omitempty"`
	Health            *healthV1           `json:"health,omitempty"`
	Restart           string              `json:"restart,omitempty"`
	CapAdd            []string            `json:"cap_add,omitempty"`
	CapDrop           []string            `json:"cap_drop,omitempty"`
	Devices           []string            `json:"devices,omitempty"`
	Sysctls           map[string]string   `json:"sysctls,omitempty"`
	Ulimits           map[string]ulimitV1 `json:"ulimits,omitempty"`
	Logging           *loggingV1          `json:"logging,omitempty"`
	StopSignal        string              `json:"stop_signal,omitempty"`
	StopGracePeriod   *int64              `json:"stop_grace_period_ns,omitempty"`
	ExtraHosts        []string            `json:"extra_hosts,omitempty"`
	Memory            int64               `json:"memory,omitempty"`
	MemoryReservation int64               `json:"memory_reservation,omitempty"`
	CPUs              string              `json:"cpus,omitempty"`
	PidsLimit         int64               `json:"pids_limit,omitempty"`
	ShmSize           int64               `json:"shm_size,omitempty"`
	Privileged        bool                `json:"privileged,omitempty"`
	ReadOnly          bool                `json:"read_only,omitempty"`
	Init              *bool               `json:"init,omitempty"`
	Tty               bool                `json:"tty,omitempty"`
	StdinOpen         bool                `json:"stdin_open,omitempty"`
	Pid               string              `json:"pid,omitempty"`
	Ipc               string              `json:"ipc,omitempty"`
	UsernsMode        string              `json:"userns_mode,omitempty"`
	DNS               []string            `json:"dns,omitempty"`        // order matters
	DNSSearch         []string            `json:"dns_search,omitempty"` // order matters
	SecurityOpt       []string            `json:"security_opt,omitempty"`
	GroupAdd          []string            `json:"group_add,omitempty"`
	// SopsEnv holds the digests of the encrypted dotenv files whose
	// values the environment uses as placeholders (sops.go).
	SopsEnv []string `json:"sops_env,omitempty"`
}

type portV1 struct {
	Target    uint32 `json:"target,omitempty"`
	Published string `json:"published,omitempty"`
	HostIP    string `json:"host_ip,omitempty"`
	Protocol  string `json:"protocol,omitempty"`
}

type mountV1 struct {
	Type         string      `json:"type,omitempty"`
	Target       string      `json:"target,omitempty"`
	Source       string      `json:"source,omitempty"` // volume name or node path; empty for repository files
	Digest       string      `json:"digest,omitempty"` // repository file or tree
	Sops         string      `json:"sops,omitempty"`   // format of a SOPS file the node decrypts
	ReadOnly     bool        `json:"read_only,omitempty"`
	Propagation  string      `json:"propagation,omitempty"`
	SELinux      string      `json:"selinux,omitempty"`
	NoCreateHost bool        `json:"no_create_host_path,omitempty"`
	NoCopy       bool        `json:"nocopy,omitempty"`
	TmpfsSize    int64       `json:"tmpfs_size,omitempty"`
	TmpfsMode    uint32      `json:"tmpfs_mode,omitempty"`
	Volume       *resourceV1 `json:"volume,omitempty"`
}

// resourceV1 is the part of a network or volume definition that reaches the
// container. Name is kept only when it is not the default <project>_<key>.
type resourceV1 struct {
	Name       string            `json:"name,omitempty"`
	Driver     string            `json:"driver,omitempty"`
	DriverOpts map[string]string `json:"driver_opts,omitempty"`
	External   bool              `json:"external,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
}

type networkV1 struct {
	Key         string      `json:"key,omitempty"`
	Aliases     []string    `json:"aliases,omitempty"`
	IPv4Address string      `json:"ipv4_address,omitempty"`
	Network     *resourceV1 `json:"network,omitempty"`
}

type fileRefV1 struct {
	Target string `json:"target,omitempty"`
	Digest string `json:"digest,omitempty"`
	Sops   string `json:"sops,omitempty"`   // format of a SOPS file the node decrypts
	Source string `json:"source,omitempty"` // node path when not a repository file
	UID    string `json:"uid,omitempty"`
	GID    string `json:"gid,omitempty"`
	Mode   string `json:"mode,omitempty"`
}

type healthV1 struct {
	Test        []string `json:"test,omitempty"`
	Interval    *int64   `json:"interval_ns,omitempty"`
	Timeout     *int64   `json:"timeout_ns,omitempty"`
	StartPeriod *int64   `json:"start_period_ns,omitempty"`
	Retries     *uint64  `json:"retries,omitempty"`
	Disable     bool     `json:"disable,omitempty"`
}

type ulimitV1 struct {
	Single int `json:"single,omitempty"`
	Soft   int `json:"soft,omitempty"`
	Hard   int `json:"hard,omitempty"`
}

type loggingV1 struct {
	Driver  string            `json:"driver,omitempty"`
	Options map[string]string `json:"options,omitempty"`
}

// specHash returns the spec hash of service s of project p; image is the
// canonical reference and files the repository files by absolute path.
func specHash(p *types.Project, s types.ServiceConfig, image string, files map[string]File) string {
	b, err := json.Marshal(buildSpec(p, s, image, files))
	if err != nil {
		panic(fmt.Sprintf("manifests: encode spec: %v", err)) // only plain types above
	}
	sum := sha256.Sum256(append([]byte("skiff-spec/v1\n"), b...))
	return HashPrefix + hex.EncodeToString(sum[:])
}

func buildSpec(p *types.Project, s types.ServiceConfig, image string, files map[string]File) specV1 {
	spec := specV1{
		Image: image, Platform: s.Platform,
		Command: optList(s.Command), Entrypoint: optList(s.Entrypoint),
		Env: envMap(s.Environment), Labels: s.Labels,
		User: s.User, WorkingDir: s.WorkingDir, Hostname: s.Hostname, Domainname: s.DomainName,
		ContainerName: s.ContainerName, Expose: sorted(s.Expose), Tmpfs: sorted(s.Tmpfs),
		NetworkMode: s.NetworkMode, Restart: s.Restart,
		CapAdd: sortedCaps(s.CapAdd), CapDrop: sortedCaps(s.CapDrop),
		Sysctls: s.Sysctls, StopSignal: s.StopSignal, StopGracePeriod: nanos(s.StopGracePeriod),
		ExtraHosts: sorted(s.ExtraHosts.AsList("=")), ShmSize: int64(s.ShmSize),
		Privileged: s.Privileged, ReadOnly: s.ReadOnly, Init: s.Init, Tty: s.Tty, StdinOpen: s.StdinOpen,
		Pid: s.Pid, Ipc: s.Ipc, UsernsMode: s.UserNSMode,
		DNS: s.DNS, DNSSearch: s.DNSSearch, SecurityOpt: sorted(s.SecurityOpt), GroupAdd: sorted(s.GroupAdd),
	}
	spec.Ports = ports(s.Ports)
	spec.Mounts = mounts(p, s.Volumes, files)
	spec.Networks = networks(p, s.Networks)
	spec.Secrets = fileRefs(s.Secrets, func(src string) string { return p.Secrets[src].File }, files)
	spec.Configs = fileRefs(toSecretRefs(s.Configs), func(src string) string { return p.Configs[src].File }, files)
	spec.SopsEnv = secretDigests(p, s, files)
	spec.Health = health(s.HealthCheck)
	spec.Devices = devices(s.Devices)
	spec.Ulimits = ulimits(s.Ulimits)
	if s.Logging != nil {
		spec.Logging = &loggingV1{Driver: s.Logging.Driver, Options: s.Logging.Options}
	}
	if spec.Restart == "no" {
		spec.Restart = "" // the engine's default
	}
	limits(&spec, s)
	return spec
}

// limits writes the effective resource limits: deploy.resources wins over
// the service-level keys, as in Compose.
func limits(spec *specV1, s types.ServiceConfig) {
	spec.Memory, spec.MemoryReservation, spec.PidsLimit = int64(s.MemLimit), int64(s.MemReservation), s.PidsLimit
	cpus := s.CPUS
	if s.Deploy != nil {
		if l := s.Deploy.Resources.Limits; l != nil {
			spec.Memory = cmp.Or(int64(l.MemoryBytes), spec.Memory)
			spec.PidsLimit = cmp.Or(l.Pids, spec.PidsLimit)
			if l.NanoCPUs != 0 {
				cpus = float32(l.NanoCPUs)
			}
		}
		if r := s.Deploy.Resources.Reservations; r != nil {
			spec.MemoryReservation = cmp.Or(int64(r.MemoryBytes), spec.MemoryReservation)
		}
	}
	if cpus != 0 {
		spec.CPUs = strconv.FormatFloat(float64(cpus), 'f', -1, 32)
	}
}

func optList(l []string) *[]string {
	if l == nil {
		return nil
	}
	c := append([]string{}, l...)
	return &c
}

func envMap(m types.MappingWithEquals) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func sorted(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	c := append([]string{}, l...)
	sort.Strings(c)
	return c
}

func sortedCaps(l []string) []string {
	out := make([]string, 0, len(l))
	for _, c := range l {
		out = append(out, normalizeCap(c))
	}
	return sorted(out)
}

func nanos(d *types.Duration) *int64 {
	if d == nil {
		return nil
	}
	n := int64(time.Duration(*d))
	return &n
}

func ports(ps []types.ServicePortConfig) []portV1 {
	var out []portV1
	for _, p := range ps {
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		out = append(out, portV1{Target: p.Target, Published: p.Published, HostIP: p.HostIP, Protocol: proto})
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}
