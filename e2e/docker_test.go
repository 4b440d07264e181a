package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiffops/skiff/testenv"
)

// TestAgentSurvivesDockerRestartsMidApply points the agent's docker.host at
// a fault proxy in front of the engine's socket and cuts it at a random
// moment of an update: to the agent, the daemon restarts. Half of the
// time the containers are killed during the cut as well, as a daemon that
// restarts without live-restore does. When the daemon is back, the update
// is resumed (never left half-done: nothing set aside, nothing missing) and
// the node runs the new revision.
func TestAgentSurvivesDockerRestartsMidApply(t *testing.T) {
	t.Parallel()
	r := chaosRand(t)
	iterations := chaosIterations(t, 2, 20)
	proxy := testenv.FaultProxy(t, "unix:///var/run/docker.sock")
	w := newAgentWorld(t, nil, "")
	writeConfig(t, w.node, func(c string) string { return c + fmt.Sprintf("docker: {host: %q}\n", "tcp://"+proxy.Addr()) })
	files := func(v string) map[string]string {
		return map[string]string{"stacks/" + w.stack + "/compose.yaml": "services:\n" +
			service("db", w.image, "db "+v) +
			service("web", w.image, "web "+v, "depends_on: {db: {condition: service_healthy}}")}
	}
	c := w.pushFiles(t, files("v0"), "v0")
	pushed := []string{c}
	w.node.start()
	w.waitApplied(t, c)
	ctx := context.Background()
	moments := tally{}
	for i := 1; i <= iterations; i++ {
		c = w.pushFiles(t, files(fmt.Sprintf("v%d", i)), fmt.Sprintf("v%d", i))
		pushed = append(pushed, c)
		time.Sleep(between(r, 500*time.Millisecond, 4*time.Second))
		moment := killMoment(w.node, c)
		proxy.Cut()
		killed := r.IntN(2) == 0
		if killed {
			moment += ", containers killed"
			running, err := testenv.Containers(ctx, w.node.env.Client, testenv.LabelNode+"="+w.node.name, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, ct := range running {
				if err := testenv.KillContainer(ctx, w.node.env.Client, ct.ID); err != nil {
					t.Log(err) // it may have stopped meanwhile
				}
			}
		}
		moments[moment]++
		waitFor(t, "status to say docker is down", 30*time.Second, func() (bool, string) {
			s, err := w.node.statusErr()
			return err == nil && !s.Docker.Connected, fmt.Sprintf("%+v %v", s.Docker, err)
		})
		time.Sleep(between(r, 0, 3*time.Second))
		if err := proxy.Restore(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "status to say docker is back", 30*time.Second, func() (bool, string) {
			s, err := w.node.statusErr()
			return err == nil && s.Docker.Connected, fmt.Sprintf("%+v %v", s.Docker, err)
		})
		w.waitApplied(t, c)
		want := nodeWant{revision: c, networks: map[string]bool{w.stack + "_default": false}, containers: map[string]string{
			w.stack + "-db-1": c, w.stack + "-web-1": c,
		}}
		if bad := checkNode(w.node, want, pushed); len(bad) > 0 {
			t.Errorf("iteration %d (cut %s): the node did not converge:\n  %s", i, moment, strings.Join(bad, "\n  "))
		}
	}
	logs := w.node.log.String()
	if down, up := strings.Count(logs, "docker engine not answering"), strings.Count(logs, "docker engine connected"); down != iterations || up != iterations+1 {
		t.Errorf("%d 'not answering' and %d 'connected' log lines for %d restarts, want one each per restart", down, up, iterations)
	}
	t.Logf("docker restart campaign: %d iterations; cut:%s", iterations, moments)
}
