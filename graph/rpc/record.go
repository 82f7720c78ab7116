package rpc

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Record marking (RFC 5531 §11): on a byte stream each RPC message is a record made of one or
// more fragments; each fragment starts with a four-byte big-endian header whose high bit marks
// the last fragment of the record and whose other 31 bits are the fragment's length.

// ErrRecordTooLarge is returned (wrapped) when a peer announces a record larger than the
// configured maximum; the connection is closed.
var ErrRecordTooLarge = errors.New("rpc: record exceeds the maximum record size")

// recordReader reassembles records from a byte stream. When a fragment header arrives it
// checks the record's length so far plus the announced fragment length against max, closing
// the stream when it is over (nothing is allocated for it), and otherwise reserves room for the
// whole fragment at once, so the fragment's bytes are read straight into place and never
// copied again. A record of several fragments grows geometrically from one fragment to the
// next (at least doubling, never beyond max). Allocation is therefore bounded by max (rounded
// up to the buffer's size class) per connection, whatever the peer announces.
type recordReader struct {
	max      int
	hdr      [4]byte
	hdrN     int
	inFrag   bool
	last     bool
	fragLeft int
	rec      *Buffer
}

func newRecordReader(max int) recordReader {
	if max <= 0 {
		max = DefaultMaxRecordSize
	}
	return recordReader{max: max}
}

// next returns where the next bytes of the stream go: the rest of a fragment header, or the
// room reserved in the record for the rest of the current fragment. It is never empty.
func (r *recordReader) next() []byte {
	if !r.inFrag {
		return r.hdr[r.hdrN:]
	}
	b := r.rec.B
	return b[len(b) : len(b)+r.fragLeft]
}

// advance records that n bytes were written into the slice last returned by next. It returns
// a complete record (whose ownership passes to the caller) or an error, after which the stream
// is unusable.
func (r *recordReader) advance(n int) (*Buffer, error) {
	if !r.inFrag {
		r.hdrN += n
		if r.hdrN < 4 {
			return nil, nil
		}
		r.hdrN = 0
		v := be.Uint32(r.hdr[:])
		r.last = v&lastFragmentBit != 0
		flen := int(v &^ lastFragmentBit)
		have := 0
		if r.rec != nil {
			have = len(r.rec.B)
		}
		if flen > r.max-have {
			return nil, fmt.Errorf("%w: fragment of %d bytes after %d, maximum %d: %w", ErrRecordTooLarge, flen, have, r.max, unix.EMSGSIZE)
		}
		need := have + flen // <= r.max
		switch {
		case r.rec == nil:
			r.rec = GetBuffer(need)
		case cap(r.rec.B) < need:
			// A later fragment: grow geometrically across fragments (a record sent as many
			// small fragments is copied a bounded number of times), bounded by max.
			r.rec = r.rec.growTo(max(need, min(2*cap(r.rec.B), r.max)))
		}
		r.fragLeft = flen
		r.inFrag = true
	} else {
		r.rec.B = r.rec.B[:len(r.rec.B)+n]
		r.fragLeft -= n
	}
	if r.fragLeft > 0 {
		return nil, nil
	}
	r.inFrag = false
	if !r.last {
		return nil, nil
	}
	rec := r.rec
	r.rec = nil
	return rec, nil
}

// feed consumes stream bytes from p, calling emit for every complete record (emit takes
// ownership). It stops early when emit returns false and reports how many bytes it consumed.
func (r *recordReader) feed(p []byte, emit func(*Buffer) bool) (int, error) {
	consumed := 0
	for len(p) > 0 {
		dst := r.next()
		n := copy(dst, p)
		p = p[n:]
		consumed += n
		rec, err := r.advance(n)
		if err != nil {
			return consumed, err
		}
		if rec != nil && !emit(rec) {
			return consumed, nil
		}
	}
	return consumed, nil
}

// pending reports whether a partial record or fragment header is buffered.
func (r *recordReader) pending() bool { return r.inFrag || r.hdrN > 0 || r.rec != nil }

// release frees a partial record.
func (r *recordReader) release() {
	r.rec.Release()
	r.rec = nil
}

// putRecordMark writes the record-marking header of a single-fragment record of n bytes.
func putRecordMark(b []byte, n int) {
	be.PutUint32(b, uint32(n)|lastFragmentBit)
}
