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

// TestRenameOverHardLinkQuorumAuto replays the sequence TestModelDistRep2QuorumAuto found
// (rapid failure 20261122062202-7873) on distribute 2 × replicate 2 with
// quorum auto: create /dd; link /dd → /b; (the first brick of replica set 1 goes down); create
// /a; rename /a → /b. With the brick down, the old /b's hard link lives on the set that lost
// quorum: the rename must fail with EROFS and change nothing (it used to succeed and leave
// readdir listing b twice). All up, it succeeds and / lists [b dd].
func TestRenameOverHardLinkQuorumAuto(t *testing.T) {
	for _, down := range []bool{false, true} {
		t.Run(fmt.Sprintf("down=%v", down), func(t *testing.T) {
			ctx := context.Background()
			b := New(t, KindMemory, "")
			b.ErrorGen = true
			top := Dist2x2(map[string]string{"quorum-type": "auto"})(b)
			b.Activate(top)
			root := graph.RootLoc()
			lookup := func(p string) (*graph.Loc, graph.Iatt) {
				t.Helper()
				loc, st, err := graphtest.LookupPath(ctx, top, p)
				if err != nil {
					t.Fatalf("lookup %s: %v", p, err)
				}
				return loc, st
			}
			list := func() string {
				t.Helper()
				ents, err := graphtest.ReadDirAll(ctx, top, root, true, 4096)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range ents {
					got = append(got, e.Name)
				}
				sort.Strings(got)
				return strings.Join(got, " ")
			}
			if _, err := graphtest.WriteFile(ctx, top, root, "dd", []byte("dd-data")); err != nil {
				t.Fatal(err)
			}
			ddLoc, ddSt := lookup("/dd")
			if _, err := top.Link(ctx, ddLoc, root.Child("b"), nil); err != nil {
				t.Fatalf("link /dd → /b: %v", err)
			}
			if down {
				if err := b.Leaves[2].SetDown(ctx, true); err != nil { // set 1, child 0
					t.Fatal(err)
				}
			}
			if _, err := graphtest.WriteFile(ctx, top, root, "a", []byte("a-data")); err != nil {
				t.Fatalf("create /a: %v", err)
			}
			aLoc, aSt := lookup("/a")
			_, err := top.Rename(ctx, aLoc, root.Child("b"), nil)
			if down {
				// Where the names landed decides whether the rename needs set 1; the replayed
				// failure had dd on set 1 and a, b hashed to set 0.
				switch graph.Errno(err) {
				case unix.EROFS:
					if got := list(); got != "a b dd" {
						t.Fatalf("after a failed rename / lists [%s], want [a b dd]", got)
					}
					if _, st := lookup("/b"); st.GFID != ddSt.GFID {
						t.Fatalf("after a failed rename /b is %v, want dd's %v", st.GFID, ddSt.GFID)
					}
					if got, err := graphtest.ReadFile(ctx, top, aLoc); err != nil || string(got) != "a-data" {
						t.Fatalf("after a failed rename /a reads %q, %v", got, err)
					}
					return
				case 0:
				default:
					t.Fatalf("rename /a → /b: %v", err)
				}
			} else if err != nil {
				t.Fatalf("rename /a → /b: %v", err)
			}
			if got := list(); got != "b dd" {
				t.Fatalf("/ lists [%s], want [b dd]", got)
			}
			bLoc, bSt := lookup("/b")
			if bSt.GFID != aSt.GFID {
				t.Fatalf("/b is %v, want a's %v", bSt.GFID, aSt.GFID)
			}
			if got, err := graphtest.ReadFile(ctx, top, bLoc); err != nil || string(got) != "a-data" {
				t.Fatalf("/b reads %q, %v", got, err)
			}
			if got, err := graphtest.ReadFile(ctx, top, ddLoc); err != nil || string(got) != "dd-data" {
				t.Fatalf("/dd reads %q, %v", got, err)
			}
		})
	}
}
