package xdr

import (
	"bytes"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	w := NewWriter(nil)
	w.Uint32(7)
	w.Int32(-2)
	w.Uint64(1 << 40)
	w.Bool(true)
	w.String("héllo")
	w.Opaque([]byte{1, 2, 3})
	w.Fixed([]byte{9, 9, 9, 9, 9})
	if w.Len()%4 != 0 {
		t.Fatalf("length %d not a multiple of 4", w.Len())
	}
	r := NewReader(w.Bytes())
	if r.Uint32() != 7 || r.Int32() != -2 || r.Uint64() != 1<<40 || !r.Bool() {
		t.Fatal("scalar mismatch")
	}
	if s := r.String(255); s != "héllo" {
		t.Fatalf("string %q", s)
	}
	if b := r.Opaque(3); !bytes.Equal(b, []byte{1, 2, 3}) {
		t.Fatalf("opaque %v", b)
	}
	if b := r.Fixed(5); !bytes.Equal(b, []byte{9, 9, 9, 9, 9}) {
		t.Fatalf("fixed %v", b)
	}
	if r.Err() != nil || r.Remaining() != 0 {
		t.Fatalf("err %v remaining %d", r.Err(), r.Remaining())
	}
}

func TestErrors(t *testing.T) {
	r := NewReader([]byte{0, 0, 0, 9, 'a'})
	if s := r.String(255); s != "" || r.Err() == nil {
		t.Fatalf("short string decoded: %q %v", s, r.Err())
	}
	r = NewReader([]byte{0, 0, 1, 0})
	if r.Opaque(64) != nil || r.Err() == nil {
		t.Fatal("over-long opaque accepted")
	}
	r = NewReader([]byte{0, 0, 0, 2})
	if r.Bool() || r.Err() == nil {
		t.Fatal("bool 2 accepted")
	}
	r = NewReader([]byte{0xff, 0xff, 0xff, 0xff})
	if r.Opaque(1<<32-1) != nil || r.Err() == nil {
		t.Fatal("huge opaque accepted")
	}
	if r.Uint64() != 0 {
		t.Fatal("read after error returned data")
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b)
		for r.Err() == nil && r.Remaining() > 0 {
			_ = r.Opaque(1024)
			_ = r.Bool()
			_ = r.Uint64()
		}
	})
}

// sink records what Emit hands over, telling copied head bytes from payloads passed by
// reference.
type sink struct {
	out  []byte
	refs [][]byte
	rels []func()
}

func (s *sink) Write(p []byte) (int, error) { s.out = append(s.out, p...); return len(p), nil }
func (s *sink) AppendOpaquePayload(d []byte, release func()) {
	s.refs = append(s.refs, d)
	s.rels = append(s.rels, release)
	s.out = AppendOpaque(s.out, d)
}

func TestPayloads(t *testing.T) {
	data := []byte("zero-copy data") // 14 bytes: 2 bytes of padding
	w := NewWriter(nil)
	w.Uint32(0)
	w.Bool(true)
	released := 0
	w.OpaquePayload(data, func() { released++ })
	w.Uint32(42)
	w.OpaquePayload(nil, nil)

	flat := NewWriter(nil)
	flat.Uint32(0)
	flat.Bool(true)
	flat.Opaque(data)
	flat.Uint32(42)
	flat.Opaque(nil)
	if !bytes.Equal(w.Bytes(), flat.Bytes()) || w.Len() != flat.Len() {
		t.Fatalf("Bytes with payloads\n%x\nwant\n%x (len %d want %d)", w.Bytes(), flat.Bytes(), w.Len(), flat.Len())
	}
	var s sink
	w.Emit(&s)
	if !bytes.Equal(s.out, flat.Bytes()) {
		t.Fatalf("Emit\n%x\nwant\n%x", s.out, flat.Bytes())
	}
	if len(s.refs) != 2 || &s.refs[0][0] != &data[0] {
		t.Fatal("payload was copied instead of passed by reference")
	}
	if released != 0 || len(s.rels) != 2 || s.rels[0] == nil {
		t.Fatal("Emit did not hand the release function over")
	}
	s.rels[0]()
	w.Reset() // emitted: Reset must not release again
	if released != 1 {
		t.Fatalf("released %d times", released)
	}
	w.Uint32(0)
	w.Bool(true)
	w.OpaquePayload(data, func() { released++ })
	w.Uint32(42)
	if len(w.Head()) != 12 {
		t.Fatalf("head of %d bytes, want 12", len(w.Head()))
	}
	// Truncate before the payload drops (and releases) it.
	w.Truncate(8)
	if len(w.Payloads()) != 0 || !bytes.Equal(w.Bytes(), flat.Bytes()[:8]) || released != 2 {
		t.Fatalf("Truncate(8): %x, released %d", w.Bytes(), released)
	}
	// Truncate after a payload keeps it; Reset releases it.
	w.OpaquePayload(data, func() { released++ })
	w.Uint32(7)
	w.Truncate(8 + OpaqueSize(len(data)))
	if len(w.Payloads()) != 1 || w.Len() != 8+OpaqueSize(len(data)) || released != 2 {
		t.Fatalf("Truncate after a payload: %d payloads, len %d", len(w.Payloads()), w.Len())
	}
	w.Reset()
	if w.Len() != 0 || len(w.Payloads()) != 0 || released != 3 {
		t.Fatalf("Reset left data or did not release (released %d)", released)
	}
	var s2 sink
	w.Emit(&s2)
	if len(s2.out) != 0 {
		t.Fatal("empty Writer emitted bytes")
	}
}

// TestNameBytes: file names are bytes on Linux, not text: UTF-8 in any script, invalid UTF-8
// (Latin-1 names from old clients), control characters. Every one round-trips unchanged.
func TestNameBytes(t *testing.T) {
	names := []string{
		"plain", "héllo wörld", "日本語のファイル名", "emoji-😀", "\xff\xfe\x80latin1-\xe9t\xe9",
		"tab\there", "\x01\x1f\x7f", string([]byte{0xc3}), "a",
	}
	w := NewWriter(nil)
	for _, n := range names {
		w.String(n)
	}
	r := NewReader(w.Bytes())
	for _, n := range names {
		if got := r.String(255); got != n {
			t.Fatalf("round trip of %q gave %q", n, got)
		}
	}
	if r.Err() != nil || r.Remaining() != 0 {
		t.Fatalf("err %v remaining %d", r.Err(), r.Remaining())
	}
}
