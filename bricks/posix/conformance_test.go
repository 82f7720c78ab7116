package posix

import (
	"testing"

	"go.uber.org/zap"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
)

// TestConformance runs the shared translator conformance suite against posix on a temporary
// directory. The process runs as root, so ownership is honoured; locking is features/locks'
// job (posix answers ENOSYS) and access checks are the access-control translator's.
func TestConformance(t *testing.T) {
	graphtest.Run(t, func(tb testing.TB) graph.Xlator {
		dir := tb.TempDir()
		requireTrustedXattrs(tb, dir)
		x, err := graph.Construct("storage/posix", "posix", map[string]string{"directory": dir, "health-check-interval": "0"}, zap.NewNop())
		if err != nil {
			tb.Fatal(err)
		}
		graphtest.Activate(tb, x)
		return x
	}, graphtest.Caps{Ownership: true, Sparse: true, OSFDs: true, Permissions: true})
}
