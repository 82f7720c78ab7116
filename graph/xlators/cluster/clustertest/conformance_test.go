package clustertest

import (
	"testing"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/internal/testbin"
)

func factory(kind Kind, lay Layout) graphtest.Factory {
	return func(t testing.TB) graph.Xlator {
		b := New(t, kind, "")
		if kind == KindBrick {
			b.Bin = testbin.Weft(t)
		}
		top := lay.Build(b)
		b.Activate(top)
		return top
	}
}

// TestConformanceMemory runs the conformance suite on every layout over storage/memory leaves
// with features/locks above each.
func TestConformanceMemory(t *testing.T) {
	for _, lay := range Layouts {
		t.Run(lay.Name, func(t *testing.T) {
			graphtest.Run(t, factory(KindMemory, lay), graphtest.FullCaps)
		})
	}
}

// TestConformancePosix runs the suite on every layout over storage/posix on temporary
// directories with features/locks above each.
func TestConformancePosix(t *testing.T) {
	for _, lay := range Layouts {
		t.Run(lay.Name, func(t *testing.T) {
			graphtest.Run(t, factory(KindPosix, lay), graphtest.Caps{Locks: true, Ownership: true, Sparse: true, OSFDs: true, Permissions: true})
		})
	}
}

// TestConformanceBricks runs the suite on every layout over real `weft brick` processes
// (protocol/client → storage/posix → features/locks → debug/io-stats → protocol/server); with
// -short only distribute 2 × replicate 2.
func TestConformanceBricks(t *testing.T) {
	testbin.Weft(t)
	for _, lay := range Layouts {
		if testing.Short() && lay.Name != "distribute2x2" {
			continue
		}
		t.Run(lay.Name, func(t *testing.T) {
			// Brick processes do no permission checks for non-root callers (features/access-control
			// is not in the brick yet), as bricks/server's own conformance test notes.
			graphtest.Run(t, factory(KindBrick, lay), graphtest.Caps{Locks: true, Ownership: true, Sparse: true})
		})
	}
}
