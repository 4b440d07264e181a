package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func commits(revs []Revision) []string {
	var out []string
	for _, r := range revs {
		out = append(out, r.Commit)
	}
	return out
}

func TestHistoryBounded(t *testing.T) {
	const limit = 5
	path := tempPath(t)
	s := openAt(t, path, Options{HistoryLimit: limit})
	for i := range 12 {
		must(t, s.PutRevision(Revision{Commit: fmt.Sprintf("c%02d", i), Outcome: OutcomeApplied}))
	}
	tests := []struct {
		limit int
		want  []string
	}{
		{0, []string{"c11", "c10", "c09", "c08", "c07"}},
		{2, []string{"c11", "c10"}},
		{50, []string{"c11", "c10", "c09", "c08", "c07"}},
	}
	for _, tt := range tests {
		revs, err := s.Revisions(tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := commits(revs); !slices.Equal(got, tt.want) {
			t.Errorf("Revisions(%d) = %v, want %v", tt.limit, got, tt.want)
		}
	}
	if _, err := s.GetRevision("c06"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRevision of a pruned commit: err = %v, want ErrNotFound", err)
	}
	if n := keyCount(t, s, bucketRevisionIndex); n != limit {
		t.Errorf("revision index holds %d entries after pruning, want %d", n, limit)
	}
}

func keyCount(t *testing.T, s *Store, name string) int {
	t.Helper()
	n := 0
	must(t, s.view(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(name)).ForEach(func(_, _ []byte) error { n++; return nil })
	}))
	return n
}

func TestRevisionTimeline(t *testing.T) {
	s := openTemp(t)
	steps := []struct {
		commit  string
		outcome Outcome
		want    []string // newest first
	}{
		{"a", OutcomePending, []string{"a"}},
		{"a", OutcomeApplied, []string{"a"}},           // the newest entry moves on
		{"b", OutcomeFailed, []string{"b", "a"}},       // a new head
		{"a", OutcomeApplied, []string{"a", "b", "a"}}, // force-pushed back: a new entry
	}
	for i, st := range steps {
		must(t, s.PutRevision(Revision{Commit: st.commit, Outcome: st.outcome}))
		revs, err := s.Revisions(0)
		if err != nil {
			t.Fatal(err)
		}
		if got := commits(revs); !slices.Equal(got, st.want) {
			t.Fatalf("step %d: history = %v, want %v", i, got, st.want)
		}
	}
	revs, _ := s.Revisions(0)
	if revs[1].Outcome != OutcomeFailed || revs[2].Outcome != OutcomeApplied {
		t.Errorf("outcomes = %v %v %v", revs[0].Outcome, revs[1].Outcome, revs[2].Outcome)
	}
}

func TestEventsBounded(t *testing.T) {
	const limit = 3
	s := openAt(t, tempPath(t), Options{EventLimit: limit})
	for i := range 7 {
		must(t, s.AppendEvent(Event{Time: t0, Kind: "test", Message: fmt.Sprint(i)}))
	}
	tests := []struct {
		limit int
		want  []string
	}{
		{0, []string{"6", "5", "4"}},
		{2, []string{"6", "5"}},
	}
	for _, tt := range tests {
		evs, err := s.Events(tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.Message)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Events(%d) = %v, want %v", tt.limit, got, tt.want)
		}
	}
	if n := keyCount(t, s, bucketEvents); n != limit {
		t.Errorf("events bucket holds %d entries, want %d", n, limit)
	}
}

func TestStatus(t *testing.T) {
	s := openTemp(t)
	if st, err := s.Status(); err != nil || st.Last != nil || len(st.Stacks) != 0 {
		t.Fatalf("Status of an empty store = %+v, %v", st, err)
	}
	must(t, s.PutRevision(Revision{Commit: "a", Outcome: OutcomeApplied}))
	must(t, s.PutRevision(Revision{Commit: "b", Outcome: OutcomePending}))
	must(t, s.PutStack(AppliedStack{Stack: "web", Revision: "a", Spec: []byte("big")}))
	must(t, s.PutStack(AppliedStack{Stack: "api", Revision: "a", Spec: []byte("big")}))
	if _, err := s.SetFailed("web", Failed{Commit: "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetMeta(MetaWantedRevision, "b"); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Last == nil || st.Last.Commit != "b" || st.Meta.WantedRevision != "b" || st.Failed["web"].Commit != "b" {
		t.Errorf("Status = %+v", st)
	}
	if len(st.Stacks) != 2 || st.Stacks[0].Stack != "api" || st.Stacks[1].Stack != "web" {
		t.Fatalf("Status stacks = %+v, want api, web", st.Stacks)
	}
	for _, sk := range st.Stacks {
		if sk.Spec != nil {
			t.Errorf("Status loaded the spec of %s", sk.Stack)
		}
	}
}
