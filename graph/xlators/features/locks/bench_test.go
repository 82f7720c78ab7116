package locks

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/weftfs/weft/graph"
)

// BenchmarkSetlkUnlock measures an uncontended lock/unlock pair, each goroutine on its own file.
func BenchmarkSetlkUnlock(b *testing.B) {
	x, _ := newStack(b, nil)
	var id atomic.Int32
	b.RunParallel(func(pb *testing.PB) {
		fd := newFD(graph.NewGFID())
		defer fd.Unref()
		ctx := as("c", string(rune('A'+id.Add(1))))
		for pb.Next() {
			if _, _, err := x.Lk(ctx, fd, graph.SetLk, wr(0, 100), nil); err != nil {
				b.Fatal(err)
			}
			if _, _, err := x.Lk(ctx, fd, graph.SetLk, un(0, 100), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSetlkwHandoff measures contended write locks on one range: every acquisition by one
// owner waits for the other's unlock (a blocked-waiter wake-up per iteration when contended).
func BenchmarkSetlkwHandoff(b *testing.B) {
	x, _ := newStack(b, nil)
	fd := newFD(graph.NewGFID())
	defer fd.Unref()
	var id atomic.Int32
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		ctx := as("c", string(rune('A'+id.Add(1))))
		for pb.Next() {
			if _, _, err := x.Lk(ctx, fd, graph.SetLkW, wr(0, 0), nil); err != nil {
				b.Fatal(err)
			}
			if _, _, err := x.Lk(ctx, fd, graph.SetLk, un(0, 0), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkInodelk measures an inodelk lock/unlock pair in one domain (AFR's hot path).
func BenchmarkInodelk(b *testing.B) {
	x, _ := newStack(b, nil)
	g := graph.NewGFID()
	ctx := context.Background()
	ctx = graph.WithCreds(ctx, &graph.Creds{ClientID: "c", LkOwner: []byte("o")})
	l := &graph.Loc{GFID: g}
	for b.Loop() {
		if _, err := x.Inodelk(ctx, "gv0-replicate-0", l, graph.SetLk, wr(0, 0), nil); err != nil {
			b.Fatal(err)
		}
		if _, err := x.Inodelk(ctx, "gv0-replicate-0", l, graph.SetLk, un(0, 0), nil); err != nil {
			b.Fatal(err)
		}
	}
}
