package delaygen

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/volfile"
	"github.com/weftfs/weft/graph/xlators/debug/internal/foptest"
)

func volf(t testing.TB, opts string) *volfile.Volfile {
	return foptest.Volfile(t, "dg", "debug/delay-gen", opts)
}

func build(t *testing.T, opts string) (*graph.Graph, *DelayGen, *foptest.Leaf) {
	g, leaf := foptest.Build(t, "dg", "debug/delay-gen", opts)
	return g, g.Find("dg").(*DelayGen), leaf
}

// TestDelaysEveryFop: at 100% with a 2ms delay, every one of the 45 fops is delayed, succeeds
// and reaches the child.
func TestDelaysEveryFop(t *testing.T) {
	g, x, leaf := build(t, " option delay-percentage 100\n option delay-duration 2ms\n")
	loc, fd := foptest.Fixture()
	defer fd.Unref()
	start := time.Now()
	errs := foptest.CallAll(context.Background(), g.Top, loc, fd, []byte("x"))
	took := time.Since(start)
	for f := graph.Fop(0); f < graph.NumFops; f++ {
		if errs[f] != nil || leaf.Calls(f) != 1 {
			t.Errorf("%s: %v, child calls %d", f, errs[f], leaf.Calls(f))
		}
	}
	if x.Delayed() != uint64(graph.NumFops) || took < time.Duration(graph.NumFops)*2*time.Millisecond {
		t.Fatalf("delayed %d in %v", x.Delayed(), took)
	}
}

func TestPercentageAndEnable(t *testing.T) {
	g, x, _ := build(t, " option delay-percentage 25\n option delay-duration 1ms\n option enable STAT\n")
	ctx := context.Background()
	for i := 0; i < 40; i++ {
		g.Top.Stat(ctx, graph.RootLoc(), nil)
		g.Top.Lookup(ctx, graph.RootLoc(), nil)
	}
	if x.Delayed() != 10 {
		t.Fatalf("delayed %d of 40 enabled fops at 25%%, want 10", x.Delayed())
	}
}

func TestCancelDuringDelay(t *testing.T) {
	g, _, leaf := build(t, " option delay-percentage 100\n option delay-duration 1h\n")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := g.Top.Lookup(ctx, graph.RootLoc(), nil)
	if graph.Errno(err) != unix.EINTR || !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want EINTR wrapping context.Canceled", err)
	}
	if time.Since(start) > 5*time.Second || leaf.Total() != 0 {
		t.Fatalf("cancel not honoured promptly (%v) or fop reached the child", time.Since(start))
	}
	// A deadline also interrupts.
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer dcancel()
	_, _, err = g.Top.Stat(dctx, graph.RootLoc(), nil)
	if graph.Errno(err) != unix.EINTR || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	foptest.Register()
	for _, c := range []struct{ opts, want string }{
		{" option enable nope\n", `volfile:6: volume dg (debug/delay-gen): option enable "nope": unknown fop "nope"`},
		{" option delay-duration soon\n", `volfile:6: volume dg (debug/delay-gen): option delay-duration "soon": not a duration`},
		{" option delay-percentage -1\n", `volfile:6: volume dg (debug/delay-gen): option delay-percentage "-1": not a percentage (0-100)`},
	} {
		if _, err := graph.Build(volf(t, c.opts), nil); err == nil || err.Error() != c.want {
			t.Errorf("got %v\nwant %s", err, c.want)
		}
	}
}
