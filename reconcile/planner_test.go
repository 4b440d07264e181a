package reconcile

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/skiffops/skiff/manifests"
)

const (
	webImage = "registry.example.com/shop/web:1.4"
	dbImage  = "registry.example.com/shop/db:2"
	webID    = "sha256:aaaaaaaaaaaaaaaaaaaaaaaa"
	dbID     = "sha256:dddddddddddddddddddddddd"
)

// shopStack is stack "shop": web (2 replicas, depends on db) and db with a
// named volume, both on the default network.
func shopStack() manifests.Stack {
	p := &types.Project{
		Name: "shop",
		Services: types.Services{
			"web": service("web", func(s *types.ServiceConfig) {
				s.Image, s.Restart = webImage, "always"
				s.DependsOn = types.DependsOnConfig{"db": {Condition: "service_started"}}
				s.Networks = map[string]*types.ServiceNetworkConfig{"default": nil}
			}),
			"db": service("db", func(s *types.ServiceConfig) {
				s.Image, s.Restart = dbImage, "always"
				s.Networks = map[string]*types.ServiceNetworkConfig{"default": nil}
				s.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: "data", Target: "/data"}}
			}),
		},
		Networks: types.Networks{"default": {Name: "shop_default"}},
		Volumes:  types.Volumes{"data": {Name: "shop_data"}},
	}
	return manifests.Stack{Name: "shop", Project: p, Services: []manifests.Service{
		{Name: "db", Image: dbImage, Hash: "v1-db1", Update: manifests.UpdateStopFirst, Replicas: 1},
		{Name: "web", Image: webImage, Hash: "v1-web1", Update: manifests.UpdateStartFirst, Replicas: 2},
	}}
}

// service builds a service config: compose-go embeds most fields, which a
// composite literal cannot set.
func service(name string, fn func(*types.ServiceConfig)) types.ServiceConfig {
	s := types.ServiceConfig{Name: name}
	fn(&s)
	return s
}

func desired(stacks ...manifests.Stack) Desired {
	revs := map[string]string{}
	for _, st := range stacks {
		revs[st.Name] = "c0ffee"
	}
	return Desired{Stacks: stacks, Revisions: revs, Images: map[string]string{webImage: webID, dbImage: dbID}}
}

// converged is what the node has when shop runs as desired.
func converged() Observed {
	st := shopStack()
	nets := map[string]string{"shop_default": "n1"}
	return Observed{
		Containers: []Container{
			{ID: "1", Name: "shop-db-1", Stack: "shop", Service: "db", Number: 1, Hash: "v1-db1", ImageID: dbID, State: StateRunning, Networks: nets},
			{ID: "2", Name: "shop-web-1", Stack: "shop", Service: "web", Number: 1, Hash: "v1-web1", ImageID: webID, State: StateRunning, Networks: nets},
			{ID: "3", Name: "shop-web-2", Stack: "shop", Service: "web", Number: 2, Hash: "v1-web1", ImageID: webID, State: StateRunning, Networks: nets},
		},
		Networks: []Network{{ID: "n1", Name: "shop_default", Stack: "shop", Key: "default", Hash: st.NetworkHash("default")}},
		Volumes:  []Volume{{Name: "shop_data", Stack: "shop", Key: "data", Hash: st.VolumeHash("data")}},
	}
}

// with returns the converged node with container name changed by fn.
func with(name string, fn func(*Container)) Observed {
	o := converged()
	for i := range o.Containers {
		if o.Containers[i].Name == name {
			fn(&o.Containers[i])
		}
	}
	return o
}

// lines renders a plan as "kind name: reason" lines for comparison, in
// execution order, with a line for a stack that cannot be applied.
func lines(p Plan) []string {
	var out []string
	for _, sp := range p.Stacks {
		if sp.Err != nil {
			out = append(out, "blocked "+sp.Stack+": "+sp.Err.Error())
		}
	}
	for _, a := range p.Actions() {
		out = append(out, a.String())
	}
	return out
}

func TestBuild(t *testing.T) {
	jobStack := shopStack()
	db := jobStack.Project.Services["db"]
	db.Restart = "no"
	jobStack.Project.Services["db"] = db

	scaled := shopStack()
	scaled.Services[1].Replicas = 1

	dbOnly := shopStack()
	dbOnly.Services = dbOnly.Services[:1]
	delete(dbOnly.Project.Services, "web")

	tests := []struct {
		name string
		d    Desired
		o    Observed
		want []string
	}{
		{"empty node", desired(shopStack()), Observed{}, []string{
			"create-network shop_default: missing",
			"create-volume shop_data: missing",
			"create shop-db-1: missing",
			"create shop-web-1: missing",
			"create shop-web-2: missing",
		}},
		{"converged", desired(shopStack()), converged(), nil},
		{"config hash changed", desired(shopStack()), with("shop-web-2", func(c *Container) { c.Hash = "v1-old" }), []string{
			"recreate (start-first) shop-web-2: config hash old→web1",
		}},
		{"image changed", desired(shopStack()), with("shop-db-1", func(c *Container) { c.ImageID = "sha256:0123456789abcdef0123" }), []string{
			"recreate (stop-first) shop-db-1: image 0123456789ab→dddddddddddd (" + dbImage + ")",
		}},
		{"exited after a kill", desired(shopStack()), with("shop-db-1", func(c *Container) { c.State, c.ExitCode = StateExited, 137 }), []string{
			"start shop-db-1: exited (137)",
		}},
		{"exited 0 under restart always", desired(shopStack()), with("shop-db-1", func(c *Container) { c.State = StateExited }), []string{
			"start shop-db-1: exited (0)",
		}},
		{"finished job under restart no", desired(jobStack), with("shop-db-1", func(c *Container) { c.State = StateExited }), nil},
		{"failed job under restart no", desired(jobStack), with("shop-db-1", func(c *Container) { c.State, c.ExitCode = StateExited, 1 }), []string{
			"start shop-db-1: exited (1)",
		}},
		{"created", desired(shopStack()), with("shop-web-1", func(c *Container) { c.State = StateCreated }), []string{
			"start shop-web-1: created but not started",
		}},
		{"dead", desired(shopStack()), with("shop-web-1", func(c *Container) { c.State = StateDead }), []string{
			"recreate (start-first) shop-web-1: container is dead",
		}},
		{"restarting and paused are left to the engine and the operator", desired(shopStack()),
			with("shop-web-1", func(c *Container) { c.State = StateRestarting }), nil},
		{"scaled down", desired(scaled), converged(), []string{
			"remove shop-web-2: scaled to 1 replicas",
		}},
		{"service left the stack", desired(dbOnly), converged(), []string{
			"remove shop-web-1: service web is no longer in stack shop on this node",
			"remove shop-web-2: service web is no longer in stack shop on this node",
		}},
		{"stack removed: containers and networks go, volumes stay", Desired{Remove: []string{"shop"}}, converged(), []string{
			"remove shop-db-1: stack shop is no longer placed on this node",
			"remove shop-web-1: stack shop is no longer placed on this node",
			"remove shop-web-2: stack shop is no longer placed on this node",
			"remove-network shop_default: stack shop is no longer placed on this node",
		}},
		{"a stack neither desired nor removed is left alone", Desired{}, with("shop-db-1", func(c *Container) { c.State = StateExited }), nil},
		{"image not local", Desired{Stacks: []manifests.Stack{shopStack()}, Images: map[string]string{dbImage: dbID}},
			with("shop-web-2", func(c *Container) { c.Name = "gone"; c.Service = "web"; c.Number = 9 }), []string{
				"remove gone: scaled to 2 replicas",
				"create shop-web-2: missing (image " + webImage + " is not local)",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lines(Build(tt.d, tt.o))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildDuplicatesKeepTheMatchingContainer(t *testing.T) {
	o := converged()
	// An agent killed mid-update left the old replica renamed beside the new.
	o.Containers = append(o.Containers, Container{ID: "old", Name: "shop-web-1-old", Stack: "shop", Service: "web",
		Number: 1, Hash: "v1-old", ImageID: webID, State: StateExited, ExitCode: 0})
	got := lines(Build(desired(shopStack()), o))
	want := []string{"remove shop-web-1-old: duplicate of replica 1 (2 is kept)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

func TestBuildRemovesNetworkNoLongerUsed(t *testing.T) {
	o := converged()
	o.Networks = append(o.Networks, Network{ID: "n2", Name: "shop_back", Stack: "shop"})
	p := Build(desired(shopStack()), o)
	want := []string{"remove-network shop_back: no service of the stack uses it any more"}
	if diff := cmp.Diff(want, lines(p)); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if a := p.Actions()[0]; a.Network == nil || a.Network.ID != "n2" {
		t.Errorf("remove-network action does not carry the network: %+v", a)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	o := converged()
	for i := range o.Containers {
		o.Containers[i].Hash = "v1-stale"
	}
	want := lines(Build(desired(shopStack()), o))
	for i := range 20 {
		rand.New(rand.NewSource(int64(i))).Shuffle(len(o.Containers), func(a, b int) {
			o.Containers[a], o.Containers[b] = o.Containers[b], o.Containers[a]
		})
		if diff := cmp.Diff(want, lines(Build(desired(shopStack()), o))); diff != "" {
			t.Fatalf("plan depends on the order of observed containers (-first +now):\n%s", diff)
		}
	}
	// Dependencies first: db before web.
	if !strings.Contains(want[0], "shop-db-1") {
		t.Errorf("first action %q, want db before web", want[0])
	}
}

func TestLevels(t *testing.T) {
	dep := func(names ...string) types.DependsOnConfig {
		d := types.DependsOnConfig{}
		for _, n := range names {
			d[n] = types.ServiceDependency{Condition: types.ServiceConditionStarted}
		}
		return d
	}
	p := &types.Project{Services: types.Services{
		"a":     service("a", func(s *types.ServiceConfig) { s.DependsOn = dep("b", "c") }),
		"b":     service("b", func(s *types.ServiceConfig) { s.DependsOn = dep("c") }),
		"c":     service("c", func(*types.ServiceConfig) {}),
		"d":     service("d", func(*types.ServiceConfig) {}),
		"e":     service("e", func(s *types.ServiceConfig) { s.DependsOn = dep("elsewhere") }),
		"f":     service("f", func(s *types.ServiceConfig) { s.DependsOn = dep("c") }),
		"loop1": service("loop1", func(s *types.ServiceConfig) { s.DependsOn = dep("loop2") }),
		"loop2": service("loop2", func(s *types.ServiceConfig) { s.DependsOn = dep("loop1") }),
	}}
	want := [][]string{{"c", "d", "e", "loop2"}, {"b", "f", "loop1"}, {"a"}}
	if diff := cmp.Diff(want, Levels(p)); diff != "" {
		t.Errorf("levels (-want +got):\n%s", diff)
	}
}

func TestPlanString(t *testing.T) {
	if got := (Plan{}).String(); !strings.Contains(got, "nothing to do") {
		t.Errorf("empty plan prints %q", got)
	}
	p := Build(desired(shopStack()), Observed{})
	sp, ok := p.Stack("shop")
	if !ok || len(sp.Levels) != 2 || len(sp.Levels[0]) != 1 || len(sp.Levels[1]) != 2 {
		t.Errorf("levels of shop: %+v", sp.Levels)
	}
	if n := len(p.Actions()); n != 5 {
		t.Errorf("plan has %d actions, want 5", n)
	}
}
