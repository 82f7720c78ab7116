package locks_test

import (
	"testing"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/features/locks"
)

// TestConformance runs the graph conformance suite on features/locks over a storage/memory
// leaf, with the lock semantics checked (Caps.Locks).
func TestConformance(t *testing.T) {
	graphtest.Run(t, func(t testing.TB) graph.Xlator {
		return graphtest.Stack(t, graphtest.Layer{Type: locks.Type})
	}, graphtest.FullCaps)
}
