package xdr

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var b []byte
	b = AppendUint32(b, 7)
	b = AppendInt32(b, -2)
	b = AppendUint64(b, 1<<40+3)
	b = AppendInt64(b, -5)
	b = AppendBool(b, true)
	b = AppendOpaque(b, []byte("abcde"))
	b = AppendFixedOpaque(b, []byte("xy"))
	b = AppendString(b, "hello")
	want := []byte{
		0, 0, 0, 7, 0xff, 0xff, 0xff, 0xfe,
		0, 0, 1, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb,
		0, 0, 0, 1,
		0, 0, 0, 5, 'a', 'b', 'c', 'd', 'e', 0, 0, 0,
		'x', 'y', 0, 0,
		0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 0, 0,
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", b, want)
	}
	d := NewDecoder(b)
	if d.Uint32() != 7 || d.Int32() != -2 || d.Uint64() != 1<<40+3 || d.Int64() != -5 || !d.Bool() ||
		string(d.Opaque(5)) != "abcde" || string(d.FixedOpaque(2)) != "xy" || d.String(5) != "hello" || d.Err() != nil || d.Len() != 0 {
		t.Fatalf("decode failed: %v", d.Err())
	}
}

func TestDecoderErrors(t *testing.T) {
	d := NewDecoder([]byte{0, 0, 0})
	if d.Uint32() != 0 || !errors.Is(d.Err(), ErrShort) {
		t.Fatalf("short: %v", d.Err())
	}
	if d.Uint64() != 0 || d.Opaque(10) != nil || d.Rest() != nil {
		t.Fatal("sticky error not sticky")
	}
	d = NewDecoder(AppendOpaque(nil, []byte("toolong")))
	if d.Opaque(3) != nil || !errors.Is(d.Err(), ErrTooLong) {
		t.Fatalf("max: %v", d.Err())
	}
	d = NewDecoder([]byte{0xff, 0xff, 0xff, 0xff}) // a 4 GiB opaque in a 4-byte input
	if d.Opaque(1<<32-1) != nil || !errors.Is(d.Err(), ErrShort) {
		t.Fatalf("huge length: %v", d.Err())
	}
	d = NewDecoder([]byte{0, 0, 0, 2})
	if d.Bool() || d.Err() == nil {
		t.Fatal("bool 2 accepted")
	}
	d = NewDecoder([]byte{0, 0, 0, 1, 'a'}) // missing padding
	if d.Opaque(4) != nil || !errors.Is(d.Err(), ErrShort) {
		t.Fatalf("padding: %v", d.Err())
	}
	if Pad(0) != 0 || Pad(1) != 3 || Pad(4) != 0 || len(PadBytes(6)) != 2 {
		t.Fatal("Pad")
	}
}
