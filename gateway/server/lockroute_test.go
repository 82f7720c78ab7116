package server_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/gateway/nfstest"
	"github.com/weftfs/weft/gateway/nlm"
	"github.com/weftfs/weft/gateway/server"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/rpc"
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
}
