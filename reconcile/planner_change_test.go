package reconcile

import (
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-cmp/cmp"
)

func TestBuildNetworkDefinitionChanged(t *testing.T) {
	st := shopStack()
	n := st.Project.Networks["default"]
	n.Internal = true
	st.Project.Networks["default"] = n
	got := lines(Build(desired(st), converged()))
	want := []string{
		"recreate-network shop_default: definition hash " + shortHash(shopStack().NetworkHash("default")) + "→" + shortHash(st.NetworkHash("default")),
		"recreate (stop-first) shop-db-1: network shop_default is recreated",
		"recreate (stop-first) shop-web-1: network shop_default is recreated",
		"recreate (stop-first) shop-web-2: network shop_default is recreated",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	sp, _ := Build(desired(st), converged()).Stack("shop")
	for _, l := range sp.Levels {
		for _, a := range l {
			if !a.Early {
				t.Errorf("%s is not set aside before the network changes", a.Name)
			}
		}
	}
}

func TestBuildNetworkWithoutHashIsRecreated(t *testing.T) {
	o := converged()
	o.Networks[0].Hash = ""
	got := lines(Build(desired(shopStack()), o))
	if len(got) != 4 || !strings.HasPrefix(got[0], "recreate-network shop_default: created without a definition hash") {
		t.Errorf("plan: %q", got)
	}
}

func TestBuildContainerOnAReplacedNetworkIsRecreated(t *testing.T) {
	// The network was replaced (by an update that did not finish, or a
	// person): the old ID is gone and the container can never start again.
	o := with("shop-db-1", func(c *Container) {
		c.State, c.ExitCode = StateExited, 0
		c.Networks = map[string]string{"shop_default": "n0"}
	})
	got := lines(Build(desired(shopStack()), o))
	want := []string{"recreate (stop-first) shop-db-1: network shop_default was replaced since it was created"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

func TestBuildVolumeDefinitionChangedBlocksTheStack(t *testing.T) {
	st := shopStack()
	v := st.Project.Volumes["data"]
	v.DriverOpts = map[string]string{"type": "tmpfs", "device": "tmpfs"}
	st.Project.Volumes["data"] = v
	p := Build(desired(st), with("shop-web-1", func(c *Container) { c.Hash = "v1-old" }))
	sp, _ := p.Stack("shop")
	if sp.Err == nil || !strings.Contains(sp.Err.Error(), "volumes.data: the definition of volume shop_data changed") {
		t.Fatalf("err = %v, want the volume named", sp.Err)
	}
	if len(sp.Actions()) != 0 {
		t.Errorf("a blocked stack plans actions: %v", lines(p))
	}
	// A volume made before volumes carried a hash is taken as it is.
	o := converged()
	o.Volumes[0].Hash = ""
	if got := lines(Build(desired(st), o)); got != nil {
		t.Errorf("legacy volume: plan %q, want none", got)
	}
}

// An update superseded in its gate leaves the old replica set aside
// (stopped, renamed) beside the new one: the next plan goes on from there.
func supersededNode() Observed {
	o := with("shop-web-1", func(c *Container) { c.Hash = "v1-web2" }) // the superseded spec, running
	o.Containers = append(o.Containers, Container{ID: "old1", Name: "old1_shop-web-1", Stack: "shop", Service: "web", Number: 1,
		Hash: "v1-web1", ImageID: webID, State: StateExited, ExitCode: 0, Networks: map[string]string{"shop_default": "n1"}})
	return o
}

func TestBuildAfterSupersedeBackToTheOldSpec(t *testing.T) {
	got := lines(Build(desired(shopStack()), supersededNode()))
	want := []string{
		"remove shop-web-1: duplicate of replica 1 (old1 is kept)",
		"start shop-web-1: exited (0)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	sp, _ := Build(desired(shopStack()), supersededNode()).Stack("shop")
	if a := sp.Levels[1][0]; a.Container.Name != "old1_shop-web-1" || a.Name != "shop-web-1" {
		t.Errorf("start action %+v does not restore the name", a)
	}
}

func TestBuildAfterSupersedeToANewerSpec(t *testing.T) {
	st := shopStack()
	st.Services[1].Hash = "v1-web3"
	got := lines(Build(desired(st), supersededNode()))
	want := []string{
		"remove old1_shop-web-1: duplicate of replica 1 (2 is kept)",
		"recreate (start-first) shop-web-1: config hash web2→web3",
		"recreate (start-first) shop-web-2: config hash web1→web3",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

func TestBuildRenamesARunningReplicaLeftAside(t *testing.T) {
	o := with("shop-web-2", func(c *Container) { c.Name = "3_shop-web-2" })
	got := lines(Build(desired(shopStack()), o))
	want := []string{"rename shop-web-2: named 3_shop-web-2 (set aside by an update that did not finish)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

// A replica without restart policy that an update stopped and set aside,
// and that the update never restored (the agent was killed, the engine went
// away), is started again: exit 0 under restart "no" reads as a finished
// job only under its own name.
func TestBuildStartsAReplicaStoppedAsideWithoutRestartPolicy(t *testing.T) {
	st := shopStack()
	cfg := st.Project.Services["web"]
	cfg.Restart = ""
	st.Project.Services["web"] = cfg
	o := with("shop-web-2", func(c *Container) { c.Name, c.State, c.ExitCode = "3_shop-web-2", StateExited, 0 })
	got := lines(Build(desired(st), o))
	want := []string{"start shop-web-2: named 3_shop-web-2 and stopped by an update that did not finish"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	o = with("shop-web-2", func(c *Container) { c.State, c.ExitCode = StateExited, 0 })
	if got := lines(Build(desired(st), o)); got != nil {
		t.Errorf("a job that finished under its own name: plan %q, want none", got)
	}
}

func TestBuildDeparturesComeFirstAcrossStacks(t *testing.T) {
	// Stack shop is renamed to store: shop's containers go before any of
	// store's are created, so its ports and names are free.
	store := shopStack()
	store.Name = "store"
	store.Project.Name = "store"
	store.Project.Networks = types.Networks{"default": {Name: "store_default"}}
	store.Project.Volumes = types.Volumes{"data": {Name: "store_data"}}
	d := desired(store)
	d.Remove = []string{"shop"}
	got := lines(Build(d, converged()))
	for i, l := range got {
		if strings.HasPrefix(l, "remove ") != (i < 3) {
			t.Fatalf("departures are not first: %q", got)
		}
	}
	if len(got) != 3+1+5 {
		t.Errorf("plan: %q", got)
	}
}

func TestPlanRemovalOfAnUnknownStackIsEmpty(t *testing.T) {
	if sp := PlanRemoval("nothing", converged()); !sp.Empty() {
		t.Errorf("plan %+v", sp)
	}
}
