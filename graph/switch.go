package graph

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/weftfs/weft/graph/volfile"
)

// SameTopology reports whether vf describes the same translators as g: the same volume names
// with the same types and the same subvolumes in the same order, and the same top. When it
// does, a new volfile is applied with Reconfigure instead of building a new graph (GlusterFS's
// glusterfs_graph_reconfigurable / is_graph_topology_equal).
func (g *Graph) SameTopology(vf *volfile.Volfile) bool {
	if vf == nil || len(vf.Volumes) != len(g.Xlators) || vf.Top() == nil || vf.Top().Name != g.Top.Name() {
		return false
	}
	for _, v := range vf.Volumes {
		x := g.Find(v.Name)
		if x == nil || x.Type() != v.Type {
			return false
		}
		cs := x.Children()
		if len(cs) != len(v.Subvolumes) {
			return false
		}
		for i, c := range cs {
			if c.Name() != v.Subvolumes[i] {
				return false
			}
		}
	}
	return true
}

// Reconfigure applies the options of vf, which must have the same topology, to the live
// translators (GlusterFS's glusterfs_graph_reconfigure). Every volume's new options are
// validated first — against the type's specs and the translator's CheckOptions — and nothing is
// applied unless all are valid. Then each translator's Reconfigure is called bottom-up; the new
// options become what Options returns for each translator whose Reconfigure succeeded. Errors
// from Reconfigure calls are joined.
func (g *Graph) Reconfigure(vf *volfile.Volfile) error {
	if err := vf.Validate(); err != nil {
		return err
	}
	if !g.SameTopology(vf) {
		return errors.New("graph: reconfigure: the volfile's topology differs from the graph's (a graph switch is needed)")
	}
	newOpts := make(map[Xlator]*Options, len(g.Xlators))
	for _, v := range vf.Volumes {
		x := g.Find(v.Name)
		opts, err := checkVolume(v)
		if err != nil {
			return err
		}
		if err := checkXlatorOptions(x, v, opts); err != nil {
			return err
		}
		newOpts[x] = opts
	}
	var errs []error
	for _, x := range g.Xlators {
		opts := newOpts[x]
		if err := x.Reconfigure(opts); err != nil {
			errs = append(errs, fmt.Errorf("volume %s (%s): reconfigure: %w", x.Name(), x.Type(), err))
			continue
		}
		b := x.base()
		b.mu.Lock()
		b.opts = opts
		b.mu.Unlock()
	}
	return errors.Join(errs...)
}

// ErrOldGraphBusy is wrapped by Active.Switch and Active.Close when the context ended before the
// old graph's in-flight fops finished. The new graph is active regardless; the old one is
// finalised in the background once its last fop returns.
var ErrOldGraphBusy = errors.New("old graph still has fops in flight")

// generation is one graph as installed in an Active, with its count of in-flight users.
type generation struct {
	g       *Graph
	refs    atomic.Int64
	retired atomic.Bool
	once    sync.Once
	drained chan struct{} // closed once retired and no user is left
}

func newGeneration(g *Graph) *generation { return &generation{g: g, drained: make(chan struct{})} }

func (gen *generation) release() {
	if gen.refs.Add(-1) == 0 && gen.retired.Load() {
		gen.once.Do(func() { close(gen.drained) })
	}
}

func (gen *generation) retire() {
	gen.retired.Store(true)
	if gen.refs.Load() == 0 {
		gen.once.Do(func() { close(gen.drained) })
	}
}

// Active holds the graph a process currently serves (GlusterFS's active graph of a glusterfs
// process, with fuse's graph switch). Fop issuers call Acquire around each fop so that a fop
// started on one graph finishes on it; Switch applies a new volfile either in place
// (Reconfigure, same topology) or by building, activating and swapping in a new graph, then
// finalising the old one once its in-flight fops have drained. It is safe for concurrent use.
type Active struct {
	log     *zap.Logger
	handler EventHandler

	mu  sync.Mutex // serialises Switch and Close
	cur atomic.Pointer[generation]
	bg  sync.WaitGroup // background finalisers of graphs that did not drain in time
}

// NewActive returns an Active with no graph. handler (may be nil) is installed on every graph
// it activates, so events leaving the top of the current graph reach the caller; from.Graph()
// tells which graph an event came from.
func NewActive(log *zap.Logger, handler EventHandler) *Active {
	if log == nil {
		log = zap.NewNop()
	}
	return &Active{log: log, handler: handler}
}

// Current returns the current graph without acquiring it (nil before the first Switch).
func (a *Active) Current() *Graph {
	if gen := a.cur.Load(); gen != nil {
		return gen.g
	}
	return nil
}

// Acquire returns the current graph and a release function to call when the fop is done
// (calling it more than once is harmless). While acquired, the graph is not finalised, even if a
// Switch replaces it. Before the first Switch, and after Close, it returns nil and a no-op.
func (a *Active) Acquire() (*Graph, func()) {
	for {
		gen := a.cur.Load()
		if gen == nil {
			return nil, func() {}
		}
		gen.refs.Add(1)
		if a.cur.Load() == gen {
			var once sync.Once
			return gen.g, func() { once.Do(gen.release) }
		}
		gen.release() // swapped meanwhile: try the new one
	}
}

// Switch makes vf the served configuration. With a current graph of the same topology, its
// options are applied in place (Graph.Reconfigure). Otherwise a new graph is built and activated
// (a failure leaves the current graph serving), swapped in atomically so that new fops go to it,
// and the old graph is finalised once the fops in flight on it have returned. If ctx ends first,
// Switch returns an error wrapping ErrOldGraphBusy and ctx's error: the new graph is serving and
// the old one is finalised in the background when it drains.
func (a *Active) Switch(ctx context.Context, vf *volfile.Volfile) error {
	_, err := a.SwitchWith(ctx, vf, SwitchHooks{})
	return err
}

// retire waits (bounded by ctx) for gen's users to finish, then finalises its graph.
func (a *Active) retire(ctx context.Context, gen *generation) error {
	gen.retire()
	select {
	case <-gen.drained:
		gen.g.Fini()
		return nil
	case <-ctx.Done():
		n := gen.refs.Load()
		a.bg.Add(1)
		go func() {
			defer a.bg.Done()
			<-gen.drained
			gen.g.Fini()
		}()
		return fmt.Errorf("graph %s: %d fop(s) in flight, finalising it when they finish: %w (%w)", gen.g.Top.Name(), n, ErrOldGraphBusy, ctx.Err())
	}
}

// Close removes the current graph (Acquire returns nil afterwards) and finalises it once its
// in-flight fops have returned, waiting at most until ctx ends (then as Switch: ErrOldGraphBusy).
func (a *Active) Close(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.cur.Swap(nil)
	if old == nil {
		return nil
	}
	return a.retire(ctx, old)
}

// Wait blocks until every graph finalised in the background (after a Switch or Close whose
// context ended early) has been finalised.
func (a *Active) Wait() { a.bg.Wait() }
