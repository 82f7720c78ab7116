package rpc

import (
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Record marking (RFC 5531 §11): on a byte stream each RPC message is a record made of one or
// more fragments; each fragment starts with a four-byte big-endian header whose high bit marks
// the last fragment of the record and whose other 31 bits are the fragment's length.

// ErrRecordTooLarge is returned (wrapped) when a peer announces a record larger than the
// configured maximum; the connection is closed.
var ErrRecordTooLarge = errors.New("rpc: record exceeds the maximum record size")

// Reservation policy. A fragment header announces how many bytes follow; reserving them all
// at once lets the bytes be read straight into place (a 1 MiB WRITE is never copied to grow its
// buffer), but a header costs the peer four bytes, so memory committed ahead of data is bounded:
//
//   - a fragment needing at most eagerReserve more bytes of buffer gets them at once;
//   - a larger one takes what it needs from a process-wide budget (reserveBudget) and gets the
//     whole fragment reserved; the budget is given back as soon as the fragment's bytes have
//     all arrived (memory then holds data the peer really sent) or the connection closes;
//   - when the budget is spent, the record starts at eagerReserve bytes and grows
//     geometrically as data arrives (a bounded number of copies).
//
// So headers alone commit at most eagerReserve per connection plus the budget for the whole
// process: 1024 connections each announcing a maximum-size record reserve about 64 MiB + 256 MiB,
// not 5 GiB.
const eagerReserve = 64 << 10

// DefaultReserveBudget is the process-wide bound on record memory reserved ahead of data.
const DefaultReserveBudget = 256 << 20

type budget struct{ avail atomic.Int64 }

func newBudget(n int64) *budget {
	b := &budget{}
	b.avail.Store(n)
	return b
}

// take removes n bytes from the budget if that many are available.
func (b *budget) take(n int64) bool {
	for {
		a := b.avail.Load()
		if a < n {
			return false
		}
		if b.avail.CompareAndSwap(a, a-n) {
			return true
		}
	}
}

func (b *budget) give(n int64) { b.avail.Add(n) }

// reserveBudget is shared by every connection of every transport in the process.
var reserveBudget = newBudget(DefaultReserveBudget)

// fragmentHeaderHook, when set (tests), is called for every fragment header accepted.
var fragmentHeaderHook atomic.Pointer[func(flen int)]

// recordReader reassembles records from a byte stream. When a fragment header arrives it
// checks the record's length so far plus the announced fragment length against max, closing
// the stream when it is over (nothing is allocated for it), and otherwise reserves room for the
// fragment as the reservation policy above allows; bytes are read straight into the reserved
// room. A record of several fragments grows geometrically from one fragment to the next (at
// least doubling, never beyond max).
type recordReader struct {
	max      int
	hdr      [4]byte
	hdrN     int
	inFrag   bool
	last     bool
	fragLeft int
	fragEnd  int   // len(rec.B) once the current fragment is complete
	reserved int64 // taken from budget for the current fragment
	budget   *budget
	rec      *Buffer
}

func newRecordReader(max int) recordReader {
	if max <= 0 {
		max = DefaultMaxRecordSize
	}
	return recordReader{max: max, budget: reserveBudget}
}

// next returns where the next bytes of the stream go: the rest of a fragment header, or room
// in the record for the current fragment (grown first when full). It is never empty.
func (r *recordReader) next() []byte {
	if !r.inFrag {
		return r.hdr[r.hdrN:]
	}
	b := r.rec.B
	if len(b) == cap(b) {
		// Only without a full reservation: grow geometrically, at most to the fragment's end.
		r.rec = r.rec.growTo(min(r.fragEnd, max(2*cap(b), len(b)+eagerReserve)))
		b = r.rec.B
	}
	return b[len(b):min(cap(b), r.fragEnd)]
}

// reserve makes room in r.rec for a fragment bringing the record to need bytes (have now).
func (r *recordReader) reserve(have, need int) {
	capNow := 0
	if r.rec != nil {
		capNow = cap(r.rec.B)
	}
	if need <= capNow {
		return
	}
	want := need
	if r.rec != nil {
		// A later fragment: grow geometrically across fragments (a record sent as many small
		// fragments is copied a bounded number of times), bounded by max.
		want = max(need, min(2*capNow, r.max))
	}
	if extra := classSize(bufClass(want)) - capNow; extra > eagerReserve {
		if r.budget.take(int64(extra)) {
			r.reserved = int64(extra)
		} else {
			want = min(need, max(have+eagerReserve, min(2*capNow, r.max)))
		}
	}
	if r.rec == nil {
		r.rec = GetBuffer(want)
	} else {
		r.rec = r.rec.growTo(want)
	}
}

// unreserve gives the current fragment's reservation back to the budget.
func (r *recordReader) unreserve() {
	if r.reserved != 0 {
		r.budget.give(r.reserved)
		r.reserved = 0
	}
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
		if h := fragmentHeaderHook.Load(); h != nil {
			(*h)(flen)
		}
		r.reserve(have, have+flen)
		if r.rec == nil {
			r.rec = GetBuffer(0) // an empty record of empty fragments
		}
		r.fragLeft = flen
		r.fragEnd = have + flen
		r.inFrag = true
	} else {
		r.rec.B = r.rec.B[:len(r.rec.B)+n]
		r.fragLeft -= n
	}
	if r.fragLeft > 0 {
		return nil, nil
	}
	r.inFrag = false
	r.unreserve()
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
	r.unreserve()
	r.rec.Release()
	r.rec = nil
}

// putRecordMark writes the record-marking header of a single-fragment record of n bytes.
func putRecordMark(b []byte, n int) {
	be.PutUint32(b, uint32(n)|lastFragmentBit)
}
