package nlm_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	_ "github.com/weftfs/weft/bricks/posix"
	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/gateway/nlm"
	"github.com/weftfs/weft/gateway/nsm"
	"github.com/weftfs/weft/gateway/portmap"
	gxdr "github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/rpc"
	_ "github.com/weftfs/weft/graph/xlators/features/locks"
)

// transport is the net.Conn transport: these tests are about NLM, and the epoll transport is
// exercised by graph/rpc's own suite.
var transport = rpc.NetTransport()

var secret = []byte("0123456789abcdef-secret")

// volume is storage/posix on a temp dir under features/locks.
func volume(t *testing.T) graph.Xlator {
	t.Helper()
	leaf, err := graph.Construct("storage/posix", "posix", map[string]string{
		"directory": t.TempDir(), "health-check-interval": "0",
	}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	top, err := graph.Construct("features/locks", "locks", nil, zap.NewNop(), leaf)
	if err != nil {
		t.Fatal(err)
	}
	graphtest.Activate(t, top)
	return top
}

func codec(t *testing.T) *handle.Codec {
	c, err := handle.NewCodec(handle.VolumeIDFromName("vol"), secret)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// file creates name in the volume and returns its NFS handle.
func file(t *testing.T, top graph.Xlator, name string) []byte {
	t.Helper()
	fd, loc, err := graphtest.Create(context.Background(), top, graph.RootLoc(), name)
	if err != nil {
		t.Fatal(err)
	}
	fd.Unref()
	return codec(t).Encode(handle.ExportIDFromPath("/vol"), loc.GFID)
}

// serve starts an RPC server on 127.0.0.1 with the given registrations.
func serve(t *testing.T, reg func(*rpc.Server)) (*rpc.Server, int) {
	t.Helper()
	srv := rpc.NewServer(rpc.ServerOptions{Transport: transport})
	reg(srv)
	a, err := srv.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, a.(*net.TCPAddr).Port
}

// fakeClient is a client machine: a port mapper, and optionally a lock manager that records
// GRANTED callbacks and a statd that records SM_NOTIFY.
type fakeClient struct {
	pm       *portmap.Server
	pmPort   int
	mu       sync.Mutex
	granted  []nlm.TestArgs
	notifies []nsm.StatChge
	grantCh  chan nlm.TestArgs
	answer   nlm.Stat
}

func newFakeClient(t *testing.T, withNLM, withStatd bool) *fakeClient {
	fc := &fakeClient{pm: portmap.NewServer(), grantCh: make(chan nlm.TestArgs, 16)}
	_, fc.pmPort = serve(t, func(s *rpc.Server) {
		s.Register(portmap.Program, portmap.Version, rpc.HandlerFunc(func(ctx context.Context, c *rpc.Call, r *rpc.Reply) rpc.AcceptStat {
			w := gxdr.NewWriter(nil)
			if err := fc.pm.Dispatch(c.Proc, c.Args, netip.MustParseAddrPort("127.0.0.1:1"), w); err != nil {
				return rpc.GarbageArgs
			}
			_, _ = r.Write(w.Bytes())
			return rpc.Success
		}))
	})
	if withNLM {
		_, p := serve(t, func(s *rpc.Server) {
			s.Register(nlm.Program, nlm.V4, rpc.HandlerFunc(func(ctx context.Context, c *rpc.Call, r *rpc.Reply) rpc.AcceptStat {
				if c.Proc != nlm.ProcGranted {
					return rpc.ProcUnavail
				}
				a, err := nlm.DecodeTestArgs(c.Vers, c.Args)
				if err != nil {
					return rpc.GarbageArgs
				}
				a.Cookie = append([]byte(nil), a.Cookie...)
				a.Lock.FH = append([]byte(nil), a.Lock.FH...)
				fc.mu.Lock()
				fc.granted = append(fc.granted, a)
				ans := fc.answer
				fc.mu.Unlock()
				fc.grantCh <- a
				_, _ = r.Write(nlm.AppendRes(nil, &nlm.Res{Cookie: a.Cookie, Stat: ans}))
				return rpc.Success
			}))
		})
		fc.pm.Set(portmap.Mapping{Prog: nlm.Program, Vers: nlm.V4, Prot: portmap.ProtoTCP, Port: uint32(p)})
	}
	if withStatd {
		_, p := serve(t, func(s *rpc.Server) {
			s.Register(nsm.Program, nsm.Version, rpc.HandlerFunc(func(ctx context.Context, c *rpc.Call, r *rpc.Reply) rpc.AcceptStat {
				if c.Proc != nsm.ProcNotify {
					return rpc.ProcUnavail
				}
				sc, err := nsm.DecodeStatChge(c.Args)
				if err != nil {
					return rpc.GarbageArgs
				}
				fc.mu.Lock()
				fc.notifies = append(fc.notifies, sc)
				fc.mu.Unlock()
				return rpc.Success
			}))
		})
		fc.pm.Set(portmap.Mapping{Prog: nsm.Program, Vers: nsm.Version, Prot: portmap.ProtoTCP, Port: uint32(p)})
	}
	return fc
}

// gateway is an NLM+NSM server over top.
type gateway struct {
	nlm  *nlm.Server
	nsm  *nsm.Server
	port int
}

type gwOpts struct {
	dir         string
	grace       time.Duration
	graceAlways bool
	pmPort      int
	delays      []time.Duration
}

func startGateway(t *testing.T, top graph.Xlator, o gwOpts) *gateway {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	if o.grace == 0 {
		o.grace = -1
	}
	ns, err := nsm.Open(nsm.Config{Dir: o.dir, Hostname: "weft-test", PortmapPort: o.pmPort, NotifyFor: 2 * time.Second, CallTimeout: time.Second, Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	if o.delays == nil {
		o.delays = []time.Duration{0, 100 * time.Millisecond}
	}
	ls, err := nlm.New(nlm.Config{Top: top, Handles: codec(t), NSM: ns, Grace: o.grace, GraceAlways: o.graceAlways,
		PortmapPort: o.pmPort, CallbackDelays: o.delays, CallTimeout: time.Second, Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	_, port := serve(t, func(s *rpc.Server) {
		ls.Register(s)
		ns.Register(s)
	})
	g := &gateway{nlm: ls, nsm: ns, port: port}
	t.Cleanup(func() { g.close() })
	return g
}

func (g *gateway) close() {
	g.nlm.Close()
	g.nsm.Close()
}

// client is a test NLM client (one host name) over one connection.
type client struct {
	t    *testing.T
	cl   *rpc.Client
	host string
	vers uint32
}

func dial(t *testing.T, port int, host string) *client {
	t.Helper()
	cl, err := rpc.Dial(context.Background(), "tcp", net.JoinHostPort("127.0.0.1", itoa(port)), &rpc.ClientOptions{Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return &client{t: t, cl: cl, host: host, vers: nlm.V4}
}

func itoa(p int) string { return strconv.Itoa(p) }

func (c *client) call(proc uint32, args []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := rpc.AuthSysParms{MachineName: c.host}
	cred, _ := p.Auth()
	return c.cl.Call(ctx, nlm.Program, c.vers, proc, args, cred)
}

func (c *client) lk(fh []byte, svid int32, off, n uint64) nlm.Lock {
	return nlm.Lock{CallerName: c.host, FH: fh, OH: []byte(c.host + "-oh"), Svid: svid, Offset: off, Len: n}
}

func (c *client) res(proc uint32, args []byte) nlm.Stat {
	c.t.Helper()
	b, err := c.call(proc, args)
	if err != nil {
		c.t.Fatalf("proc %d: %v", proc, err)
	}
	r, err := nlm.DecodeRes(b)
	if err != nil {
		c.t.Fatalf("proc %d: %v", proc, err)
	}
	return r.Stat
}

func (c *client) lock(fh []byte, svid int32, off, n uint64, excl, block, reclaim bool) nlm.Stat {
	c.t.Helper()
	a := nlm.LockArgs{Cookie: []byte("c"), Block: block, Exclusive: excl, Lock: c.lk(fh, svid, off, n), Reclaim: reclaim, State: 3}
	return c.res(nlm.ProcLock, nlm.AppendLockArgs(nil, c.vers, &a))
}

func (c *client) unlock(fh []byte, svid int32, off, n uint64) nlm.Stat {
	c.t.Helper()
	a := nlm.UnlockArgs{Cookie: []byte("u"), Lock: c.lk(fh, svid, off, n)}
	return c.res(nlm.ProcUnlock, nlm.AppendUnlockArgs(nil, c.vers, &a))
}

func (c *client) cancel(fh []byte, svid int32, off, n uint64, excl bool) nlm.Stat {
	c.t.Helper()
	a := nlm.CancArgs{Cookie: []byte("x"), Block: true, Exclusive: excl, Lock: c.lk(fh, svid, off, n)}
	return c.res(nlm.ProcCancel, nlm.AppendCancArgs(nil, c.vers, &a))
}

func (c *client) test(fh []byte, svid int32, off, n uint64, excl bool) nlm.TestRes {
	c.t.Helper()
	a := nlm.TestArgs{Cookie: []byte("t"), Exclusive: excl, Lock: c.lk(fh, svid, off, n)}
	b, err := c.call(nlm.ProcTest, nlm.AppendTestArgs(nil, c.vers, &a))
	if err != nil {
		c.t.Fatal(err)
	}
	r, err := nlm.DecodeTestRes(c.vers, b)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

func (c *client) share(fh []byte, oh string, mode, access uint32, set bool) nlm.Stat {
	c.t.Helper()
	a := nlm.ShareArgs{Cookie: []byte("s"), Share: nlm.Share{CallerName: c.host, FH: fh, OH: []byte(oh), Mode: mode, Access: access}}
	proc := uint32(nlm.ProcShare)
	if !set {
		proc = nlm.ProcUnshare
	}
	b, err := c.call(proc, nlm.AppendShareArgs(nil, &a))
	if err != nil {
		c.t.Fatal(err)
	}
	r, err := nlm.DecodeShareRes(b)
	if err != nil {
		c.t.Fatal(err)
	}
	return r.Stat
}

func want(t *testing.T, what string, got, exp nlm.Stat) {
	t.Helper()
	if got != exp {
		t.Fatalf("%s: %v, want %v", what, got, exp)
	}
}

func isAccept(err error, st rpc.AcceptStat) bool {
	var e *rpc.Error
	return errors.As(err, &e) && e.Stat == rpc.MsgAccepted && e.Accept == st
}
