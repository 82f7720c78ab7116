package server_test

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv3"
	"github.com/weftfs/weft/gateway/nfstest"
)

// BenchmarkGateway is the loopback load generator: one client connection, iodepth 1, against a
// gateway over storage/posix in a temporary directory. Run:
//
//	go test -run XXX -bench Gateway -benchtime 2s ./gateway/server/
func BenchmarkGateway(b *testing.B) {
	env := nfstest.StartPosix(b, b.TempDir(), nil)
	c, root := env.Client(b, "/gv0")
	ctx := context.Background()
	f, err := c.CreateFH(ctx, root, "bench.bin", 0o644)
	if err != nil {
		b.Fatal(err)
	}
	const fileSize = 64 << 20
	mib := make([]byte, 1<<20)
	k4 := make([]byte, 4096)
	b.Run("seq-write-1MiB", func(b *testing.B) {
		b.SetBytes(1 << 20)
		for i := 0; i < b.N; i++ {
			if _, err := c.Write(ctx, f, uint64(i%64)<<20, mib, nfsv3.UNSTABLE); err != nil {
				b.Fatal(err)
			}
		}
		c.Commit(ctx, f, 0, 0)
	})
	// Make sure the file is full size for the reads.
	for i := 0; i < 64; i++ {
		c.Write(ctx, f, uint64(i)<<20, mib, nfsv3.UNSTABLE)
	}
	b.Run("seq-read-1MiB", func(b *testing.B) {
		b.SetBytes(1 << 20)
		for i := 0; i < b.N; i++ {
			if _, err := c.Read(ctx, f, uint64(i%64)<<20, 1<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
	rnd := rand.New(rand.NewSource(1))
	b.Run("rand-write-4KiB", func(b *testing.B) {
		b.SetBytes(4096)
		for i := 0; i < b.N; i++ {
			if _, err := c.Write(ctx, f, uint64(rnd.Intn(fileSize/4096))*4096, k4, nfsv3.UNSTABLE); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rand-read-4KiB", func(b *testing.B) {
		b.SetBytes(4096)
		for i := 0; i < b.N; i++ {
			if _, err := c.Read(ctx, f, uint64(rnd.Intn(fileSize/4096))*4096, 4096); err != nil {
				b.Fatal(err)
			}
		}
	})
	md, _ := c.Mkdir(ctx, root, "small", nfstest.ModeAttrs(0o755))
	dir, _ := nfstest.CreatedFH(md)
	var handles [][]byte
	b.Run("create-4KiB", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			h, err := c.CreateFH(ctx, dir, fmt.Sprintf("s%d-%d", b.N, i), 0o644)
			if err != nil {
				b.Fatal(err)
			}
			c.Write(ctx, h, 0, k4, nfsv3.FILE_SYNC)
			handles = append(handles, h)
		}
	})
	b.Run("stat", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := c.Attr(ctx, handles[i%len(handles)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("delete", func(b *testing.B) {
		b.StopTimer()
		for i := 0; i < b.N; i++ {
			if _, err := c.CreateFH(ctx, dir, fmt.Sprintf("d%d-%d", b.N, i), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		for i := 0; i < b.N; i++ {
			if res, err := c.Remove(ctx, dir, fmt.Sprintf("d%d-%d", b.N, i)); err != nil || res.GetStatus() != 0 {
				b.Fatalf("REMOVE: %v", err)
			}
		}
	})
}
