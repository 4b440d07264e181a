package manifests

import "testing"

// BenchmarkLoadExampleFleet measures what every poll with a new commit pays
// to turn a checkout into the desired state (target: well under 50 ms).
func BenchmarkLoadExampleFleet(b *testing.B) {
	node := Node{Name: "edge-07", Region: "us-east"}
	for b.Loop() {
		d, err := Load("../examples/fleet", node)
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Stacks) != 3 || len(d.Problems) != 0 {
			b.Fatalf("example fleet: %d stacks, problems %v", len(d.Stacks), lines(d.Problems))
		}
	}
}
