package posix

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/weftfs/weft/graph"
)

// patternWord is the 8 bytes stored at absolute file offset off (a multiple of 8) by
// writePattern: every offset of the file holds bytes that no other offset holds.
func patternWord(off int64) uint64 { return uint64(off)*0x9E3779B97F4A7C15 + 0x0123456789ABCDEF }

// writePattern writes a new file of size bytes holding patternWord at every 8-byte offset and
// returns an FD open for reading and writing.
func writePattern(t *testing.T, b *brick, name string, size int64) *graph.FD {
	t.Helper()
	fd, _ := b.create(graph.RootLoc(), name, graph.GFID{})
	if _, err := b.p.Writev(b.ctx, fd, pattern(size), 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	return fd
}

var (
	patMu  sync.Mutex
	patBuf []byte
)

// pattern returns the first size bytes of the pattern (shared: do not modify).
func pattern(size int64) []byte {
	patMu.Lock()
	defer patMu.Unlock()
	if int64(len(patBuf)) < size {
		patBuf = make([]byte, (size+7)&^7)
		for i := 0; i < len(patBuf); i += 8 {
			binary.LittleEndian.PutUint64(patBuf[i:], patternWord(int64(i)))
		}
	}
	return patBuf[:size]
}

// checkPattern returns an error unless data is the pattern from off (a multiple of 8) on.
func checkPattern(data []byte, off int64) error {
	want := pattern(off + int64(len(data)))[off:]
	if bytes.Equal(data, want) {
		return nil
	}
	for i := range data {
		if data[i] != want[i] {
			return fmt.Errorf("byte %d of a %d-byte read at %d: %#x, want %#x", i, len(data), off, data[i], want[i])
		}
	}
	return nil
}

// TestReadvConcurrentSameFD: many goroutines read through ONE FD (as the NFS gateway does) with
// sizes across the pooled classes and beyond, hold each reply a while (yielding to the others,
// whose reads recycle buffers), check its bytes before and after, and release it. A buffer
// handed out again while still held would be overwritten by another read and fail the second
// check.
func TestReadvConcurrentSameFD(t *testing.T) {
	b := newBrick(t, nil)
	const fileSize = 6<<20 + 4096 + 8 // not a multiple of any class: short reads at the end
	fd := writePattern(t, b, "f", fileSize)
	defer fd.Unref()
	sizes := []uint32{100, 4 << 10, 8 << 10, 60 << 10, 64 << 10, 256 << 10, 1 << 20, 2 << 20}
	workers, reads := 8, 80
	if testing.Short() {
		reads = 30
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seed := uint64(w)*2654435761 + 1
			for k := 0; k < reads; k++ {
				seed = seed*6364136223846793005 + 1442695040888963407
				size := sizes[(seed>>33)%uint64(len(sizes))]
				off := int64((seed>>13)%(fileSize/4096+1)) * 4096
				r, err := b.p.Readv(b.ctx, fd, size, off, 0, nil)
				if err != nil {
					errs <- err
					return
				}
				want := min(int64(size), max(0, fileSize-off))
				if int64(len(r.Data)) != want || cap(r.Data) != len(r.Data) {
					errs <- fmt.Errorf("read %d at %d: len %d cap %d, want %d", size, off, len(r.Data), cap(r.Data), want)
					return
				}
				if err := checkPattern(r.Data, off); err != nil {
					errs <- err
					return
				}
				for y := 0; y < 3; y++ {
					runtime.Gosched()
				}
				if err := checkPattern(r.Data, off); err != nil {
					errs <- fmt.Errorf("held buffer changed: %w", err)
					return
				}
				if k%3 == 0 {
					c := r // a copy: releasing through both is one release
					c.Done()
				}
				r.Done()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestReadvBufferReuse: a released buffer serves a later read of its size class (a pool hit)
// with that read's data; a held one never does; reads outside the pooled classes have no
// Release.
func TestReadvBufferReuse(t *testing.T) {
	b := newBrick(t, nil)
	fd := writePattern(t, b, "f", 4<<20)
	defer fd.Unref()
	read := func(size uint32, off int64) graph.ReadReply {
		t.Helper()
		r, err := b.p.Readv(b.ctx, fd, size, off, 0, nil)
		if err != nil || len(r.Data) != int(size) {
			t.Fatalf("read %d at %d: %d bytes, %v", size, off, len(r.Data), err)
		}
		if err := checkPattern(r.Data, off); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, size := range []uint32{4 << 10, 64 << 10, 1 << 20} {
		hit := false
		// sync.Pool may drop a buffer (at a collection; at random under the race detector), so
		// a few rounds are allowed; one hit is what counts.
		for i := 0; i < 50 && !hit; i++ {
			r := read(size, 0)
			if r.Release == nil {
				t.Fatalf("read of %d bytes has no Release", size)
			}
			p := &r.Data[0]
			r.Done()
			r2 := read(size, int64(size)) // other data into the recycled buffer
			hit = &r2.Data[0] == p
			r2.Done()
		}
		if !hit {
			t.Errorf("%d-byte reads: a released buffer was never reused in 50 rounds", size)
		}
	}
	// A read whose size is below a class's size reuses that class's buffer, and sees only its
	// own bytes.
	r := read(1<<20, 0)
	r.Done()
	r = read(700<<10, 8)
	if cap(r.Data) != len(r.Data) {
		t.Fatalf("cap %d beyond the %d bytes read", cap(r.Data), len(r.Data))
	}
	r.Done()
	for _, size := range []uint32{100, 4<<10 - 1, 1<<20 + 1, 3 << 20} {
		if r := read(size, 16); r.Release != nil {
			t.Errorf("read of %d bytes: Release set outside the pooled classes", size)
		}
	}
}

// TestReadvNoReleaseIsSafe: a reply that is never released keeps its bytes through many
// released reads of the same class and collections (its buffer is never handed out again), and
// releasing a reply twice (through copies) puts its buffer back once.
func TestReadvNoReleaseIsSafe(t *testing.T) {
	b := newBrick(t, nil)
	fd := writePattern(t, b, "f", 2<<20)
	defer fd.Unref()
	held, err := b.p.Readv(b.ctx, fd, 64<<10, 4096, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		r, err := b.p.Readv(b.ctx, fd, 64<<10, int64(i%16)*(64<<10), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if &r.Data[0] == &held.Data[0] {
			t.Fatal("a buffer still held was handed out again")
		}
		r.Done()
		if i%50 == 0 {
			runtime.GC()
		}
	}
	if err := checkPattern(held.Data, 4096); err != nil {
		t.Fatalf("unreleased reply changed: %v", err)
	}
	runtime.GC() // held is dropped without Release from here: left to the collector

	for i := 0; i < 20; i++ {
		r, err := b.p.Readv(b.ctx, fd, 64<<10, 0, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := r
		r.Done()
		c.Done() // stale second release: must not put the buffer back again
		r.Done() // cleared by the first Done: nothing
		x, err1 := b.p.Readv(b.ctx, fd, 64<<10, 0, 0, nil)
		y, err2 := b.p.Readv(b.ctx, fd, 64<<10, 64<<10, 0, nil)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if &x.Data[0] == &y.Data[0] {
			t.Fatal("a buffer released twice was handed to two readers")
		}
		if err := checkPattern(x.Data, 0); err != nil {
			t.Fatal(err)
		}
		x.Done()
		y.Done()
	}
}
