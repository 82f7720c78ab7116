package server_test

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv3"

	"github.com/weftfs/weft/gateway/nfstest"
)

// BenchmarkGateway is the loopback load generator against a gateway over storage/posix in a
// temporary directory: 1 MiB sequential WRITE (UNSTABLE) and READ, 4 KiB random WRITE and READ,
// small-file CREATE UNCHECKED (+ 4 KiB WRITE), GETATTR and REMOVE, each with 1 and 16 requests in flight
// on ONE connection (ESXi and Linux put a whole mount on one connection). Run:
//
//	go test -run '^$' -bench Gateway -benchtime 2s ./gateway/server/
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
	for i := 0; i < fileSize>>20; i++ {
		if _, err := c.Write(ctx, f, uint64(i)<<20, mib, nfsv3.UNSTABLE); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := c.Commit(ctx, f, 0, 0); err != nil {
		b.Fatal(err)
	}
	md, _ := c.Mkdir(ctx, root, "small", nfstest.ModeAttrs(0o755))
	dir, err := nfstest.CreatedFH(md)
	if err != nil {
		b.Fatal(err)
	}
	var round atomic.Int64 // distinguishes the names of successive runs of a sub-benchmark

	for _, qd := range []int{1, 16} {
		// run calls op(i) for i in [0, b.N) from qd goroutines sharing the connection.
		run := func(b *testing.B, op func(i int) error) {
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, qd)
			for g := 0; g < qd; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1) - 1)
						if i >= b.N {
							return
						}
						if err := op(i); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		status := func(what string, res interface{ GetStatus() nfsv3.Nfsstat3 }, err error) error {
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if st := res.GetStatus(); st != nfsv3.NFS3_OK {
				return fmt.Errorf("%s: status %d", what, st)
			}
			return nil
		}
		b.Run(fmt.Sprintf("seq-write-1MiB/qd=%d", qd), func(b *testing.B) {
			b.SetBytes(1 << 20)
			run(b, func(i int) error {
				return writeErr(c.WriteFast(ctx, f, uint64(i%(fileSize>>20))<<20, mib, 0))
			})
		})
		b.Run(fmt.Sprintf("seq-read-1MiB/qd=%d", qd), func(b *testing.B) {
			b.SetBytes(1 << 20)
			run(b, func(i int) error {
				data, _, st, err := c.ReadFast(ctx, f, uint64(i%(fileSize>>20))<<20, 1<<20)
				if err == nil && st == 0 && len(data) != 1<<20 {
					return fmt.Errorf("short READ: %d bytes", len(data))
				}
				return writeErr(st, 0, 0, err)
			})
		})
		b.Run(fmt.Sprintf("rand-write-4KiB/qd=%d", qd), func(b *testing.B) {
			b.SetBytes(4096)
			run(b, func(i int) error {
				off := uint64(rand.Intn(fileSize/4096)) * 4096
				return writeErr(c.WriteFast(ctx, f, off, k4, 0))
			})
		})
		b.Run(fmt.Sprintf("rand-read-4KiB/qd=%d", qd), func(b *testing.B) {
			b.SetBytes(4096)
			run(b, func(i int) error {
				off := uint64(rand.Intn(fileSize/4096)) * 4096
				_, _, st, err := c.ReadFast(ctx, f, off, 4096)
				return writeErr(st, 0, 0, err)
			})
		})
		var handles [][]byte
		var hmu sync.Mutex
		b.Run(fmt.Sprintf("create-4KiB/qd=%d", qd), func(b *testing.B) {
			r := round.Add(1)
			handles = handles[:0]
			run(b, func(i int) error {
				// UNCHECKED, as Linux sends for open(O_CREAT) without O_EXCL.
				res, err := c.Create(ctx, dir, fmt.Sprintf("c%d-%d", r, i), &nfsv3.Createhow3_UNCHECKED{ObjAttributes: nfstest.ModeAttrs(0o644)})
				if err != nil {
					return err
				}
				h, err := nfstest.CreatedFH(res)
				if err != nil {
					return err
				}
				if err := writeErr(c.WriteFast(ctx, h, 0, k4, 0)); err != nil {
					return err
				}
				hmu.Lock()
				handles = append(handles, h)
				hmu.Unlock()
				return nil
			})
		})
		b.Run(fmt.Sprintf("stat/qd=%d", qd), func(b *testing.B) {
			run(b, func(i int) error {
				res, err := c.Getattr(ctx, handles[i%len(handles)])
				return status("GETATTR", res, err)
			})
		})
		b.Run(fmt.Sprintf("delete/qd=%d", qd), func(b *testing.B) {
			r := round.Add(1)
			b.StopTimer()
			run(b, func(i int) error {
				_, err := c.CreateFH(ctx, dir, fmt.Sprintf("d%d-%d", r, i), 0o644)
				return err
			})
			b.StartTimer()
			run(b, func(i int) error {
				res, err := c.Remove(ctx, dir, fmt.Sprintf("d%d-%d", r, i))
				return status("REMOVE", res, err)
			})
		})
	}
}

// writeErr turns the results of WriteFast (and ReadFast's status) into an error.
func writeErr(st, _, _ uint32, err error) error {
	if err != nil {
		return err
	}
	if st != 0 {
		return fmt.Errorf("NFS status %d", st)
	}
	return nil
}
