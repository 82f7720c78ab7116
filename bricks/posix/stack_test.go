package posix_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"

	_ "github.com/weftfs/weft/bricks/posix"
	_ "github.com/weftfs/weft/graph/xlators/debug/io-stats"
	_ "github.com/weftfs/weft/graph/xlators/debug/trace"
	_ "github.com/weftfs/weft/graph/xlators/features/locks"
)

// stackVolfile is a brick graph as a volfile: storage/posix on dir, features/locks, then
// debug/io-stats and, when withTrace, debug/trace on top (GlusterFS brick volfiles stack
// posix → locks → … → io-stats the same way).
func stackVolfile(dir string, withTrace bool) string {
	s := fmt.Sprintf(`volume brick-posix
    type storage/posix
    option directory %s
    option health-check-interval 0
    option reserve 0
end-volume

volume brick-locks
    type features/locks
    subvolumes brick-posix
end-volume

volume brick-io-stats
    type debug/io-stats
    option latency-measurement on
    option count-fop-hits on
    subvolumes brick-locks
end-volume
`, dir)
	if withTrace {
		s += `
volume brick-trace
    type debug/trace
    subvolumes brick-io-stats
end-volume
`
	}
	return s
}

// buildStack writes the volfile to a file, builds it with graph.BuildFile, activates it and
// waits for CHILD_UP; t.Cleanup finalises the graph.
func buildStack(t testing.TB, withTrace bool) (*graph.Graph, string) {
	t.Helper()
	dir := t.TempDir()
	brick := filepath.Join(dir, "brick")
	if err := os.Mkdir(brick, 0755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(brick, "trusted.weft-probe", []byte{1}, 0); err != nil {
		t.Fatalf("the brick file system or user cannot store trusted.* xattrs (run as root on ext4/xfs/tmpfs): %v", err)
	}
	_ = unix.Removexattr(brick, "trusted.weft-probe")
	vf := filepath.Join(dir, "brick.vol")
	if err := os.WriteFile(vf, []byte(stackVolfile(brick, withTrace)), 0644); err != nil {
		t.Fatal(err)
	}
	g, err := graph.BuildFile(vf, zap.NewNop())
	if err != nil {
		t.Fatalf("build %s: %v", vf, err)
	}
	up := make(chan struct{})
	var once sync.Once
	g.SetEventHandler(func(ctx context.Context, ev graph.Event, from graph.Xlator) {
		if ev == graph.EventChildUp {
			once.Do(func() { close(up) })
		}
	})
	if err := g.Activate(context.Background()); err != nil {
		t.Fatalf("activate: %v", err)
	}
	t.Cleanup(g.Fini)
	select {
	case <-up:
	case <-time.After(10 * time.Second):
		t.Fatalf("no CHILD_UP from the top of the brick graph")
	}
	return g, brick
}

// TestStackConformance runs the conformance suite with every capability on the brick stack
// storage/posix → features/locks → debug/io-stats → debug/trace built from a volfile.
func TestStackConformance(t *testing.T) {
	graphtest.Run(t, func(tb testing.TB) graph.Xlator {
		g, _ := buildStack(tb, true)
		want := []string{"storage/posix", "features/locks", "debug/io-stats", "debug/trace"}
		if len(g.Xlators) != len(want) {
			tb.Fatalf("graph has %d translators, want %d", len(g.Xlators), len(want))
		}
		for i, x := range g.Xlators {
			if x.Type() != want[i] {
				tb.Fatalf("translator %d is %s, want %s", i, x.Type(), want[i])
			}
		}
		return g.Top
	}, graphtest.FullCaps)
}
