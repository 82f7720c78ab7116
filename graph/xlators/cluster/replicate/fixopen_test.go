package replicate_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/cluster/replicate"
)

// TestFixOpen: an FD opened while a child was down is opened on that child once it is back
// (GlusterFS afr_fix_open), so writes through the same FD reach every copy. Two FDs: one on a
// file that existed on both copies, opened while child 1 was down; one from a create while
// child 1 was down (the file reaches child 1 only with the heal). After child 1 is back and
// the heal is done, writes through both FDs must land on both bricks (real files on disk), and
// leave nothing to heal. Without fix-open the writes never reached child 1 for the FD's life
// (its storage answers EBADF: "fd not opened here").
func TestFixOpen(t *testing.T) {
	ctx := context.Background()
	k0, d0 := posixLeaf(t, "gv0-client-0")
	k1, d1 := posixLeaf(t, "gv0-client-1")
	a := afrOver(t, map[string]string{"quorum-type": "none", "data-self-heal": "off"}, k0, k1).(*replicate.AFR)
	a.Notify(ctx, graph.EventChildUp, k0)
	a.Notify(ctx, graph.EventChildUp, k1)
	root := graph.RootLoc()
	oldLoc, err := graphtest.WriteFile(ctx, a, root, "old", []byte("xxxxxxxx"))
	if err != nil {
		t.Fatal(err)
	}

	a.Notify(ctx, graph.EventChildDown, k1)
	oldFD, err := graphtest.Open(ctx, a, oldLoc, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer oldFD.Unref()
	newFD, _, err := graphtest.Create(ctx, a, root, "new")
	if err != nil {
		t.Fatal(err)
	}
	defer newFD.Unref()
	a.Notify(ctx, graph.EventChildUp, k1)

	for _, g := range []graph.GFID{graph.RootGFID, oldFD.GFID, newFD.GFID} {
		if _, err := replicate.HealFile(ctx, a, g); err != nil {
			t.Fatalf("heal %s: %v", g, err)
		}
	}
	for _, f := range []*graph.FD{oldFD, newFD} {
		if _, err := a.Writev(ctx, f, []byte("written after the rejoin"), 0, 0, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Fsync(ctx, f, false, nil); err != nil {
			t.Fatalf("fsync: %v", err)
		}
		if _, err := a.Flush(ctx, f, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"old", "new"} {
		for i, d := range []string{d0, d1} {
			b, err := os.ReadFile(filepath.Join(d, name))
			if err != nil {
				t.Fatalf("brick %d: %v", i, err)
			}
			if string(b) != "written after the rejoin" {
				t.Errorf("brick %d: %s holds %q, want the write made through the FD after the rejoin", i, name, b)
			}
		}
	}
	info, err := replicate.HealInfo(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range info {
		if len(c.Entries) > 0 {
			t.Errorf("after the writes reached every copy, child %s still lists %d entries to heal", c.Child, len(c.Entries))
		}
	}
}
