package billyfs_test

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"

	"github.com/weftfs/weft/gateway/billyfs"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
)

// relTap attaches a counting Release to every read reply.
type relTap struct {
	graph.Passthrough
	reads, releases atomic.Int64
}

func (x *relTap) Readv(ctx context.Context, fd *graph.FD, size uint32, off int64, flags uint32, xd graph.Xdata) (graph.ReadReply, error) {
	r, err := x.Passthrough.Readv(ctx, fd, size, off, flags, xd)
	x.reads.Add(1)
	r.Release = func() { x.releases.Add(1) }
	return r, err
}

func init() {
	graph.Register(graph.Registration{Type: "test/billyfs-rel-tap", New: func() graph.Xlator { return &relTap{} }, MinChildren: 1, MaxChildren: 1})
}

// TestReadReleasesBuffers: every read billyfs makes (several per call for a large ReadAt, one
// at EOF) is released once its bytes are in the caller's buffer.
func TestReadReleasesBuffers(t *testing.T) {
	x, err := graph.Construct("test/billyfs-rel-tap", "tap", nil, nil, graphtest.NewMemory(t, "memory", nil))
	if err != nil {
		t.Fatal(err)
	}
	graphtest.Activate(t, x)
	tap := x.(*relTap)
	fs := billyfs.New(x)
	f, err := fs.Create("f")
	must(t, err)
	data := bytes.Repeat([]byte("billy"), 500_000) // 2.5 MB: three 1 MiB chunks
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	must(t, f.Close())
	f, err = fs.Open("f")
	must(t, err)
	defer f.Close()
	got := make([]byte, len(data))
	if n, err := f.ReadAt(got, 0); n != len(data) || (err != nil && err != io.EOF) || !bytes.Equal(got, data) {
		t.Fatalf("ReadAt: %d bytes, %v", n, err)
	}
	if n, err := f.ReadAt(got[:10], int64(len(data))); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt at EOF: %d, %v", n, err)
	}
	if r := tap.reads.Load(); r < 4 || tap.releases.Load() != r {
		t.Fatalf("%d reads, %d releases", r, tap.releases.Load())
	}
}
