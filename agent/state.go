package agent

import (
	"time"

	"github.com/skiffops/skiff/agent/api"
	"github.com/skiffops/skiff/agent/ledger"
	"github.com/skiffops/skiff/agent/store"
	"github.com/skiffops/skiff/internal/redact"
	"github.com/skiffops/skiff/manifests"
	"github.com/skiffops/skiff/reconcile"
)

// state is what the agent knows in memory, guarded by Agent.mu. The API
// answers from it, so status never waits on Git, registries, Docker or a
// stack's lock.
type state struct {
	node, region, version string
	startedAt             time.Time

	// ledger is what each stack runs and why.
	ledger *ledger.Ledger
	wanted string // branch head last seen
	// selected is the last head that went through selection (loaded, or
	// refused): it is not selected again until the branch moves.
	selected string
	// loaded is the newest revision that loaded: its stacks are in the
	// ledger.
	loaded *loadedRevision
	// applied is the last revision whose processing ended with nothing
	// pending; appliedSeq its loadedRevision.seq, so that an older revision
	// that settles late never moves it back.
	applied    string
	appliedSeq uint64
	seq        uint64       // of the last loadedRevision
	refused    *api.Refused // the wanted revision was refused as a whole
	pending    *api.Pending // the wanted revision is not fully applied yet
	// retry is when stacks waiting for their images are tried again.
	retry retryState

	// repairFailing holds the stacks whose last repair failed: their
	// failures are logged once, not every round, and status shows them.
	repairFailing map[string]repairFailure

	observed    reconcile.Observed // as of the last reconcile
	source      api.SourceStatus
	docker      api.DockerStatus
	storeStatus api.StoreStatus
	// storeMissed is set when a store write failed: what the store lacks
	// is written again by flushStore.
	storeMissed bool
	// missedRevisions are the revision records the store missed, in the
	// order they were missed.
	missedRevisions []store.Revision
	counters        api.Counters
}

// loadedRevision is a revision that was fetched, verified and loaded with a
// stacks/ directory.
type loadedRevision struct {
	commit string
	fleet  manifests.Fleet
	record store.Revision // its history record, completed as stacks settle
	seq    uint64         // order of loading: later revisions have larger ones
	// recorded is closed once the revision's first records are written:
	// it settles after them.
	recorded chan struct{}
}

// repairFailure is a stack whose repairs fail: since when, and the last
// error.
type repairFailure struct {
	since time.Time
	err   string
}

// retryState schedules the next try of stacks whose images are missing.
type retryState struct {
	at       time.Time // zero: nothing to retry
	definite bool      // the origin said it has no such image, or denied it
	b        backoff
}

func newState(cfg Config, version string) state {
	return state{
		node: cfg.Node, region: cfg.Region, version: version, startedAt: time.Now(),
		ledger: ledger.New(), repairFailing: map[string]repairFailure{},
		source: api.SourceStatus{URL: redact.URL(cfg.Source.URL), Branch: cfg.Source.Branch},
		retry:  retryState{b: backoff{min: time.Second, max: time.Minute, jitter: 0.1}},
	}
}

// update runs f with the state locked.
func (a *Agent) update(f func(*state)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(&a.st)
}

// entries returns a copy of the ledger's entries.
func (a *Agent) entries() []ledger.Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st.ledger.Entries()
}

func (a *Agent) entry(name string) (ledger.Entry, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st.ledger.Get(name)
}

func (a *Agent) setDocker(connected bool, apiVersion string, err error) {
	a.update(func(s *state) {
		was := s.docker.Connected
		if connected {
			s.docker = api.DockerStatus{Connected: true, APIVersion: apiVersion}
			if !was {
				a.log.Info("docker engine connected", "api_version", apiVersion)
			}
			return
		}
		if s.docker.OfflineSince == nil {
			now := time.Now()
			s.docker.OfflineSince = &now
			a.log.Warn("docker engine not answering; waiting for it", "error", err)
		}
		s.docker.Connected = false
		if err != nil {
			s.docker.LastError = err.Error()
		}
	})
}
