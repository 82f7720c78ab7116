package clustertest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/cluster/distribute"
)

// A rename that dies half-way leaves its temporary names on the bricks: a hard link of the
// replaced destination (.weft-dht-rename-dst-<gfid>: the file may still have its real name, or
// the temporary name is its last one) and the new name's link file (.weft-dht-rename-<gfid>).
// The fix-layout/rebalance crawl removes those older than rename-leftover-age, in every
// directory, and keeps younger ones (a rename may be using them) and everything else.
func TestDhtRebalanceRemovesRenameLeftovers(t *testing.T) {
	ctx := context.Background()
	bricks := posixStacks(t, 3)
	cli := dhtOver(t, bricks, nil)
	root := graph.RootLoc()
	sub, err := cli.Mkdir(ctx, &graph.Loc{Path: "/sub", Name: "sub", ParentGFID: graph.RootGFID}, 0o755, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	subLoc := &graph.Loc{Path: "/sub", Name: "sub", ParentGFID: graph.RootGFID, GFID: sub.Stat.GFID}

	type leftover struct {
		brick int
		dir   graph.GFID
		name  string
	}
	var lefts []leftover
	type kept struct {
		loc  *graph.Loc
		data []byte
	}
	var keep []kept
	for _, dir := range []*graph.Loc{root, subLoc} {
		dirGFID := dir.GFID
		if dirGFID.IsZero() {
			dirGFID = graph.RootGFID
		}
		// A file that keeps its real name, with a second name left by a rename.
		data := []byte("still here: " + dir.Path)
		loc, err := graphtest.WriteFile(ctx, cli, dir, "keep", data)
		if err != nil {
			t.Fatal(err)
		}
		lr, err := cli.Lookup(ctx, loc, nil)
		if err != nil {
			t.Fatal(err)
		}
		loc.GFID = lr.Stat.GFID
		keep = append(keep, kept{loc, data})
		on, _ := placement(t, bricks, dirGFID, "keep")
		if len(on) != 1 {
			t.Fatalf("keep: data on %v", on)
		}
		stash := &graph.Loc{Name: ".weft-dht-rename-dst-" + lr.Stat.GFID.String(), ParentGFID: dirGFID}
		if _, err := bricks[on[0]].Link(ctx, &graph.Loc{GFID: lr.Stat.GFID}, stash, nil); err != nil {
			t.Fatalf("stash link: %v", err)
		}
		lefts = append(lefts, leftover{on[0], dirGFID, stash.Name})
		// An orphan: the replaced file's last name.
		og := graph.NewGFID()
		orphan := &graph.Loc{Name: ".weft-dht-rename-dst-" + og.String(), ParentGFID: dirGFID}
		ob := (on[0] + 1) % len(bricks)
		if _, err := bricks[ob].Mknod(ctx, orphan, unix.S_IFREG|0o644, 0, 0, graph.Xdata{distribute.GFIDReqKey: og[:]}); err != nil {
			t.Fatalf("orphan: %v", err)
		}
		lefts = append(lefts, leftover{ob, dirGFID, orphan.Name})
		// The new name's link file, made under its temporary name.
		lb := (on[0] + 2) % len(bricks)
		tmpName := ".weft-dht-rename-" + graph.NewGFID().String()
		makeStaleLinkfile(t, bricks, dirGFID, tmpName, lb, on[0])
		lefts = append(lefts, leftover{lb, dirGFID, tmpName})
	}
	present := func() int {
		n := 0
		for _, l := range lefts {
			if got := brickEntry(bricks[l.brick], l.dir, l.name); got != "none" {
				n++
			}
		}
		return n
	}

	// Young leftovers stay (default age: 10 minutes).
	if err := distribute.FixLayout(ctx, dhtOver(t, bricks, nil), root); err != nil {
		t.Fatal(err)
	}
	if n := present(); n != len(lefts) {
		t.Errorf("fix-layout removed %d temporary names younger than rename-leftover-age", len(lefts)-n)
	}

	time.Sleep(1100 * time.Millisecond)
	reb := dhtOver(t, bricks, map[string]string{"rename-leftover-age": "1"})
	st, err := distribute.Rebalance(ctx, reb, nil)
	if err != nil {
		t.Fatalf("rebalance: %v", err)
	}
	if n := present(); n != 0 {
		t.Errorf("%d of %d rename leftovers older than rename-leftover-age are still there", n, len(lefts))
		for _, l := range lefts {
			t.Logf("brick %d %s: %s", l.brick, l.name, brickEntry(bricks[l.brick], l.dir, l.name))
		}
	}
	if st.Leftovers != len(lefts) {
		t.Errorf("rebalance status: %d leftovers removed, want %d", st.Leftovers, len(lefts))
	}
	check := dhtOver(t, bricks, nil)
	for _, k := range keep {
		got, err := graphtest.ReadFile(ctx, check, k.loc)
		if err != nil || !bytes.Equal(got, k.data) {
			t.Errorf("%s: %q, %v; want %q", k.loc.Path, got, err, k.data)
		}
		lr, err := check.Lookup(ctx, k.loc, nil)
		if err != nil || lr.Stat.Nlink != 1 {
			t.Errorf("%s: nlink %d, %v; want 1", k.loc.Path, lr.Stat.Nlink, err)
		}
	}
}
