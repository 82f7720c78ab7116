package rpc

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/weftfs/weft/graph/rpc/xdr"
)

// encodeRecord splits msg into fragments of the given sizes (the rest goes in the last one).
func encodeRecord(msg []byte, sizes ...int) []byte {
	var wire []byte
	for _, n := range sizes {
		n = min(n, len(msg))
		wire = append(xdr.AppendUint32(wire, uint32(n)), msg[:n]...)
		msg = msg[n:]
	}
	return append(xdr.AppendUint32(wire, uint32(len(msg))|lastFragmentBit), msg...)
}

func TestRecordReader(t *testing.T) {
	msgs := [][]byte{nil, []byte("a"), bytes.Repeat([]byte("xyz"), 100000), []byte("last")}
	var wire []byte
	wire = append(wire, encodeRecord(msgs[0])...)
	wire = append(wire, encodeRecord(msgs[1], 0, 0, 0)...)
	wire = append(wire, encodeRecord(msgs[2], 1, 2, 3, 50000, 100000)...)
	wire = append(wire, encodeRecord(msgs[3], 4)...) // zero-length last fragment
	for _, chunk := range []int{1, 3, 7, 4096, len(wire)} {
		rr := newRecordReader(1 << 20)
		var got [][]byte
		for off := 0; off < len(wire); {
			end := min(off+chunk, len(wire))
			p := wire[off:end]
			for len(p) > 0 {
				n, err := rr.feed(p, func(b *Buffer) bool {
					got = append(got, append([]byte(nil), b.B...))
					b.Release()
					return true
				})
				if err != nil {
					t.Fatal(err)
				}
				p = p[n:]
			}
			off = end
		}
		if len(got) != len(msgs) || rr.pending() {
			t.Fatalf("chunk %d: %d records, pending %v", chunk, len(got), rr.pending())
		}
		for i := range msgs {
			if !bytes.Equal(got[i], msgs[i]) {
				t.Fatalf("chunk %d: record %d differs", chunk, i)
			}
		}
	}
	// Pausing: feed stops after the record for which emit returns false.
	rr := newRecordReader(0)
	two := append(encodeRecord([]byte("one")), encodeRecord([]byte("two"))...)
	n, err := rr.feed(two, func(b *Buffer) bool { b.Release(); return false })
	if err != nil || n != 7 {
		t.Fatalf("paused feed consumed %d, %v", n, err)
	}
}

func TestRecordReaderLimits(t *testing.T) {
	rr := newRecordReader(1000)
	_, err := rr.feed(encodeRecord(make([]byte, 1001)), func(b *Buffer) bool { return true })
	if !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("got %v", err)
	}
	// The sum of fragments counts, not each one.
	rr = newRecordReader(1000)
	_, err = rr.feed(encodeRecord(make([]byte, 1200), 600), func(b *Buffer) bool { return true })
	if !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("got %v", err)
	}
	// A huge announced length is refused before anything is allocated for it.
	rr = newRecordReader(1 << 20)
	_, err = rr.feed(append(xdr.AppendUint32(nil, 0x7fffffff|lastFragmentBit), 1, 2, 3), func(b *Buffer) bool { return true })
	if !errors.Is(err, ErrRecordTooLarge) || rr.rec != nil {
		t.Fatalf("got %v, buffer allocated: %v", err, rr.rec != nil)
	}
	// A later fragment that would take the record over the maximum, too; the partial record
	// it would have grown stays as it was.
	rr = newRecordReader(1 << 20)
	_, err = rr.feed(append(encodeRecord(make([]byte, 1000), 1000)[:1004], xdr.AppendUint32(nil, 1<<20-999)...), func(b *Buffer) bool { return true })
	if !errors.Is(err, ErrRecordTooLarge) || rr.rec == nil || cap(rr.rec.B) > 1024 {
		t.Fatalf("got %v", err)
	}
	rr.release()
	// An announced length within the maximum is reserved at once, never beyond the maximum's
	// size class.
	rr = newRecordReader(1 << 20)
	if _, err := rr.feed(append(xdr.AppendUint32(nil, 1<<20|lastFragmentBit), 1, 2, 3), func(b *Buffer) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if c := cap(rr.rec.B); c < 1<<20 || c > classSize(bufClass(1<<20)) {
		t.Fatalf("reserved %d bytes for a fragment of %d", c, 1<<20)
	}
	rr.release()
}

// TestRecordReaderReserves checks that a fragment is read into the room reserved for it when
// its header arrived (one buffer, no copy however the bytes are chunked), and that a record of
// many fragments grows geometrically: few moves, never past the maximum's size class.
func TestRecordReaderReserves(t *testing.T) {
	msg := make([]byte, 1<<20+200) // a 1 MiB WRITE with its headers
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	for _, chunk := range []int{1000, 16 << 10, 64 << 10, len(msg) + 4} {
		rr := newRecordReader(0)
		wire := encodeRecord(msg)
		var got *Buffer
		var first *byte
		for off := 0; off < len(wire); {
			p := wire[off:min(off+chunk, len(wire))]
			n, err := rr.feed(p, func(b *Buffer) bool { got = b; return true })
			if err != nil {
				t.Fatal(err)
			}
			off += n
			if rr.rec != nil {
				if first == nil {
					first = &rr.rec.B[:1][0]
				} else if &rr.rec.B[:1][0] != first {
					t.Fatalf("chunk %d: the record moved while its one fragment was read", chunk)
				}
			}
		}
		if got == nil || !bytes.Equal(got.B, msg) {
			t.Fatalf("chunk %d: record differs", chunk)
		}
		if first != nil && &got.B[0] != first {
			t.Fatalf("chunk %d: record delivered from another buffer", chunk)
		}
		if c := cap(got.B); c != classSize(bufClass(len(msg))) || c > len(msg)*5/4+1 {
			t.Fatalf("chunk %d: capacity %d for %d bytes", chunk, c, len(msg))
		}
		got.Release()
	}

	// 256 fragments of 4 KiB: the buffer moves about log2(256) times, not 256 times.
	const max = 1<<20 + 64<<10
	rr := newRecordReader(max)
	moves := 0
	var last *byte
	var rec *Buffer
	for i := 0; i < 256; i++ {
		hdr := uint32(4096)
		if i == 255 {
			hdr |= lastFragmentBit
		}
		frag := append(xdr.AppendUint32(nil, hdr), make([]byte, 4096)...)
		if _, err := rr.feed(frag, func(b *Buffer) bool { rec = b; return true }); err != nil {
			t.Fatal(err)
		}
		b := rr.rec
		if b == nil {
			b = rec
		}
		if c := cap(b.B); c > classSize(bufClass(max)) {
			t.Fatalf("fragment %d: capacity %d over the maximum's class", i, c)
		}
		if p := &b.B[:1][0]; p != last {
			moves++
			last = p
		}
	}
	if rec == nil || len(rec.B) != 1<<20 {
		t.Fatal("record not reassembled")
	}
	if moves > 10 {
		t.Fatalf("buffer moved %d times for 256 fragments", moves)
	}
	rec.Release()
}

func TestBufferClasses(t *testing.T) {
	prev := 0
	for c := 0; c < numClasses; c++ {
		sz := classSize(c)
		if sz <= prev {
			t.Fatalf("class %d: size %d after %d", c, sz, prev)
		}
		if bufClass(sz) != c || bufClass(sz+1) != c+1 || (c > 0 && bufClass(prev+1) != c) {
			t.Fatalf("class %d (size %d): bufClass(size)=%d, bufClass(size+1)=%d", c, sz, bufClass(sz), bufClass(sz+1))
		}
		if c >= numPow2 && sz > prev*5/4+1 {
			t.Fatalf("class %d: size %d is more than a quarter above %d", c, sz, prev)
		}
		prev = sz
	}
	if prev != 1<<maxBufShift {
		t.Fatalf("largest class %d", prev)
	}
	if b := GetBuffer(1<<maxBufShift + 1); b.class != -1 || cap(b.B) != 1<<maxBufShift+1 {
		t.Fatalf("oversized buffer: class %d, capacity %d", b.class, cap(b.B))
	}
	if b := GetBuffer(1<<20 + 200); cap(b.B) != 1<<20+1<<18 {
		t.Fatalf("1 MiB + 200: capacity %d", cap(b.B))
	}
	// Released large buffers are reused (sync.Pool may drop some, the race detector on
	// purpose, so count rather than require every time).
	reused := 0
	b := GetBuffer(1 << 20)
	for i := 0; i < 100; i++ {
		p := &b.B[:1][0]
		b.Release()
		b = GetBuffer(1<<20 + 100)
		if &b.B[:1][0] == p {
			reused++
		}
	}
	if reused < 50 {
		t.Fatalf("a released 1 MiB buffer was reused %d times in 100", reused)
	}
	// grow at least doubles when it moves; growTo takes the exact class.
	g := GetBuffer(100)
	g.B = append(g.B, 1, 2, 3)
	g = g.grow(600)
	if cap(g.B) != 1024 || !bytes.Equal(g.B, []byte{1, 2, 3}) {
		t.Fatalf("grow: capacity %d, %v", cap(g.B), g.B)
	}
	g = g.growTo(1 << 20)
	if cap(g.B) != 1<<20 || !bytes.Equal(g.B, []byte{1, 2, 3}) {
		t.Fatalf("growTo: capacity %d", cap(g.B))
	}
	g.Release()
}

func TestDecodeAuthSys(t *testing.T) {
	good := AuthSysParms{Stamp: 1, MachineName: "host", UID: 10, GID: 20, GIDs: []uint32{1, 2}}
	var gids [16]uint32
	p, err := DecodeAuthSys(good.Append(nil), gids[:0])
	if err != nil || p.Stamp != 1 || p.MachineName != "host" || p.UID != 10 || p.GID != 20 || len(p.GIDs) != 2 || &p.GIDs[0] != &gids[0] {
		t.Fatalf("%+v %v", p, err)
	}
	full := AuthSysParms{MachineName: strings.Repeat("n", 255), GIDs: make([]uint32, 16)}
	if _, err := DecodeAuthSys(full.Append(nil), nil); err != nil {
		t.Fatalf("limits: %v", err)
	}
	if _, err := full.Auth(); err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"empty":     nil,
		"short":     good.Append(nil)[:10],
		"trailing":  append(good.Append(nil), 0),
		"17 groups": (&AuthSysParms{GIDs: make([]uint32, 17)}).Append(nil),
		"long name": (&AuthSysParms{MachineName: strings.Repeat("n", 256)}).Append(nil),
		"missing gids": func() []byte {
			b := good.Append(nil)
			return b[:len(b)-4]
		}(),
	}
	for name, b := range bad {
		if _, err := DecodeAuthSys(b, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := (&AuthSysParms{GIDs: make([]uint32, 17)}).Auth(); err == nil {
		t.Error("Auth with 17 groups")
	}
}

func TestDecodeCallHeader(t *testing.T) {
	cred := OpaqueAuth{Flavor: AuthSys, Body: []byte{1, 2, 3, 4, 5}}
	msg := rawCall(9, 2, 100003, 3, 6, cred, []byte("args"))
	var h callHeader
	if r := decodeCallHeader(msg, &h); r != hdrOK || h.xid != 9 || h.prog != 100003 || h.vers != 3 || h.proc != 6 ||
		h.cred.Flavor != AuthSys || !bytes.Equal(h.cred.Body, cred.Body) || string(h.args) != "args" {
		t.Fatalf("%v %+v", r, h)
	}
	// Every truncation is classified, never a panic.
	for n := 0; n < len(msg); n++ {
		r := decodeCallHeader(msg[:n], &h)
		want := hdrOK
		switch {
		case n < 12:
			want = hdrClose
		case n < 24:
			want = hdrClose
		case n < 24+8+8:
			want = hdrBadCred
		case n < 24+16+8:
			want = hdrBadVerf
		}
		if r != want {
			t.Fatalf("truncated to %d: %v, want %v", n, r, want)
		}
	}
	huge := append(rawCall(1, 2, 1, 1, 1, NoAuth, nil)[:24], xdr.AppendUint32(xdr.AppendUint32(nil, 1), 401)...)
	if r := decodeCallHeader(append(huge, make([]byte, 404)...), &h); r != hdrBadCred {
		t.Fatalf("401-byte cred: %v", r)
	}
}
