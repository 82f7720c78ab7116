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
	// A huge announced length allocates only what arrives.
	rr = newRecordReader(1 << 30)
	if _, err := rr.feed(append(xdr.AppendUint32(nil, 1<<30|lastFragmentBit), 1, 2, 3), func(b *Buffer) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if c := cap(rr.rec.B); c > initialRecordCap {
		t.Fatalf("allocated %d bytes for 3 received", c)
	}
	rr.release()
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
