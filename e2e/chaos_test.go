package e2e

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// The fault tests call t.Parallel: they mostly wait on health gates and
// polls, so two at a time (go test's -parallel is GOMAXPROCS) keep the suite
// short; each has its own node, stacks and Git server.
//
// The fault campaigns run a few iterations in CI and many under `make
// chaos`, which sets these variables. Every campaign prints its seed: the
// same seed makes the same choices again (which stacks change, when the
// agent is killed), though the machine's timing may differ.
const (
	envChaos      = "SKIFF_CHAOS"            // "1": run each campaign's chaos count, not its CI count
	envSeed       = "SKIFF_CHAOS_SEED"       // the campaign's seed; default: the clock
	envIterations = "SKIFF_CHAOS_ITERATIONS" // iterations of every campaign, overriding both counts
)

// chaosRand returns the campaign's random source and logs its seed.
func chaosRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(envSeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envSeed, s, err)
		}
		seed = v
	}
	t.Logf("chaos seed %d (reproduce with %s=%d)", seed, envSeed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed with chaos seed %d: rerun with %s=%d", seed, envSeed, seed)
		}
	})
	return rand.New(rand.NewPCG(seed, seed^0x5eed))
}

// chaosIterations is how many iterations a campaign runs: ci by default,
// chaos under `make chaos`.
func chaosIterations(t *testing.T, ci, chaos int) int {
	t.Helper()
	s := os.Getenv(envIterations)
	if s == "" {
		if os.Getenv(envChaos) == "1" {
			return chaos
		}
		return ci
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive count", envIterations, s)
	}
	return n
}

// between returns a duration uniformly drawn from [lo, hi).
func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}

// tally counts outcomes by name, for the campaign's summary line (the
// counts RELIABILITY.md records).
type tally map[string]int

func (c tally) String() string {
	s := ""
	for _, k := range sortedKeys(c) {
		s += fmt.Sprintf(" %s=%d", k, c[k])
	}
	return s
}

func sortedKeys(m map[string]int) []string { return slices.Sorted(maps.Keys(m)) }
