package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/cluster/distribute"
)

type migResult struct {
	moved bool
	err   error
}

// startMigrate runs distribute.Migrate of loc in reb in the background.
func startMigrate(reb *distribute.DHT, loc *graph.Loc) chan migResult {
	done := make(chan migResult, 1)
	go func() {
		ml := &graph.Loc{Name: loc.Name, ParentGFID: loc.ParentGFID, Path: loc.Path, GFID: loc.GFID}
		moved, _, err := distribute.Migrate(context.Background(), reb, ml)
		done <- migResult{moved, err}
	}()
	return done
}

func waitMigrate(t *testing.T, done chan migResult) migResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("migration did not finish")
		return migResult{}
	}
}

// checkFile asserts, through a fresh graph over bricks, that loc holds want with its GFID, mode
// 0644, and that its data is on brick dst only.
func checkFile(t *testing.T, bricks []graph.Xlator, loc *graph.Loc, want []byte, dst int) {
	t.Helper()
	ctx := context.Background()
	on, _ := placement(t, bricks, loc.ParentGFID, loc.Name)
	if len(on) != 1 || on[0] != dst {
		t.Errorf("%s: data on bricks %v, want [%d]", loc.Name, on, dst)
	}
	check := dhtOver(t, bricks, nil)
	r, err := check.Lookup(ctx, &graph.Loc{Name: loc.Name, ParentGFID: loc.ParentGFID, Path: loc.Path}, nil)
	if err != nil {
		t.Fatalf("%s: lookup: %v", loc.Name, err)
	}
	if r.Stat.GFID != loc.GFID || r.Stat.Perm() != 0o644 || r.Stat.Size != uint64(len(want)) {
		t.Errorf("%s: gfid %s mode %o size %d; want %s 644 %d", loc.Name, r.Stat.GFID, r.Stat.Perm(), r.Stat.Size, loc.GFID, len(want))
	}
	got, err := graphtest.ReadFile(ctx, check, loc)
	if err != nil {
		t.Fatalf("%s: read: %v", loc.Name, err)
	}
	if !bytes.Equal(got, want) {
		first := -1
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				first = i
				break
			}
		}
		t.Errorf("%s: content differs: %d bytes, want %d; first difference at %d", loc.Name, len(got), len(want), first)
	}
}

// TestDhtCreateExistingDuringMigration: a create without O_EXCL (open(O_CREAT), NFSv3 CREATE
// UNCHECKED) of a file that rebalance is migrating must open the existing file where its data
// is, with the migration's write replay, and never open, truncate or create another copy on the
// hashed subvolume (where the migration's destination is). The writes made through the fd it
// returns — into chunks already copied and chunks not yet copied — and fsynced must all be in
// the file after the migration.
func TestDhtCreateExistingDuringMigration(t *testing.T) {
	for _, trunc := range []bool{false, true} {
		t.Run(fmt.Sprintf("trunc=%v", trunc), func(t *testing.T) {
			ctx := context.Background()
			bricks := BrickStacks(t, 3)
			reb, hooks := hookedDHT(t, bricks, nil)
			loc, data, src, dst := misplacedFile(t, bricks, reb, 4*distribute.ChunkSize)
			cli := dhtOver(t, bricks, nil)

			reached, resume := pauseAtChunk(hooks[src], 2*distribute.ChunkSize)
			done := startMigrate(reb, loc)
			select {
			case <-reached:
			case r := <-done:
				t.Fatalf("migration ended before its third chunk: %+v", r)
			}

			flags := unix.O_RDWR | unix.O_CREAT
			want := append([]byte(nil), data...)
			if trunc {
				flags |= unix.O_TRUNC
				want = want[:0]
			}
			fd := graph.NewFD(nil, graph.GFID{}, flags)
			defer fd.Unref()
			cl := &graph.Loc{Name: loc.Name, ParentGFID: loc.ParentGFID, Path: loc.Path}
			r, err := cli.Create(ctx, cl, flags, 0o644, 0, fd, nil)
			if err != nil {
				close(resume)
				t.Fatalf("create (no O_EXCL) of an existing file: %v", err)
			}
			fd.GFID = r.Stat.GFID
			if r.Stat.GFID != loc.GFID || r.Stat.Perm() != 0o644 || r.Stat.Size != uint64(len(want)) {
				t.Errorf("create reply: gfid %s mode %o size %d; want %s 644 %d", r.Stat.GFID, r.Stat.Perm(), r.Stat.Size, loc.GFID, len(want))
			}
			write := func(off int, b []byte) {
				t.Helper()
				if _, err := cli.Writev(ctx, fd, b, int64(off), 0, nil); err != nil {
					t.Errorf("write %d at %d: %v", len(b), off, err)
					return
				}
				if off+len(b) > len(want) {
					want = append(want, make([]byte, off+len(b)-len(want))...)
				}
				copy(want[off:], b)
			}
			write(1000, bytes.Repeat([]byte("copied-chunk "), 400))                    // chunk 0: copied already
			write(3*distribute.ChunkSize+5, bytes.Repeat([]byte("later-chunk "), 300)) // chunk 3: not yet
			if _, err := cli.Fsync(ctx, fd, false, nil); err != nil {
				t.Errorf("fsync: %v", err)
			}
			st, _, err := cli.Fstat(ctx, fd, nil)
			if err != nil || st.Size != uint64(len(want)) || st.Perm() != 0o644 {
				t.Errorf("fstat: size %d mode %o, %v; want size %d mode 644", st.Size, st.Perm(), err, len(want))
			}
			close(resume)
			if res := waitMigrate(t, done); res.err != nil || !res.moved {
				t.Fatalf("migration: moved %v, %v", res.moved, res.err)
			}
			checkFile(t, bricks, loc, want, dst)
		})
	}
}
