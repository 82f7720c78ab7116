package nfstest

import (
	"context"
	"testing"
	"time"

	_ "github.com/weftfs/weft/bricks/posix" // storage/posix
	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/gateway/server"
	"github.com/weftfs/weft/graph"
)

// TestSecret is the handle secret StartPosix uses (fixed, so handles survive a restart).
var TestSecret = []byte("weft-nfstest-secret-0123456789")

// Env is a gateway over a storage/posix brick, listening on 127.0.0.1.
type Env struct {
	Dir     string
	Graph   *graph.Graph
	Gateway *server.Gateway
	NFS     string // host:port of NFS (MOUNT is served there too)
	Mount   string // host:port of MOUNT
}

// Options adjust StartPosix.
type Options struct {
	Exports *configs.ExportsConfig // nil: /gv0 to every client, no_root_squash, insecure ports
	FDIdle  time.Duration
	Verf    *[8]byte
	Portmap bool // embed a port mapper on an ephemeral port
	Config  func(*server.Config)
}

// StartPosix builds storage/posix on dir (volume "gv0"), activates it and starts a gateway; the
// test's cleanup stops both.
func StartPosix(tb testing.TB, dir string, o *Options) *Env {
	tb.Helper()
	env, err := StartPosixErr(context.Background(), dir, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(env.Stop)
	return env
}

// StartPosixErr is StartPosix without testing.TB; call Stop when done.
func StartPosixErr(ctx context.Context, dir string, o *Options) (*Env, error) {
	if o == nil {
		o = &Options{}
	}
	x, err := graph.Construct("storage/posix", "gv0-posix-0", map[string]string{"directory": dir, "health-check-interval": "0"}, nil)
	if err != nil {
		return nil, err
	}
	g, err := graph.NewGraph(x)
	if err != nil {
		return nil, err
	}
	if err := g.Activate(ctx); err != nil {
		return nil, err
	}
	exps := o.Exports
	if exps == nil {
		f := false
		exps = &configs.ExportsConfig{Exports: []configs.Export{{Path: "/gv0", Squash: configs.SquashNoRoot, Secure: &f, Clients: []configs.ClientRule{{Match: "*"}}}}}
	}
	cfg := server.Config{
		Top: x, Volume: "gv0", Secret: TestSecret, Exports: exps, Listen: "127.0.0.1",
		NFSPort: -1, MountPort: -1, PortmapPort: -1, NoPortmap: !o.Portmap, FDIdle: o.FDIdle, Verf: o.Verf,
	}
	if o.Config != nil {
		o.Config(&cfg)
	}
	gw, err := server.Start(ctx, cfg)
	if err != nil {
		g.Fini()
		return nil, err
	}
	return &Env{Dir: dir, Graph: g, Gateway: gw, NFS: gw.NFSAddr().String(), Mount: gw.MountAddr().String()}, nil
}

// Stop closes the gateway and tears the graph down (idempotent).
func (e *Env) Stop() {
	if e.Gateway == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.Gateway.Close(ctx)
	e.Graph.Fini()
	e.Gateway = nil
}

// Client dials the gateway's NFS port and mounts path ("/gv0"), returning the client and the
// root handle.
func (e *Env) Client(tb testing.TB, path string) (*Client, []byte) {
	tb.Helper()
	ctx := context.Background()
	c, err := Dial(ctx, e.NFS)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	root, st, err := c.Mnt(ctx, path)
	if err != nil || st != 0 {
		tb.Fatalf("MNT %s: status %d err %v", path, st, err)
	}
	return c, root
}
