package replicate_test

import (
	"fmt"
	"testing"

	"go.uber.org/zap"

	_ "github.com/weftfs/weft/bricks/posix"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/cluster/replicate"
	"github.com/weftfs/weft/graph/xlators/features/index"
	"github.com/weftfs/weft/graph/xlators/features/locks"
)

// memLeaf is features/locks over storage/memory: a brick without the network.
func memLeaf(t testing.TB, name string) graph.Xlator {
	m := graphtest.NewMemory(t, name+"-mem", nil)
	l, err := graph.Construct(locks.Type, name, nil, zap.NewNop(), m)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// posixLeaf is features/index → features/locks → storage/posix on a temporary directory, the
// GlusterFS brick order.
func posixLeaf(t testing.TB, name string) (graph.Xlator, string) {
	dir := t.TempDir()
	p, err := graph.Construct("storage/posix", name+"-posix", map[string]string{"directory": dir, "health-check-interval": "0"}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	l, err := graph.Construct(locks.Type, name+"-locks", nil, zap.NewNop(), p)
	if err != nil {
		t.Fatal(err)
	}
	x, err := graph.Construct(index.Type, name, map[string]string{"index-base": dir + "/.glusterfs/indices"}, zap.NewNop(), l)
	if err != nil {
		t.Fatal(err)
	}
	return x, dir
}

func afrOver(t testing.TB, opts map[string]string, kids ...graph.Xlator) graph.Xlator {
	x, err := graph.Construct(replicate.Type, "gv0-replicate-0", opts, zap.NewNop(), kids...)
	if err != nil {
		t.Fatal(err)
	}
	graphtest.Activate(t, x)
	return x
}

func TestConformanceReplica3Memory(t *testing.T) {
	graphtest.Run(t, func(tb testing.TB) graph.Xlator {
		var kids []graph.Xlator
		for i := 0; i < 3; i++ {
			kids = append(kids, memLeaf(tb, fmt.Sprintf("gv0-client-%d", i)))
		}
		return afrOver(tb, nil, kids...)
	}, graphtest.FullCaps)
}

func TestConformanceReplica2ArbiterMemory(t *testing.T) {
	graphtest.Run(t, func(tb testing.TB) graph.Xlator {
		var kids []graph.Xlator
		for i := 0; i < 3; i++ {
			kids = append(kids, memLeaf(tb, fmt.Sprintf("gv0-client-%d", i)))
		}
		return afrOver(tb, map[string]string{"arbiter-count": "1"}, kids...)
	}, graphtest.FullCaps)
}

func TestConformanceReplica3Posix(t *testing.T) {
	if testing.Short() {
		t.Skip("posix conformance over three bricks: long")
	}
	graphtest.Run(t, func(tb testing.TB) graph.Xlator {
		var kids []graph.Xlator
		for i := 0; i < 3; i++ {
			x, _ := posixLeaf(tb, fmt.Sprintf("gv0-client-%d", i))
			kids = append(kids, x)
		}
		return afrOver(tb, nil, kids...)
	}, graphtest.Caps{Locks: true, Ownership: true, Sparse: true, OSFDs: true, Permissions: true})
}
