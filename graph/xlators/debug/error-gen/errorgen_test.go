package errorgen

import (
	"context"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/volfile"
	"github.com/weftfs/weft/graph/xlators/debug/internal/foptest"
)

func volf(t testing.TB, opts string) *volfile.Volfile {
	return foptest.Volfile(t, "eg", "debug/error-gen", opts)
}

func build(t *testing.T, opts string) (*graph.Graph, *ErrorGen, *foptest.Leaf) {
	g, leaf := foptest.Build(t, "eg", "debug/error-gen", opts)
	return g, g.Find("eg").(*ErrorGen), leaf
}

// TestFailsEveryFop: with the defaults every one of the 45 fops fails with EIO and none
// reaches the child.
func TestFailsEveryFop(t *testing.T) {
	g, x, leaf := build(t, "")
	loc, fd := foptest.Fixture()
	defer fd.Unref()
	errs := foptest.CallAll(context.Background(), g.Top, loc, fd, []byte("x"))
	for f := graph.Fop(0); f < graph.NumFops; f++ {
		if graph.Errno(errs[f]) != unix.EIO {
			t.Errorf("%s: %v, want EIO", f, errs[f])
		}
	}
	if leaf.Total() != 0 || x.Injected() != uint64(graph.NumFops) {
		t.Fatalf("child saw %d fops, injected %d", leaf.Total(), x.Injected())
	}
}

func TestEnableErrnoAndRate(t *testing.T) {
	g, x, leaf := build(t, " option enable writev,CREATE lookup\n option error-no enospc\n option failure 50\n")
	loc, fd := foptest.Fixture()
	defer fd.Unref()
	ctx := context.Background()
	for round := 1; round <= 4; round++ {
		errs := foptest.CallAll(ctx, g.Top, loc, fd, []byte("x"))
		for f := graph.Fop(0); f < graph.NumFops; f++ {
			enabled := f == graph.FopWritev || f == graph.FopCreate || f == graph.FopLookup
			if !enabled && errs[f] != nil {
				t.Fatalf("round %d: %s failed but is not enabled: %v", round, f, errs[f])
			}
		}
		// Enabled fops share one counter; at 50%, every second enabled fop fails.
		nfail := 0
		for _, f := range []graph.Fop{graph.FopLookup, graph.FopCreate, graph.FopWritev} {
			if errs[f] != nil {
				if graph.Errno(errs[f]) != unix.ENOSPC {
					t.Fatalf("%s: %v", f, errs[f])
				}
				nfail++
			}
		}
		if nfail < 1 || nfail > 2 {
			t.Fatalf("round %d: %d of 3 enabled fops failed", round, nfail)
		}
	}
	if x.Injected() != 6 { // 12 enabled fops at 50%
		t.Fatalf("injected %d, want 6", x.Injected())
	}
	if leaf.Calls(graph.FopWritev)+leaf.Calls(graph.FopCreate)+leaf.Calls(graph.FopLookup) != 6 || leaf.Calls(graph.FopStat) != 4 {
		t.Fatalf("child calls wrong")
	}
}

// TestRandomSeeded: the random mode with a seed is reproducible and near the rate.
func TestRandomSeeded(t *testing.T) {
	pattern := func() []bool {
		g, _, _ := build(t, " option random-failure on\n option seed 42\n option failure 30\n option enable stat\n")
		var p []bool
		for i := 0; i < 1000; i++ {
			_, _, err := g.Top.Stat(context.Background(), graph.RootLoc(), nil)
			p = append(p, err != nil)
		}
		return p
	}
	a, b := pattern(), pattern()
	n := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different outcome at %d", i)
		}
		if a[i] {
			n++
		}
	}
	if n < 240 || n > 360 {
		t.Fatalf("%d of 1000 failed at 30%%", n)
	}
}

func TestBadOptionsAndReconfigure(t *testing.T) {
	foptest.Register()
	for _, c := range []struct{ opts, want string }{
		{" option error-no ENOTANERRNO\n", `volfile:6: volume eg (debug/error-gen): option error-no "ENOTANERRNO": not an errno name (like EIO or ENOSPC)`},
		{" option enable lookup,frobnicate\n", `volfile:6: volume eg (debug/error-gen): option enable "lookup,frobnicate": unknown fop "frobnicate"`},
		{" option failure 150\n", `volfile:6: volume eg (debug/error-gen): option failure "150": not a percentage (0-100)`},
	} {
		if _, err := graph.Build(volf(t, c.opts), nil); err == nil || err.Error() != c.want {
			t.Errorf("got %v\nwant %s", err, c.want)
		}
	}
	g, x, _ := build(t, " option enable stat\n")
	if _, _, err := g.Top.Stat(context.Background(), graph.RootLoc(), nil); graph.Errno(err) != unix.EIO {
		t.Fatalf("stat: %v", err)
	}
	// A bad reconfigure is rejected and the old configuration stays.
	if err := g.Reconfigure(volf(t, " option enable stat\n option error-no EBOGUS\n")); err == nil {
		t.Fatal("bad error-no accepted on reconfigure")
	}
	if _, _, err := g.Top.Stat(context.Background(), graph.RootLoc(), nil); graph.Errno(err) != unix.EIO {
		t.Fatalf("stat after rejected reconfigure: %v", err)
	}
	if err := g.Reconfigure(volf(t, " option enable stat\n option failure 0\n")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.Top.Stat(context.Background(), graph.RootLoc(), nil); err != nil {
		t.Fatalf("stat after failure 0: %v", err)
	}
	if x.Injected() != 2 {
		t.Fatalf("injected %d", x.Injected())
	}
}
