package distribute

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// relTap attaches a counting Release to every read reply; with fail set the reply (data and
// Release included) comes with EIO.
type relTap struct {
	graph.Passthrough
	fail            atomic.Bool
	reads, releases atomic.Int64
}

func (x *relTap) Readv(ctx context.Context, fd *graph.FD, size uint32, off int64, flags uint32, xd graph.Xdata) (graph.ReadReply, error) {
	r, err := x.Passthrough.Readv(ctx, fd, size, off, flags, xd)
	x.reads.Add(1)
	r.Release = func() { x.releases.Add(1) }
	if err == nil && x.fail.Load() {
		err = graph.Errorf(unix.EIO, "relTap: failing read")
	}
	return r, err
}

func init() {
	graph.Register(graph.Registration{Type: "test/distribute-rel-tap", New: func() graph.Xlator { return &relTap{} }, MinChildren: 1, MaxChildren: 1})
}

// TestReadvRelease: distribute passes the subvolume's Release up with the data, and releases a
// reply it answers with an error.
func TestReadvRelease(t *testing.T) {
	ctx := context.Background()
	var kids []graph.Xlator
	var taps []*relTap
	for i := 0; i < 2; i++ {
		l, err := graph.Construct("storage/memory", fmt.Sprintf("mem-%d", i), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		x, err := graph.Construct("test/distribute-rel-tap", fmt.Sprintf("weftdht-client-%d", i), nil, nil, l)
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, x)
		taps = append(taps, x.(*relTap))
	}
	top, err := graph.Construct(Type, "weftdht-dht", nil, nil, kids...)
	if err != nil {
		t.Fatal(err)
	}
	activate(t, top, kids...)
	d := top.(*DHT)
	if _, err := d.Lookup(ctx, graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
	fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	defer fd.Unref()
	r, err := d.Create(ctx, graph.RootLoc().Child("f"), unix.O_CREAT|unix.O_RDWR, 0o644, 0, fd, nil)
	if err != nil {
		t.Fatal(err)
	}
	fd.GFID = r.Stat.GFID
	data := bytes.Repeat([]byte("distribute"), 1000)
	if _, err := d.Writev(ctx, fd, data, 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	total := func(f func(*relTap) int64) (n int64) {
		for _, x := range taps {
			n += f(x)
		}
		return n
	}
	reads := func(x *relTap) int64 { return x.reads.Load() }
	releases := func(x *relTap) int64 { return x.releases.Load() }
	rr, err := d.Readv(ctx, fd, 8000, 0, 0, nil)
	if err != nil || !bytes.Equal(rr.Data, data[:8000]) {
		t.Fatalf("read: %v, %d bytes", err, len(rr.Data))
	}
	if total(reads) != 1 || total(releases) != 0 {
		t.Fatalf("%d reads, %d releases before Done", total(reads), total(releases))
	}
	rr.Done()
	if total(releases) != 1 {
		t.Fatal("Done did not reach the subvolume's Release")
	}
	for _, x := range taps {
		x.fail.Store(true)
	}
	rr, err = d.Readv(ctx, fd, 8000, 0, 0, nil)
	if graph.Errno(err) != unix.EIO || rr.Data != nil || rr.Release != nil {
		t.Fatalf("failing read: %v, %d bytes, release set %v", err, len(rr.Data), rr.Release != nil)
	}
	if total(reads) != 2 || total(releases) != 2 {
		t.Fatalf("%d reads, %d releases after a failed read, want 2 and 2", total(reads), total(releases))
	}
}
