package posix

import (
	"math/bits"
	"runtime"
	"sync"
	"unsafe"
)

// Read buffers. A readv reply's data is handed to callers that may keep it (the contract lets a
// caller hold it until its next call on the FD, and callers share FDs across goroutines), so
// posix cannot know when a buffer is free again — but the garbage collector can. Large buffers
// carry a finalizer that puts them back on a free list of their size class when nothing refers
// to them any more; the next large readv takes one from there instead of allocating (a fresh
// 1 MiB buffer costs far more than the read itself: zeroing, page faults on memory the runtime
// gave back to the kernel, and garbage collections). A buffer is therefore only reused after
// it is unreachable: never while any caller can still see it.

const (
	minPooledShift = 16 // 64 KiB: below that a fresh allocation is cheap
	maxPooledShift = 25 // 32 MiB, the largest readv
	pooledBytesCap = 64 << 20
)

type bufPool struct {
	mu    sync.Mutex
	free  [maxPooledShift + 1][]*byte // per size class (1<<class bytes): starts of free buffers
	bytes int                         // bytes on the free lists
}

var readBufs bufPool

// readBuf returns a slice of n bytes whose contents are undefined.
func readBuf(n int) []byte {
	if n < 1<<minPooledShift || n > 1<<maxPooledShift {
		return make([]byte, n)
	}
	class := bits.Len(uint(n - 1))
	size := 1 << class
	pl := &readBufs
	var p *byte
	pl.mu.Lock()
	if l := pl.free[class]; len(l) > 0 {
		p = l[len(l)-1]
		l[len(l)-1] = nil
		pl.free[class] = l[:len(l)-1]
		pl.bytes -= size
	}
	pl.mu.Unlock()
	if p == nil {
		p = &make([]byte, size)[0]
	}
	runtime.SetFinalizer(p, recycle[class])
	return unsafe.Slice(p, size)[:n]
}

// recycle[class] is the finalizer of a buffer of that class: back on the free list, unless the
// free lists already hold pooledBytesCap (then the buffer is left to the collector).
var recycle [maxPooledShift + 1]func(*byte)

func init() {
	for c := minPooledShift; c <= maxPooledShift; c++ {
		size := 1 << c
		recycle[c] = func(p *byte) {
			pl := &readBufs
			pl.mu.Lock()
			if pl.bytes+size <= pooledBytesCap {
				pl.free[c] = append(pl.free[c], p)
				pl.bytes += size
			}
			pl.mu.Unlock()
		}
	}
}
