package server_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/internal/testbin"
)

// TestConformanceThroughBrickProcess runs the graph conformance suite through protocol/client →
// a real `weft brick` process → features/locks → storage/posix on a temporary directory.
func TestConformanceThroughBrickProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a brick process per subtest")
	}
	testbin.Weft(t)
	// The epoll transport's event loops (epoll and wake-up fds) are created at first use and
	// live as long as the process: start them before the suite counts open fds.
	t.Run("warm-up-epoll", func(t *testing.T) {
		b := startBrick(t, "epoll", nil)
		_, ev := newClient(t, b.srv.Addr().String(), "epoll", nil)
		ev.wait(t, graph.EventChildUp, 5*time.Second)
	})
	factory := func(t testing.TB) graph.Xlator {
		dir := t.TempDir()
		vol := writeBrickVolfile(t, dir, "s3cret")
		addr := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t))
		startBrickProc(t, vol, addr)
		c, ev := newClient(t, addr, "epoll", map[string]string{"auth.secret": "s3cret"})
		ev.wait(t, graph.EventChildUp, 10*time.Second)
		return c
	}
	caps := graphtest.FullCaps
	// Permissions: storage/posix checks access with the caller's uid/gid/groups, which travel in
	// the AUTH_SYS credential of every call; the suite's non-root cases prove they arrive.
	if os.Geteuid() != 0 {
		caps.Ownership = false
	}
	graphtest.Run(t, factory, caps)
}
