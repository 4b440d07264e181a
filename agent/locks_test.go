package agent

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestStackLocks(t *testing.T) {
	l := newStackLocks()
	ctx := context.Background()
	unlock, err := l.lock(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.tryLock("a"); ok {
		t.Fatal("took a held lock")
	}
	unlockB, ok := l.tryLock("b")
	if !ok {
		t.Fatal("another stack's lock waits on a")
	}
	unlockB()

	wait, end := l.begin(ctx, "a", "v1-x")
	if l.supersede("a", "v1-x", "c2") {
		t.Error("superseded an update by a commit that wants the same spec")
	}
	if !l.supersede("a", "v1-y", "c2") {
		t.Fatal("did not supersede an update by a commit that wants another spec")
	}
	<-wait.Done()
	var sup errSuperseded
	if !errors.As(context.Cause(wait), &sup) || sup.by != "c2" {
		t.Errorf("cause %v, want superseded by c2", context.Cause(wait))
	}
	end()
	if l.supersede("a", "v1-y", "c3") {
		t.Error("superseded an update that ended")
	}

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := l.lock(short, "a"); err == nil {
		t.Error("lock of a held stack did not honour its context")
	}
	unlock()
	if u, ok := l.tryLock("a"); !ok {
		t.Error("lock not released")
	} else {
		u()
	}
}
