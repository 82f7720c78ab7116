package trace

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/volfile"
	"github.com/weftfs/weft/graph/xlators/debug/internal/foptest"
)

func build(t *testing.T, opts string, level zapcore.Level) (*graph.Graph, *foptest.Leaf, *observer.ObservedLogs) {
	t.Helper()
	foptest.Register()
	core, logs := observer.New(level)
	src := "volume leaf\n type test/leaf\nend-volume\nvolume tr\n type debug/trace\n" + opts + " subvolumes leaf\nend-volume\n"
	vf, err := volfile.ParseString(src)
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.Build(vf, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Activate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Fini)
	return g, g.Find("leaf").(*foptest.Leaf), logs
}

// TestTraceLogsEveryFop drives all 45 fops through trace and checks each was passed to the
// child once and logged twice (call and result) with its errno.
func TestTraceLogsEveryFop(t *testing.T) {
	g, leaf, logs := build(t, "", zapcore.DebugLevel)
	leaf.SetFail(graph.Errorf(unix.ENOSPC, "full"))
	loc, fd := foptest.Fixture()
	defer fd.Unref()
	errs := foptest.CallAll(context.Background(), g.Top, loc, fd, []byte("hello"))
	for f := graph.Fop(0); f < graph.NumFops; f++ {
		if graph.Errno(errs[f]) != unix.ENOSPC {
			t.Errorf("%s: error %v, want the child's ENOSPC", f, errs[f])
		}
		if leaf.Calls(f) != 1 {
			t.Errorf("%s reached the child %d times", f, leaf.Calls(f))
		}
		calls := logs.FilterMessage("fop call").FilterField(zap.Stringer("fop", f)).Len()
		results := logs.FilterMessage("fop result").FilterField(zap.Stringer("fop", f)).FilterField(zap.Int("errno", int(unix.ENOSPC)))
		if calls != 1 || results.Len() != 1 {
			t.Errorf("%s: %d call logs, %d result logs with ENOSPC", f, calls, results.Len())
		}
	}
	for _, e := range logs.All() {
		if e.Level != zapcore.DebugLevel || e.LoggerName != "tr" {
			t.Fatalf("log entry at %v from %q", e.Level, e.LoggerName)
		}
	}
}

func TestTraceIncludeExclude(t *testing.T) {
	g, _, logs := build(t, " option include-ops LOOKUP,writev read\n", zapcore.DebugLevel)
	loc, fd := foptest.Fixture()
	defer fd.Unref()
	foptest.CallAll(context.Background(), g.Top, loc, fd, []byte("x"))
	var seen []string
	for _, e := range logs.FilterMessage("fop result").All() {
		seen = append(seen, e.ContextMap()["fop"].(string))
	}
	if strings.Join(seen, ",") != "Lookup,Readv,Writev" {
		t.Fatalf("logged %v", seen)
	}

	// Reconfigure live to exclude-ops.
	tr := g.Find("tr").(*Trace)
	vf, _ := volfile.ParseString("volume leaf\n type test/leaf\nend-volume\nvolume tr\n type debug/trace\n option exclude-ops lookup\n subvolumes leaf\nend-volume\n")
	if err := g.Reconfigure(vf); err != nil {
		t.Fatal(err)
	}
	if tr.Traced(graph.FopLookup) || !tr.Traced(graph.FopStat) {
		t.Fatalf("reconfigure not applied")
	}

	// Nothing is logged above debug level.
	g2, _, logs2 := build(t, "", zapcore.InfoLevel)
	foptest.CallAll(context.Background(), g2.Top, loc, fd, nil)
	if logs2.Len() != 0 {
		t.Fatalf("%d entries logged at info level", logs2.Len())
	}
}

func TestTraceBadOptions(t *testing.T) {
	foptest.Register()
	for _, c := range []struct{ opts, want string }{
		{" option include-ops lookup bogus\n", `volfile:5: volume tr (debug/trace): option include-ops "lookup bogus": unknown fop "bogus"`},
		{" option include-ops lookup\n option exclude-ops stat\n", "volfile:6: volume tr (debug/trace): option exclude-ops \"stat\": give include-ops or exclude-ops, not both"},
		{" option log-level debug\n", `volfile:5: volume tr (debug/trace): option "log-level": unknown option`},
	} {
		vf, err := volfile.ParseString("volume leaf\n type test/leaf\nend-volume\nvolume tr\n" + c.opts + " type debug/trace\n subvolumes leaf\nend-volume\n")
		if err != nil {
			t.Fatal(err)
		}
		_, err = graph.Build(vf, nil)
		var be *graph.BuildError
		if !errors.As(err, &be) || err.Error() != c.want {
			t.Errorf("got %v\nwant %s", err, c.want)
		}
	}
}
