package clustertest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	_ "github.com/weftfs/weft/graph/xlators/all" // every translator type, as the weft binary has
	"github.com/weftfs/weft/internal/testbin"
)

// Kind is the kind of leaf a Builder puts under the cluster translators.
type Kind string

// Leaf kinds.
const (
	// KindMemory: storage/memory → features/locks, in this process.
	KindMemory Kind = "memory"
	// KindPosix: storage/posix on a temporary directory → features/locks, in this process.
	KindPosix Kind = "posix"
	// KindBrick: a `weft brick` process (storage/posix → features/locks → debug/io-stats →
	// protocol/server) reached through protocol/client.
	KindBrick Kind = "brick"
)

// Builder assembles one cluster graph for one test.
type Builder struct {
	T    testing.TB
	Kind Kind
	// Bin is the weft binary (KindBrick), e.g. from internal/testbin.Weft.
	Bin string
	// Vol prefixes every volume name ("<vol>-client-0", "<vol>-replicate-0", "<vol>-dht").
	Vol string
	// ErrorGen inserts debug/error-gen (failing nothing until reconfigured) above each leaf, on
	// the client side, so a test can make a leaf fail or look down (see Leaf.SetDown).
	ErrorGen bool
	// Log is given to every translator (zap.NewNop when nil).
	Log *zap.Logger

	Leaves []*Leaf
	nRep   int
}

// Leaf is one brick of a cluster graph as its parent sees it.
type Leaf struct {
	Name    string
	Top     graph.Xlator // what the cluster translator has as its child
	Storage graph.Xlator // the storage translator (nil for KindBrick: it is in another process)
	Dir     string       // the brick directory (posix and brick kinds)
	Proc    *BrickProc   // KindBrick
	ErrGen  graph.Xlator // with Builder.ErrorGen
	// Locks is the leaf's features/locks (nil for KindBrick: it is in another process). SetDown
	// releases this connection's locks there, as protocol/server does when a client disconnects.
	Locks graph.Xlator
	watch *watch
}

// New returns a Builder for kind; vol defaults to "vol".
func New(t testing.TB, kind Kind, bin string) *Builder {
	return &Builder{T: t, Kind: kind, Bin: bin, Vol: "vol"}
}

func (b *Builder) log() *zap.Logger {
	if b.Log == nil {
		return zap.NewNop()
	}
	return b.Log
}

func (b *Builder) construct(typ, name string, opts map[string]string, kids ...graph.Xlator) graph.Xlator {
	b.T.Helper()
	x, err := graph.Construct(typ, name, opts, b.log(), kids...)
	if err != nil {
		b.T.Fatalf("clustertest: %v", err)
	}
	return x
}

// Leaf adds a brick and returns the translator its parent should have as a child.
func (b *Builder) Leaf() graph.Xlator {
	b.T.Helper()
	i := len(b.Leaves)
	name := fmt.Sprintf("%s-client-%d", b.Vol, i)
	l := &Leaf{Name: name}
	var x graph.Xlator
	switch b.Kind {
	case KindMemory:
		l.Storage = b.construct("storage/memory", name+"-memory", nil)
		x = b.construct("features/locks", name+"-locks", nil, l.Storage)
		l.Locks = x
	case KindPosix:
		l.Dir = b.T.TempDir()
		l.Storage = b.construct("storage/posix", name+"-posix", map[string]string{"directory": l.Dir, "health-check-interval": "0"})
		x = b.construct("features/locks", name+"-locks", nil, l.Storage)
		l.Locks = x
	case KindBrick:
		if b.Bin == "" {
			b.T.Fatalf("clustertest: KindBrick needs Builder.Bin")
		}
		l.Dir = b.T.TempDir()
		l.Proc = StartBrick(b.T, b.Bin, l.Dir)
		x = b.construct("protocol/client", name+"-rpc", l.Proc.ClientOptions())
	default:
		b.T.Fatalf("clustertest: unknown kind %q", b.Kind)
	}
	if b.ErrorGen {
		l.ErrGen = b.construct("debug/error-gen", name+"-errgen", map[string]string{"failure": "0", "error-no": "ENOTCONN"}, x)
		x = l.ErrGen
	}
	w := &watch{name: name, inflight: map[uint64]context.CancelFunc{}}
	w.idle = sync.NewCond(&w.mu)
	graph.Wrap(w, "clustertest/watch", name, nil, b.log(), x)
	l.watch = w
	l.Top = w
	b.Leaves = append(b.Leaves, l)
	return w
}

// Replicate returns a cluster/replicate over kids with the given options.
func (b *Builder) Replicate(opts map[string]string, kids ...graph.Xlator) graph.Xlator {
	b.T.Helper()
	name := fmt.Sprintf("%s-replicate-%d", b.Vol, b.nRep)
	b.nRep++
	return b.construct("cluster/replicate", name, opts, kids...)
}

// Distribute returns a cluster/distribute over kids with the given options.
func (b *Builder) Distribute(opts map[string]string, kids ...graph.Xlator) graph.Xlator {
	b.T.Helper()
	return b.construct("cluster/distribute", b.Vol+"-dht", opts, kids...)
}

// Activate activates the graph of top, waits until every leaf is up and returns the graph
// (finalised by t.Cleanup).
func (b *Builder) Activate(top graph.Xlator) *graph.Graph {
	b.T.Helper()
	g := graphtest.Activate(b.T, top)
	deadline := time.Now().Add(15 * time.Second)
	for _, l := range b.Leaves {
		for !l.watch.up.Load() {
			if time.Now().After(deadline) {
				b.T.Fatalf("clustertest: leaf %s not up within 15s", l.Name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return g
}

// SetDown makes the leaf look down to its parent, as a lost connection does: every fop fails
// with ENOTCONN (error-gen), lock requests in flight fail with ENOTCONN, and once they have
// returned, every lock this connection holds on the brick is released, as protocol/server
// releases a disconnected client's locks (features/locks ReleaseClient); then CHILD_DOWN is sent
// up. down=false undoes the failures and sends CHILD_UP (a new connection, with a new client
// identity). It needs Builder.ErrorGen. For KindBrick the brick's locks are in another process
// and are not released: kill the brick process to model a disconnect there.
func (l *Leaf) SetDown(ctx context.Context, down bool) error {
	if l.ErrGen == nil {
		return fmt.Errorf("clustertest: leaf %s has no error-gen", l.Name)
	}
	pct := "0"
	if down {
		pct = "100"
	}
	r, _ := graph.LookupType("debug/error-gen")
	opts, err := graph.ValidateOptions(r.Options, map[string]string{"failure": pct, "error-no": "ENOTCONN"})
	if err != nil {
		return err
	}
	if err := l.ErrGen.Reconfigure(opts); err != nil {
		return err
	}
	ev := graph.EventChildUp
	if down {
		ev = graph.EventChildDown
		client := l.watch.disconnect()
		if rc, ok := l.Locks.(interface{ ReleaseClient(string) }); ok {
			rc.ReleaseClient(client)
		}
	} else {
		l.watch.reconnect()
	}
	// The watch forwards the event to the cluster translator, as a protocol/client would.
	l.watch.Notify(ctx, ev, l.ErrGen)
	return nil
}

// Up reports whether the leaf's last event was CHILD_UP.
func (l *Leaf) Up() bool { return l.watch.up.Load() }

// watch is a pass-through that remembers whether its child is up (CHILD_UP/CHILD_DOWN) and
// stands for the leaf's connection in lock fops: they carry the connection's client identity
// (when the caller has none), and SetDown fails the ones in flight and waits for them.
type watch struct {
	graph.Passthrough
	up   atomic.Bool
	name string

	mu       sync.Mutex
	idle     *sync.Cond // signalled when a lock fop leaves
	down     bool
	conn     int // connection generation: the client identity is name#conn
	seq      uint64
	inflight map[uint64]context.CancelFunc
}

func (w *watch) Notify(ctx context.Context, ev graph.Event, from graph.Xlator) {
	switch ev {
	case graph.EventChildUp:
		w.up.Store(true)
	case graph.EventChildDown:
		w.up.Store(false)
	}
	w.ForwardEvent(ctx, ev)
}

func (w *watch) clientLocked() string { return fmt.Sprintf("%s#%d", w.name, w.conn) }

// disconnect ends the connection: new lock fops fail, the ones in flight are cancelled and
// waited for. It returns the ended connection's client identity.
func (w *watch) disconnect() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.down = true
	for _, cancel := range w.inflight {
		cancel()
	}
	for len(w.inflight) > 0 {
		w.idle.Wait()
	}
	return w.clientLocked()
}

// reconnect starts a new connection with a new client identity.
func (w *watch) reconnect() {
	w.mu.Lock()
	if w.down {
		w.down = false
		w.conn++
	}
	w.mu.Unlock()
}

// lockFop runs a lock fop as a call over this connection: with the connection's client identity
// when the caller has none, failing with ENOTCONN when the connection is down or goes down
// before the reply (protocol/client unwinds the calls in flight with ENOTCONN).
func (w *watch) lockFop(ctx context.Context, op string, f func(ctx context.Context) error) error {
	w.mu.Lock()
	if w.down {
		w.mu.Unlock()
		return graph.Errorf(unix.ENOTCONN, "clustertest: %s: %s: not connected", w.name, op)
	}
	if c := graph.CredsFrom(ctx); c.ClientID == "" {
		nc := *c
		nc.ClientID = w.clientLocked()
		ctx = graph.WithCreds(ctx, &nc)
	}
	ctx, cancel := context.WithCancel(ctx)
	w.seq++
	id, conn := w.seq, w.conn
	w.inflight[id] = cancel
	w.mu.Unlock()
	err := f(ctx)
	w.mu.Lock()
	delete(w.inflight, id)
	lost := w.down || w.conn != conn
	w.idle.Broadcast()
	w.mu.Unlock()
	cancel()
	if lost {
		return graph.Errorf(unix.ENOTCONN, "clustertest: %s: %s: connection lost (%v)", w.name, op, err)
	}
	return err
}

// withClient gives ctx the connection's client identity when it has none (lock owners on the
// brick are per client: Flush releases the POSIX locks of its caller's client and owner).
func (w *watch) withClient(ctx context.Context) context.Context {
	if c := graph.CredsFrom(ctx); c.ClientID == "" {
		w.mu.Lock()
		id := w.clientLocked()
		w.mu.Unlock()
		nc := *c
		nc.ClientID = id
		return graph.WithCreds(ctx, &nc)
	}
	return ctx
}

// Lk implements graph.Fops over the connection.
func (w *watch) Lk(ctx context.Context, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (fl graph.Flock, x graph.Xdata, err error) {
	err = w.lockFop(ctx, "lk", func(ctx context.Context) error {
		fl, x, err = w.Passthrough.Lk(ctx, fd, cmd, lock, xdata)
		return err
	})
	return fl, x, err
}

// Inodelk implements graph.Fops over the connection.
func (w *watch) Inodelk(ctx context.Context, volume string, loc *graph.Loc, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (x graph.Xdata, err error) {
	err = w.lockFop(ctx, "inodelk", func(ctx context.Context) error {
		x, err = w.Passthrough.Inodelk(ctx, volume, loc, cmd, lock, xdata)
		return err
	})
	return x, err
}

// Finodelk implements graph.Fops over the connection.
func (w *watch) Finodelk(ctx context.Context, volume string, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (x graph.Xdata, err error) {
	err = w.lockFop(ctx, "finodelk", func(ctx context.Context) error {
		x, err = w.Passthrough.Finodelk(ctx, volume, fd, cmd, lock, xdata)
		return err
	})
	return x, err
}

// Entrylk implements graph.Fops over the connection.
func (w *watch) Entrylk(ctx context.Context, volume string, loc *graph.Loc, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (x graph.Xdata, err error) {
	err = w.lockFop(ctx, "entrylk", func(ctx context.Context) error {
		x, err = w.Passthrough.Entrylk(ctx, volume, loc, basename, cmd, typ, xdata)
		return err
	})
	return x, err
}

// Fentrylk implements graph.Fops over the connection.
func (w *watch) Fentrylk(ctx context.Context, volume string, fd *graph.FD, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (x graph.Xdata, err error) {
	err = w.lockFop(ctx, "fentrylk", func(ctx context.Context) error {
		x, err = w.Passthrough.Fentrylk(ctx, volume, fd, basename, cmd, typ, xdata)
		return err
	})
	return x, err
}

// Flush implements graph.Fops with the connection's client identity.
func (w *watch) Flush(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	return w.Passthrough.Flush(w.withClient(ctx), fd, xdata)
}

// ---- layouts --------------------------------------------------------------------------------

// Layout is a named cluster topology.
type Layout struct {
	Name  string
	Build func(b *Builder) graph.Xlator
}

// Layouts are the four topologies of the conformance tests.
var Layouts = []Layout{
	{"distribute3", func(b *Builder) graph.Xlator {
		return b.Distribute(nil, b.Leaf(), b.Leaf(), b.Leaf())
	}},
	{"replicate3", func(b *Builder) graph.Xlator {
		return b.Replicate(nil, b.Leaf(), b.Leaf(), b.Leaf())
	}},
	{"distribute2x2", Dist2x2(nil)},
	{"replicate2+arbiter", func(b *Builder) graph.Xlator {
		return b.Replicate(map[string]string{"arbiter-count": "1"}, b.Leaf(), b.Leaf(), b.Leaf())
	}},
}

// Dist2x2 builds distribute over two replica-2 sets, with afr options ropts.
func Dist2x2(ropts map[string]string) func(b *Builder) graph.Xlator {
	return func(b *Builder) graph.Xlator {
		r0 := b.Replicate(ropts, b.Leaf(), b.Leaf())
		r1 := b.Replicate(ropts, b.Leaf(), b.Leaf())
		return b.Distribute(nil, r0, r1)
	}
}

// ---- brick processes ------------------------------------------------------------------------

// BrickProc is a running `weft brick` process.
type BrickProc struct {
	t       testing.TB
	bin     string
	Volfile string
	Addr    string
	Dir     string // the brick data directory

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	logb   strings.Builder
}

// BrickSubvolume is the brick volume a client attaches to (the child of protocol/server).
const BrickSubvolume = "brick-iostats"

// StartBrick writes a brick volfile for dir (data in dir/data) and starts `weft brick` on a free
// loopback port; t.Cleanup stops it.
func StartBrick(t testing.TB, bin, dir string) *BrickProc {
	t.Helper()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	vf := fmt.Sprintf(`volume brick-posix
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
    subvolumes brick-locks
end-volume

volume brick-server
    type protocol/server
    option listen 127.0.0.1:1
    subvolumes %s
end-volume
`, data, BrickSubvolume, BrickSubvolume)
	p := filepath.Join(dir, "brick.vol")
	if err := os.WriteFile(p, []byte(vf), 0o644); err != nil {
		t.Fatal(err)
	}
	bp := &BrickProc{t: t, bin: bin, Volfile: p, Addr: fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t)), Dir: data}
	t.Cleanup(bp.Stop)
	if err := bp.Start(); err != nil {
		t.Fatal(err)
	}
	return bp
}

// Start (re)starts the process on its address and waits until the port accepts connections.
func (bp *BrickProc) Start() error {
	cmd := exec.Command(bp.bin, "brick", "--volfile", bp.Volfile, "--listen", bp.Addr, "--log-level", "warn")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	bp.mu.Lock()
	bp.cmd, bp.exited = cmd, exited
	bp.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			bp.mu.Lock()
			if bp.logb.Len() < 1<<20 {
				bp.logb.WriteString(sc.Text() + "\n")
			}
			bp.mu.Unlock()
		}
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("brick exited at start:\n%s", bp.Logs())
		default:
		}
		if c, err := net.DialTimeout("tcp", bp.Addr, 100*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("brick did not listen on %s:\n%s", bp.Addr, bp.Logs())
}

// Logs returns the process's standard error so far.
func (bp *BrickProc) Logs() string {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	return bp.logb.String()
}

// Kill sends SIGKILL and waits for the process to exit.
func (bp *BrickProc) Kill() {
	bp.mu.Lock()
	cmd, exited := bp.cmd, bp.exited
	bp.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Stop sends SIGTERM and waits (SIGKILL after 10 s).
func (bp *BrickProc) Stop() {
	bp.mu.Lock()
	cmd, exited := bp.cmd, bp.exited
	bp.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		// SIGQUIT makes the Go runtime print every goroutine: the log then shows the hang.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		bp.t.Errorf("brick %s did not stop on SIGTERM within 10s; its log:\n%s", bp.Addr, bp.Logs())
	}
}

// ClientOptions are protocol/client options reaching this brick quickly (short ping timeout and
// reconnect back-off, for tests).
func (bp *BrickProc) ClientOptions() map[string]string {
	host, port, _ := net.SplitHostPort(bp.Addr)
	return map[string]string{"remote-host": host, "remote-port": port, "remote-subvolume": BrickSubvolume,
		"network.ping-timeout": "2s", "reconnect-backoff-max": "200ms", "reconnect-backoff-min": "20ms"}
}

// ---- small helpers --------------------------------------------------------------------------

// Errno returns err's errno as a short name for messages.
func Errno(err error) string {
	if err == nil {
		return "OK"
	}
	e := graph.Errno(err)
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return strconv.Itoa(int(e))
}

// ---- proxies --------------------------------------------------------------------------------

// proxy stands in one graph for a translator of another graph, as protocol/client stands for a
// brick: every fop goes to the target, and PARENT_UP is answered with CHILD_UP.
type proxy struct {
	graph.Base
	graph.Fops
}

// NewProxy returns a leaf translator named name whose fops go to target (which stays in its own
// graph). Several graphs can so share one brick stack — a client graph and a rebalance graph, or
// the graphs before and after an add-brick.
func NewProxy(name string, target graph.Xlator) graph.Xlator {
	p := &proxy{Fops: target}
	graph.Wrap(p, "clustertest/proxy", name, nil, nil)
	return p
}

func (p *proxy) Notify(ctx context.Context, ev graph.Event, from graph.Xlator) {
	switch {
	case ev == graph.EventParentUp:
		p.ForwardEvent(ctx, graph.EventChildUp)
	case ev.IsDownward():
	default:
		p.ForwardEvent(ctx, ev)
	}
}

// BrickStacks returns n activated storage/memory → features/locks stacks, each its own graph
// (finalised by t.Cleanup): bricks that graphs reach through NewProxy.
func BrickStacks(t testing.TB, n int) []graph.Xlator {
	t.Helper()
	out := make([]graph.Xlator, n)
	for i := range out {
		m, err := graph.Construct("storage/memory", fmt.Sprintf("brick%d-memory", i), nil, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		l, err := graph.Construct("features/locks", fmt.Sprintf("brick%d-locks", i), nil, zap.NewNop(), m)
		if err != nil {
			t.Fatal(err)
		}
		graphtest.Activate(t, l)
		out[i] = l
	}
	return out
}
