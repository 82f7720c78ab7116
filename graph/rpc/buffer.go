package rpc

import (
	"math/bits"
	"sync"
)

// Buffer is a pooled byte buffer. Transports hand each received record to the RPC layer as a
// Buffer, and the RPC layer builds outgoing messages in them. Release returns it to the pool;
// after Release the Buffer and its bytes must not be used.
type Buffer struct {
	B     []byte
	class int8 // pool class, -1 when not pooled
}

// Size classes: powers of two from 512 bytes to 64 KiB, then four classes per power of two up
// to 8 MiB (80K, 96K, 112K, 128K, 160K, ..., 1M, 1.25M, 1.5M, 1.75M, 2M, ...). The quarter
// steps matter for the large records: a 1 MiB WRITE plus its RPC and NFS headers lands in the
// 1.25 MiB class, not in a 2 MiB one. Each class has its own pool, so a record buffer of a
// given size is reused by the next record of that size (no fresh, zeroed allocation).
const (
	minBufShift  = 9  // 512 bytes
	quarterShift = 16 // sizes above 1<<quarterShift get quarter-power-of-two classes
	maxBufShift  = 23 // 8 MiB
	numPow2      = quarterShift - minBufShift + 1
	numClasses   = numPow2 + 4*(maxBufShift-quarterShift)
)

var bufPools [numClasses]sync.Pool

// bufClass returns the smallest class holding n bytes (numClasses or more: none).
func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	e := bits.Len(uint(n - 1)) // 1<<(e-1) < n <= 1<<e
	if e <= quarterShift {
		return e - minBufShift
	}
	q := (n - 1 - 1<<(e-1)) >> (e - 3) // which quarter of (1<<(e-1), 1<<e]: 0..3
	return numPow2 + 4*(e-quarterShift-1) + q
}

// classSize returns the capacity of the buffers of class c.
func classSize(c int) int {
	if c < numPow2 {
		return 1 << (c + minBufShift)
	}
	c -= numPow2
	e := quarterShift + 1 + c/4
	return 1<<(e-1) + (c%4+1)<<(e-3)
}

// GetBuffer returns an empty Buffer with capacity of at least n bytes.
func GetBuffer(n int) *Buffer {
	c := bufClass(n)
	if c >= numClasses {
		return &Buffer{B: make([]byte, 0, n), class: -1}
	}
	if v := bufPools[c].Get(); v != nil {
		b := v.(*Buffer)
		b.B = b.B[:0]
		return b
	}
	return &Buffer{B: make([]byte, 0, classSize(c)), class: int8(c)}
}

// Release returns b to the pool.
func (b *Buffer) Release() {
	if b == nil || b.class < 0 {
		return
	}
	bufPools[b.class].Put(b)
}

// grow returns a buffer holding b's bytes with room for at least n more; b may be released.
// A buffer that must move at least doubles, so a message built by many small appends is
// copied a bounded number of times.
func (b *Buffer) grow(n int) *Buffer {
	if cap(b.B)-len(b.B) >= n {
		return b
	}
	return b.growTo(max(len(b.B)+n, 2*cap(b.B)))
}

// growTo returns a buffer holding b's bytes with a capacity of at least size (exactly the
// class of size when it moves); b may be released.
func (b *Buffer) growTo(size int) *Buffer {
	if cap(b.B) >= size {
		return b
	}
	nb := GetBuffer(size)
	nb.B = append(nb.B, b.B...)
	b.Release()
	return nb
}
