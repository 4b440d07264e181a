package store

import (
	"bytes"
	"fmt"
	"testing"
)

// benchStore is a store as a busy node has it: 30 stacks with 16 KiB specs,
// a full history, meta set.
func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.TempDir()+"/"+FileName, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	spec := bytes.Repeat([]byte("x"), 16<<10)
	for i := range 30 {
		st := AppliedStack{Stack: fmt.Sprintf("stack-%02d", i), Revision: "c1", Spec: spec, SpecHash: "sha256:aa",
			Images: map[string]string{"registry.example.com/shop/web:1.4": "sha256:bb"}, AppliedAt: t0}
		if err := s.PutStack(st); err != nil {
			b.Fatal(err)
		}
	}
	for i := range DefaultHistoryLimit {
		if err := s.PutRevision(fullRevision(fmt.Sprintf("c%03d", i))); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.SetMeta(MetaWantedRevision, "c099"); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkStatusRead: what `skiff status` costs the store: meta, the newest
// revision and the stack list, in one read transaction.
func BenchmarkStatusRead(b *testing.B) {
	s := benchStore(b)
	writes := s.Writes()
	b.ReportAllocs()
	for b.Loop() {
		st, err := s.Status()
		if err != nil || len(st.Stacks) != 30 || st.Last == nil {
			b.Fatalf("Status = %d stacks, %v", len(st.Stacks), err)
		}
	}
	b.ReportMetric(float64(s.Writes()-writes)/float64(b.N), "writes/op")
}

// BenchmarkSetMetaUnchanged: the meta write a no-change poll attempts. It
// must cost a read transaction and 0 writes/op.
func BenchmarkSetMetaUnchanged(b *testing.B) {
	s := benchStore(b)
	writes := s.Writes()
	b.ReportAllocs()
	for b.Loop() {
		if changed, err := s.SetMeta(MetaWantedRevision, "c099"); changed || err != nil {
			b.Fatalf("SetMeta = %v, %v", changed, err)
		}
	}
	b.ReportMetric(float64(s.Writes()-writes)/float64(b.N), "writes/op")
}
