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

// Writer appends XDR values to a byte slice. Large opaque data (READ results) can be attached
// without copying with OpaquePayload: the Writer then holds a head (everything encoded by
// value) and payloads that go between parts of the head; Emit hands both to a sink (the RPC
// reply, which writes them with writev) and Bytes flattens them when a single slice is needed.
type Writer struct {
	buf  []byte
	pays []Payload
}

// Payload is variable-length opaque data attached to a Writer by reference (OpaquePayload).
type Payload struct {
	Off     int    // the position in Head where the opaque (length, data, padding) goes
	Data    []byte // the data, not copied
	Release func() // called once when the data is no longer needed (nil: nothing to do)
}

// NewWriter returns a Writer that appends to b (which may be nil).
func NewWriter(b []byte) *Writer { return &Writer{buf: b} }

// Reset empties the Writer, keeping its buffer. Payloads not handed to a Sink by Emit are
// released.
func (w *Writer) Reset() {
	w.buf = w.buf[:0]
	w.releasePayloads(0)
}

func (w *Writer) releasePayloads(from int) {
	for i := from; i < len(w.pays); i++ {
		if f := w.pays[i].Release; f != nil {
			w.pays[i].Release = nil
			f()
		}
	}
	clear(w.pays[from:])
	w.pays = w.pays[:from]
}

// Bytes returns the encoded bytes. Without payloads this is the Writer's buffer itself; with
// payloads it is a new slice with the payloads copied in (use Emit on the hot path).
func (w *Writer) Bytes() []byte {
	if len(w.pays) == 0 {
		return w.buf
	}
	out := make([]byte, 0, w.Len())
	prev := 0
	for _, p := range w.pays {
		out = append(out, w.buf[prev:p.Off]...)
		out = AppendOpaque(out, p.Data)
		prev = p.Off
	}
	return append(out, w.buf[prev:]...)
}

// Head returns the bytes encoded by value, without the payloads (it aliases the Writer).
func (w *Writer) Head() []byte { return w.buf }

// Payloads returns the attached payloads in order (it aliases the Writer).
func (w *Writer) Payloads() []Payload { return w.pays }

// Sink receives a Writer's encoding in order: head bytes by Write, payloads by
// AppendOpaquePayload, which takes over calling release (graph/rpc's Reply is one).
type Sink interface {
	Write(p []byte) (int, error)
	AppendOpaquePayload(data []byte, release func())
}

// Emit sends the encoding to s: head bytes are copied, payload data is passed by reference
// together with its release function, which s calls from then on (Reset no longer does). Emit
// is called at most once per encoding.
func (w *Writer) Emit(s Sink) {
	prev := 0
	for i := range w.pays {
		p := &w.pays[i]
		if p.Off > prev {
			_, _ = s.Write(w.buf[prev:p.Off])
		}
		rel := p.Release
		p.Release = nil
		s.AppendOpaquePayload(p.Data, rel)
		prev = p.Off
	}
	if prev < len(w.buf) || len(w.pays) == 0 {
		_, _ = s.Write(w.buf[prev:])
	}
}

// Len returns the number of bytes written so far, payloads included.
func (w *Writer) Len() int {
	n := len(w.buf)
	for _, p := range w.pays {
		n += OpaqueSize(len(p.Data))
	}
	return n
}

// Truncate drops everything after the first n bytes (as counted by Len). n must not fall
// inside a payload; payloads at or after n are dropped.
func (w *Writer) Truncate(n int) {
	skip := 0 // payload bytes before the cut
	for i, p := range w.pays {
		if p.Off+skip >= n {
			w.releasePayloads(i)
			break
		}
		skip += OpaqueSize(len(p.Data))
	}
	w.buf = w.buf[:n-skip]
}

// OpaquePayload appends variable-length opaque data by reference: b is not copied and must
// stay unchanged until release is called (by Reset or Truncate when the payload is dropped, or
// by the Sink it was emitted to once the data is written). release may be nil.
func (w *Writer) OpaquePayload(b []byte, release func()) {
	w.pays = append(w.pays, Payload{Off: len(w.buf), Data: b, Release: release})
}

// AppendOpaque appends variable-length opaque data (length, bytes, padding) to b.
func AppendOpaque(b, p []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	b = append(b, p...)
	return append(b, zeros[:pad(len(p))]...)
}

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
