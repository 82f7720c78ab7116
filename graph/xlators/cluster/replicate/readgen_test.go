package replicate

import (
	"context"
	"testing"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
)

func readAll(t *testing.T, a *AFR, fd *graph.FD) string {
	t.Helper()
	r, err := a.Readv(context.Background(), fd, 4096, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Done()
	return string(r.Data)
}

// TestReadChildRefreshedAfterRejoin: the file is looked up with both copies good; child 1 (the
// configured read child) goes down, a write misses it, it comes back. A read through the open
// fd — no lookup in between, as an NFS READ on a cached handle — must not be served by child 1,
// which still needs heal: the CHILD_DOWN/CHILD_UP bumped the event generation, so the cached
// readable set is refreshed from the changelogs before a read child is chosen (GlusterFS
// afr_inode_refresh on an event-generation mismatch). It used to read the stale copy.
func TestReadChildRefreshedAfterRejoin(t *testing.T) {
	ctx := context.Background()
	leaves := lockedLeaves(t, 2)
	a := newAFROver(t, map[string]string{"read-subvolume-index": "1", "data-self-heal": "off"}, leaves...)
	fd, loc, err := graphtest.Create(ctx, a, graph.RootLoc(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	writeFlush(t, a, fd, []byte("old"))
	if _, err := a.Lookup(ctx, loc, nil); err != nil {
		t.Fatal(err)
	}
	a.Notify(ctx, graph.EventChildDown, leaves[1])
	writeFlush(t, a, fd, []byte("new"))
	a.Notify(ctx, graph.EventChildUp, leaves[1])
	for k := 0; k < 3; k++ {
		if got := readAll(t, a, fd); got != "new" {
			t.Fatalf("read after child 1 rejoined: %q, want %q (the copy that needs heal was read)", got, "new")
		}
	}
	// Once healed, the returning child is readable again (and is the configured read child).
	if _, err := HealFile(ctx, a, fd.GFID); err != nil {
		t.Fatal(err)
	}
	if i, err := a.readChild(ctx, fd.GFID, IdxData); err != nil || i != 1 {
		t.Errorf("read child after heal: %d (%v), want 1", i, err)
	}
}

// TestReadChildUsesRejoinedCleanChild: a child that was down when the file was looked up, and
// missed nothing, serves reads again after it comes back, without a new lookup: the cached
// state of the older event generation is refreshed rather than kept.
func TestReadChildUsesRejoinedCleanChild(t *testing.T) {
	ctx := context.Background()
	leaves := lockedLeaves(t, 2)
	rec := graphtest.NewRecorder("rec1", leaves[1])
	a := newAFROver(t, map[string]string{"read-subvolume-index": "1", "data-self-heal": "off"}, leaves[0], rec)
	fd, loc, err := graphtest.Create(ctx, a, graph.RootLoc(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	writeFlush(t, a, fd, []byte("data"))
	a.Notify(ctx, graph.EventChildDown, rec)
	if _, err := a.Lookup(ctx, loc, nil); err != nil { // child 1 is not in this lookup
		t.Fatal(err)
	}
	a.Notify(ctx, graph.EventChildUp, rec)
	rec.Reset()
	if got := readAll(t, a, fd); got != "data" {
		t.Fatalf("read: %q", got)
	}
	if n := rec.Count(graph.FopReadv); n != 1 {
		t.Errorf("child 1 served %d reads after it came back in sync, want 1 (read-subvolume-index 1)", n)
	}
}

// TestReadAfterFailedWriteOnUpChild: a write that fails on a copy that is up (no event at
// all) makes the cached readable set stale, so the next read does not pick that copy.
func TestReadAfterFailedWriteOnUpChild(t *testing.T) {
	ctx := context.Background()
	leaves := lockedLeaves(t, 2)
	eg, err := graph.Construct("debug/error-gen", "eg1", map[string]string{"failure": "0", "error-no": "EIO"}, nil, leaves[1])
	if err != nil {
		t.Fatal(err)
	}
	a := newAFROver(t, map[string]string{"read-subvolume-index": "1", "data-self-heal": "off", "eager-lock": "off"}, leaves[0], eg)
	fd, loc, err := graphtest.Create(ctx, a, graph.RootLoc(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	if _, err := a.Writev(ctx, fd, []byte("old"), 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lookup(ctx, loc, nil); err != nil {
		t.Fatal(err)
	}
	r, _ := graph.LookupType("debug/error-gen")
	opts, err := graph.ValidateOptions(r.Options, map[string]string{"failure": "100", "error-no": "EIO", "enable": "writev"})
	if err != nil {
		t.Fatal(err)
	}
	if err := eg.Reconfigure(opts); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Writev(ctx, fd, []byte("new"), 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, a, fd); got != "new" {
		t.Fatalf("read after a write failed on child 1: %q, want %q", got, "new")
	}
}

// writeFlush writes data at offset 0 of fd through x and flushes it, failing the test on error.
func writeFlush(t *testing.T, x graph.Xlator, fd *graph.FD, data []byte) {
	t.Helper()
	ctx := context.Background()
	if _, err := x.Writev(ctx, fd, data, 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Flush(ctx, fd, nil); err != nil {
		t.Fatal(err)
	}
}
