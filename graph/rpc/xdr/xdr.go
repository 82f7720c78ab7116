package xdr

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrShort is returned (wrapped) when the input ends before a value is complete.
var ErrShort = errors.New("xdr: short buffer")

// ErrTooLong is returned (wrapped) when a variable-length item exceeds its declared maximum.
var ErrTooLong = errors.New("xdr: item exceeds its maximum length")

// zeros provides XDR padding (RFC 4506 §3: every item is a multiple of four bytes).
var zeros [4]byte

// Pad returns the number of zero bytes that follow n bytes of opaque data (RFC 4506 §4.10).
func Pad(n int) int { return (4 - n&3) & 3 }

// PadBytes returns a read-only slice of zero bytes that pads n bytes of data to a multiple of
// four; it is empty when no padding is needed. Useful as an extra writev segment.
func PadBytes(n int) []byte { return zeros[:Pad(n)] }

// AppendUint32 appends an unsigned int (RFC 4506 §4.2).
func AppendUint32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

// AppendInt32 appends an int (RFC 4506 §4.1).
func AppendInt32(b []byte, v int32) []byte { return AppendUint32(b, uint32(v)) }

// AppendUint64 appends an unsigned hyper (RFC 4506 §4.5).
func AppendUint64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// AppendInt64 appends a hyper (RFC 4506 §4.5).
func AppendInt64(b []byte, v int64) []byte { return AppendUint64(b, uint64(v)) }

// AppendBool appends a bool (RFC 4506 §4.4).
func AppendBool(b []byte, v bool) []byte {
	if v {
		return AppendUint32(b, 1)
	}
	return AppendUint32(b, 0)
}

// AppendFixedOpaque appends fixed-length opaque data and its padding (RFC 4506 §4.9).
func AppendFixedOpaque(b, p []byte) []byte {
	b = append(b, p...)
	return append(b, zeros[:Pad(len(p))]...)
}

// AppendOpaque appends variable-length opaque data: length, data, padding (RFC 4506 §4.10).
func AppendOpaque(b, p []byte) []byte {
	b = AppendUint32(b, uint32(len(p)))
	return AppendFixedOpaque(b, p)
}

// AppendString appends a string (RFC 4506 §4.11).
func AppendString(b []byte, s string) []byte {
	b = AppendUint32(b, uint32(len(s)))
	b = append(b, s...)
	return append(b, zeros[:Pad(len(s))]...)
}

// Decoder reads XDR items from a byte slice. The zero value decodes an empty input.
type Decoder struct {
	b   []byte
	off int
	err error
}

// NewDecoder returns a Decoder over b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Reset makes d decode b from its start, clearing any error.
func (d *Decoder) Reset(b []byte) { *d = Decoder{b: b} }

// Err returns the first error met, or nil.
func (d *Decoder) Err() error { return d.err }

// Offset returns the number of bytes consumed.
func (d *Decoder) Offset() int { return d.off }

// Len returns the number of bytes not yet consumed.
func (d *Decoder) Len() int { return len(d.b) - d.off }

// Rest returns the bytes not yet consumed (aliasing the input) and consumes them.
func (d *Decoder) Rest() []byte {
	if d.err != nil {
		return nil
	}
	r := d.b[d.off:]
	d.off = len(d.b)
	return r
}

func (d *Decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b)-d.off < n {
		d.fail(fmt.Errorf("need %d bytes at offset %d, have %d: %w", n, d.off, len(d.b)-d.off, ErrShort))
		return nil
	}
	p := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return p
}

// Uint32 reads an unsigned int.
func (d *Decoder) Uint32() uint32 {
	p := d.take(4)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

// Int32 reads an int.
func (d *Decoder) Int32() int32 { return int32(d.Uint32()) }

// Uint64 reads an unsigned hyper.
func (d *Decoder) Uint64() uint64 {
	p := d.take(8)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

// Int64 reads a hyper.
func (d *Decoder) Int64() int64 { return int64(d.Uint64()) }

// Bool reads a bool; values other than 0 and 1 are an error (RFC 4506 §4.4).
func (d *Decoder) Bool() bool {
	v := d.Uint32()
	if v > 1 {
		d.fail(fmt.Errorf("xdr: bool value %d at offset %d", v, d.off-4))
		return false
	}
	return v == 1
}

// FixedOpaque reads n bytes of opaque data and skips their padding. The result aliases the input.
func (d *Decoder) FixedOpaque(n int) []byte {
	p := d.take(n)
	if p == nil {
		return nil
	}
	d.take(Pad(n))
	if d.err != nil {
		return nil
	}
	return p
}

// Opaque reads variable-length opaque data of at most max bytes. The result aliases the input.
// The length is validated against max and against the input before anything else happens.
func (d *Decoder) Opaque(max uint32) []byte {
	n := d.Uint32()
	if d.err != nil {
		return nil
	}
	if n > max {
		d.fail(fmt.Errorf("opaque of %d bytes, maximum %d: %w", n, max, ErrTooLong))
		return nil
	}
	return d.FixedOpaque(int(n))
}

// String reads a string of at most max bytes (a copy).
func (d *Decoder) String(max uint32) string { return string(d.Opaque(max)) }
