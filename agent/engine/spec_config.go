package engine

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/go-connections/nat"

	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/reconcile"
)

// config builds container.Config: the process, its environment, labels,
// exposed ports and healthcheck.
func (b *specBuilder) config(spec *containerSpec) error {
	s := b.svc
	labels, err := b.labels()
	if err != nil {
		return err
	}
	health, err := b.healthcheck()
	if err != nil {
		return err
	}
	env, err := b.environment()
	if err != nil {
		return err
	}
	spec.Config = &container.Config{
		Hostname:     s.Hostname,
		Domainname:   s.DomainName,
		User:         s.User,
		ExposedPorts: exposedPorts(s),
		Tty:          s.Tty,
		OpenStdin:    s.StdinOpen,
		AttachStdout: true, // as compose: harmless when nobody attaches
		AttachStderr: true,
		Env:          env,
		Cmd:          shellCommand(s.Command),
		Entrypoint:   shellCommand(s.Entrypoint),
		Healthcheck:  health,
		Image:        b.req.Image,
		WorkingDir:   s.WorkingDir,
		Labels:       labels,
		StopSignal:   s.StopSignal,
		StopTimeout:  stopSeconds(s.StopGracePeriod),
	}
	return nil
}

// shellCommand keeps the difference between an unset command (the image's)
// and an empty one (none).
func shellCommand(c types.ShellCommand) strslice.StrSlice {
	if c == nil {
		return nil
	}
	return strslice.StrSlice(append([]string{}, c...))
}

// envList writes the environment sorted by name. A variable without value
// (neither set in the service nor in .env) is passed by name alone, which
// the engine takes as "unset", as compose does.
func envList(env types.MappingWithEquals) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		if v == nil {
			out = append(out, k)
		} else {
			out = append(out, k+"="+*v)
		}
	}
	sort.Strings(out)
	return out
}

// environment is the service's environment with the values of encrypted
// dotenv files in place of their placeholders.
func (b *specBuilder) environment() ([]string, error) {
	env := envList(b.svc.Environment)
	for i, kv := range env {
		if !strings.Contains(kv, "{{sops:") {
			continue
		}
		k, _, _ := strings.Cut(kv, "=")
		v, err := manifests.ReplaceSecrets(kv, func(r manifests.SecretRef) (string, bool) {
			v, ok := b.req.Env[r.Placeholder()]
			return v, ok
		})
		if err != nil {
			return nil, b.refuse("environment."+k, "%v", err)
		}
		env[i] = v
	}
	return env, nil
}

// stopSeconds truncates stop_grace_period to whole seconds, as compose does.
func stopSeconds(d *types.Duration) *int {
	if d == nil {
		return nil
	}
	s := int(time.Duration(*d).Seconds())
	return &s
}

// exposedPorts lists expose entries as written and the container side of
// every published port, as compose does.
func exposedPorts(s types.ServiceConfig) nat.PortSet {
	set := nat.PortSet{}
	for _, e := range s.Expose {
		set[nat.Port(e)] = struct{}{}
	}
	for _, p := range s.Ports {
		set[containerPort(p)] = struct{}{}
	}
	return set
}

func containerPort(p types.ServicePortConfig) nat.Port {
	proto := strings.ToLower(p.Protocol)
	if proto == "" {
		proto = "tcp"
	}
	return nat.Port(fmt.Sprintf("%d/%s", p.Target, proto))
}

// healthcheck converts the healthcheck; disable: true is test NONE.
func (b *specBuilder) healthcheck() (*container.HealthConfig, error) {
	h := b.svc.HealthCheck
	if h == nil {
		return nil, nil
	}
	if h.StartInterval != nil {
		return nil, b.refuse("healthcheck.start_interval", "needs Docker API 1.44")
	}
	out := &container.HealthConfig{Test: append([]string{}, h.Test...)}
	if h.Disable {
		out.Test = []string{"NONE"}
	}
	if h.Interval != nil {
		out.Interval = time.Duration(*h.Interval)
	}
	if h.Timeout != nil {
		out.Timeout = time.Duration(*h.Timeout)
	}
	if h.StartPeriod != nil {
		out.StartPeriod = time.Duration(*h.StartPeriod)
	}
	if h.Retries != nil {
		out.Retries = int(*h.Retries)
	}
	return out, nil
}

// reservedLabelPrefixes are the label namespaces compose and skiff write.
var reservedLabelPrefixes = []string{"com.docker.compose.", "io.skiff."}

// labels merges the service's labels with compose's and skiff's.
func (b *specBuilder) labels() (map[string]string, error) {
	out := make(map[string]string, len(b.svc.Labels)+16)
	for k, v := range b.svc.Labels {
		for _, p := range reservedLabelPrefixes {
			if strings.HasPrefix(k, p) {
				return nil, b.refuse("labels."+k, "the %s* labels are written by skiff", p)
			}
		}
		out[k] = v
	}
	r := b.req
	for k, v := range map[string]string{
		LabelProject:    r.Stack.Name,
		LabelService:    b.svc.Name,
		LabelNumber:     strconv.Itoa(r.Number),
		LabelOneoff:     "False",
		LabelConfigHash: b.meta.Hash,
		LabelImage:      r.ImageID,
		LabelDependsOn:  dependsOnLabel(b.svc.DependsOn),
		LabelVersion:    composeVersion,
		LabelManaged:    "true",
		LabelNode:       r.Node,
		LabelRevision:   r.Revision,
		LabelRef:        b.meta.Image,
	} {
		out[k] = v
	}
	if files := b.configFiles(); files != "" {
		out[LabelConfigFiles] = files
	}
	return out, nil
}

// configFiles lists the stack's compose files relative to the repository
// root ("stacks/web/compose.yaml"): stable across checkouts, unlike the
// absolute paths compose writes.
func (b *specBuilder) configFiles() string {
	root := b.repoRoot()
	var out []string
	for _, f := range b.req.Stack.Project.ComposeFiles {
		rel, err := filepath.Rel(root, f)
		if root == "" || err != nil || !filepath.IsLocal(rel) {
			continue
		}
		out = append(out, filepath.ToSlash(rel))
	}
	return strings.Join(out, ",")
}

// dependsOnLabel writes depends_on as compose does, "svc:condition:restart"
// comma-joined, sorted by service.
func dependsOnLabel(deps types.DependsOnConfig) string {
	out := make([]string, 0, len(deps))
	for name, d := range deps {
		out = append(out, fmt.Sprintf("%s:%s:%t", name, d.Condition, d.Restart))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// canonicalName is the replica's name once any update is over, which
// compose uses as a network alias even while the container carries a
// temporary name.
func (b *specBuilder) canonicalName() string {
	return reconcile.ContainerName(b.req.Stack, b.svc.Name, b.req.Number)
}
