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

const (
	minBufShift = 9  // 512 bytes
	maxBufShift = 23 // 8 MiB
	numClasses  = maxBufShift - minBufShift + 1
)

var bufPools [numClasses]sync.Pool

func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minBufShift
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
	return &Buffer{B: make([]byte, 0, 1<<(c+minBufShift)), class: int8(c)}
}

// Release returns b to the pool.
func (b *Buffer) Release() {
	if b == nil || b.class < 0 {
		return
	}
	bufPools[b.class].Put(b)
}

// grow returns a buffer holding b's bytes with room for at least n more; b may be released.
func (b *Buffer) grow(n int) *Buffer {
	if cap(b.B)-len(b.B) >= n {
		return b
	}
	nb := GetBuffer(len(b.B) + n)
	nb.B = append(nb.B, b.B...)
	b.Release()
	return nb
}
