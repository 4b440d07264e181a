package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffops/skiff/testenv"
)

// Restarts: the agent killed, its store lost, the node rebooted with Git
// down, in the middle of what the stack transactions do (DESIGN.md §10).

// TestAgentKeepsTheNodeAfterAStoreLossWithGitDown: a revision without
// stacks/ is refused; then the store is lost and the agent restarts with Git
// down. The node's stack runs on untouched, and healing works again.
func TestAgentKeepsTheNodeAfterAStoreLossWithGitDown(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	c1 := w.push(t, "v1")
	w.node.start()
	w.waitRevision(t, c1)
	w.waitApplied(t, c1)
	before := w.node.running()

	c2 := w.pushFiles(t, map[string]string{"README.md": "stacks moved elsewhere by mistake\n"}, "no stacks/")
	waitFor(t, "the revision without stacks/ to be refused", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		return s.Refused != nil && s.Refused.Revision == c2 && strings.Contains(s.Why, "refused"), fmt.Sprintf("%+v %q", s.Refused, s.Why)
	})

	w.node.kill()
	if err := os.WriteFile(filepath.Join(w.node.dir, "state", "skiff.db"), []byte("lost"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.git.SetDown(true); err != nil {
		t.Fatal(err)
	}
	w.node.start()
	s := w.waitApplied(t, c1) // the checkout on disk is c1's, the last that loaded
	if !s.Store.Recovered {
		t.Errorf("store not reported rebuilt: %+v", s.Store)
	}
	time.Sleep(2 * time.Second) // healing rounds and failed polls
	after := w.node.running()
	for name, c := range before {
		if after[name].ID != c.ID {
			t.Errorf("%s was touched after the store loss: %v → %v", name, c, after[name])
		}
	}
	web := w.stack + "-web-1"
	w.node.removeContainer(web)
	waitFor(t, "web healed after the store loss, Git down", 30*time.Second, func() (bool, string) {
		c := w.node.running()[web]
		return c.ID != "" && c.ID != before[web].ID, fmt.Sprint(c)
	})
}

// TestAgentRecreatesARepositoryFileMountOffline: a stack mounts a file of
// the repository; several commits change only another stack (the first
// checkout is pruned); then the node reboots with Git down and the
// container is gone. It is recreated from the content-addressed copy.
func TestAgentRecreatesARepositoryFileMountOffline(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	addr := freeAddr(t)
	other := w.stack + "-other"
	files := func(v string) map[string]string {
		return map[string]string{
			"stacks/" + w.stack + "/motd.txt":     "hello from the repository\n",
			"stacks/" + w.stack + "/compose.yaml": "services:\n" + service("web", w.image, "web", `ports: ["`+addr+`:8080"]`, `volumes: ["./motd.txt:/etc/motd.txt"]`),
			"stacks/" + other + "/compose.yaml":   "services:\n" + service("web", w.image, v),
		}
	}
	c := w.pushFiles(t, files("v1"), "v1")
	w.node.start()
	w.waitApplied(t, c)
	for _, v := range []string{"v2", "v3", "v4"} {
		c = w.pushFiles(t, files(v), "only the other stack changes: "+v)
		w.waitApplied(t, c)
	}
	web := w.stack + "-web-1"
	if got := w.node.running()[web].Revision; got == c {
		t.Fatalf("web was recreated by commits that did not change it")
	}
	w.node.kill()
	if err := w.git.SetDown(true); err != nil {
		t.Fatal(err)
	}
	w.node.removeContainer(web)
	w.node.start()
	waitFor(t, "web recreated offline", 30*time.Second, func() (bool, string) {
		got := page(addr, "/file?path=/etc/motd.txt")
		return got == "hello from the repository\n", got
	})
}

// TestAgentKilledDuringAGateOfSeveralContainers kills the agent while four
// new containers wait in their gates together: the restart converges to
// exactly the desired containers, none duplicated, set aside or lost.
func TestAgentKilledDuringAGateOfSeveralContainers(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	files := func(msg string) map[string]string {
		var svcs string
		for _, name := range []string{"a", "b", "c", "d"} {
			svcs += strings.Replace(service(name, w.image, msg), "interval: 1s", "interval: 3s", 1)
		}
		return map[string]string{"stacks/" + w.stack + "/compose.yaml": "services:\n" + svcs}
	}
	c1 := w.pushFiles(t, files("v1"), "v1")
	w.node.start()
	w.waitApplied(t, c1)
	c2 := w.pushFiles(t, files("v2"), "v2")
	waitFor(t, "the four new containers in their gates", 30*time.Second, func() (bool, string) {
		n := 0
		for _, c := range w.node.running() {
			if c.Revision == c2 {
				n++
			}
		}
		return n == 4, fmt.Sprint(w.node.running())
	})
	w.node.kill()
	w.node.start()
	w.waitApplied(t, c2)
	all, err := testenv.Containers(context.Background(), w.node.env.Client, "io.skiff.node="+w.node.name, false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range all {
		names = append(names, c.Name+"@"+c.Labels["io.skiff.revision"][:7]+"/"+c.State)
	}
	want := []string{}
	for _, name := range []string{"a", "b", "c", "d"} {
		want = append(want, w.stack+"-"+name+"-1@"+c2[:7]+"/running")
	}
	slices.Sort(names)
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("containers after the restart:\n got %v\nwant %v", names, want)
	}
}

// TestAgentRemembersARefusalAcrossARestart: a refused head is still said to
// be refused after a restart with Git down, and is not taken up.
func TestAgentRemembersARefusalAcrossARestart(t *testing.T) {
	w := newAgentWorld(t, nil, "")
	c1 := w.push(t, "v1")
	w.node.start()
	w.waitApplied(t, c1)
	before := w.node.running()
	c2 := w.pushFiles(t, map[string]string{"README.md": "no stacks\n"}, "no stacks/")
	waitFor(t, "c2 refused", 30*time.Second, func() (bool, string) {
		s := w.node.status()
		return s.Refused != nil && s.Refused.Revision == c2, fmt.Sprintf("%+v", s.Refused)
	})
	w.node.stop()
	if err := w.git.SetDown(true); err != nil {
		t.Fatal(err)
	}
	w.node.start()
	s := w.waitApplied(t, c1)
	if s.Refused == nil || s.Refused.Revision != c2 || s.WantedRevision != c2 || !strings.Contains(s.Why, "refused") {
		t.Errorf("after a restart: wanted %s, refused %+v, why %q", s.WantedRevision, s.Refused, s.Why)
	}
	if after := w.node.running(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("containers changed: %v → %v", before, after)
	}
	h := w.node.history()
	if len(h.Revisions) != 2 || h.Revisions[0].Commit != c2 || h.Revisions[1].Commit != c1 {
		t.Errorf("history after a restart: %+v", h.Revisions)
	}
}
