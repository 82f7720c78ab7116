package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/bricks/server/servertest"
	"github.com/weftfs/weft/graph"
)

// releaseTap sits under protocol/server and wraps every ReadReply.Release (adding one where the
// child set none, even on errors), counting the calls: each reply must be released exactly
// once.
type releaseTap struct {
	graph.Passthrough
	reads, released, doubles atomic.Int64
}

func (x *releaseTap) Readv(ctx context.Context, fd *graph.FD, size uint32, off int64, flags uint32, xd graph.Xdata) (graph.ReadReply, error) {
	rep, err := x.Passthrough.Readv(ctx, fd, size, off, flags, xd)
	x.reads.Add(1)
	inner := rep.Release
	var once atomic.Bool
	rep.Release = func() {
		if !once.CompareAndSwap(false, true) {
			x.doubles.Add(1)
			return
		}
		x.released.Add(1)
		if inner != nil {
			inner()
		}
	}
	return rep, err
}

func init() {
	graph.Register(graph.Registration{Type: "test/release-tap", New: func() graph.Xlator { return &releaseTap{} }, MinChildren: 1, MaxChildren: 1})
}

// startTappedBrick is startBrick with a releaseTap between features/locks and protocol/server.
func startTappedBrick(t *testing.T, transport string) (*brick, *releaseTap) {
	t.Helper()
	b := servertest.Start(t, servertest.Options{Transport: transport, Tap: "test/release-tap"})
	return &brick{g: b.Graph, srv: b.Server, dir: b.Dir}, b.Tap.(*releaseTap)
}

// TestReadvBuffersReleasedAfterReply: many concurrent READVs on one remote FD get their own
// bytes although storage/posix recycles each buffer as soon as protocol/server releases it (a
// release before the reply is written would let another read overwrite data being sent), and
// every reply — data, empty at EOF, or an error — is released exactly once.
func TestReadvBuffersReleasedAfterReply(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			b, tap := startTappedBrick(t, tr)
			c, ev := newClient(t, b.srv.Addr().String(), tr, nil)
			ev.wait(t, graph.EventChildUp, 5*time.Second)
			ctx := context.Background()
			fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR|unix.O_CREAT)
			defer fd.Unref()
			if _, err := c.Create(ctx, graph.RootLoc().Child("f"), unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil); err != nil {
				t.Fatal(err)
			}
			const size = 4 << 20
			data := make([]byte, size)
			for i := 0; i < size; i += 8 {
				binary.LittleEndian.PutUint64(data[i:], uint64(i)*0x9E3779B97F4A7C15+7)
			}
			for off := 0; off < size; off += 1 << 20 {
				if _, err := c.Writev(ctx, fd, data[off:off+1<<20], int64(off), 0, nil); err != nil {
					t.Fatal(err)
				}
			}
			sizes := []int{4 << 10, 64 << 10, 128 << 10, 1 << 20}
			workers, per := 8, 40
			if testing.Short() {
				per = 15
			}
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := 0; k < per; k++ {
						n := sizes[(w+k)%len(sizes)]
						off := ((w*7919 + k*104729) % (size / 4096)) * 4096
						r, err := c.Readv(ctx, fd, uint32(n), int64(off), 0, nil)
						if err != nil {
							errs <- err
							return
						}
						want := data[off:min(off+n, size)]
						if !bytes.Equal(r.Data, want) {
							errs <- fmt.Errorf("read %d at %d: %d bytes, not the file's", n, off, len(r.Data))
							return
						}
						r.Done()
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			// An empty read at EOF and a failing one (negative offset) are released too.
			if r, err := c.Readv(ctx, fd, 4096, size, 0, nil); err != nil || len(r.Data) != 0 {
				t.Fatalf("read at EOF: %d bytes, %v", len(r.Data), err)
			}
			if _, err := c.Readv(ctx, fd, 4096, -1, 0, nil); graph.Errno(err) != unix.EINVAL {
				t.Fatalf("read at -1: %v, want EINVAL", err)
			}
			want := int64(workers*per + 2)
			waitFor(t, func() bool { return tap.released.Load() == want }, fmt.Sprintf("%d releases", want))
			if n := tap.reads.Load(); n != want {
				t.Fatalf("%d reads reached the brick, want %d", n, want)
			}
			if d := tap.doubles.Load(); d != 0 {
				t.Fatalf("%d replies released twice", d)
			}
		})
	}
}
