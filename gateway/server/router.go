package server

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// volTop is the fixed top the NFS, MOUNT and NLM servers see for a volume whose graph may be
// switched live (GlusterFS's fuse bridge over the active graph): every fop on a Loc acquires the
// volume's current graph for its duration (graph.Active.Acquire), and an FD opened through it
// (Create, Open, Opendir) pins the graph it was opened on until the FD is destroyed, so that
// fops on the FD go where the FD is open and the old graph of a switch is finalised only when its
// last FD is gone. FDs are re-opened on the new graph by the callers after a switch (the NFS
// server's FD caches are flushed then), by GFID: nothing from an old graph's inode table is
// used on the new one.
type volTop struct{ v *volume }

// route is how a routedTop finds the top a fop goes to.
type route interface {
	// loc returns the top for a fop on a Loc and the release of the reference the fop holds.
	loc(ctx context.Context) (graph.Xlator, func(), error)
	// fd returns the top for a fop on fd, and the release of its reference.
	fd(ctx context.Context, fd *graph.FD) (graph.Xlator, func(), error)
	// pin is called after an open of fd on top (err: its outcome) with the reference done.
	pin(fd *graph.FD, top graph.Xlator, done func(), err error)
}

// routedTop is a translator whose every fop is sent to the top its route picks
// (router_fops.go): a volume's current graph (volTop) or the volume an NLM call names (lockTop).
type routedTop struct {
	graph.Passthrough // identity only: every fop is overridden
	r                 route
}

// pinKey is the FD context key of the graph pin.
var pinKey = new(byte)

// fdPin is an FD's reference on the graph it was opened on.
type fdPin struct {
	g    *graph.Graph
	done func()
}

// Release implements graph.Releaser: the FD is destroyed, the graph may be finalised.
func (p *fdPin) Release() { p.done() }

// loc returns the top of the volume's current graph and the release of its reference, waiting
// for the volume's first graph while it comes up.
func (t *volTop) loc(ctx context.Context) (graph.Xlator, func(), error) {
	v := t.v
	for {
		g, done := v.active.Acquire()
		if g != nil {
			return g.Top, done, nil
		}
		if v.removed.Load() {
			return nil, nil, fmt.Errorf("volume %s is no longer served: %w", v.name, unix.ESTALE)
		}
		select {
		case <-v.ready:
			if g, done := v.active.Acquire(); g != nil {
				return g.Top, done, nil
			}
			if v.removed.Load() {
				return nil, nil, fmt.Errorf("volume %s is no longer served: %w", v.name, unix.ESTALE)
			}
			return nil, nil, fmt.Errorf("volume %s has no graph (%s): %w", v.name, v.failure(), unix.ENOTCONN)
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("volume %s: waiting for its graph: %w", v.name, ctx.Err())
		}
	}
}

// fd returns the top of the graph fd was opened on (a pinned FD), or of the current graph for
// an FD not opened through this top.
func (t *volTop) fd(ctx context.Context, fd *graph.FD) (graph.Xlator, func(), error) {
	if fd != nil {
		if p, ok := fd.Ctx(pinKey); ok {
			return p.(*fdPin).g.Top, func() {}, nil
		}
	}
	return t.loc(ctx)
}

// pin makes fd hold the graph reference done of the fop that opened it; when the open failed,
// the reference is dropped.
func (t *volTop) pin(fd *graph.FD, top graph.Xlator, done func(), err error) {
	g := top.Graph()
	if err != nil || fd == nil || g == nil {
		done()
		return
	}
	if old, ok := fd.Ctx(pinKey); ok { // re-opened: keep one pin
		old.(*fdPin).done()
	}
	fd.SetCtx(pinKey, &fdPin{g: g, done: done})
}
