package replicate

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// relTap passes reads through to its child and attaches a counting Release to every reply;
// with fail set it returns the reply (data, Release and all) with ENOTCONN, as a child whose
// connection broke mid-read might.
type relTap struct {
	graph.Passthrough
	fail            atomic.Bool
	onFail          func() // e.g. the CHILD_DOWN a broken connection sends up
	reads, releases atomic.Int64
}

func (x *relTap) Readv(ctx context.Context, fd *graph.FD, size uint32, off int64, flags uint32, xd graph.Xdata) (graph.ReadReply, error) {
	r, err := x.Passthrough.Readv(ctx, fd, size, off, flags, xd)
	x.reads.Add(1)
	r.Release = func() { x.releases.Add(1) }
	if err == nil && x.fail.Load() {
		err = graph.Errorf(unix.ENOTCONN, "relTap: failing read")
		if x.onFail != nil {
			x.onFail()
		}
	}
	return r, err
}

func init() {
	graph.Register(graph.Registration{Type: "test/replicate-rel-tap", New: func() graph.Xlator { return &relTap{} }, MinChildren: 1, MaxChildren: 1})
}

// TestReadvReleasePassesThroughAndFailoverReleases: a read's Release is the child's, passed up
// unchanged; a read that fails over to another child releases the failed child's reply.
func TestReadvReleasePassesThroughAndFailoverReleases(t *testing.T) {
	ctx := context.Background()
	var kids []graph.Xlator
	var taps []*relTap
	for i := 0; i < 2; i++ {
		l, err := graph.Construct("storage/memory", fmt.Sprintf("mem-%d", i), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		x, err := graph.Construct("test/replicate-rel-tap", fmt.Sprintf("weftafr-client-%d", i), nil, nil, l)
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, x)
		taps = append(taps, x.(*relTap))
	}
	top, err := graph.Construct(Type, "weftafr-replicate-0", nil, nil, kids...)
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.NewGraph(top)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Fini)
	for _, k := range kids {
		top.Notify(ctx, graph.EventChildUp, k)
	}
	a := top.(*AFR)
	fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	defer fd.Unref()
	r, err := a.Create(ctx, &graph.Loc{Path: "/f", Name: "f", ParentGFID: graph.RootGFID}, unix.O_CREAT|unix.O_RDWR, 0o644, 0, fd, nil)
	if err != nil {
		t.Fatal(err)
	}
	fd.GFID = r.Stat.GFID
	data := bytes.Repeat([]byte("replica!"), 1000)
	if _, err := a.Writev(ctx, fd, data, 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	// Plain read: the reply carries the read child's Release, which only the caller calls.
	rr, err := a.Readv(ctx, fd, 8000, 0, 0, nil)
	if err != nil || !bytes.Equal(rr.Data, data) {
		t.Fatalf("read: %v, %d bytes", err, len(rr.Data))
	}
	src := 0
	if taps[1].reads.Load() == 1 {
		src = 1
	}
	if taps[src].reads.Load() != 1 || taps[src].releases.Load() != 0 {
		t.Fatalf("read child %d: %d reads, %d releases before Done", src, taps[src].reads.Load(), taps[src].releases.Load())
	}
	rr.Done()
	if taps[src].releases.Load() != 1 {
		t.Fatal("Done did not reach the child's Release")
	}
	// The read child fails (a broken connection: CHILD_DOWN, then ENOTCONN): its reply is
	// released by replicate, the other child answers.
	taps[src].fail.Store(true)
	taps[src].onFail = func() { a.Notify(ctx, graph.EventChildDown, kids[src]) }
	other := taps[1-src]
	rr, err = a.Readv(ctx, fd, 8000, 0, 0, nil)
	if err != nil || !bytes.Equal(rr.Data, data) {
		t.Fatalf("read with child %d failing: %v, %d bytes", src, err, len(rr.Data))
	}
	if taps[src].reads.Load() != 2 || taps[src].releases.Load() != 2 {
		t.Fatalf("failed child: %d reads, %d releases, want 2 and 2", taps[src].reads.Load(), taps[src].releases.Load())
	}
	if other.reads.Load() != 1 || other.releases.Load() != 0 {
		t.Fatalf("answering child: %d reads, %d releases before Done", other.reads.Load(), other.releases.Load())
	}
	rr.Done()
	if other.releases.Load() != 1 {
		t.Fatal("Done did not reach the answering child's Release")
	}
	// Every child failing: the error carries no data, and each failed reply was released.
	taps[src].onFail = nil
	a.Notify(ctx, graph.EventChildUp, kids[src])
	other.fail.Store(true)
	rr, err = a.Readv(ctx, fd, 8000, 0, 0, nil)
	if graph.Errno(err) != unix.ENOTCONN || rr.Data != nil || rr.Release != nil {
		t.Fatalf("read with both failing: %v, %d bytes, release set %v", err, len(rr.Data), rr.Release != nil)
	}
	for i, x := range taps {
		if x.reads.Load() != x.releases.Load() {
			t.Errorf("child %d: %d reads, %d releases", i, x.reads.Load(), x.releases.Load())
		}
	}
}
