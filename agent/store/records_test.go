package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func fullRevision(commit string) Revision {
	return Revision{
		Commit:   commit,
		SeenAt:   t0,
		Verified: true,
		Signer:   "ops@example.com",
		Outcome:  OutcomePartial,
		Stacks: map[string]StackOutcome{
			"web": {Outcome: OutcomeApplied, Duration: 3 * time.Second},
			"db":  {Outcome: OutcomeRolledBack, Error: "health gate: db-1 unhealthy", Duration: time.Minute},
		},
		Error:     "1 of 2 stacks failed",
		AppliedAt: t0.Add(time.Minute),
		Timings:   Timings{Fetch: time.Second, Select: time.Millisecond, Prefetch: 2 * time.Second, Reconcile: 3 * time.Second, Total: 6 * time.Second},
	}
}

func TestRoundTrip(t *testing.T) {
	stack := AppliedStack{
		Stack: "web", Revision: "c1", Spec: []byte("\x00opaque\xffspec"), SpecHash: "sha256:aa",
		Images:    map[string]string{"registry.example.com/shop/web:1.4": "sha256:bb"},
		AppliedAt: t0,
	}
	img := Image{Digest: "sha256:bb", Registry: "reg-eu.example.net:5000", Verified: true, PulledAt: t0}
	reg := RegistryStats{Median: 12 * time.Millisecond, Samples: 5, MeasuredAt: t0, LastError: "dial tcp: timeout"}
	ev := Event{Time: t0, Kind: "recreate", Stack: "web", Service: "api", Message: "config hash a1→b2"}

	tests := []struct {
		name string
		put  func(s *Store) error
		get  func(s *Store) (any, error)
		want any
	}{
		{"revision", func(s *Store) error { return s.PutRevision(fullRevision("c1")) },
			func(s *Store) (any, error) { return s.GetRevision("c1") }, fullRevision("c1")},
		{"minimal revision", func(s *Store) error { return s.PutRevision(Revision{Commit: "c2", Outcome: OutcomePending}) },
			func(s *Store) (any, error) { return s.GetRevision("c2") }, Revision{Commit: "c2", Outcome: OutcomePending}},
		{"stack", func(s *Store) error { return s.PutStack(stack) },
			func(s *Store) (any, error) { return s.GetStack("web") }, stack},
		{"stack without spec", func(s *Store) error { return s.PutStack(AppliedStack{Stack: "empty"}) },
			func(s *Store) (any, error) { return s.GetStack("empty") }, AppliedStack{Stack: "empty"}},
		{"stacks", func(s *Store) error { return s.PutStack(stack) },
			func(s *Store) (any, error) { return s.Stacks() }, []AppliedStack{stack}},
		{"image", func(s *Store) error { return s.PutImage("registry.example.com/shop/web:1.4", img) },
			func(s *Store) (any, error) { return s.GetImage("registry.example.com/shop/web:1.4") }, img},
		{"images", func(s *Store) error { return s.PutImage("r/a:1", img) },
			func(s *Store) (any, error) { return s.Images() }, map[string]Image{"r/a:1": img}},
		{"registry", func(s *Store) error { return s.PutRegistry("reg-eu.example.net:5000", reg) },
			func(s *Store) (any, error) { return s.Registries() }, map[string]RegistryStats{"reg-eu.example.net:5000": reg}},
		{"event", func(s *Store) error { return s.AppendEvent(ev) },
			func(s *Store) (any, error) { return s.Events(0) }, []Event{ev}},
		{"failed specs", func(s *Store) error { _, err := s.SetFailed("web", Failed{Commit: "c9", Digest: "v1-d"}); return err },
			func(s *Store) (any, error) { return s.FailedSpecs() }, map[string]Failed{"web": {Commit: "c9", Digest: "v1-d"}}},
		{"meta", setMeta(Meta{WantedRevision: "c2", AppliedRevision: "c1", LastSync: t0}),
			func(s *Store) (any, error) { return s.Meta() }, Meta{WantedRevision: "c2", AppliedRevision: "c1", LastSync: t0}},
		{"meta value", setMeta(Meta{WantedRevision: "c2"}),
			func(s *Store) (any, error) { return s.MetaValue(MetaWantedRevision) }, "c2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempPath(t)
			s := openAt(t, path, Options{})
			if err := tt.put(s); err != nil {
				t.Fatalf("put: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openAt(t, path, Options{}) // from the file, not from memory
			got, err := tt.get(s)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func setMeta(m Meta) func(s *Store) error {
	return func(s *Store) error {
		for k, v := range map[MetaKey]string{MetaWantedRevision: m.WantedRevision, MetaAppliedRevision: m.AppliedRevision} {
			if _, err := s.SetMeta(k, v); err != nil {
				return err
			}
		}
		_, err := s.SetLastSync(m.LastSync)
		return err
	}
}

func TestNotFound(t *testing.T) {
	s := openTemp(t)
	checks := map[string]func() error{
		"revision": func() error { _, err := s.GetRevision("nope"); return err },
		"stack":    func() error { _, err := s.GetStack("nope"); return err },
		"image":    func() error { _, err := s.GetImage("nope"); return err },
	}
	for name, get := range checks {
		if err := get(); !errors.Is(err, ErrNotFound) {
			t.Errorf("get %s: err = %v, want ErrNotFound", name, err)
		}
	}
	if v, err := s.FailedSpecs(); len(v) != 0 || err != nil {
		t.Errorf("FailedSpecs() = %v, %v; want empty", v, err)
	}
}

func TestInvalidRecordsRefused(t *testing.T) {
	s := openTemp(t)
	checks := map[string]error{
		"revision without commit": s.PutRevision(Revision{Outcome: OutcomeApplied}),
		"unknown outcome":         s.PutRevision(Revision{Commit: "c", Outcome: "done"}),
		"unknown stack outcome":   s.PutRevision(Revision{Commit: "c", Outcome: OutcomeApplied, Stacks: map[string]StackOutcome{"web": {}}}),
		"stack without name":      s.PutStack(AppliedStack{}),
		"image without ref":       s.PutImage("", Image{}),
		"registry without host":   s.PutRegistry("", RegistryStats{}),
	}
	_, checks["unknown meta key"] = s.SetMeta("color", "blue")
	_, checks["failed without commit"] = s.SetFailed("web", Failed{Commit: ""})
	for name, err := range checks {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if w := s.Writes(); w != 1 { // the migration of the new file
		t.Errorf("Writes() = %d after refused writes, want 1", w)
	}
}

func TestDeletes(t *testing.T) {
	s := openTemp(t)
	must(t, s.PutStack(AppliedStack{Stack: "web", Spec: []byte("x")}))
	must(t, s.PutImage("r/a:1", Image{Digest: "sha256:aa"}))
	if _, err := s.SetFailed("web", Failed{Commit: "c1"}); err != nil {
		t.Fatal(err)
	}
	must(t, s.DeleteStack("web"))
	must(t, s.DeleteImage("r/a:1"))
	if _, err := s.GetStack("web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetStack after DeleteStack: %v", err)
	}
	if f, _ := s.FailedSpecs(); f["web"].Commit != "" {
		t.Errorf("DeleteStack left failed spec %v", f["web"])
	}
	if _, err := s.GetImage("r/a:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetImage after DeleteImage: %v", err)
	}
	if _, err := s.SetFailed("db", Failed{Commit: "c2"}); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.ClearFailed("db"); !changed || err != nil {
		t.Errorf("ClearFailed = %v, %v; want true", changed, err)
	}
	if changed, err := s.SetMeta(MetaWantedRevision, "c1"); !changed || err != nil {
		t.Fatal(changed, err)
	}
	if changed, err := s.SetMeta(MetaWantedRevision, ""); !changed || err != nil {
		t.Errorf("unset meta = %v, %v; want true", changed, err)
	}
	if v, _ := s.MetaValue(MetaWantedRevision); v != "" {
		t.Errorf("meta after unset = %q", v)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A revision that settles after a newer one was seen is updated where it
// stands in the history, not appended as if seen again.
func TestUpdateRevisionInPlace(t *testing.T) {
	s := openTemp(t)
	must(t, s.PutRevision(Revision{Commit: "c1", Outcome: OutcomePending}))
	must(t, s.PutRevision(Revision{Commit: "c2", Outcome: OutcomePending}))
	must(t, s.UpdateRevision(Revision{Commit: "c1", Outcome: OutcomeSuperseded}))
	must(t, s.UpdateRevision(Revision{Commit: "c2", Outcome: OutcomeApplied}))
	must(t, s.UpdateRevision(Revision{Commit: "c3", Outcome: OutcomeApplied})) // never seen: appended
	revs, err := s.Revisions(0)
	must(t, err)
	var got []string
	for _, r := range revs {
		got = append(got, r.Commit+"="+string(r.Outcome))
	}
	if want := "c3=applied c2=applied c1=superseded"; strings.Join(got, " ") != want {
		t.Errorf("history %q, want %q", got, want)
	}
	w := s.Writes()
	must(t, s.UpdateRevision(Revision{Commit: "c1", Outcome: OutcomeSuperseded}))
	if s.Writes() != w {
		t.Error("an unchanged update wrote")
	}
}
