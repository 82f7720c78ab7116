package clustertest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
)

// TestDhtRenameTempNamesHidden: rename a → b where the replaced b's data lives on a third
// subvolume first gives that data a temporary name there (.weft-dht-rename-dst-<gfid>), so a
// subvolume that cannot change fails the rename before anything changed. While it is there,
// readdir and readdirp of the directory — through the same graph and another client's — list
// a, b and dd only, lookups of it fail with ENOENT, and b still looks up as the old file (it used
// to be moved aside, so b vanished from lookups and listings mid-rename). A client cannot create
// a name with the reserved prefix.
func TestDhtRenameTempNamesHidden(t *testing.T) {
	ctx := context.Background()
	bricks := BrickStacks(t, 3)
	d, hooks := hookedDHT(t, bricks, nil)
	other := dhtOver(t, bricks, nil)
	root := graph.RootLoc()
	if _, err := d.Lookup(ctx, root, nil); err != nil { // lays the root out
		t.Fatal(err)
	}
	hashOf := func(name string) int {
		_, h := placement(t, bricks, graph.RootGFID, name)
		return h
	}
	pick := func(prefix string, want int) string {
		for i := 0; i < 1000; i++ {
			if n := fmt.Sprintf("%s%d", prefix, i); hashOf(n) == want {
				return n
			}
		}
		t.Fatalf("no name %q… hashes to brick %d", prefix, want)
		return ""
	}
	ddLoc, err := graphtest.WriteFile(ctx, d, root, pick("dd", 0), []byte("dd-data"))
	if err != nil {
		t.Fatal(err)
	}
	b := pick("b", 1) // a hard link of dd: data on brick 0, link file on brick 1
	if _, err := d.Link(ctx, ddLoc, root.Child(b), nil); err != nil {
		t.Fatal(err)
	}
	a := pick("a", 2)
	aLoc, err := graphtest.WriteFile(ctx, d, root, a, []byte("a-data"))
	if err != nil {
		t.Fatal(err)
	}
	list := func(x graph.Fops, plus bool) string {
		ents, err := graphtest.ReadDirAll(ctx, x, root, plus, 4096)
		if err != nil {
			t.Fatalf("readdir: %v", err)
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.Name)
		}
		sort.Strings(got)
		return strings.Join(got, " ")
	}
	want := strings.Join(func() []string { s := []string{a, b, ddLoc.Name}; sort.Strings(s); return s }(), " ")
	checked := false
	hooks[2].set(graph.FopRename, func(c hookCall) {
		if c.Name != a || checked {
			return
		}
		checked = true
		// The old b has a second name on brick 0 now; a is about to become b on brick 2.
		var stash string
		fd, err := graphtest.OpenDir(ctx, bricks[0], root)
		if err != nil {
			t.Fatal(err)
		}
		ents, _, err := bricks[0].Readdirp(ctx, fd, 1<<16, 0, nil)
		fd.Unref()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name, ".weft-dht-rename-dst-") {
				stash = e.Name
			}
		}
		if stash == "" {
			t.Fatalf("no temporary name on brick 0: the test does not exercise the rename's stash")
		}
		for _, x := range []graph.Fops{d, other} {
			for _, plus := range []bool{false, true} {
				if got := list(x, plus); got != want {
					t.Errorf("during the rename, readdir(plus=%v) lists [%s], want [%s]", plus, got, want)
				}
			}
			if _, err := x.Lookup(ctx, root.Child(stash), nil); graph.Errno(err) != unix.ENOENT {
				t.Errorf("lookup %s during the rename: %v, want ENOENT", stash, err)
			}
			if r, err := x.Lookup(ctx, root.Child(b), nil); err != nil || r.Stat.GFID != ddLoc.GFID {
				t.Errorf("lookup %s during the rename: %v (gfid %s), want the old file %s", b, err, r.Stat.GFID, ddLoc.GFID)
			}
		}
	})
	if _, err := d.Rename(ctx, aLoc, root.Child(b), nil); err != nil {
		t.Fatalf("rename %s → %s: %v", a, b, err)
	}
	if !checked {
		t.Fatal("the hook did not run")
	}
	want = strings.Join(func() []string { s := []string{b, ddLoc.Name}; sort.Strings(s); return s }(), " ")
	if got := list(other, true); got != want {
		t.Errorf("after the rename readdir lists [%s], want [%s]", got, want)
	}
	if r, err := other.Lookup(ctx, root.Child(b), nil); err != nil || r.Stat.GFID != aLoc.GFID {
		t.Errorf("lookup %s after the rename: %v, want a's file", b, err)
	}
	if r, err := other.Lookup(ctx, root.Child(ddLoc.Name), nil); err != nil || r.Stat.Nlink != 1 {
		t.Errorf("%s after the rename: %v, nlink %d; want one link", ddLoc.Name, err, r.Stat.Nlink)
	}
	for i, br := range bricks { // nothing temporary left
		fd, err := graphtest.OpenDir(ctx, br, root)
		if err != nil {
			t.Fatal(err)
		}
		ents, _, err := br.Readdirp(ctx, fd, 1<<16, 0, nil)
		fd.Unref()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name, ".weft-dht-") {
				t.Errorf("brick %d: leftover %s", i, e.Name)
			}
		}
	}
	// The prefix is reserved.
	for _, name := range []string{".weft-dht-rename-dst-x", ".weft-dht-rename-y"} {
		fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR|unix.O_CREAT)
		_, err := d.Create(ctx, root.Child(name), unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil)
		fd.Unref()
		if graph.Errno(err) != unix.EPERM {
			t.Errorf("create %s: %v, want EPERM", name, err)
		}
		if _, err := d.Mkdir(ctx, root.Child(name), 0o755, 0, nil); graph.Errno(err) != unix.EPERM {
			t.Errorf("mkdir %s: %v, want EPERM", name, err)
		}
		bl, _, err := graphtest.LookupPath(ctx, d, "/"+b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Rename(ctx, bl, root.Child(name), nil); graph.Errno(err) != unix.EPERM {
			t.Errorf("rename %s → %s: %v, want EPERM", b, name, err)
		}
	}
}
