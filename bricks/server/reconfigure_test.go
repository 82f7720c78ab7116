package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/bricks/server"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/volfile"
	iostats "github.com/weftfs/weft/graph/xlators/debug/io-stats"
	"github.com/weftfs/weft/graph/xlators/features/locks"
)

// brickVolfile is a brick graph as volgen writes it: posix → locks → io-stats → server.
func brickVolfile(t *testing.T, dir, listen, ioOpts, srvOpts string) *volfile.Volfile {
	t.Helper()
	src := fmt.Sprintf(`volume brick-posix
    type storage/posix
    option directory %s
    option health-check-interval 0
end-volume

volume brick-locks
    type features/locks
    subvolumes brick-posix
end-volume

volume %s
    type debug/io-stats
%s    subvolumes brick-locks
end-volume

volume brick-server
    type protocol/server
    option listen %s
%s    subvolumes %s
end-volume
`, dir, dir, ioOpts, listen, srvOpts, dir)
	vf, err := volfile.ParseString(src)
	if err != nil {
		t.Fatal(err)
	}
	return vf
}

// TestLiveReconfigureKeepsClients: a brick graph switched with graph.Active.Switch to a volfile
// of the same shape applies option changes in place: the connected client keeps its
// connection, its open fd and its lock; io-stats and locks options take effect; the server's
// auth.reject takes effect and disconnects a client it now refuses; a new listen address is
// refused by the server, which keeps its listener and clients.
func TestLiveReconfigureKeepsClients(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a := graph.NewActive(zap.NewNop(), nil)
	defer a.Close(ctx)
	if err := a.Switch(ctx, brickVolfile(t, dir, "127.0.0.1:0", "", "")); err != nil {
		t.Fatal(err)
	}
	g := a.Current()
	srv := g.Top.(*server.Server)
	addr := srv.Addr().String()
	ios := g.Find(dir).(*iostats.IOStats)
	lk := g.Find("brick-locks").(*locks.Locks)

	c, ev := newClient(t, addr, "epoll", map[string]string{"remote-subvolume": dir})
	ev.wait(t, graph.EventChildUp, 5*time.Second)
	loc := graph.RootLoc().Child("f")
	gfid := graph.NewGFID()
	fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	defer fd.Unref()
	if _, err := c.Create(ctx, loc, unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, graph.Xdata{"gfid-req": gfid[:]}); err != nil {
		t.Fatal(err)
	}
	cctx := graph.WithCreds(ctx, &graph.Creds{LkOwner: []byte("owner-1"), Pid: 1})
	if _, _, err := c.Lk(cctx, fd, graph.SetLk, &graph.Flock{Type: graph.LockWrite}, nil); err != nil {
		t.Fatal(err)
	}
	before := ios.Snapshot().Fops[graph.FopWritev].Count

	// Counting off, locks trace on: in place, same translators.
	port := addr[strings.LastIndex(addr, ":")+1:]
	listen := "127.0.0.1:" + port
	next := brickVolfile(t, dir, listen, "    option count-fop-hits off\n    option latency-measurement off\n",
		"    option auth.reject 10.9.9.9\n")
	next.Volumes[1].Options["trace"] = "on"
	if err := a.Switch(ctx, next); err != nil {
		t.Fatalf("switch: %v", err)
	}
	if a.Current() != g {
		t.Fatal("a same-shape volfile built a new graph")
	}
	if _, err := c.Writev(ctx, fd, []byte("after reconfigure"), 0, 0, nil); err != nil {
		t.Fatalf("write on the fd opened before the reconfigure: %v", err)
	}
	if got := ios.Snapshot().Fops[graph.FopWritev].Count; got != before {
		t.Fatalf("count-fop-hits off: writev count went %d → %d", before, got)
	}
	if !lk.Options().Bool("trace") || lk.Stats().Posix != 1 {
		t.Fatalf("locks: trace %v, posix locks %d (want on, 1)", lk.Options().Bool("trace"), lk.Stats().Posix)
	}
	if srv.Clients() != 1 || srv.OpenFDs() != 1 {
		t.Fatalf("clients %d, fds %d after reconfigure", srv.Clients(), srv.OpenFDs())
	}

	// A new listen address cannot be applied to a live server: refused, the client stays.
	moved := brickVolfile(t, dir, "127.0.0.1:1", "", "")
	if err := a.Switch(ctx, moved); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("listen change: %v", err)
	}
	if _, err := c.Writev(ctx, fd, []byte("still served"), 0, 0, nil); err != nil {
		t.Fatalf("write after a refused reconfigure: %v", err)
	}

	// auth.reject of the client's address: it is disconnected, its fd and lock released.
	reject := brickVolfile(t, dir, listen, "", "    option auth.reject 127.0.0.1\n")
	if err := a.Switch(ctx, reject); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return srv.OpenFDs() == 0 && lk.Stats().Posix == 0 }, "the refused client's fd and lock are released")
	if _, err := c.Writev(ctx, fd, []byte("x"), 0, 0, nil); err == nil {
		t.Fatal("a refused client still writes")
	} else if !errors.Is(err, unix.ENOTCONN) && !errors.Is(err, unix.EBADF) && !errors.Is(err, unix.EIO) {
		t.Logf("write after reject: %v", err)
	}
}
