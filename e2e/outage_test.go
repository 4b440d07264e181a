package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/testenv"
)

// TestAgentThroughALongGitOutage takes Git down for a long stretch at a 1s
// poll interval (a few kills in CI, many under `make chaos`) and, at random
// moments, kills or removes the node's containers behind the agent's back:
// each is healed without Git, status keeps saying offline since the first
// failed poll, and the whole outage gives one warning. When Git is back,
// one line says so and a commit pushed then is applied: nothing was lost.
func TestAgentThroughALongGitOutage(t *testing.T) {
	t.Parallel()
	r := chaosRand(t)
	kills := chaosIterations(t, 3, 40)
	w := newAgentWorld(t, nil, "")
	c1 := w.push(t, "v1")
	w.node.start()
	w.waitRevision(t, c1)
	w.waitApplied(t, c1)
	if err := w.git.SetDown(true); err != nil {
		t.Fatal(err)
	}
	var since time.Time
	waitFor(t, "status to say offline", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		if s.Source.OfflineSince != nil {
			since = *s.Source.OfflineSince
		}
		return s.Source.OfflineSince != nil, fmt.Sprintf("%+v", s.Source)
	})
	ctx := context.Background()
	ways := tally{}
	for i := 0; i < kills; i++ {
		time.Sleep(between(r, 500*time.Millisecond, 4*time.Second))
		victim := w.stack + []string{"-web-1", "-worker-1"}[r.IntN(2)]
		before := w.node.status().Counters.Repairs
		if r.IntN(2) == 0 {
			ways["killed"]++
			if err := testenv.KillContainer(ctx, w.node.env.Client, victim); err != nil {
				t.Fatal(err)
			}
		} else {
			ways["removed"]++
			w.node.removeContainer(victim)
		}
		waitFor(t, victim+" healed while Git is down", 60*time.Second, func() (bool, string) {
			s := w.node.status()
			c := w.node.running()[victim]
			return s.Counters.Repairs > before && c.Revision == c1, fmt.Sprintf("repairs %d, %v", s.Counters.Repairs, c)
		})
		if s := w.node.status(); s.Source.OfflineSince == nil || !s.Source.OfflineSince.Equal(since) {
			t.Errorf("offline since %v, want %v all through the outage", s.Source.OfflineSince, since)
		}
	}
	s := w.node.status()
	if s.Counters.PollFailures < 2 || s.AppliedRevision != c1 {
		t.Errorf("after the outage: %d failed polls, applied %s", s.Counters.PollFailures, short7(s.AppliedRevision))
	}
	if err := w.git.SetDown(false); err != nil {
		t.Fatal(err)
	}
	c2 := w.push(t, "v2")
	w.waitRevision(t, c2)
	w.waitApplied(t, c2)
	logs := w.node.log.String()
	if down, up := strings.Count(logs, "git source unreachable"), strings.Count(logs, "git source reachable again"); down != 1 || up != 1 {
		t.Errorf("%d 'unreachable' and %d 'reachable again' log lines for one outage, want one each", down, up)
	}
	t.Logf("git outage campaign: %d kills (%s) over %d failed polls, all healed", kills, strings.TrimSpace(ways.String()), s.Counters.PollFailures)
}

// TestAgentLogsARepairThatKeepsFailingOnce removes a container whose image
// is no longer on the node (pull_policy missing: healing does not pull):
// every healing round fails to recreate it, with one warning for them all,
// until the image is back; then one line says the repair succeeded.
func TestAgentLogsARepairThatKeepsFailingOnce(t *testing.T) {
	t.Parallel()
	w := newAgentWorld(t, nil, "")
	c1 := w.push(t, "v1")
	w.node.start()
	w.waitRevision(t, c1)
	w.waitApplied(t, c1)
	web := w.stack + "-web-1"
	testenv.RemoveImageTag(t, w.node.env.Client, w.image) // the containers keep the image itself
	w.node.removeContainer(web)
	waitFor(t, "several failed repairs", 60*time.Second, func() (bool, string) {
		n := strings.Count(w.node.log.String(), "repair failed again")
		return n >= 3, fmt.Sprintf("%d failed rounds", n)
	})
	logs := w.node.log.String()
	if n := strings.Count(logs, "repair failed; retried"); n != 1 {
		t.Errorf("%d warnings for one repair that keeps failing, want 1", n)
	}
	if s := w.node.status(); stackRepairError(s, w.stack) == "" || !strings.Contains(s.Why, "cannot be repaired") {
		t.Errorf("status does not say the stack cannot be repaired: %q", s.Why)
	}
	testenv.TestImage(t, w.image)
	waitFor(t, "web healed once its image is back", 60*time.Second, func() (bool, string) {
		c := w.node.running()[web]
		return c.Revision == c1, fmt.Sprint(c)
	})
	waitFor(t, "the repair's success logged and status clear", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		return strings.Count(w.node.log.String(), "repair succeeded") == 1 && stackRepairError(s, w.stack) == "" && s.Why == "", s.Why
	})
}

func stackRepairError(s api.Status, name string) string {
	for _, st := range s.Stacks {
		if st.Name == name {
			return st.RepairError
		}
	}
	return ""
}
