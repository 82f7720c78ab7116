package graph_test

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/weftfs/weft/graph"
)

func be32(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func be64(vs ...uint64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint64(b[8*i:], v)
	}
	return b
}

func TestXattropApply(t *testing.T) {
	cases := []struct {
		name              string
		flag              graph.XattropFlag
		cur, op           []byte
		store, reply, err string
	}{
		{"add absent", graph.XattropAddArray, nil, be32(1, 2), "0000000100000002", "0000000100000002", ""},
		{"add negative", graph.XattropAddArray, be32(5, 5), be32(0xffffffff, 2), "0000000400000007", "0000000400000007", ""},
		{"add short stored value pads", graph.XattropAddArray, be32(7), be32(1, 1), "0000000800000001", "0000000800000001", ""},
		{"add zero does not write", graph.XattropAddArray, nil, be32(0, 0), "", "0000000000000000", ""},
		{"add longer stored value", graph.XattropAddArray, be32(1, 2, 3), be32(1, 1), "", "", "out of range"},
		{"add bad length", graph.XattropAddArray, nil, []byte{1, 2, 3}, "", "", "invalid argument"},
		{"add64", graph.XattropAddArray64, be64(1 << 40), be64(3), "0000010000000003", "0000010000000003", ""},
		{"with default, zero element takes default", graph.XattropAddArrayWithDefault, be32(0, 10), append(be32(1, 1), be32(100, 100)...), "000000650000000b", "000000650000000b", ""},
		{"with default, zero addend still applies the default", graph.XattropAddArrayWithDefault, nil, append(be32(0), be32(40)...), "00000028", "00000028", ""},
		{"with default absent", graph.XattropAddArrayWithDefault, nil, append(be32(2), be32(40)...), "0000002a", "0000002a", ""},
		{"64 with default", graph.XattropAddArray64WithDefault, nil, append(be64(1), be64(9)...), "000000000000000a", "000000000000000a", ""},
		{"or", graph.XattropOrArray, []byte{0x0f, 0}, []byte{0xf0, 1}, "ff01", "ff01", ""},
		{"and", graph.XattropAndArray, []byte{0x0f, 0xff}, []byte{0xf3, 0x01}, "0301", "0301", ""},
		{"get and set existing", graph.XattropGetAndSet, []byte("old"), []byte("new"), "6e6577", "6f6c64", ""},
		{"get and set absent", graph.XattropGetAndSet, nil, []byte("new"), "6e6577", "", ""},
		{"unknown flag", graph.XattropFlag(99), nil, be32(1), "", "", "invalid argument"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, rep, err := graph.XattropApply(c.flag, c.cur, c.op)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%x", st) != c.store || fmt.Sprintf("%x", rep) != c.reply {
				t.Fatalf("store %x reply %x, want %s %s", st, rep, c.store, c.reply)
			}
			if c.reply == "" && rep != nil {
				t.Fatalf("reply %x should be absent", rep)
			}
		})
	}
}
