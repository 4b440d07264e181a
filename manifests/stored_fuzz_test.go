package manifests

import (
	"bytes"
	"testing"
)

// FuzzUnmarshalStoredStack feeds arbitrary bytes to the decoder of the
// stored stack, what the agent reads from its store at every boot: a
// damaged record must be an error, never a panic, and whatever decodes
// must encode again and decode to the same encoding (the agent writes back
// what it read). The seeds are the example fleet's stacks as stored.
func FuzzUnmarshalStoredStack(f *testing.F) {
	for _, region := range []string{"eu-west", "us-east"} {
		d, err := Load("../examples/fleet", Node{Name: "n1", Region: region})
		if err != nil {
			f.Fatal(err)
		}
		for _, s := range d.Stacks {
			b, err := s.MarshalStored()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			f.Add(b[:len(b)/2])
		}
	}
	f.Add([]byte(`{"version": 1}`))
	f.Add([]byte(`{"version": 1, "project": {"services": {"web": null}}}`))
	f.Add([]byte("not json"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := UnmarshalStoredStack(b)
		if err != nil {
			return
		}
		again, err := st.MarshalStored()
		if err != nil {
			t.Fatalf("a decoded stack does not encode: %v", err)
		}
		st2, err := UnmarshalStoredStack(again)
		if err != nil {
			t.Fatalf("a stack encoded from a decoded one does not decode: %v", err)
		}
		third, err := st2.MarshalStored()
		if err != nil || !bytes.Equal(again, third) {
			t.Fatalf("encoding is not stable:\n%s\n%s (%v)", again, third, err)
		}
	})
}
