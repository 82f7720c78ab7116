package posix

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// Read buffers (GlusterFS's iobuf pool). readv takes its buffer from a pool of its size class
// (powers of two from 4 KiB to 1 MiB; larger reads and reads under 4 KiB get a plain
// allocation) and sets ReadReply.Release to put it back; the final consumer calls it after its
// last use of the data (graph.ReadReply). A fresh 1 MiB buffer costs far more than the read
// itself (zeroing, page faults on memory the runtime gave back to the kernel, collections); a
// recycled one is already mapped.
//
// A buffer that is never released is simply garbage collected. Each hand-out has a generation:
// its Release puts the buffer back only if the generation is unchanged, so a second Release
// (say, from a copy of the reply) does nothing, even after the buffer was handed out again.

const (
	minPooledShift = 12 // 4 KiB
	maxPooledShift = 20 // 1 MiB
)

type readBuffer struct {
	b     []byte // the whole size class
	class int
	gen   atomic.Uint64
}

var readPools [maxPooledShift + 1]sync.Pool // of *readBuffer, by size class

// readBuf returns a slice of n bytes whose contents are undefined, and the function that hands
// it back (nil when n is not pooled).
func readBuf(n int) ([]byte, func()) {
	if n < 1<<minPooledShift || n > 1<<maxPooledShift {
		return make([]byte, n), nil
	}
	class := bits.Len(uint(n - 1))
	rb, _ := readPools[class].Get().(*readBuffer)
	if rb == nil {
		rb = &readBuffer{b: make([]byte, 1<<class), class: class}
	}
	g := rb.gen.Load()
	return rb.b[:n], func() {
		if rb.gen.CompareAndSwap(g, g+1) {
			readPools[rb.class].Put(rb)
		}
	}
}
