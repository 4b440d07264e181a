package main

import (
	"strings"
	"testing"
	"time"

	"github.com/skiffops/skiff/agent/api"
)

func TestStoreLineSaysWritesFail(t *testing.T) {
	since := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	got := storeLine(api.StoreStatus{Path: "/var/lib/skiff/skiff.db", WriteError: "record revision abc: no space left on device", WriteErrorSince: &since})
	for _, want := range []string{"ok (/var/lib/skiff/skiff.db)", "WRITES FAILING since ", "no space left on device", "in memory"} {
		if !strings.Contains(got, want) {
			t.Errorf("store line %q does not say %q", got, want)
		}
	}
	if got := storeLine(api.StoreStatus{Path: "/x"}); got != "ok (/x)" {
		t.Errorf("store line of a healthy store: %q", got)
	}
}
