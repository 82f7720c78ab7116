package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
)

// benchGraphs returns a single leaf (storage → features/locks) and distribute 2 × replicate 2
// over four such leaves, both of kind.
func benchGraphs(b *testing.B, kind Kind) (leaf, cluster graph.Xlator) {
	lb := New(b, kind, "")
	leaf = lb.Leaf()
	lb.Activate(leaf)
	cb := New(b, kind, "")
	cluster = Dist2x2(nil)(cb)
	cb.Activate(cluster)
	return leaf, cluster
}

// timeOps runs op n times and returns the time per op.
func timeOps(b *testing.B, n int, op func(i int) error) time.Duration {
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / time.Duration(n)
}

// BenchmarkCreate measures create+close of empty files on distribute 2 × replicate 2 and on a
// single leaf, and reports the cluster's rate and its cost relative to the leaf.
func BenchmarkCreate(b *testing.B) {
	for _, kind := range []Kind{KindMemory, KindPosix} {
		b.Run(string(kind), func(b *testing.B) {
			leaf, cluster := benchGraphs(b, kind)
			ctx := context.Background()
			mk := func(x graph.Xlator, dir *graph.Loc) func(i int) error {
				return func(i int) error {
					fd, _, err := graphtest.Create(ctx, x, dir, fmt.Sprintf("f%07d", i))
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
			cd, err := graphtest.Mkdir(ctx, cluster, graph.RootLoc(), fmt.Sprintf("bench-%d", b.N))
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			c := timeOps(b, b.N, mk(cluster, cd))
			b.StopTimer()
			l := timeOps(b, b.N, mk(leaf, ld))
			b.ReportMetric(float64(time.Second)/float64(c), "creates/s")
			b.ReportMetric(float64(c)/float64(l), "x-leaf-time")
		})
	}
}

// BenchmarkWrite1MiB measures 1 MiB writes (one writev each, rewriting a 16 MiB file) on
// distribute 2 × replicate 2 and on a single leaf: the cluster's throughput and its cost
// relative to the leaf.
func BenchmarkWrite1MiB(b *testing.B) {
	const size = 1 << 20
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for _, kind := range []Kind{KindMemory, KindPosix} {
		b.Run(string(kind), func(b *testing.B) {
			leaf, cluster := benchGraphs(b, kind)
			ctx := context.Background()
			open := func(x graph.Xlator) *graph.FD {
				fd, _, err := graphtest.CreateMode(ctx, x, graph.RootLoc(), "big", unix.O_RDWR|unix.O_CREAT, 0o644)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(fd.Unref)
				return fd
			}
			lfd, cfd := open(leaf), open(cluster)
			wr := func(x graph.Xlator, fd *graph.FD) func(i int) error {
				return func(i int) error {
					_, err := x.Writev(ctx, fd, buf, int64(i%16)*size, 0, nil)
					return err
				}
			}
			b.SetBytes(size)
			b.ResetTimer()
			c := timeOps(b, b.N, wr(cluster, cfd))
			b.StopTimer()
			l := timeOps(b, b.N, wr(leaf, lfd))
			b.ReportMetric(float64(size)/c.Seconds()/(1<<20), "MiB/s")
			b.ReportMetric(float64(c)/float64(l), "x-leaf-time")
		})
	}
}
