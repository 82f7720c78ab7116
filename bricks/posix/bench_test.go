package posix

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Each benchmark times the same work through the translator and with direct syscalls on the
// same brick directory, and reports translator/direct as "ratio" (1.0 = no overhead).

func benchBrick(b *testing.B) (*Posix, string) {
	dir := b.TempDir()
	requireTrustedXattrs(b, dir)
	p, err := New("bench", map[string]string{"directory": dir, "health-check-interval": "0", "reserve": "0"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	g, err := graph.NewGraph(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Activate(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(g.Fini)
	return p, dir
}

// timed runs fn n times and returns the time per run.
func timed(n int, fn func(i int)) time.Duration {
	start := time.Now()
	for i := 0; i < n; i++ {
		fn(i)
	}
	return time.Since(start) / time.Duration(n)
}

func report(b *testing.B, xl, direct time.Duration) {
	b.ReportMetric(float64(xl.Nanoseconds()), "xlator-ns/op")
	b.ReportMetric(float64(direct.Nanoseconds()), "direct-ns/op")
	b.ReportMetric(float64(xl)/float64(direct), "ratio")
}

func BenchmarkStat(b *testing.B) {
	p, dir := benchBrick(b)
	ctx := context.Background()
	fd := graph.NewFD(nil, graph.GFID{}, 0)
	r, err := p.Create(ctx, graph.RootLoc().Child("f"), unix.O_RDWR|unix.O_CREAT, 0644, 0, fd, nil)
	if err != nil {
		b.Fatal(err)
	}
	fd.Unref()
	loc := &graph.Loc{GFID: r.Stat.GFID}
	path := dir + "/f"
	b.ResetTimer()
	xl := timed(b.N, func(int) {
		if _, _, err := p.Stat(ctx, loc, nil); err != nil {
			b.Fatal(err)
		}
	})
	var gbuf [16]byte
	direct := timed(b.N, func(int) { // the same information: stat + the gfid xattr
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			b.Fatal(err)
		}
		unix.Lgetxattr(path, GFIDXattr, gbuf[:])
	})
	report(b, xl, direct)
}

func BenchmarkCreateUnlink(b *testing.B) {
	p, dir := benchBrick(b)
	ctx := context.Background()
	b.ResetTimer()
	xl := timed(b.N, func(int) {
		fd := graph.NewFD(nil, graph.GFID{}, 0)
		if _, err := p.Create(ctx, graph.RootLoc().Child("x"), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0644, 0, fd, nil); err != nil {
			b.Fatal(err)
		}
		fd.Unref()
		if _, err := p.Unlink(ctx, graph.RootLoc().Child("x"), 0, nil); err != nil {
			b.Fatal(err)
		}
	})
	direct := timed(b.N, func(int) {
		f, err := unix.Open(dir+"/y", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0644)
		if err != nil {
			b.Fatal(err)
		}
		unix.Close(f)
		if err := unix.Unlink(dir + "/y"); err != nil {
			b.Fatal(err)
		}
	})
	report(b, xl, direct)
}

func benchRW(b *testing.B, size int) {
	p, dir := benchBrick(b)
	ctx := context.Background()
	fd := graph.NewFD(nil, graph.GFID{}, 0)
	defer fd.Unref()
	if _, err := p.Create(ctx, graph.RootLoc().Child("f"), unix.O_RDWR|unix.O_CREAT, 0644, 0, fd, nil); err != nil {
		b.Fatal(err)
	}
	kfd, err := unix.Open(dir+"/g", unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0644)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(kfd)
	data := make([]byte, size)
	const span = 64 << 20
	b.SetBytes(int64(2 * size))
	b.ResetTimer()
	xl := timed(b.N, func(i int) {
		off := int64(i*size) % span
		if _, err := p.Writev(ctx, fd, data, off, 0, nil); err != nil {
			b.Fatal(err)
		}
		if r, err := p.Readv(ctx, fd, uint32(size), off, 0, nil); err != nil || len(r.Data) != size {
			b.Fatal(err)
		}
	})
	buf := make([]byte, size)
	direct := timed(b.N, func(i int) {
		off := int64(i*size) % span
		if _, err := unix.Pwrite(kfd, data, off); err != nil {
			b.Fatal(err)
		}
		if _, err := unix.Pread(kfd, buf, off); err != nil {
			b.Fatal(err)
		}
	})
	report(b, xl, direct)
}

func BenchmarkWriteRead4K(b *testing.B) { benchRW(b, 4<<10) }
func BenchmarkWriteRead1M(b *testing.B) { benchRW(b, 1<<20) }
