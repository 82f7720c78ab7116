package clustertest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/cluster/distribute"
)

// hookCall describes a fop a hookProxy is about to forward.
type hookCall struct {
	Fop    graph.Fop
	Loc    *graph.Loc
	FD     *graph.FD
	Off    int64  // Writev, Ftruncate, Truncate
	Len    int64  // Writev
	Domain string // Inodelk
	Lock   *graph.Flock
	Name   string // Getxattr
}

// hookProxy is a proxy (see NewProxy) that runs a test's hook before some fops, so a test can
// stop a rebalance or a client at an exact point of the migration protocol.
type hookProxy struct {
	graph.Base
	graph.Fops
	mu    sync.Mutex
	hooks map[graph.Fop]func(hookCall)
}

func newHookProxy(name string, target graph.Xlator) *hookProxy {
	p := &hookProxy{Fops: target, hooks: map[graph.Fop]func(hookCall){}}
	graph.Wrap(p, "clustertest/hook-proxy", name, nil, nil)
	return p
}

// set installs (f != nil) or removes the hook run before fop.
func (p *hookProxy) set(fop graph.Fop, f func(hookCall)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f == nil {
		delete(p.hooks, fop)
		return
	}
	p.hooks[fop] = f
}

func (p *hookProxy) run(c hookCall) {
	p.mu.Lock()
	f := p.hooks[c.Fop]
	p.mu.Unlock()
	if f != nil {
		f(c)
	}
}

func (p *hookProxy) Notify(ctx context.Context, ev graph.Event, from graph.Xlator) {
	switch {
	case ev == graph.EventParentUp:
		p.ForwardEvent(ctx, graph.EventChildUp)
	case ev.IsDownward():
	default:
		p.ForwardEvent(ctx, ev)
	}
}

func (p *hookProxy) Writev(ctx context.Context, fd *graph.FD, data []byte, off int64, flags uint32, xd graph.Xdata) (graph.WCCReply, error) {
	p.run(hookCall{Fop: graph.FopWritev, FD: fd, Off: off, Len: int64(len(data))})
	return p.Fops.Writev(ctx, fd, data, off, flags, xd)
}

func (p *hookProxy) Inodelk(ctx context.Context, vol string, loc *graph.Loc, cmd graph.LkCmd, lk *graph.Flock, xd graph.Xdata) (graph.Xdata, error) {
	p.run(hookCall{Fop: graph.FopInodelk, Loc: loc, Domain: vol, Lock: lk})
	return p.Fops.Inodelk(ctx, vol, loc, cmd, lk, xd)
}

func (p *hookProxy) Getxattr(ctx context.Context, loc *graph.Loc, name string, xd graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	p.run(hookCall{Fop: graph.FopGetxattr, Loc: loc, Name: name})
	return p.Fops.Getxattr(ctx, loc, name, xd)
}

func (p *hookProxy) Unlink(ctx context.Context, loc *graph.Loc, flags int, xd graph.Xdata) (graph.ParentReply, error) {
	p.run(hookCall{Fop: graph.FopUnlink, Loc: loc})
	return p.Fops.Unlink(ctx, loc, flags, xd)
}

func (p *hookProxy) Fsetattr(ctx context.Context, fd *graph.FD, st *graph.Iatt, valid uint32, xd graph.Xdata) (graph.WCCReply, error) {
	p.run(hookCall{Fop: graph.FopFsetattr, FD: fd})
	return p.Fops.Fsetattr(ctx, fd, st, valid, xd)
}

func (p *hookProxy) Fremovexattr(ctx context.Context, fd *graph.FD, name string, xd graph.Xdata) (graph.Xdata, error) {
	p.run(hookCall{Fop: graph.FopFremovexattr, FD: fd, Name: name})
	return p.Fops.Fremovexattr(ctx, fd, name, xd)
}

func (p *hookProxy) Fsync(ctx context.Context, fd *graph.FD, datasync bool, xd graph.Xdata) (graph.WCCReply, error) {
	p.run(hookCall{Fop: graph.FopFsync, FD: fd})
	return p.Fops.Fsync(ctx, fd, datasync, xd)
}

func (p *hookProxy) Ftruncate(ctx context.Context, fd *graph.FD, off int64, xd graph.Xdata) (graph.WCCReply, error) {
	p.run(hookCall{Fop: graph.FopFtruncate, FD: fd, Off: off})
	return p.Fops.Ftruncate(ctx, fd, off, xd)
}

func (p *hookProxy) Setattr(ctx context.Context, loc *graph.Loc, st *graph.Iatt, valid uint32, xd graph.Xdata) (graph.WCCReply, error) {
	p.run(hookCall{Fop: graph.FopSetattr, Loc: loc})
	return p.Fops.Setattr(ctx, loc, st, valid, xd)
}

func (p *hookProxy) Rename(ctx context.Context, a, b *graph.Loc, xd graph.Xdata) (graph.RenameReply, error) {
	p.run(hookCall{Fop: graph.FopRename, Loc: b, Name: a.Name})
	return p.Fops.Rename(ctx, a, b, xd)
}

// hookedDHT builds and activates a distribute graph over hook proxies to bricks, named
// vol-client-<i> like dhtOver's.
func hookedDHT(t *testing.T, bricks []graph.Xlator, opts map[string]string) (*distribute.DHT, []*hookProxy) {
	t.Helper()
	kids := make([]graph.Xlator, len(bricks))
	hooks := make([]*hookProxy, len(bricks))
	for i, b := range bricks {
		hooks[i] = newHookProxy(fmt.Sprintf("vol-client-%d", i), b)
		kids[i] = hooks[i]
	}
	top, err := graph.Construct(distribute.Type, "vol-dht", opts, zap.NewNop(), kids...)
	if err != nil {
		t.Fatal(err)
	}
	graphtest.Activate(t, top)
	for _, k := range kids {
		top.Notify(context.Background(), graph.EventChildUp, k)
	}
	return top.(*distribute.DHT), hooks
}

// misplacedFile writes, through a 2-brick graph over bricks[:2], a file of size bytes in the root
// whose name hashes to another brick once the root is laid out over all three bricks by reb
// (fix-layout is run). It returns the file's location (with GFID), its content, and the bricks
// holding its data (src) and its name's hash (dst).
func misplacedFile(t *testing.T, bricks []graph.Xlator, reb *distribute.DHT, size int) (loc *graph.Loc, data []byte, src, dst int) {
	t.Helper()
	ctx := context.Background()
	old := dhtOver(t, bricks[:2], nil)
	root := graph.RootLoc()
	data = make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	var names []string
	for i := 0; i < 40; i++ {
		name := fmt.Sprintf("mig-%02d", i)
		if _, err := graphtest.WriteFile(ctx, old, root, name, data); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if err := distribute.FixLayout(ctx, reb, root); err != nil {
		t.Fatalf("fix-layout: %v", err)
	}
	for _, name := range names {
		on, hashed := placement(t, bricks, graph.RootGFID, name)
		if len(on) != 1 {
			t.Fatalf("%s: data on bricks %v", name, on)
		}
		if on[0] != hashed && loc == nil {
			loc = root.Child(name)
			src, dst = on[0], hashed
		}
	}
	if loc == nil {
		t.Fatal("no file would move after fix-layout")
	}
	r, err := old.Lookup(ctx, loc, nil)
	if err != nil {
		t.Fatal(err)
	}
	loc.GFID = r.Stat.GFID
	return loc, data, src, dst
}

// migrationRig is the setup the migration race tests share: three bricks, a rebalancing DHT
// (reb) and a client DHT (cli) over them with hook proxies on every brick, a file of three
// chunks that fix-layout left misplaced (data on src, name hashed to dst), and a client FD open
// on it (unreferenced when the test ends).
type migrationRig struct {
	bricks         []graph.Xlator
	reb, cli       *distribute.DHT
	rhooks, chooks []*hookProxy
	loc            *graph.Loc
	data           []byte
	src, dst       int
	fd             *graph.FD
}

func newMigrationRig(t *testing.T) *migrationRig {
	t.Helper()
	m := &migrationRig{bricks: BrickStacks(t, 3)}
	m.reb, m.rhooks = hookedDHT(t, m.bricks, nil)
	m.loc, m.data, m.src, m.dst = misplacedFile(t, m.bricks, m.reb, 3*distribute.ChunkSize)
	m.cli, m.chooks = hookedDHT(t, m.bricks, nil)
	fd, err := graphtest.Open(context.Background(), m.cli, m.loc, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fd.Unref)
	m.fd = fd
	return m
}

// pauseAtChunk makes the migrator (in the graph whose source-brick proxy is p) stop before it
// locks the chunk at offset off: reached is closed when it gets there, and it goes on once
// resume is closed. Chunks before off are copied and unlocked by then.
func pauseAtChunk(p *hookProxy, off int64) (reached, resume chan struct{}) {
	reached, resume = make(chan struct{}), make(chan struct{})
	var once sync.Once
	p.set(graph.FopInodelk, func(c hookCall) {
		if c.Domain == distribute.MigrateDataDomain && c.Lock != nil && c.Lock.Type == graph.LockWrite && c.Lock.Start == off && c.Lock.Len == distribute.ChunkSize {
			once.Do(func() {
				close(reached)
				<-resume
			})
		}
	})
	return reached, resume
}
