package proto

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Limits on decoded sizes. Every variable-length item is also bounded by the bytes remaining in
// the record.
const (
	MaxName      = 255      // a directory entry name (NAME_MAX)
	MaxPath      = 4096     // a path or symlink target (PATH_MAX)
	MaxKey       = 255      // an xattr / xdata key (XATTR_NAME_MAX)
	MaxValue     = 65536    // an xattr / xdata value (XATTR_SIZE_MAX)
	MaxXdata     = 4096     // entries of one dictionary
	MaxOwner     = 1024     // a lock owner (GF_MAX_LOCK_OWNER_LEN)
	MaxData      = 16 << 20 // the data of one read or write
	MaxDirents   = 1 << 16  // entries of one readdir reply
	MaxID        = 256      // a client id or volume name in the handshake
	MaxProof     = 64       // an HMAC in the handshake
	NonceSize    = 32       // handshake nonces
	MaxChecksum  = 64       // rchecksum's strong checksum
	minDirentLen = 4 + 8 + 8 + 4 + iattSize + 4
	iattSize     = 16 + 8 + 8 + 4*4 + 8 + 8 + 4 + 8 + 3*12 + 4
)

// ErrMalformed is wrapped by every decoding error. Errors also wrap unix.EBADMSG so that
// graph.Errno reports them as such.
var ErrMalformed = errors.New("proto: malformed XDR")

type decodeError struct{ msg string }

func (e *decodeError) Error() string        { return "proto: malformed XDR: " + e.msg }
func (e *decodeError) Is(target error) bool { return target == ErrMalformed || target == unix.EBADMSG }
func (e *decodeError) Unwrap() error        { return unix.EBADMSG }

// Encoder appends XDR items (RFC 4506 §4) to Buf.
type Encoder struct {
	Buf []byte
}

// Uint32 appends an unsigned integer (RFC 4506 §4.2).
func (e *Encoder) Uint32(v uint32) { e.Buf = binary.BigEndian.AppendUint32(e.Buf, v) }

// Int32 appends an integer (RFC 4506 §4.1).
func (e *Encoder) Int32(v int32) { e.Uint32(uint32(v)) }

// Uint64 appends an unsigned hyper integer (RFC 4506 §4.5).
func (e *Encoder) Uint64(v uint64) { e.Buf = binary.BigEndian.AppendUint64(e.Buf, v) }

// Int64 appends a hyper integer (RFC 4506 §4.5).
func (e *Encoder) Int64(v int64) { e.Uint64(uint64(v)) }

// Bool appends a boolean (RFC 4506 §4.4).
func (e *Encoder) Bool(v bool) {
	if v {
		e.Uint32(1)
	} else {
		e.Uint32(0)
	}
}

// Fixed appends fixed-length opaque data (RFC 4506 §4.9), padded to a multiple of four.
func (e *Encoder) Fixed(b []byte) {
	e.Buf = append(e.Buf, b...)
	e.pad(len(b))
}

// Opaque appends variable-length opaque data (RFC 4506 §4.10).
func (e *Encoder) Opaque(b []byte) {
	e.Uint32(uint32(len(b)))
	e.Fixed(b)
}

// String appends a string (RFC 4506 §4.11).
func (e *Encoder) String(s string) {
	e.Uint32(uint32(len(s)))
	e.Buf = append(e.Buf, s...)
	e.pad(len(s))
}

func (e *Encoder) pad(n int) {
	if r := n & 3; r != 0 {
		e.Buf = append(e.Buf, make([]byte, 4-r)...)
	}
}

// padLen returns the XDR padding after n bytes.
func padLen(n int) int { return (4 - n&3) & 3 }

// Decoder reads XDR items from a record. The first error sticks: later reads return zero values,
// and Err reports it. Opaque data is returned as sub-slices of the record.
type Decoder struct {
	buf []byte
	off int
	err error
}

// NewDecoder returns a decoder over b.
func NewDecoder(b []byte) *Decoder { return &Decoder{buf: b} }

// Err returns the first decoding error.
func (d *Decoder) Err() error { return d.err }

// Remaining returns the number of undecoded bytes.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

// Finish returns the first error, or an error if bytes remain undecoded.
func (d *Decoder) Finish() error {
	if d.err == nil && d.off != len(d.buf) {
		d.fail("%d trailing bytes", len(d.buf)-d.off)
	}
	return d.err
}

func (d *Decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = &decodeError{fmt.Sprintf(format, args...)}
	}
	d.off = len(d.buf)
}

func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf)-d.off {
		d.fail("need %d bytes at offset %d, have %d", n, d.off, len(d.buf)-d.off)
		return nil
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b
}

// Uint32 reads an unsigned integer.
func (d *Decoder) Uint32() uint32 {
	b := d.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// Int32 reads an integer.
func (d *Decoder) Int32() int32 { return int32(d.Uint32()) }

// Uint64 reads an unsigned hyper integer.
func (d *Decoder) Uint64() uint64 {
	b := d.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Int64 reads a hyper integer.
func (d *Decoder) Int64() int64 { return int64(d.Uint64()) }

// Bool reads a boolean; values other than 0 and 1 are malformed (RFC 4506 §4.4).
func (d *Decoder) Bool() bool {
	v := d.Uint32()
	if v > 1 {
		d.fail("bool %d", v)
		return false
	}
	return v == 1
}

// Fixed reads n bytes of fixed-length opaque data and its padding; the padding must be zero.
func (d *Decoder) Fixed(n int) []byte {
	b := d.take(n)
	if p := padLen(n); p != 0 && d.err == nil {
		pb := d.take(p)
		for _, c := range pb {
			if c != 0 {
				d.fail("non-zero padding")
				return nil
			}
		}
	}
	if d.err != nil {
		return nil
	}
	return b
}

// Opaque reads variable-length opaque data of at most max bytes, as a sub-slice of the record.
func (d *Decoder) Opaque(max int) []byte {
	n := d.Uint32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(max) {
		d.fail("opaque length %d exceeds %d", n, max)
		return nil
	}
	return d.Fixed(int(n))
}

// OpaqueCopy reads variable-length opaque data into a new slice (nil when empty).
func (d *Decoder) OpaqueCopy(max int) []byte {
	b := d.Opaque(max)
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// String reads a string of at most max bytes.
func (d *Decoder) String(max int) string {
	return string(d.Opaque(max))
}

// Count reads an array length and checks that count elements of at least minSize bytes each can
// remain in the record, and that count ≤ max (RFC 4506 §4.13).
func (d *Decoder) Count(max, minSize int) int {
	n := d.Uint32()
	if d.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) {
		d.fail("array length %d exceeds %d", n, max)
		return 0
	}
	if minSize > 0 && uint64(n)*uint64(minSize) > uint64(d.Remaining()) {
		d.fail("array length %d cannot fit in %d bytes", n, d.Remaining())
		return 0
	}
	return int(n)
}
