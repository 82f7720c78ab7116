package clustertest

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/xlators/cluster/distribute"
)

// TestDhtReplayAfterCommit: a client write lands on the source during phase 1, into a chunk the
// migrator copied already; before the client replays it on the destination the migration
// commits and the source is gone (the race behind TestRebalanceWhileWriting's rare ESTALE). The
// replay must still reach the data — now on the destination — and the write succeed.
func TestDhtReplayAfterCommit(t *testing.T) {
	ctx := context.Background()
	m := newMigrationRig(t)
	bricks, reb, rhooks, cli, chooks := m.bricks, m.reb, m.rhooks, m.cli, m.chooks
	loc, data, src, dst, fd := m.loc, m.data, m.src, m.dst, m.fd

	reached, resume := pauseAtChunk(rhooks[src], 2*distribute.ChunkSize)
	done := startMigrate(reb, loc)
	<-reached

	replaying, migrated := make(chan struct{}), make(chan struct{})
	var once sync.Once
	chooks[src].set(graph.FopGetxattr, func(c hookCall) {
		if c.Name == distribute.XattrLinkto {
			once.Do(func() {
				close(replaying)
				<-migrated
			})
		}
	})
	buf := bytes.Repeat([]byte("replayed "), 500)
	werr := make(chan error, 1)
	go func() {
		_, err := cli.Writev(ctx, fd, buf, 1000, 0, nil)
		werr <- err
	}()
	<-replaying // the write is on the source; its replay has not started
	close(resume)
	res := waitMigrate(t, done)
	close(migrated)
	if res.err != nil || !res.moved {
		t.Fatalf("migration: moved %v, %v", res.moved, res.err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("write during phase 1, replayed after the commit: %v", err)
	}
	want := append([]byte(nil), data...)
	copy(want[1000:], buf)
	checkFile(t, bricks, loc, want, dst)
	_ = dst
}
