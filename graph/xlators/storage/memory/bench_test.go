package memory_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
)

func BenchmarkWritev4K(b *testing.B) {
	m := graphtest.Memory(b)
	ctx := context.Background()
	fd, _, err := graphtest.Create(ctx, m, graph.RootLoc(), "f")
	if err != nil {
		b.Fatal(err)
	}
	defer fd.Unref()
	buf := make([]byte, 4096)
	b.SetBytes(4096)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Writev(ctx, fd, buf, int64(i%4096)*4096, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadv4K(b *testing.B) {
	m := graphtest.Memory(b)
	ctx := context.Background()
	fd, _, err := graphtest.Create(ctx, m, graph.RootLoc(), "f")
	if err != nil {
		b.Fatal(err)
	}
	defer fd.Unref()
	if err := graphtest.WriteAll(ctx, m, fd, make([]byte, 16<<20), 0); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(4096)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Readv(ctx, fd, 4096, int64(i%4096)*4096, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	m := graphtest.Memory(b)
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		if _, err := m.Mknod(ctx, graph.RootLoc().Child(fmt.Sprint(i)), unix.S_IFREG|0o644, 0, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Lookup(ctx, graph.RootLoc().Child(fmt.Sprint(i%1000)), nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreateParallel(b *testing.B) {
	m := graphtest.Memory(b)
	ctx := context.Background()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			fd, _, err := graphtest.Create(ctx, m, graph.RootLoc(), fmt.Sprint(n.Add(1)))
			if err != nil {
				b.Error(err)
				return
			}
			fd.Unref()
		}
	})
}
