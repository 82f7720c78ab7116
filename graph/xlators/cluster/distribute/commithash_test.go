package distribute

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
)

// newRecordedDHT is newDHT with a Recorder between distribute and its first subvolume.
func newRecordedDHT(t *testing.T, n int, opts map[string]string) (*DHT, []graph.Xlator, []*graphtest.Recorder) {
	t.Helper()
	var kids, leaves []graph.Xlator
	var recs []*graphtest.Recorder
	for i := 0; i < n; i++ {
		l, err := graph.Construct("storage/memory", fmt.Sprintf("weftdht-client-%d-mem", i), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, l)
		rec := graphtest.NewRecorder(fmt.Sprintf("weftdht-client-%d", i), l)
		recs = append(recs, rec)
		kids = append(kids, rec)
	}
	top, err := graph.Construct(Type, "weftdht-dht", opts, nil, kids...)
	if err != nil {
		t.Fatal(err)
	}
	activate(t, top, kids...)
	return top.(*DHT), leaves, recs
}

func commitHashReads(rec *graphtest.Recorder) int {
	n := 0
	for _, c := range rec.Calls() {
		if c.Fop == graph.FopGetxattr && strings.Contains(c.Summary, XattrCommitHash) {
			n++
		}
	}
	return n
}

// The volume commit hash is read from the root once, not on every miss in a directory nor on
// every mkdir while the root has none; fix-layout and a root lookup bring a new one in.
func TestDHTVolCommitHashCached(t *testing.T) {
	ctx := context.Background()
	d, leaves, recs := newRecordedDHT(t, 3, map[string]string{"lookup-unhashed": "auto"})
	rec := recs[0]
	if _, err := d.Lookup(ctx, graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
	dir, err := d.Mkdir(ctx, &graph.Loc{Path: "/d", Name: "d", ParentGFID: graph.RootGFID}, 0o755, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("missing-%d", i)
		if _, err := d.Lookup(ctx, &graph.Loc{Path: "/d/" + name, Name: name, ParentGFID: dir.Stat.GFID}, nil); graph.Errno(err) != unix.ENOENT {
			t.Fatalf("lookup %s: %v, want ENOENT", name, err)
		}
		sub := fmt.Sprintf("sub-%d", i)
		if _, err := d.Mkdir(ctx, &graph.Loc{Path: "/d/" + sub, Name: sub, ParentGFID: dir.Stat.GFID}, 0o755, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := commitHashReads(rec); n > 0 {
		t.Errorf("20 misses and 20 mkdirs read the root's commit hash %d times, want 0 (cached since the root lookup)", n)
	}

	commitOf := func(g graph.GFID) uint32 {
		t.Helper()
		return binary.BigEndian.Uint32(rawLayout(t, leaves[0], g)[0:4])
	}
	setRoot := func(v string) {
		t.Helper()
		if _, err := leaves[0].Setxattr(ctx, graph.RootLoc(), graph.Xdata{XattrCommitHash: []byte(v + "\x00")}, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A commit hash set behind distribute's back is seen after fix-layout (which drops the cache).
	setRoot("7")
	if err := FixLayout(ctx, d, &graph.Loc{Path: "/d", Name: "d", ParentGFID: graph.RootGFID, GFID: dir.Stat.GFID}); err != nil {
		t.Fatal(err)
	}
	e, err := d.Mkdir(ctx, &graph.Loc{Path: "/e", Name: "e", ParentGFID: graph.RootGFID}, 0o755, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := commitOf(e.Stat.GFID); c != 7 {
		t.Errorf("mkdir after fix-layout: commit hash %d, want the root's 7", c)
	}
	// And after a root lookup, without a getxattr of its own.
	setRoot("9")
	if _, err := d.Lookup(ctx, graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
	rec.Reset()
	f, err := d.Mkdir(ctx, &graph.Loc{Path: "/f", Name: "f", ParentGFID: graph.RootGFID}, 0o755, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := commitOf(f.Stat.GFID); c != 9 {
		t.Errorf("mkdir after a root lookup: commit hash %d, want the root's 9", c)
	}
	if n := commitHashReads(rec); n > 0 {
		t.Errorf("mkdir after a root lookup read the commit hash %d times, want 0", n)
	}
}

// The cost of the duplicate check on create: none in a committed directory (one create on the
// hashed subvolume, nothing else); one lookup per subvolume in one that is not (the root, laid
// out by a heal; any directory after fix-layout).
func TestDHTCreateCostByCommitState(t *testing.T) {
	ctx := context.Background()
	d, _, recs := newRecordedDHT(t, 3, nil)
	if _, err := d.Lookup(ctx, graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
	dir, err := d.Mkdir(ctx, &graph.Loc{Path: "/d", Name: "d", ParentGFID: graph.RootGFID}, 0o755, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	count := func(parent graph.GFID, path, name string) map[graph.Fop]int {
		t.Helper()
		for _, r := range recs {
			r.Reset()
		}
		fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
		defer fd.Unref()
		if _, err := d.Create(ctx, &graph.Loc{Path: path, Name: name, ParentGFID: parent}, unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil); err != nil {
			t.Fatalf("create %s: %v", path, err)
		}
		out := map[graph.Fop]int{}
		for _, r := range recs {
			for _, c := range r.Calls() {
				out[c.Fop]++
			}
		}
		return out
	}
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("f%d", i)
		got := count(dir.Stat.GFID, "/d/"+name, name)
		if got[graph.FopCreate] != 1 || len(got) != 1 {
			t.Errorf("create in a committed directory sent %v, want one create", got)
		}
		got = count(graph.RootGFID, "/"+name, name)
		if got[graph.FopCreate] != 1 || got[graph.FopLookup] != 3 || len(got) != 2 {
			t.Errorf("create in an uncommitted directory sent %v, want 3 lookups and one create", got)
		}
	}
}

// BenchmarkDHTCreateByCommitState: create over 3 memory subvolumes in a committed directory
// (one create) and in an uncommitted one (the root: a lookup on every subvolume first).
func BenchmarkDHTCreateByCommitState(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name      string
		committed bool
	}{{"committed", true}, {"uncommitted", false}} {
		b.Run(c.name, func(b *testing.B) {
			var leaves []graph.Xlator
			for i := 0; i < 3; i++ {
				l, err := graph.Construct("storage/memory", fmt.Sprintf("weftdht-client-%d", i), nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				leaves = append(leaves, l)
			}
			top, err := graph.Construct(Type, "weftdht-dht", nil, nil, leaves...)
			if err != nil {
				b.Fatal(err)
			}
			activate(b, top, leaves...)
			d := top.(*DHT)
			if _, err := d.Lookup(ctx, graph.RootLoc(), nil); err != nil {
				b.Fatal(err)
			}
			parent := graph.RootGFID
			if c.committed {
				r, err := d.Mkdir(ctx, &graph.Loc{Path: "/d", Name: "d", ParentGFID: graph.RootGFID}, 0o755, 0, nil)
				if err != nil {
					b.Fatal(err)
				}
				parent = r.Stat.GFID
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				name := fmt.Sprintf("f%d", i)
				fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
				if _, err := d.Create(ctx, &graph.Loc{Name: name, ParentGFID: parent}, unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil); err != nil {
					b.Fatal(err)
				}
				fd.Unref()
			}
		})
	}
}
