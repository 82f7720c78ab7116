package main

import (
	"testing"

	"github.com/weftfs/weft/membership/api"
)

// The rebalance status line says how many directories the rebalance committed (their lookups
// no longer search every brick) and how many rename leftovers it removed, when there are any.
func TestTaskLine(t *testing.T) {
	st := &api.TaskStatus{Kind: "rebalance", Node: "127.0.0.1", State: "completed", Dirs: 3, Scanned: 10, Migrated: 4, Bytes: 4096}
	want := "rebalance on 127.0.0.1: completed: 3 dirs, 10 scanned, 4 migrated, 0 skipped, 0 failed, 4.0 KiB"
	if got := taskLine(st); got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	st.Committed, st.Leftovers, st.Error = 3, 1, "stopped"
	want += ", 3 dirs committed, 1 rename leftovers removed (stopped)"
	if got := taskLine(st); got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}
