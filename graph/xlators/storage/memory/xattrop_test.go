package memory_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/storage/memory"
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
			st, rep, err := memory.XattropApply(c.flag, c.cur, c.op)
			if c.err != "" {
				if err == nil || !contains(err.Error(), c.err) {
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

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestXattropTrustedNeedsRoot(t *testing.T) {
	m := graphtest.Memory(t)
	ctx := context.Background()
	loc, err := graphtest.WriteFile(ctx, m, graph.RootLoc(), "f", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := m.Xattrop(ctx, loc, graph.XattropAddArray, graph.Xdata{"trusted.afr.vol-client-0": be32(1, 0, 0)}, nil)
	if err != nil || fmt.Sprintf("%x", d["trusted.afr.vol-client-0"]) != "000000010000000000000000" {
		t.Fatalf("root xattrop: %x %v", d, err)
	}
	user := graph.WithCreds(ctx, &graph.Creds{UID: 1000, GID: 1000})
	if _, _, err := m.Xattrop(user, loc, graph.XattropAddArray, graph.Xdata{"trusted.afr.x": be32(1)}, nil); graph.Errno(err) != unix.EPERM {
		t.Fatalf("user xattrop on trusted.*: %v", err)
	}
	if _, _, err := m.Getxattr(user, loc, "trusted.afr.vol-client-0", nil); graph.Errno(err) != unix.ENODATA {
		t.Fatalf("user sees trusted.*: %v", err)
	}
	g, _, err := m.Getxattr(ctx, loc, memory.XattrGFID, nil)
	if err != nil || len(g[memory.XattrGFID]) != 16 || graph.GFID(g[memory.XattrGFID]) != loc.GFID {
		t.Fatalf("trusted.gfid: %x %v", g, err)
	}
	if _, err := m.Setxattr(ctx, loc, graph.Xdata{memory.XattrGFID: make([]byte, 16)}, 0, nil); graph.Errno(err) != unix.EPERM {
		t.Fatalf("gfid overwrite: %v", err)
	}
	if _, err := m.Setxattr(ctx, loc, graph.Xdata{"bogus.ns": []byte("x")}, 0, nil); graph.Errno(err) != unix.EOPNOTSUPP {
		t.Fatalf("unknown namespace: %v", err)
	}
	// Lookup returns requested xattrs in its reply dictionary, as posix does for AFR.
	r, err := m.Lookup(ctx, loc, graph.Xdata{"trusted.afr.vol-client-0": nil, "trusted.afr.absent": nil})
	if err != nil || !r.Xdata.Has("trusted.afr.vol-client-0") || r.Xdata.Has("trusted.afr.absent") {
		t.Fatalf("lookup xattr request: %v %v", r.Xdata.Keys(), err)
	}
}
