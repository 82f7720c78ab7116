package replicate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
)

// GlusterFS's replicate keeps ".landfill" and ".glusterfs-anonymous-inode-<volume id>" in the
// root of its bricks. A volume adopted from GlusterFS shows neither: root listings skip them
// (also when a page holds nothing else), and lookups and new entries of those names in the
// root get EPERM, as from GlusterFS (afr_is_private_directory). Elsewhere the names are
// ordinary.
func TestPrivateDirectoriesHidden(t *testing.T) {
	ctx := context.Background()
	leaves := lockedLeaves(t, 2)
	anon := anonInodePrefix + "-a47925d5-c6a3-4ab8-9a56-1ec7c33bf862"
	a := newAFROver(t, nil, leaves...)
	for _, l := range leaves { // as GlusterFS left them on the bricks
		for _, name := range []string{anon, ".landfill"} {
			g := graph.NewGFID()
			if _, err := l.Mkdir(ctx, graph.RootLoc().Child(name), 0o755, 0, graph.Xdata{"gfid-req": g[:]}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var want []string
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("f%d", i)
		fd, _, err := graphtest.Create(ctx, a, graph.RootLoc(), name)
		if err != nil {
			t.Fatal(err)
		}
		fd.Unref()
		want = append(want, name)
	}
	sub, err := graphtest.Mkdir(ctx, a, graph.RootLoc(), "sub")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, "sub")

	// Pages of one entry each: some hold only a private directory.
	for _, plus := range []bool{false, true} {
		fd := graph.NewFD(nil, graph.RootGFID, unix.O_RDONLY)
		fd.IsDir = true
		if _, err := a.Opendir(ctx, graph.RootLoc(), fd, nil); err != nil {
			t.Fatal(err)
		}
		var got []string
		var off uint64
		for n := 0; n < 100; n++ {
			var ents []graph.Dirent
			if plus {
				ents, _, err = a.Readdirp(ctx, fd, 1, off, nil)
			} else {
				ents, _, err = a.Readdir(ctx, fd, 1, off, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) == 0 {
				break
			}
			for _, e := range ents {
				if e.Name != "." && e.Name != ".." {
					got = append(got, e.Name)
				}
			}
			off = ents[len(ents)-1].Off
		}
		fd.Unref()
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("root listing (plus %v): %v, want %v", plus, got, want)
		}
	}

	for _, name := range []string{anon, ".landfill", anonInodePrefix + "-other"} {
		loc := graph.RootLoc().Child(name)
		if _, err := a.Lookup(ctx, loc, nil); !errors.Is(err, unix.EPERM) {
			t.Errorf("lookup /%s: %v, want EPERM", name, err)
		}
		if _, err := a.Mkdir(ctx, loc, 0o755, 0, nil); !errors.Is(err, unix.EPERM) {
			t.Errorf("mkdir /%s: %v, want EPERM", name, err)
		}
		fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
		if _, err := a.Create(ctx, loc, unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil); !errors.Is(err, unix.EPERM) {
			t.Errorf("create /%s: %v, want EPERM", name, err)
		}
		fd.Unref()
		if _, err := a.Rename(ctx, graph.RootLoc().Child("f0"), loc, nil); !errors.Is(err, unix.EPERM) {
			t.Errorf("rename to /%s: %v, want EPERM", name, err)
		}
	}
	// Below the root the names are ordinary.
	if _, err := graphtest.Mkdir(ctx, a, sub, ".landfill"); err != nil {
		t.Errorf("mkdir sub/.landfill: %v", err)
	}
}
