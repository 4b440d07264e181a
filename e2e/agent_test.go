package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/testenv"
)

// world is a Git server, the test image and a node following the server.
type world struct {
	git   *testenv.GitHTTPServer
	image string
	node  *node
	stack string
}

func newAgentWorld(t testing.TB, urlOf func(*testenv.GitHTTPServer) string, sourceExtra string) *world {
	t.Helper()
	w := &world{git: testenv.GitServer(t), image: "skiff-test/" + testenv.TestName(t) + ":1"}
	testenv.TestImage(t, w.image) // before Docker(t): cleanups run in reverse
	env := testenv.Docker(t)
	url := w.git.URL()
	if urlOf != nil {
		url = urlOf(w.git)
	}
	w.node = newNode(t, env, url, sourceExtra)
	w.stack = w.node.name
	return w
}

func (w *world) push(t testing.TB, message string) string {
	t.Helper()
	commit, err := w.git.Push(stackFiles(w.stack, w.image, message), "web says "+message)
	if err != nil {
		t.Fatal(err)
	}
	return commit
}

// waitRevision waits until web and worker run, web at revision webRev.
func (w *world) waitRevision(t testing.TB, webRev string) map[string]runningContainer {
	t.Helper()
	var got map[string]runningContainer
	waitFor(t, "web at "+webRev[:7]+" and worker running", 60*time.Second, func() (bool, string) {
		got = w.node.running()
		web, worker := got[w.stack+"-web-1"], got[w.stack+"-worker-1"]
		return web.Revision == webRev && worker.ID != "" && len(got) == 2, fmt.Sprint(got)
	})
	return got
}

// waitApplied waits until the agent says rev is applied: every stack of it
// settled (its gates passed, what it replaced removed).
func (w *world) waitApplied(t testing.TB, rev string) api.Status {
	t.Helper()
	var s api.Status
	waitFor(t, "revision "+rev[:7]+" applied", 60*time.Second, func() (bool, string) {
		s = w.node.status()
		return s.AppliedRevision == rev, fmt.Sprintf("applied %q, why %q", s.AppliedRevision, s.Why)
	})
	return s
}

func TestAgentFollowsTheBranch(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	c1 := w.push(t, "v1")
	w.node.start()
	before := w.waitRevision(t, c1)

	c2 := w.push(t, "v2")
	after := w.waitRevision(t, c2)
	if after[w.stack+"-worker-1"] != before[w.stack+"-worker-1"] {
		t.Errorf("worker was recreated by a commit that changed only web: %v → %v", before, after)
	}
	if after[w.stack+"-web-1"].ID == before[w.stack+"-web-1"].ID {
		t.Error("web was not recreated")
	}
	waitFor(t, "both revisions in the history", 10*time.Second, func() (bool, string) {
		h := w.node.history()
		var got []string
		for _, r := range h.Revisions {
			got = append(got, r.Commit[:7]+"="+r.Outcome)
		}
		// c1 is applied, or superseded when c2 came while web waited in
		// its health gate: the newest commit wins.
		want := c2[:7] + "=applied," + c1[:7] + "="
		joined := strings.Join(got, ",")
		return len(got) == 2 && (joined == want+"applied" || joined == want+"superseded"), fmt.Sprint(got)
	})
	s := w.node.status()
	if s.AppliedRevision != c2 || s.WantedRevision != c2 || len(s.Stacks) != 1 || s.Stacks[0].Outcome != "applied" {
		t.Errorf("status after c2: applied %s wanted %s stacks %+v", s.AppliedRevision, s.WantedRevision, s.Stacks)
	}
}

func TestAgentHealsWhileGitIsDown(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	c1 := w.push(t, "v1")
	w.node.start()
	w.waitRevision(t, c1)

	if err := w.git.SetDown(true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "status to say offline", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		return s.Source.OfflineSince != nil, fmt.Sprintf("%+v", s.Source)
	})
	web := w.stack + "-web-1"
	old := w.node.running()[web].ID
	w.node.removeContainer(web)
	waitFor(t, "web to come back while Git is down", 60*time.Second, func() (bool, string) {
		c := w.node.running()[web]
		return c.ID != "" && c.ID != old && c.Revision == c1, fmt.Sprint(c)
	})
	time.Sleep(3 * time.Second) // several failed polls at a 1s interval
	if n := strings.Count(w.node.log.String(), "git source unreachable"); n != 1 {
		t.Errorf("%d 'git source unreachable' warnings, want one per partition", n)
	}

	if err := w.git.SetDown(false); err != nil {
		t.Fatal(err)
	}
	c2 := w.push(t, "v2")
	w.waitRevision(t, c2)
	if s := w.node.status(); s.Source.OfflineSince != nil {
		t.Errorf("still offline after Git came back: %+v", s.Source)
	}
}

func TestAgentBootsFromItsStoreWithoutGit(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	c1 := w.push(t, "v1")
	w.node.start()
	w.waitRevision(t, c1)

	w.node.kill()
	if err := w.git.SetDown(true); err != nil {
		t.Fatal(err)
	}
	web := w.stack + "-web-1"
	w.node.removeContainer(web)
	w.node.start()
	w.waitRevision(t, c1)
	w.waitApplied(t, c1)
}

func TestAgentHealsWhileGitIsBlackholed(t *testing.T) {
	var proxy *testenv.TCPFaultProxy
	w := newAgentWorld(t, func(g *testenv.GitHTTPServer) string {
		proxy = testenv.FaultProxy(t, g.Addr())
		return g.URLVia(proxy.Addr())
	}, "")
	c1 := w.push(t, "v1")
	w.node.start()
	w.waitRevision(t, c1)

	if err := proxy.BlackHole(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a poll to hit its deadline", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		return s.Source.OfflineSince != nil, fmt.Sprintf("%+v", s.Source)
	})
	web := w.stack + "-web-1"
	old := w.node.running()[web].ID
	w.node.removeContainer(web)
	waitFor(t, "web to come back while Git is black-holed", 60*time.Second, func() (bool, string) {
		c := w.node.running()[web]
		return c.ID != "" && c.ID != old, fmt.Sprint(c)
	})
	if _, err := w.node.statusErr(); err != nil {
		t.Errorf("status while Git is black-holed: %v", err)
	}
	time.Sleep(3 * time.Second) // more polls hit their 2s deadline
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	c2 := w.push(t, "v2")
	w.waitRevision(t, c2)
	logs := w.node.log.String()
	if down, up := strings.Count(logs, "git source unreachable"), strings.Count(logs, "git source reachable again"); down != 1 || up != 1 {
		t.Errorf("%d 'unreachable' and %d 'reachable again' log lines for one black hole, want one each", down, up)
	}
}

func TestAgentRefusesUnsignedCommits(t *testing.T) {
	keyring := writeKeyring(t)
	w := newAgentWorld(t, nil, ", verify: {keyring_file: "+keyring+"}")
	c1 := w.push(t, "v1")
	w.node.start()
	waitFor(t, "the unsigned revision to be refused", 30*time.Second, func() (bool, string) {
		h := w.node.history()
		if len(h.Revisions) == 0 {
			return false, "no revision yet"
		}
		r := h.Revisions[0]
		return r.Commit == c1 && r.Outcome == "refused" && strings.Contains(r.Error, "sign"), fmt.Sprintf("%+v", r)
	})
	if got := w.node.running(); len(got) != 0 {
		t.Errorf("containers started from an unsigned commit: %v", got)
	}
	if s := w.node.status(); s.AppliedRevision != "" || len(s.Stacks) != 0 {
		t.Errorf("status after an unsigned commit: applied %q, stacks %+v", s.AppliedRevision, s.Stacks)
	}
}

// writeKeyring writes the armored public key of a fresh OpenPGP key: the
// node trusts it, and nothing in the test signs with it.
func writeKeyring(t *testing.T) string {
	t.Helper()
	e, err := openpgp.NewEntity("skiff test", "", "test@skiff.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keyring.asc")
	writeArmoredPublic(t, path, e)
	return path
}
