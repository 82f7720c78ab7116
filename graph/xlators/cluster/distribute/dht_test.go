package distribute

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	_ "github.com/weftfs/weft/graph/xlators/storage/memory"
)

func newDHT(t *testing.T, n int, opts map[string]string) (*DHT, []graph.Xlator) {
	t.Helper()
	var leaves []graph.Xlator
	for i := 0; i < n; i++ {
		l, err := graph.Construct("storage/memory", fmt.Sprintf("weftdht-client-%d", i), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, l)
	}
	top, err := graph.Construct(Type, "weftdht-dht", opts, nil, leaves...)
	if err != nil {
		t.Fatal(err)
	}
	activate(t, top, leaves...)
	return top.(*DHT), leaves
}

func rawLayout(t *testing.T, leaf graph.Xlator, g graph.GFID) []byte {
	t.Helper()
	v, _, err := leaf.Getxattr(context.Background(), &graph.Loc{GFID: g}, XattrLayout, nil)
	if err != nil {
		t.Fatalf("%s: getxattr layout: %v", leaf.Name(), err)
	}
	return v[XattrLayout]
}

func mustCreate(t *testing.T, d *DHT, parent graph.GFID, name string, data string) graph.Iatt {
	t.Helper()
	ctx := context.Background()
	fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	defer fd.Unref()
	r, err := d.Create(ctx, &graph.Loc{Path: "/" + name, Name: name, ParentGFID: parent}, unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	fd.GFID = r.Stat.GFID
	if data != "" {
		if _, err := d.Writev(ctx, fd, []byte(data), 0, 0, nil); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
	}
	return r.Stat
}

func onLeaf(leaf graph.Xlator, parent graph.GFID, name string) (graph.LookupReply, error) {
	return leaf.Lookup(context.Background(), &graph.Loc{Name: name, ParentGFID: parent}, graph.Xdata{XattrLinkto: nil})
}

// The root and new directories get exactly the layouts GlusterFS wrote, and files land where
// GlusterFS put them.
func TestDHTMatchesGlusterFSOnMemory(t *testing.T) {
	ctx := context.Background()
	d, leaves := newDHT(t, 3, nil)
	if _, err := d.Lookup(ctx, graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
	gold := loadGolden(t, "testdata/glusterfs-3brick.tsv")
	for i, l := range leaves {
		if got, want := rawLayout(t, l, graph.RootGFID), gold.layouts["/"][d.SubvolName(i)]; !bytes.Equal(got, want) {
			t.Errorf("root layout on %s = %x, GlusterFS %x", l.Name(), got, want)
		}
	}
	for _, name := range []string{"d0", "d5", "d9"} {
		r, err := d.Mkdir(ctx, &graph.Loc{Path: "/" + name, Name: name, ParentGFID: graph.RootGFID}, 0o755, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range leaves {
			if got, want := rawLayout(t, l, r.Stat.GFID), gold.layouts["/"+name][d.SubvolName(i)]; !bytes.Equal(got, want) {
				t.Errorf("/%s layout on %s = %x, GlusterFS %x", name, l.Name(), got, want)
			}
		}
	}
	n := 0
	for _, f := range gold.files {
		if f[0] != "/" || f[1] == "renamed-target-name" {
			continue
		}
		mustCreate(t, d, graph.RootGFID, f[1], "x")
		want := d.subvolIndex(f[2])
		if _, err := onLeaf(leaves[want], graph.RootGFID, f[1]); err != nil {
			t.Errorf("%q not on %s as in GlusterFS: %v", f[1], f[2], err)
		}
		n++
	}
	if n < 60 {
		t.Fatalf("only %d files checked", n)
	}
}

func readAll(t *testing.T, d *DHT, dir graph.GFID, size uint32) []graph.Dirent {
	t.Helper()
	ctx := context.Background()
	fd := graph.NewFD(nil, dir, unix.O_RDONLY)
	fd.IsDir = true
	defer fd.Unref()
	if _, err := d.Opendir(ctx, &graph.Loc{GFID: dir}, fd, nil); err != nil {
		t.Fatal(err)
	}
	var out []graph.Dirent
	var off uint64
	for i := 0; i < 10000; i++ {
		ents, _, err := d.Readdirp(ctx, fd, size, off, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) == 0 {
			return out
		}
		out = append(out, ents...)
		off = ents[len(ents)-1].Off
	}
	t.Fatal("readdir does not end")
	return nil
}

func TestDHTNamespace(t *testing.T) {
	ctx := context.Background()
	d, leaves := newDHT(t, 3, nil)
	if _, err := d.Lookup(ctx, graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := 0; i < 40; i++ {
		name := fmt.Sprintf("f%02d", i)
		mustCreate(t, d, graph.RootGFID, name, "data-"+name)
		want[name] = true
	}
	dr, err := d.Mkdir(ctx, &graph.Loc{Path: "/sub", Name: "sub", ParentGFID: graph.RootGFID}, 0o755, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want["sub"] = true
	// readdir: every name exactly once, directories once, with small pages.
	got := map[string]int{}
	for _, e := range readAll(t, d, graph.RootGFID, 200) {
		if e.Name != "." && e.Name != ".." {
			got[e.Name]++
		}
	}
	for n := range want {
		if got[n] != 1 {
			t.Errorf("readdir lists %q %d times", n, got[n])
		}
	}
	if len(got) != len(want) {
		t.Errorf("readdir lists %d names, want %d", len(got), len(want))
	}

	// Rename to names that hash elsewhere: the data stays, a link file points at it.
	moved := 0
	for i := 0; i < 40 && moved < 5; i++ {
		old := fmt.Sprintf("f%02d", i)
		newName := fmt.Sprintf("renamed-%02d", i)
		sh, _, _ := d.hashed(ctx, &graph.Loc{Name: old, ParentGFID: graph.RootGFID})
		dh, _, _ := d.hashed(ctx, &graph.Loc{Name: newName, ParentGFID: graph.RootGFID})
		if sh == dh {
			continue
		}
		moved++
		if _, err := d.Rename(ctx, &graph.Loc{Name: old, ParentGFID: graph.RootGFID}, &graph.Loc{Name: newName, ParentGFID: graph.RootGFID}, nil); err != nil {
			t.Fatal(err)
		}
		lr, err := onLeaf(leaves[dh], graph.RootGFID, newName)
		if err != nil || !isLinkfile(&lr.Stat, lr.Xdata) || DecodeLinkto(lr.Xdata[XattrLinkto]) != d.SubvolName(sh) {
			t.Fatalf("no link file for %s on %s: %v %+v", newName, leaves[dh].Name(), err, lr.Xdata)
		}
		if _, err := d.Lookup(ctx, &graph.Loc{Name: old, ParentGFID: graph.RootGFID}, nil); graph.Errno(err) != unix.ENOENT {
			t.Fatalf("old name still there: %v", err)
		}
		r, err := d.Lookup(ctx, &graph.Loc{Name: newName, ParentGFID: graph.RootGFID}, nil)
		if err != nil || isLinkfile(&r.Stat, nil) {
			t.Fatalf("lookup %s: %v %+v", newName, err, r.Stat)
		}
		d.forget(r.Stat.GFID) // force the next open to follow the link file
		fd := graph.NewFD(nil, r.Stat.GFID, unix.O_RDONLY)
		if _, err := d.Open(ctx, &graph.Loc{Name: newName, ParentGFID: graph.RootGFID, GFID: r.Stat.GFID}, unix.O_RDONLY, fd, nil); err != nil {
			t.Fatal(err)
		}
		rr, err := d.Readv(ctx, fd, 100, 0, 0, nil)
		fd.Unref()
		if err != nil || string(rr.Data) != "data-"+old {
			t.Fatalf("read through link: %q %v", rr.Data, err)
		}
		// Link files never show in readdir.
		for _, e := range readAll(t, d, graph.RootGFID, 4096) {
			if e.Name == old {
				t.Fatalf("readdir still lists %s", old)
			}
		}
		// Unlink removes the data and the link file.
		if _, err := d.Unlink(ctx, &graph.Loc{Name: newName, ParentGFID: graph.RootGFID}, 0, nil); err != nil {
			t.Fatal(err)
		}
		for _, l := range leaves {
			if _, err := onLeaf(l, graph.RootGFID, newName); err == nil {
				t.Fatalf("%s still on %s after unlink", newName, l.Name())
			}
		}
	}
	if moved == 0 {
		t.Fatal("no rename crossed subvolumes")
	}

	// rmdir: refused while not empty, then removed everywhere.
	mustCreate(t, d, dr.Stat.GFID, "inner", "")
	if _, err := d.Rmdir(ctx, &graph.Loc{Name: "sub", ParentGFID: graph.RootGFID}, 0, nil); graph.Errno(err) != unix.ENOTEMPTY {
		t.Fatalf("rmdir non-empty: %v", err)
	}
	if _, err := d.Unlink(ctx, &graph.Loc{Name: "inner", ParentGFID: dr.Stat.GFID}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Rmdir(ctx, &graph.Loc{Name: "sub", ParentGFID: graph.RootGFID}, 0, nil); err != nil {
		t.Fatal(err)
	}
	for _, l := range leaves {
		if _, err := onLeaf(l, graph.RootGFID, "sub"); graph.Errno(err) != unix.ENOENT {
			t.Fatalf("sub still on %s: %v", l.Name(), err)
		}
	}

	// statfs is the sum.
	var sum uint64
	for _, l := range leaves {
		st, _, err := l.Statfs(ctx, graph.RootLoc(), nil)
		if err != nil {
			t.Fatal(err)
		}
		sum += st.Blocks
	}
	st, _, err := d.Statfs(ctx, graph.RootLoc(), nil)
	if err != nil || st.Blocks != sum {
		t.Fatalf("statfs blocks %d, want %d (%v)", st.Blocks, sum, err)
	}
}

func TestDHTLookupUnhashedAndHeal(t *testing.T) {
	ctx := context.Background()
	d, leaves := newDHT(t, 3, nil)
	if _, err := d.Lookup(ctx, graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
	// A file put directly on a subvolume it does not hash to is found and gets a link file.
	name := "stray"
	h, _, _ := d.hashed(ctx, &graph.Loc{Name: name, ParentGFID: graph.RootGFID})
	other := (h + 1) % 3
	fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	g := graph.NewGFID()
	if _, err := leaves[other].Create(ctx, &graph.Loc{Name: name, ParentGFID: graph.RootGFID}, unix.O_CREAT|unix.O_RDWR, 0o644, 0, fd, withGFIDReq(nil, g)); err != nil {
		t.Fatal(err)
	}
	fd.Unref()
	r, err := d.Lookup(ctx, &graph.Loc{Name: name, ParentGFID: graph.RootGFID}, nil)
	if err != nil || r.Stat.GFID != g {
		t.Fatalf("lookup-unhashed: %v", err)
	}
	if lr, err := onLeaf(leaves[h], graph.RootGFID, name); err != nil || !isLinkfile(&lr.Stat, lr.Xdata) {
		t.Fatalf("no link file on hashed subvolume: %v", err)
	}
	// With lookup-unhashed off, a stray file is not found.
	d2, leaves2 := newDHT(t, 3, map[string]string{"lookup-unhashed": "off"})
	if _, err := d2.Lookup(ctx, graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
	fd = graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	if _, err := leaves2[other].Create(ctx, &graph.Loc{Name: name, ParentGFID: graph.RootGFID}, unix.O_CREAT|unix.O_RDWR, 0o644, 0, fd, withGFIDReq(nil, graph.NewGFID())); err != nil {
		t.Fatal(err)
	}
	fd.Unref()
	if _, err := d2.Lookup(ctx, &graph.Loc{Name: name, ParentGFID: graph.RootGFID}, nil); graph.Errno(err) != unix.ENOENT {
		t.Fatalf("lookup-unhashed off found a stray file: %v", err)
	}

	// Layout heal: a directory missing on one subvolume and a range removed on another.
	dr, err := d.Mkdir(ctx, &graph.Loc{Path: "/dir", Name: "dir", ParentGFID: graph.RootGFID}, 0o755, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaves[0].Removexattr(ctx, &graph.Loc{GFID: dr.Stat.GFID}, XattrLayout, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := leaves[1].Rmdir(ctx, &graph.Loc{Name: "dir", ParentGFID: graph.RootGFID}, 0, nil); err != nil {
		t.Fatal(err)
	}
	d.forget(dr.Stat.GFID)
	if _, err := d.Lookup(ctx, &graph.Loc{Path: "/dir", Name: "dir", ParentGFID: graph.RootGFID}, nil); err != nil {
		t.Fatal(err)
	}
	l := &Layout{}
	for i, lf := range leaves {
		lr, err := onLeaf(lf, graph.RootGFID, "dir")
		if err != nil || lr.Stat.GFID != dr.Stat.GFID {
			t.Fatalf("dir not healed on %s: %v", lf.Name(), err)
		}
		ch, _, st, sp, err := DecodeRange(rawLayout(t, lf, dr.Stat.GFID))
		if err != nil {
			t.Fatalf("no layout on %s after heal: %v", lf.Name(), err)
		}
		l.Ranges = append(l.Ranges, Range{Subvol: i, Start: st, Stop: sp, CommitHash: ch})
	}
	if a := l.Anomalies(); a.Holes != 0 || a.Overlaps != 0 {
		t.Fatalf("healed layout still has anomalies: %+v %+v", a, l.Ranges)
	}
}

func TestITransform(t *testing.T) {
	for _, n := range []int{2, 3, 4, 7} {
		for idx := 0; idx < n; idx++ {
			for _, off := range []uint64{1, 2, 99, 1 << 40} {
				y := ITransform(off, idx, n)
				gi, goff := DeITransform(y, n)
				if gi != idx || goff != off {
					t.Errorf("n=%d idx=%d off=%d: -> %#x -> %d,%d", n, idx, off, y, gi, goff)
				}
			}
			// Huge offsets keep the subvolume; low bits are lost, as in GlusterFS.
			y := ITransform(0x7fffffffffff1230, idx, n)
			if gi, _ := DeITransform(y, n); gi != idx || y&topBit == 0 {
				t.Errorf("huge offset: idx %d -> %d", idx, gi)
			}
		}
	}
}

// activate builds and activates a graph over top and tells top its children are up.
func activate(t testing.TB, top graph.Xlator, kids ...graph.Xlator) {
	t.Helper()
	graphtest.ActivateUp(t, top, kids...)
}
