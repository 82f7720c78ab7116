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
