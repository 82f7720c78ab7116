package memory_test

import (
	"testing"

	"github.com/weftfs/weft/graph/graphtest"
)

// A storage leaf does not lock (features/locks does): every other capability is required.
var memoryCaps = graphtest.Caps{Ownership: true, Sparse: true, Permissions: true, OSFDs: true}

func TestConformance(t *testing.T) {
	graphtest.Run(t, graphtest.MemoryFactory, memoryCaps)
}
