package index_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	_ "github.com/weftfs/weft/bricks/posix"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/features/index"
	"github.com/weftfs/weft/graph/xlators/features/locks"
)

// brick builds index → locks → posix on a temporary brick directory.
func brick(t testing.TB) (graph.Xlator, *index.Index, string) {
	t.Helper()
	dir := t.TempDir()
	top := graphtest.Stack(t,
		graphtest.Layer{Type: index.Type, Name: "idx", Options: map[string]string{"index-base": dir + "/.glusterfs/indices", "xattrop-pending-watchlist": "trusted.afr.gv0-"}},
		graphtest.Layer{Type: locks.Type},
		graphtest.Layer{Type: "storage/posix", Options: map[string]string{"directory": dir, "health-check-interval": "0"}},
	)
	return top, top.(*index.Index), dir
}

func pend(d, m, e int32) []byte {
	b := make([]byte, 12)
	for i, v := range []int32{d, m, e} {
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(uint32(v)>>24), byte(uint32(v)>>16), byte(uint32(v)>>8), byte(uint32(v))
	}
	return b
}

// indexNames lists the entries of indices/<sub> on disk, base files excluded, and checks that
// every entry is a hard link of the one base file (GlusterFS's format).
func indexNames(t *testing.T, dir, sub string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, ".glusterfs/indices", sub))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var baseIno uint64
	for _, e := range ents {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, ".glusterfs/indices", sub, e.Name()), &st); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(e.Name(), sub+"-") {
			baseIno = st.Ino
			continue
		}
		names = append(names, e.Name())
		if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink < 2 {
			t.Errorf("%s/%s: mode %o nlink %d: not a link of the base file", sub, e.Name(), st.Mode, st.Nlink)
		}
	}
	if len(names) > 0 && baseIno == 0 {
		t.Errorf("%s: entries without a %s-<uuid> base file", sub, sub)
	}
	sort.Strings(names)
	return names
}

func TestXattropMaintainsIndex(t *testing.T) {
	ctx := context.Background()
	top, _, dir := brick(t)
	fd, loc, err := graphtest.Create(ctx, top, graph.RootLoc(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	g := loc.GFID
	k1, k2 := "trusted.afr.gv0-client-1", "trusted.afr.gv0-client-2"
	// Pre-op (dirty +1): in the dirty index, not in xattrop.
	if _, _, err := top.Fxattrop(ctx, fd, graph.XattropAddArray, graph.Xdata{"trusted.afr.dirty": pend(1, 0, 0), k1: pend(0, 0, 0)}, nil); err != nil {
		t.Fatal(err)
	}
	if got := indexNames(t, dir, "dirty"); len(got) != 1 || got[0] != g.String() {
		t.Fatalf("dirty index %v, want [%s]", got, g)
	}
	if got := indexNames(t, dir, "xattrop"); len(got) != 0 {
		t.Fatalf("xattrop index %v, want empty", got)
	}
	// Post-op with a failed child: dirty back to 0, client-1 blamed.
	if _, _, err := top.Xattrop(ctx, &graph.Loc{GFID: g}, graph.XattropAddArray, graph.Xdata{"trusted.afr.dirty": pend(-1, 0, 0), k1: pend(1, 0, 0)}, nil); err != nil {
		t.Fatal(err)
	}
	if got := indexNames(t, dir, "dirty"); len(got) != 0 {
		t.Fatalf("dirty index %v after undirty, want empty", got)
	}
	if got := indexNames(t, dir, "xattrop"); len(got) != 1 || got[0] != g.String() {
		t.Fatalf("xattrop index %v, want [%s]", got, g)
	}
	// Another key still non-zero keeps the entry; all zero removes it.
	if _, _, err := top.Fxattrop(ctx, fd, graph.XattropAddArray, graph.Xdata{k2: pend(0, 2, 0)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := top.Fxattrop(ctx, fd, graph.XattropAddArray, graph.Xdata{k1: pend(-1, 0, 0), k2: pend(0, 0, 0)}, nil); err != nil {
		t.Fatal(err)
	}
	if got := indexNames(t, dir, "xattrop"); len(got) != 1 {
		t.Fatalf("xattrop index %v while client-2 still pending", got)
	}
	if _, _, err := top.Fxattrop(ctx, fd, graph.XattropAddArray, graph.Xdata{k1: pend(0, 0, 0), k2: pend(0, -2, 0)}, nil); err != nil {
		t.Fatal(err)
	}
	if got := indexNames(t, dir, "xattrop"); len(got) != 0 {
		t.Fatalf("xattrop index %v after all zero", got)
	}
	// Keys outside the watch lists are not indexed.
	if _, _, err := top.Fxattrop(ctx, fd, graph.XattropAddArray, graph.Xdata{"trusted.afr.other-client-0": pend(1, 0, 0)}, nil); err != nil {
		t.Fatal(err)
	}
	if got := indexNames(t, dir, "xattrop"); len(got) != 0 {
		t.Fatalf("unwatched key indexed: %v", got)
	}
}

func TestWindPhaseAddsBeforeChildFails(t *testing.T) {
	// A pre-op whose xattrop then fails still leaves the entry: the index never under-reports.
	ctx := context.Background()
	top, _, dir := brick(t)
	fd, _, err := graphtest.Create(ctx, top, graph.RootLoc(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	// A malformed value makes posix fail after the wind phase ran.
	_, _, err = top.Fxattrop(ctx, fd, graph.XattropAddArray, graph.Xdata{"trusted.afr.gv0-client-0": pend(1, 0, 0), "trusted.afr.gv0-client-1": []byte{1, 2, 3}}, nil)
	if graph.Errno(err) != unix.EINVAL {
		t.Fatalf("malformed xattrop: %v, want EINVAL", err)
	}
	if got := indexNames(t, dir, "xattrop"); len(got) != 1 {
		t.Fatalf("index %v after a failed pre-op, want the entry", got)
	}
}

func TestVirtualDirectory(t *testing.T) {
	ctx := context.Background()
	top, idx, dir := brick(t)
	var want []string
	for _, n := range []string{"a", "b", "c"} {
		fd, loc, err := graphtest.Create(ctx, top, graph.RootLoc(), n)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := top.Fxattrop(ctx, fd, graph.XattropAddArray, graph.Xdata{"trusted.afr.gv0-client-0": pend(1, 0, 0)}, nil); err != nil {
			t.Fatal(err)
		}
		fd.Unref()
		want = append(want, loc.GFID.String())
	}
	sort.Strings(want)
	v, _, err := top.Getxattr(ctx, graph.RootLoc(), index.KeyIndexGFID, nil)
	if err != nil || len(v[index.KeyIndexGFID]) != 16 {
		t.Fatalf("virtual gfid: %v %v", v, err)
	}
	var vg graph.GFID
	copy(vg[:], v[index.KeyIndexGFID])
	if vg != idx.VirtualGFID(index.KindXattrop) {
		t.Fatal("virtual gfid mismatch")
	}
	c, _, err := top.Getxattr(ctx, graph.RootLoc(), index.KeyIndexCount, nil)
	if err != nil || string(c[index.KeyIndexCount]) != "3" {
		t.Fatalf("count %q %v", c[index.KeyIndexCount], err)
	}
	vloc := &graph.Loc{GFID: vg}
	r, err := top.Lookup(ctx, vloc, nil)
	if err != nil || !r.Stat.IsDir() {
		t.Fatalf("lookup virtual dir: %+v %v", r.Stat, err)
	}
	// Page through with a tiny buffer to exercise cookies.
	ents, err := graphtest.ReadDirAll(ctx, top, vloc, true, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name)
		if !e.Stat.IsReg() || e.Stat.GFID.String() != e.Name {
			t.Errorf("readdirp entry %s: stat %+v", e.Name, e.Stat)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("readdir %v, want %v", got, want)
	}
	// Unlink of a stale entry through the virtual parent.
	if _, err := top.Unlink(ctx, &graph.Loc{ParentGFID: vg, Name: want[0]}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if got := indexNames(t, dir, "xattrop"); len(got) != 2 {
		t.Fatalf("after unlink %v", got)
	}
	if _, err := top.Unlink(ctx, &graph.Loc{ParentGFID: vg, Name: "not-a-gfid"}, 0, nil); graph.Errno(err) != unix.ENOENT {
		t.Fatalf("unlink junk: %v", err)
	}
	if _, err := top.Mkdir(ctx, &graph.Loc{ParentGFID: vg, Name: "x"}, 0o755, 0, nil); graph.Errno(err) != unix.EPERM {
		t.Fatalf("mkdir in index: %v", err)
	}
}

func TestStaleBaseFileRemovedAtInit(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, ".glusterfs/indices/xattrop")
	if err := os.MkdirAll(sub, 0o600); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(sub, "xattrop-"+graph.NewGFID().String())
	kept := filepath.Join(sub, "xattrop-"+graph.NewGFID().String())
	for _, p := range []string{stale, kept} {
		if err := os.WriteFile(p, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	g := graph.NewGFID()
	if err := os.Link(kept, filepath.Join(sub, g.String())); err != nil {
		t.Fatal(err)
	}
	graphtest.Stack(t,
		graphtest.Layer{Type: index.Type, Options: map[string]string{"index-base": dir + "/.glusterfs/indices"}},
		graphtest.Layer{Type: "storage/posix", Options: map[string]string{"directory": dir, "health-check-interval": "0"}},
	)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("unlinked stale base file kept: %v", err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("base file with entries removed: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	l := graphtest.NewMemory(t, "m", nil)
	x, err := graph.Construct(index.Type, "i", nil, nil, l)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Init(context.Background()); err == nil {
		t.Fatal("missing index-base accepted")
	}
	x, err = graph.Construct(index.Type, "i2", map[string]string{"index-base": "/nonexistent-weft/a/b"}, nil, graphtest.NewMemory(t, "m2", nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Init(context.Background()); err == nil {
		t.Fatal("index-base with a missing parent accepted")
	}
}

func TestConformance(t *testing.T) {
	graphtest.Run(t, func(tb testing.TB) graph.Xlator {
		dir := tb.TempDir()
		return graphtest.Stack(tb,
			graphtest.Layer{Type: index.Type, Options: map[string]string{"index-base": dir + "/.glusterfs/indices"}},
			graphtest.Layer{Type: locks.Type},
			graphtest.Layer{Type: "storage/posix", Options: map[string]string{"directory": dir, "health-check-interval": "0"}},
		)
	}, graphtest.Caps{Locks: true, Ownership: true, Sparse: true, OSFDs: true, Permissions: true})
}
