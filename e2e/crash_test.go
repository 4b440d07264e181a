package e2e

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffops/skiff/agent/store"
)

// crashFleet is the fleet of the crash campaign, as the test changes it:
// four stacks that exercise what an update can leave half-done.
//
//   - deps: db (healthchecked) and web, which depends on db being healthy,
//     both on network back, whose definition (internal or not) changes too:
//     levels, conditions, early set-aside and network recreation.
//   - files: one service mounting a repository file, published on a port:
//     the content-addressed copies.
//   - reps: a service of 2 or 3 replicas without healthcheck (a short
//     health_grace): scaling and replicas gated together.
//   - gone: a stack that leaves the node and comes back: departures.
type crashFleet struct {
	prefix, image, addr string

	depsMsg, filesMsg, filesContent, repsMsg, goneMsg string
	internal, placed                                  bool
	replicas                                          int
	// changed maps each stack to the commit that last changed it.
	changed map[string]string
}

func (f *crashFleet) name(stack string) string { return f.prefix + "-" + stack }

func (f *crashFleet) files() map[string]string {
	deps := "services:\n" +
		service("db", f.image, "db "+f.depsMsg, "networks: [back]") +
		service("web", f.image, "web "+f.depsMsg, "networks: [back]", "depends_on: {db: {condition: service_healthy}}") +
		fmt.Sprintf("networks:\n  back: {internal: %v}\n", f.internal)
	files := "services:\n" + service("web", f.image, f.filesMsg,
		`ports: ["`+f.addr+`:8080"]`, `volumes: ["./motd.txt:/etc/motd.txt"]`)
	reps := fmt.Sprintf(`x-skiff: {health_grace: 1s}
services:
  worker:
    image: %s
    command: ["-listen", ":8080", "-message", %q]
    deploy: {replicas: %d}
`, f.image, f.repsMsg, f.replicas)
	out := map[string]string{
		"stacks/" + f.name("deps") + "/compose.yaml":  deps,
		"stacks/" + f.name("files") + "/compose.yaml": files,
		"stacks/" + f.name("files") + "/motd.txt":     f.filesContent,
		"stacks/" + f.name("reps") + "/compose.yaml":  reps,
	}
	if f.placed {
		out["stacks/"+f.name("gone")+"/compose.yaml"] = "services:\n" + service("web", f.image, f.goneMsg)
	}
	return out
}

// change changes a random, non-empty set of stacks for iteration i; every
// service of a changed stack changes, so all its containers carry the new
// commit once it is applied.
func (f *crashFleet) change(r *rand.Rand, i int) []string {
	var stacks []string
	for len(stacks) == 0 {
		for _, s := range []string{"deps", "files", "reps", "gone"} {
			if r.IntN(2) == 0 {
				stacks = append(stacks, s)
			}
		}
	}
	v := fmt.Sprintf("v%d", i)
	for _, s := range stacks {
		switch s {
		case "deps":
			f.depsMsg = v
			if r.IntN(3) == 0 {
				f.internal = !f.internal
			}
		case "files":
			f.filesMsg, f.filesContent = v, "motd "+v+"\n"
		case "reps":
			f.repsMsg, f.replicas = v, 2+r.IntN(2)
		case "gone": // placed again, changed, or removed from the node
			f.placed, f.goneMsg = !f.placed || r.IntN(2) == 0, v
		}
	}
	return stacks
}

func (f *crashFleet) want(revision string) nodeWant {
	w := nodeWant{revision: revision, containers: map[string]string{}, networks: map[string]bool{
		f.name("deps") + "_back": f.internal, f.name("files") + "_default": false, f.name("reps") + "_default": false,
	}}
	w.containers[f.name("deps")+"-db-1"] = f.changed["deps"]
	w.containers[f.name("deps")+"-web-1"] = f.changed["deps"]
	w.containers[f.name("files")+"-web-1"] = f.changed["files"]
	for i := 1; i <= f.replicas; i++ {
		w.containers[fmt.Sprintf("%s-worker-%d", f.name("reps"), i)] = f.changed["reps"]
	}
	if f.placed {
		w.containers[f.name("gone")+"-web-1"] = f.changed["gone"]
		w.networks[f.name("gone")+"_default"] = false
	}
	return w
}

// TestAgentKilledAtRandomMomentsConverges is the crash campaign: a change is
// pushed, the agent is killed (SIGKILL) at a random moment of its apply,
// sometimes killed again while it boots, and restarted. Each time the node
// must converge to exactly the desired containers and networks, with its
// store, status and history consistent. CI runs 10 iterations; `make chaos`
// runs 100 (SKIFF_CHAOS_ITERATIONS) and RELIABILITY.md records the counts.
func TestAgentKilledAtRandomMomentsConverges(t *testing.T) {
	t.Parallel()
	r := chaosRand(t)
	iterations := chaosIterations(t, 10, 100)
	w := newAgentWorld(t, nil, "")
	f := &crashFleet{prefix: w.stack, image: w.image, addr: freeAddr(t), depsMsg: "v0", filesMsg: "v0",
		filesContent: "motd v0\n", repsMsg: "v0", goneMsg: "v0", placed: true, replicas: 2, changed: map[string]string{}}
	c := w.pushFiles(t, f.files(), "v0")
	pushed := []string{c}
	for _, s := range []string{"deps", "files", "reps", "gone"} {
		f.changed[s] = c
	}
	w.node.start()
	w.waitApplied(t, c)

	moments, failures := tally{}, 0
	for i := 1; i <= iterations; i++ {
		stacks := f.change(r, i)
		c = w.pushFiles(t, f.files(), fmt.Sprintf("v%d: %s", i, strings.Join(stacks, ", ")))
		pushed = append(pushed, c)
		for _, s := range stacks {
			f.changed[s] = c
		}
		time.Sleep(between(r, 200*time.Millisecond, 5*time.Second))
		moment := killMoment(w.node, c)
		w.node.kill()
		moments[moment]++
		w.node.start()
		if r.IntN(3) == 0 { // and once more while it boots and takes the checkout up
			time.Sleep(between(r, 0, 3*time.Second))
			w.node.kill()
			moments["again while booting"]++
			w.node.start()
		}
		w.waitApplied(t, c)
		bad := checkNode(w.node, f.want(c), pushed)
		if got, want := page(f.addr, "/file?path=/etc/motd.txt"), f.filesContent; got != want {
			bad = append(bad, fmt.Sprintf("files/web serves %q from its repository file, want %q", got, want))
		}
		if len(bad) > 0 {
			failures++
			t.Errorf("iteration %d (%s changed, killed %s): the node did not converge:\n  %s", i, strings.Join(stacks, ", "), moment, strings.Join(bad, "\n  "))
		}
	}
	w.node.stop()
	checkStoreFile(t, filepath.Join(w.node.dir, "state", store.FileName), f)
	t.Logf("crash campaign: %d iterations, %d failures; killed:%s", iterations, failures, moments)
}

// killMoment says where the agent is with commit c, from its status just
// before it is killed.
func killMoment(n *node, c string) string {
	s, err := n.statusErr()
	switch {
	case err != nil:
		return "with its API not answering"
	case s.WantedRevision != c:
		return "before it saw the commit"
	case s.AppliedRevision == c:
		return "after it applied the commit"
	}
	for _, st := range s.Stacks {
		if st.Outcome == "applying" {
			return "in a health gate"
		}
	}
	return "while fetching or prefetching"
}

// checkStoreFile opens the stopped agent's store: it opens, nothing in it is
// damaged, and it records each stack at the commit that last changed it.
func checkStoreFile(t *testing.T, path string, f *crashFleet) {
	t.Helper()
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("the store does not open after the campaign: %v", err)
	}
	defer s.Close()
	if d := s.Damaged(); len(d) > 0 {
		t.Errorf("damaged store records: %v", d)
	}
	stacks, err := s.Stacks()
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, st := range stacks {
		got = append(got, st.Stack+"@"+short7(st.Revision))
	}
	for _, name := range []string{"deps", "files", "reps", "gone"} {
		if name != "gone" || f.placed {
			want = append(want, f.name(name)+"@"+short7(f.changed[name]))
		}
	}
	slices.Sort(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("stored stacks: %v, want %v", got, want)
	}
}
