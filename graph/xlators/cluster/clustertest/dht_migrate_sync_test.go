package clustertest

import (
	"context"
	"sync"
	"testing"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/xlators/cluster/distribute"
)

// TestDhtMigrationDurability: data a client fsynced on the source must be on stable storage on
// the destination before the migration gives the source up. A client's fsync during phase 1
// syncs the destination too (it holds the copied chunks and the replayed writes), and the
// migrator syncs the destination before the source is unlinked (GlusterFS's ensure-durability).
func TestDhtMigrationDurability(t *testing.T) {
	ctx := context.Background()
	m := newMigrationRig(t)
	bricks, reb, rhooks, cli, chooks := m.bricks, m.reb, m.rhooks, m.cli, m.chooks
	loc, data, src, dst, fd := m.loc, m.data, m.src, m.dst, m.fd

	var mu sync.Mutex
	var events []string
	record := func(ev string) func(hookCall) {
		return func(hookCall) {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		}
	}
	rhooks[dst].set(graph.FopFsync, record("migrator fsync dst"))
	rhooks[src].set(graph.FopUnlink, record("migrator unlink src"))
	chooks[dst].set(graph.FopFsync, record("client fsync dst"))

	reached, resume := pauseAtChunk(rhooks[src], 2*distribute.ChunkSize)
	done := startMigrate(reb, loc)
	<-reached
	buf := []byte("must survive a crash after the migration")
	if _, err := cli.Writev(ctx, fd, buf, 100, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Fsync(ctx, fd, false, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := append([]string(nil), events...)
	mu.Unlock()
	if len(got) != 1 || got[0] != "client fsync dst" {
		t.Errorf("a client fsync during phase 1 reached the destination as %v, want [client fsync dst]", got)
	}
	close(resume)
	if res := waitMigrate(t, done); res.err != nil || !res.moved {
		t.Fatalf("migration: moved %v, %v", res.moved, res.err)
	}
	mu.Lock()
	got = append([]string(nil), events...)
	mu.Unlock()
	if len(got) != 3 || got[1] != "migrator fsync dst" || got[2] != "migrator unlink src" {
		t.Errorf("events %v, want the migrator to fsync the destination before it unlinks the source", got)
	}
	// After the migration the FD follows the file, and fsync goes to the destination.
	if _, err := cli.Fsync(ctx, fd, false, nil); err != nil {
		t.Fatalf("fsync after the migration: %v", err)
	}
	want := append([]byte(nil), data...)
	copy(want[100:], buf)
	checkFile(t, bricks, loc, want, dst)
}
