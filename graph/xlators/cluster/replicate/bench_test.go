package replicate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
)

// benchGraphs returns one leaf and replicate 3 over three leaves of the same kind (memory:
// features/locks over storage/memory; posix: features/index → features/locks → storage/posix).
func benchGraphs(b *testing.B, kind string) (leaf, afr graph.Xlator) {
	mk := func(name string) graph.Xlator {
		if kind == "memory" {
			return memLeaf(b, name)
		}
		x, _ := posixLeaf(b, name)
		return x
	}
	leaf = mk("leaf")
	graphtest.Activate(b, leaf)
	var kids []graph.Xlator
	for i := 0; i < 3; i++ {
		kids = append(kids, mk(fmt.Sprintf("gv0-client-%d", i)))
	}
	return leaf, afrOver(b, nil, kids...)
}

func timeOps(b *testing.B, n int, op func(i int) error) time.Duration {
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / time.Duration(n)
}

// BenchmarkWrite1MiB: 1 MiB writes rewriting a 16 MiB file, replicate 3 against one leaf
// ("x-leaf-rate" is the replica's throughput as a fraction of the leaf's). make bench runs the
// same comparison in clustertest (BenchmarkWrite1MiB/replicate3/posix), interleaved.
func BenchmarkWrite1MiB(b *testing.B) {
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for _, kind := range []string{"memory", "posix"} {
		b.Run(kind, func(b *testing.B) {
			leaf, afr := benchGraphs(b, kind)
			ctx := context.Background()
			open := func(x graph.Xlator) *graph.FD {
				fd, _, err := graphtest.Create(ctx, x, graph.RootLoc(), "big")
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(fd.Unref)
				return fd
			}
			lfd, afd := open(leaf), open(afr)
			w := func(x graph.Xlator, fd *graph.FD) func(i int) error {
				return func(i int) error { return graphtest.WriteAll(ctx, x, fd, buf, int64(i%16)<<20) }
			}
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			r := timeOps(b, b.N, w(afr, afd))
			b.StopTimer()
			l := timeOps(b, b.N, w(leaf, lfd))
			b.ReportMetric(float64(len(buf))/r.Seconds()/(1<<20), "MiB/s")
			b.ReportMetric(float64(l)/float64(r), "x-leaf-rate")
		})
	}
}

// BenchmarkCreate: create+flush+close of empty files, replicate 3 against one leaf
// ("x-leaf-rate": the replica's create rate as a fraction of the leaf's).
func BenchmarkCreate(b *testing.B) {
	for _, kind := range []string{"memory", "posix"} {
		b.Run(kind, func(b *testing.B) {
			leaf, afr := benchGraphs(b, kind)
			ctx := context.Background()
			mk := func(x graph.Xlator, dir *graph.Loc) func(i int) error {
				return func(i int) error {
					fd, _, err := graphtest.CreateMode(ctx, x, dir, fmt.Sprintf("f%07d", i), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o644)
					if err == nil {
						_, err = x.Flush(ctx, fd, nil)
						fd.Unref()
					}
					return err
				}
			}
			ld, err := graphtest.Mkdir(ctx, leaf, graph.RootLoc(), fmt.Sprintf("bench-%d", b.N))
			if err != nil {
				b.Fatal(err)
			}
			ad, err := graphtest.Mkdir(ctx, afr, graph.RootLoc(), fmt.Sprintf("bench-%d", b.N))
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			r := timeOps(b, b.N, mk(afr, ad))
			b.StopTimer()
			l := timeOps(b, b.N, mk(leaf, ld))
			b.ReportMetric(float64(time.Second)/float64(r), "creates/s")
			b.ReportMetric(float64(l)/float64(r), "x-leaf-rate")
		})
	}
}
