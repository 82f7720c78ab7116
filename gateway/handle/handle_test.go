package handle

import (
	"bytes"
	"errors"
	"testing"

	"github.com/weftfs/weft/graph"
)

var secret = []byte("0123456789abcdef-test-secret")

func TestRoundTrip(t *testing.T) {
	c, err := NewCodec(VolumeIDFromName("gv0"), secret)
	if err != nil {
		t.Fatal(err)
	}
	g := graph.NewGFID()
	exp := ExportIDFromPath("/gv0")
	b := c.Encode(exp, g)
	if len(b) != Size || len(b) > MaxSize {
		t.Fatalf("size %d", len(b))
	}
	h, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.GFID != g || h.Export != exp || h.Volume != VolumeIDFromName("gv0") {
		t.Fatalf("decoded %+v", h)
	}
	// Deterministic: same inputs, same bytes (stable across restarts and nodes).
	c2, _ := NewCodec(VolumeIDFromName("gv0"), secret)
	if !bytes.Equal(c2.Encode(exp, g), b) {
		t.Fatal("encoding not deterministic")
	}
	if FileID(graph.RootGFID) != 1 {
		t.Fatalf("root fileid %d", FileID(graph.RootGFID))
	}
}

func TestRejects(t *testing.T) {
	c, _ := NewCodec(VolumeIDFromName("gv0"), secret)
	g := graph.NewGFID()
	good := c.Encode(ExportIDFromPath("/gv0"), g)
	cases := map[string][]byte{
		"empty": nil,
		"short": good[:20],
		"long":  append(append([]byte(nil), good...), 0),
	}
	for i := 0; i < len(good); i++ {
		b := append([]byte(nil), good...)
		b[i] ^= 0x40
		cases["flip"+string(rune('A'+i%26))+string(rune('0'+i/26))] = b
	}
	other, _ := NewCodec(VolumeIDFromName("gv1"), secret)
	cases["foreign volume"] = other.Encode(ExportIDFromPath("/gv0"), g)
	otherSecret, _ := NewCodec(VolumeIDFromName("gv0"), []byte("another-secret-of-16+"))
	cases["foreign cluster"] = otherSecret.Encode(ExportIDFromPath("/gv0"), g)
	for name, b := range cases {
		if _, err := c.Decode(b); !errors.Is(err, ErrBadHandle) {
			t.Errorf("%s: err %v, want ErrBadHandle", name, err)
		}
	}
	if _, err := NewCodec(VolumeID{}, []byte("short")); err == nil {
		t.Fatal("short secret accepted")
	}
}
