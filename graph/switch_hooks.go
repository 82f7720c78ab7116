package graph

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/weftfs/weft/graph/volfile"
)

// SwitchHooks let the user of an Active act at the two points of a graph switch that Switch
// does not expose (GlusterFS's fuse waits for the new graph's CHILD_UP before it switches, and
// migrates its open fds afterwards).
type SwitchHooks struct {
	// Ready is called with a newly built and activated graph before it is made current; the
	// switch waits for it (e.g. for the graph's bricks to connect). An error abandons the new
	// graph (it is finalised) and the current one keeps serving. Not called for an in-place
	// reconfigure.
	Ready func(ctx context.Context, g *Graph) error
	// Swapped is called once the new graph is current (new Acquires return it) and before the
	// old one is waited for, so that the caller can drop what it holds on the old graph (cached
	// fds); old is nil on the first switch. Not called for an in-place reconfigure.
	Swapped func(old, cur *Graph)
	// Rebuild builds and switches to a new graph even when the topology is the same (to drop
	// state the translators cached, e.g. distribute's layouts after a remove-brick).
	Rebuild bool
}

// SwitchWith is Switch with hooks: the same in-place reconfigure for a volfile of the same
// topology, otherwise build, activate, h.Ready, swap, h.Swapped, then retire the old graph once
// its users are gone (bounded by ctx as Switch). It reports whether a new graph was made current.
func (a *Active) SwitchWith(ctx context.Context, vf *volfile.Volfile, h SwitchHooks) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.cur.Load()
	if old != nil && !h.Rebuild && old.g.SameTopology(vf) {
		if err := old.g.Reconfigure(vf); err != nil {
			return false, err
		}
		a.log.Info("graph reconfigured in place", zap.String("top", old.g.Top.Name()))
		return false, nil
	}
	g, err := Build(vf, a.log)
	if err != nil {
		return false, err
	}
	if a.handler != nil {
		g.SetEventHandler(a.handler)
	}
	if err := g.Activate(ctx); err != nil {
		return false, err
	}
	if h.Ready != nil {
		if err := h.Ready(ctx, g); err != nil {
			g.Fini()
			return false, fmt.Errorf("graph %s: not switched to: %w", g.Top.Name(), err)
		}
	}
	a.cur.Store(newGeneration(g))
	a.log.Info("graph switched", zap.String("top", g.Top.Name()), zap.Int("xlators", len(g.Xlators)))
	if h.Swapped != nil {
		var og *Graph
		if old != nil {
			og = old.g
		}
		h.Swapped(og, g)
	}
	if old == nil {
		return true, nil
	}
	return true, a.retire(ctx, old)
}
