package clustertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/cluster/distribute"
)

// TestDhtSetattrDuringCommit: a chmod+chown (by path or through an FD) that reaches the source
// after the migration's commit read the source's attributes — and before the source is given
// up — must not be lost: the file ends with the new mode and owner on the destination.
func TestDhtSetattrDuringCommit(t *testing.T) {
	for _, byFD := range []bool{false, true} {
		t.Run(fmt.Sprintf("fd=%v", byFD), func(t *testing.T) {
			ctx := context.Background()
			bricks := BrickStacks(t, 3)
			reb, rhooks := hookedDHT(t, bricks, nil)
			loc, _, src, dst := misplacedFile(t, bricks, reb, 2*distribute.ChunkSize)
			cli, chooks := hookedDHT(t, bricks, nil)
			fd, err := graphtest.Open(ctx, cli, loc, unix.O_RDWR)
			if err != nil {
				t.Fatal(err)
			}
			defer fd.Unref()

			// Stop the migrator inside its commit, after it read the source's attributes
			// (its Ftruncate of the destination to the source's size comes next).
			inCommit, resume := make(chan struct{}), make(chan struct{})
			var once sync.Once
			rhooks[dst].set(graph.FopFtruncate, func(hookCall) {
				once.Do(func() {
					close(inCommit)
					<-resume
				})
			})
			done := startMigrate(reb, loc)
			select {
			case <-inCommit:
			case r := <-done:
				t.Fatalf("migration ended before its commit: %+v", r)
			}
			waiting := make(chan struct{})
			var wonce sync.Once
			chooks[src].set(graph.FopInodelk, func(c hookCall) {
				if c.Domain == distribute.MigrateDataDomain && c.Lock.Type == graph.LockWrite {
					wonce.Do(func() { close(waiting) })
				}
			})
			st := &graph.Iatt{Mode: unix.S_IFREG | 0o600, UID: 1234, GID: 5678}
			valid := graph.SetAttrMode | graph.SetAttrUID | graph.SetAttrGID
			serr := make(chan error, 1)
			go func() {
				var err error
				if byFD {
					_, err = cli.Fsetattr(ctx, fd, st, valid, nil)
				} else {
					_, err = cli.Setattr(ctx, loc, st, valid, nil)
				}
				serr <- err
			}()
			// The setattr is done on the source, or waits for the commit to finish.
			select {
			case <-waiting:
			case err := <-serr:
				serr <- err
			case <-time.After(10 * time.Second):
				t.Fatal("setattr neither finished nor waited for the migration")
			}
			close(resume)
			if res := waitMigrate(t, done); res.err != nil || !res.moved {
				t.Fatalf("migration: moved %v, %v", res.moved, res.err)
			}
			if err := <-serr; err != nil {
				t.Fatalf("setattr during the commit: %v", err)
			}
			on, _ := placement(t, bricks, loc.ParentGFID, loc.Name)
			if len(on) != 1 || on[0] != dst {
				t.Fatalf("data on %v, want [%d]", on, dst)
			}
			r, err := dhtOver(t, bricks, nil).Lookup(ctx, &graph.Loc{Name: loc.Name, ParentGFID: loc.ParentGFID}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Stat.Perm() != 0o600 || r.Stat.UID != 1234 || r.Stat.GID != 5678 {
				t.Errorf("after the migration: mode %o uid %d gid %d; want 600 1234 5678", r.Stat.Perm(), r.Stat.UID, r.Stat.GID)
			}
		})
	}
}
