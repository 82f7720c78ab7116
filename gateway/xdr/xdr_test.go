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
