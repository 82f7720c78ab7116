package handle

import (
	"bytes"
	"errors"
	"testing"

	"github.com/weftfs/weft/graph"
)

// FuzzDecode: any bytes either decode to a handle that re-encodes to exactly those bytes, or
// fail with ErrBadHandle; nothing panics.
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 5m ./gateway/handle/
func FuzzDecode(f *testing.F) {
	c, err := NewCodec(VolumeIDFromName("gv0"), secret)
	if err != nil {
		f.Fatal(err)
	}
	other, _ := NewCodec(VolumeIDFromName("gv1"), secret)
	valid := c.Encode(ExportIDFromPath("/gv0"), graph.RootGFID)
	f.Add(valid)
	f.Add(c.Encode(ExportIDFromPath("/gv0/sub"), graph.NewGFID()))
	f.Add(other.Encode(ExportIDFromPath("/gv1"), graph.RootGFID))
	f.Add(valid[:Size-1])
	f.Add(append(append([]byte(nil), valid...), 0))
	f.Add([]byte{})
	f.Add([]byte("WF\x01\x00"))
	f.Add(bytes.Repeat([]byte{0xff}, MaxSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := c.Decode(b)
		if err != nil {
			if !errors.Is(err, ErrBadHandle) {
				t.Fatalf("error %v does not wrap ErrBadHandle", err)
			}
			return
		}
		if h.GFID.IsZero() || h.Volume != c.Volume() {
			t.Fatalf("accepted %+v", h)
		}
		if re := c.Encode(h.Export, h.GFID); !bytes.Equal(re, b) {
			t.Fatalf("decoded %x re-encodes to %x", b, re)
		}
		// Any single-bit change is detected (the MAC covers every byte).
		for i := range b {
			m := append([]byte(nil), b...)
			m[i] ^= 0x01
			if _, err := c.Decode(m); err == nil {
				t.Fatalf("flipping a bit of byte %d still decodes", i)
			}
		}
	})
}
