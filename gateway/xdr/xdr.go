package xdr

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrShort is returned when a body ends before a value is complete.
var ErrShort = errors.New("xdr: body too short")

// Reader decodes XDR values from a byte slice (RFC 4506 §4). The first error is kept in Err and
// every later read returns a zero value, so a decoder can read a whole structure and check once.
type Reader struct {
	buf []byte
	off int
	err error
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Err returns the first decoding error.
func (r *Reader) Err() error { return r.err }

// Remaining returns the number of bytes not yet consumed.
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

// Fail records err (if no error is recorded yet).
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.buf)-r.off < n {
		r.err = ErrShort
		return nil
	}
	b := r.buf[r.off : r.off+n]
	r.off += n
	return b
}

// Uint32 reads an unsigned integer (§4.2).
func (r *Reader) Uint32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// Int32 reads a signed integer (§4.1).
func (r *Reader) Int32() int32 { return int32(r.Uint32()) }

// Uint64 reads an unsigned hyper integer (§4.5).
func (r *Reader) Uint64() uint64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Bool reads a boolean (§4.4); values other than 0 and 1 are an error.
func (r *Reader) Bool() bool {
	v := r.Uint32()
	if v > 1 {
		r.Fail(fmt.Errorf("xdr: boolean value %d", v))
		return false
	}
	return v == 1
}

// Fixed reads fixed-length opaque data of n bytes plus padding (§4.9). The result aliases the
// input.
func (r *Reader) Fixed(n int) []byte {
	b := r.take(n)
	if b == nil {
		return nil
	}
	r.take(pad(n))
	if r.err != nil {
		return nil
	}
	return b
}

// Opaque reads variable-length opaque data of at most max bytes (§4.10). The result aliases the
// input.
func (r *Reader) Opaque(max uint32) []byte {
	n := r.Uint32()
	if r.err != nil {
		return nil
	}
	if n > max {
		r.Fail(fmt.Errorf("xdr: opaque of %d bytes exceeds maximum %d", n, max))
		return nil
	}
	if int64(n) > int64(r.Remaining()) {
		r.Fail(ErrShort)
		return nil
	}
	return r.Fixed(int(n))
}

// String reads a string of at most max bytes (§4.11). Any bytes are accepted; the caller
// validates names.
func (r *Reader) String(max uint32) string { return string(r.Opaque(max)) }

func pad(n int) int { return (4 - n%4) % 4 }

// Writer appends XDR values to a byte slice.
type Writer struct {
	buf []byte
}

// NewWriter returns a Writer that appends to b (which may be nil).
func NewWriter(b []byte) *Writer { return &Writer{buf: b} }

// Bytes returns the encoded bytes.
func (w *Writer) Bytes() []byte { return w.buf }

// Len returns the number of bytes written so far.
func (w *Writer) Len() int { return len(w.buf) }

// Truncate drops everything after the first n bytes.
func (w *Writer) Truncate(n int) { w.buf = w.buf[:n] }

// Uint32 appends an unsigned integer.
func (w *Writer) Uint32(v uint32) { w.buf = binary.BigEndian.AppendUint32(w.buf, v) }

// Int32 appends a signed integer.
func (w *Writer) Int32(v int32) { w.Uint32(uint32(v)) }

// Uint64 appends an unsigned hyper integer.
func (w *Writer) Uint64(v uint64) { w.buf = binary.BigEndian.AppendUint64(w.buf, v) }

// Bool appends a boolean.
func (w *Writer) Bool(v bool) {
	if v {
		w.Uint32(1)
	} else {
		w.Uint32(0)
	}
}

var zeros [4]byte

// Fixed appends fixed-length opaque data plus padding.
func (w *Writer) Fixed(b []byte) {
	w.buf = append(w.buf, b...)
	w.buf = append(w.buf, zeros[:pad(len(b))]...)
}

// Opaque appends variable-length opaque data.
func (w *Writer) Opaque(b []byte) {
	w.Uint32(uint32(len(b)))
	w.Fixed(b)
}

// String appends a string.
func (w *Writer) String(s string) {
	w.Uint32(uint32(len(s)))
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, zeros[:pad(len(s))]...)
}

// OpaqueSize returns the encoded size of variable-length opaque data of n bytes.
func OpaqueSize(n int) int { return 4 + n + pad(n) }

// Outcomes of a gateway program's Dispatch that are not a reply body; the RPC wiring turns them
// into accept_stat values (RFC 5531 §9: GARBAGE_ARGS, PROC_UNAVAIL).
var (
	ErrGarbageArgs = errors.New("rpc: arguments could not be decoded")
	ErrProcUnavail = errors.New("rpc: procedure unavailable")
)
