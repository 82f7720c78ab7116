package server_test

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/gateway/nfstest"
	"github.com/weftfs/weft/gateway/nlm"
	"github.com/weftfs/weft/gateway/server"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/rpc"
	"github.com/weftfs/weft/graph/xlators/protocol/client"
)

// One NLM serves the locks of every volume of a multi-volume gateway: each lock goes to the
// graph of the volume its handle names (a lock in one volume does not conflict with the other
// volume's file of the same name), and a lock on a volume not served is refused.
func TestGatewayNLMEveryVolume(t *testing.T) {
	ctx := context.Background()
	a1, b1 := startBrick(t), startBrick(t)
	gw := startMulti(t)
	if err := gw.SetVolumes(ctx, []server.VolumeSpec{
		{Name: "alpha", Volfile: parseVF(t, clientVolfile("alpha", 5, a1)), Exports: noSquash("alpha")},
		{Name: "beta", Volfile: parseVF(t, clientVolfile("beta", 5, b1)), Exports: noSquash("beta")},
	}); err != nil {
		t.Fatal(err)
	}
	lk, err := gw.StartLocking(ctx, server.LockingConfig{StateDir: t.TempDir(), NLMPort: -1, NSMPort: -1, Grace: -1, Hostname: "gw"})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	c, err := nfstest.Dial(ctx, gw.NFSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fa, err := c.CreateFH(ctx, mnt(t, c, "/alpha"), "f", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := c.CreateFH(ctx, mnt(t, c, "/beta"), "f", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := rpc.Dial(dctx, "tcp", lk.NLMAddr().(*net.TCPAddr).String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	lock := func(host string, svid int32, fh []byte) nlm.Stat {
		t.Helper()
		args := nlm.AppendLockArgs(nil, nlm.V4, &nlm.LockArgs{Cookie: []byte{1}, Exclusive: true,
			Lock: nlm.Lock{CallerName: host, FH: fh, OH: []byte(host), Svid: svid, Offset: 0, Len: 10}})
		res, err := cl.Call(ctx, nlm.Program, nlm.V4, nlm.ProcLock, args, rpc.NoAuth)
		if err != nil {
			t.Fatal(err)
		}
		r, err := nlm.DecodeRes(res)
		if err != nil {
			t.Fatal(err)
		}
		return r.Stat
	}
	if st := lock("hostA", 1, fa); st != nlm.Granted {
		t.Fatalf("lock alpha/f by A: %v", st)
	}
	if st := lock("hostB", 2, fb); st != nlm.Granted {
		t.Fatalf("lock beta/f by B (another volume's file): %v", st)
	}
	if st := lock("hostB", 2, fa); st != nlm.Denied {
		t.Fatalf("lock alpha/f by B: %v, want denied", st)
	}
	if st := lock("hostA", 1, fb); st != nlm.Denied {
		t.Fatalf("lock beta/f by A: %v, want denied", st)
	}
	other, _ := handle.NewCodec(handle.VolumeIDFromName("gamma"), nfstest.TestSecret)
	if st := lock("hostA", 3, other.Encode(handle.ExportIDFromPath("/gamma"), graph.RootGFID)); st == nlm.Granted {
		t.Fatal("a lock on a volume not served was granted")
	}
	// Files of two volumes with the same GFID (all files of a volume made from a copy of
	// another's bricks share their GFIDs with it) are two files: a host's lock on one is not
	// taken on the other (regression: NLM kept one state per host and GFID, whose FD was
	// opened on the first volume locked, so hostA's lock on beta's twin went to alpha's f,
	// which hostA already held, and hostB then got beta's twin too).
	ac, _ := handle.NewCodec(handle.VolumeIDFromName("alpha"), nfstest.TestSecret)
	ah, err := ac.Decode(fa)
	if err != nil {
		t.Fatal(err)
	}
	createOnBrick(t, b1, "twin", ah.GFID)
	twin, err := c.LookupFH(ctx, mnt(t, c, "/beta"), "twin")
	if err != nil {
		t.Fatal(err)
	}
	if st := lock("hostA", 1, twin); st != nlm.Granted {
		t.Fatalf("lock beta/twin by A: %v", st)
	}
	if st := lock("hostB", 2, twin); st != nlm.Denied {
		t.Fatalf("lock beta/twin by B while A holds it: %v, want denied", st)
	}
}

// createOnBrick creates the empty file name in the root of brick b with the given GFID,
// through a protocol/client of its own.
func createOnBrick(t *testing.T, b brick, name string, gfid graph.GFID) {
	t.Helper()
	ctx := context.Background()
	x, err := graph.Construct(client.Type, "twin-maker", map[string]string{"remote-host": b.host, "remote-port": b.port, "remote-subvolume": "brick-locks"}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.NewGraph(x)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	defer g.Fini()
	deadline := time.Now().Add(5 * time.Second)
	for { // CHILD_UP comes asynchronously
		_, _, err := x.Stat(ctx, graph.RootLoc(), nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	defer fd.Unref()
	if _, err := x.Create(ctx, graph.RootLoc().Child(name), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o644, 0, fd, graph.Xdata{"gfid-req": gfid[:]}); err != nil {
		t.Fatal(err)
	}
}
