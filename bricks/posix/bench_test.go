package posix_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// The overhead benchmarks (issue 2): the same benchmark runs a file operation through a brick
// graph and with direct syscalls on the same directory, interleaved, and reports graph/direct
// as "ratio" (wall time), "cpu-ratio" (CPU time of the benchmark thread, user + kernel: far less
// noisy on a shared machine) and the syscalls per operation of each side (exact counts).
// Targets: ≤ 1.3× for 1 MiB I/O, ≤ 2× for metadata ops.
//
// Two graphs are measured: "graph" is storage/posix → features/locks → debug/io-stats built
// from a volfile (what a brick runs below protocol/server), "posix" the leaf alone, so the cost
// of the stack above posix can be told from posix's own.
//
//	go test -run '^$' -bench Overhead -benchtime 2000x ./bricks/posix/

// benchTop returns the top of the graph named by kind and the brick directory.
func benchTop(b *testing.B, kind string) (graph.Xlator, string) {
	b.Helper()
	switch kind {
	case "graph":
		g, brick := buildStack(b, false)
		return g.Top, brick
	case "posix":
		dir := filepath.Join(b.TempDir(), "brick")
		if err := os.Mkdir(dir, 0755); err != nil {
			b.Fatal(err)
		}
		x, err := graph.Construct("storage/posix", "posix", map[string]string{
			"directory": dir, "health-check-interval": "0", "reserve": "0"}, zap.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		g, err := graph.NewGraph(x)
		if err != nil {
			b.Fatal(err)
		}
		if err := g.Activate(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(g.Fini)
		return x, dir
	}
	b.Fatalf("unknown graph %q", kind)
	return nil, ""
}

var kinds = []string{"graph", "posix"}

// openDir opens the brick directory for the direct side's *at calls.
func openDir(b *testing.B, dir string) int {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(fd) })
	return fd
}

// BenchmarkOverheadStat: a nameless stat by GFID (how NFS reaches a file) against fstatat +
// fgetxattr(trusted.gfid) of the name — the same information (stat(2) plus the GFID).
func BenchmarkOverheadStat(b *testing.B) {
	for _, kind := range kinds {
		b.Run(kind, func(b *testing.B) {
			top, dir := benchTop(b, kind)
			ctx := context.Background()
			fd := graph.NewFD(nil, graph.GFID{}, 0)
			r, err := top.Create(ctx, graph.RootLoc().Child("f"), unix.O_RDWR|unix.O_CREAT, 0644, 0, fd, nil)
			if err != nil {
				b.Fatal(err)
			}
			fd.Unref()
			loc := &graph.Loc{GFID: r.Stat.GFID}
			dfd := openDir(b, dir)
			path := dir + "/f"
			var gbuf [16]byte
			compare(b, 32, func(int) {
				if _, _, err := top.Stat(ctx, loc, nil); err != nil {
					b.Fatal(err)
				}
			}, func(int) {
				var st unix.Stat_t
				if err := unix.Fstatat(dfd, "f", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					b.Fatal(err)
				}
				if _, err := unix.Lgetxattr(path, "trusted.gfid", gbuf[:]); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkOverheadCreateUnlink: create (O_CREAT|O_EXCL), release the fd, unlink; against
// openat(O_CREAT|O_EXCL) + close + unlinkat in the same directory.
//
// The GFIDs come from gfid-req (as distribute and replicate always send it), cycling through
// 256 of them, so the measurement is of a brick in its steady state, where the handle hash
// directories .glusterfs/<pp>/<qq> exist: the first file of each of the 65536 pairs pays two
// mkdirat(2) more, once in the brick's life.
//
// The "floor" sub-benchmark runs, with direct syscalls, the least the on-brick format needs for
// the same work — openat(O_TMPFILE), fsetxattr(trusted.gfid), linkat of the handle, linkat of
// the name, close; unlinkat of the name and of the handle — against the same baseline: the
// ratio no implementation of the format can beat on this file system.
func BenchmarkOverheadCreateUnlink(b *testing.B) {
	gfids := make([]graph.Xdata, 256)
	for i := range gfids {
		g := graph.NewGFID()
		gfids[i] = graph.Xdata{"gfid-req": g[:]}
	}
	b.Run("floor", func(b *testing.B) { benchCreateFloor(b, gfids) })
	for _, kind := range kinds {
		b.Run(kind, func(b *testing.B) {
			top, dir := benchTop(b, kind)
			ctx := context.Background()
			dfd := openDir(b, dir)
			loc := graph.RootLoc().Child("x")
			compare(b, 16, func(i int) {
				fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL)
				if _, err := top.Create(ctx, loc, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0644, 0, fd, gfids[i%len(gfids)]); err != nil {
					b.Fatal(err)
				}
				fd.Unref()
				if _, err := top.Unlink(ctx, loc, 0, nil); err != nil {
					b.Fatal(err)
				}
			}, func(int) {
				f, err := unix.Openat(dfd, "y", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0644)
				if err != nil {
					b.Fatal(err)
				}
				unix.Close(f)
				if err := unix.Unlinkat(dfd, "y", 0); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// benchCreateFloor is the format's minimal create+unlink with direct syscalls (see above).
func benchCreateFloor(b *testing.B, gfids []graph.Xdata) {
	dir := filepath.Join(b.TempDir(), "brick")
	if err := os.Mkdir(dir, 0755); err != nil {
		b.Fatal(err)
	}
	dfd := openDir(b, dir)
	handles := make([]string, len(gfids))
	for i, x := range gfids {
		g := graph.GFID(x["gfid-req"])
		s := g.String()
		hd := ".glusterfs/" + s[0:2] + "/" + s[2:4]
		if err := os.MkdirAll(filepath.Join(dir, hd), 0700); err != nil {
			b.Fatal(err)
		}
		handles[i] = hd + "/" + s
	}
	compare(b, 16, func(i int) {
		g := gfids[i%len(gfids)]["gfid-req"]
		h := handles[i%len(handles)]
		f, err := unix.Openat(dfd, ".", unix.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, 0644)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Fsetxattr(f, "trusted.gfid", g, unix.XATTR_CREATE); err != nil {
			b.Fatal(err)
		}
		if err := unix.Linkat(f, "", dfd, h, unix.AT_EMPTY_PATH); err != nil {
			b.Fatal(err)
		}
		if err := unix.Linkat(f, "", dfd, "x", unix.AT_EMPTY_PATH); err != nil {
			b.Fatal(err)
		}
		unix.Close(f)
		if err := unix.Unlinkat(dfd, "x", 0); err != nil {
			b.Fatal(err)
		}
		if err := unix.Unlinkat(dfd, h, 0); err != nil {
			b.Fatal(err)
		}
	}, func(int) {
		f, err := unix.Openat(dfd, "y", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0644)
		if err != nil {
			b.Fatal(err)
		}
		unix.Close(f)
		if err := unix.Unlinkat(dfd, "y", 0); err != nil {
			b.Fatal(err)
		}
	})
}

// benchRW: writev of size bytes then readv of them back, at offsets cycling through 64 MiB of a
// file, against pwrite + pread of a second file in the same directory.
func benchRW(b *testing.B, size, batch int) {
	for _, kind := range kinds {
		b.Run(kind, func(b *testing.B) {
			top, dir := benchTop(b, kind)
			ctx := context.Background()
			fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR|unix.O_CREAT)
			defer fd.Unref()
			if _, err := top.Create(ctx, graph.RootLoc().Child("f"), unix.O_RDWR|unix.O_CREAT, 0644, 0, fd, nil); err != nil {
				b.Fatal(err)
			}
			kfd, err := unix.Open(dir+"/g", unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0644)
			if err != nil {
				b.Fatal(err)
			}
			defer unix.Close(kfd)
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(i * 7)
			}
			span := 64 << 20
			if testing.Short() {
				span = 8 << 20
			}
			buf := make([]byte, size)
			b.SetBytes(int64(4 * size)) // both sides write and read size bytes
			compare(b, batch, func(i int) {
				off := int64(i*size) % int64(span)
				if _, err := top.Writev(ctx, fd, data, off, 0, nil); err != nil {
					b.Fatal(err)
				}
				r, err := top.Readv(ctx, fd, uint32(size), off, 0, nil)
				if err != nil || len(r.Data) != size {
					b.Fatalf("readv: %d bytes, %v", len(r.Data), err)
				}
				r.Done() // the buffer goes back to posix's pool, as protocol/server's reply does
			}, func(i int) {
				off := int64(i*size) % int64(span)
				if _, err := unix.Pwrite(kfd, data, off); err != nil {
					b.Fatal(err)
				}
				if n, err := unix.Pread(kfd, buf, off); err != nil || n != size {
					b.Fatalf("pread: %d bytes, %v", n, err)
				}
			})
		})
	}
}

func BenchmarkOverheadWriteRead4K(b *testing.B) { benchRW(b, 4<<10, 16) }
func BenchmarkOverheadWriteRead1M(b *testing.B) { benchRW(b, 1<<20, 1) }
