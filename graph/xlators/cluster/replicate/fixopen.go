package replicate

import (
	"context"
	"sync"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// fdCtx is replicate's context of a file FD (GlusterFS afr_fd_ctx_t): the children the FD is
// open on and the flags it was opened with, so that it can be opened on the others once they
// are back (afr_fix_open).
type fdCtx struct {
	mu      sync.Mutex
	flags   int
	opened  []bool
	opening []bool   // an open is in flight there (only one at a time per child)
	tried   []uint64 // fixGen of the last failed attempt per child (0: none)
}

type fdCtxKey struct{ a *AFR }

// fdState returns fd's context, or nil for an FD not opened or created through this translator
// (an anonymous FD: no bookkeeping, every child is assumed to serve it).
func (a *AFR) fdState(fd *graph.FD) *fdCtx {
	if fd == nil {
		return nil
	}
	v, ok := fd.Ctx(fdCtxKey{a})
	if !ok {
		return nil
	}
	return v.(*fdCtx)
}

// noteOpened records that fd is open on child i (Open and Create, per child).
func (a *AFR) noteOpened(fd *graph.FD, flags int, i int) {
	fc := fd.CtxOrSet(fdCtxKey{a}, func() any {
		n := len(a.kids)
		return &fdCtx{flags: flags, opened: make([]bool, n), opening: make([]bool, n), tried: make([]uint64, n)}
	}).(*fdCtx)
	fc.mu.Lock()
	fc.opened[i] = true
	fc.mu.Unlock()
}

// fdOpenSet returns the children fd is open on (all of them for an anonymous FD).
func (a *AFR) fdOpenSet(fd *graph.FD) []bool {
	out := make([]bool, len(a.kids))
	fc := a.fdState(fd)
	if fc == nil {
		for i := range out {
			out[i] = true
		}
		return out
	}
	fc.mu.Lock()
	copy(out, fc.opened)
	fc.mu.Unlock()
	return out
}

// fixGen changes whenever a child may have become able to open a file it could not before: a
// child came up or went down (evGen), or a heal repaired something (healGen).
func (a *AFR) fixGen() uint64 { return a.evGen.Load()<<32 + a.healGen.Load() + 1 }

// fixOpen opens fd on the up children it is not open on (GlusterFS afr_fix_open): an FD opened
// while a child was down reaches that child again once it is back, so the writes through it go
// to every copy. A child where the open fails (the file is not there yet: it was created while
// the child was down and is not healed) is tried again only after the next event or heal; until
// then the FD's fops leave it out and the changelog blames it.
func (a *AFR) fixOpen(ctx context.Context, fd *graph.FD) {
	fc := a.fdState(fd)
	if fc == nil || fd.IsDir {
		return
	}
	gen := a.fixGen()
	need := make([]bool, len(a.kids))
	fc.mu.Lock()
	any := false
	for i := range need {
		if a.up[i].Load() && !fc.opened[i] && !fc.opening[i] && fc.tried[i] != gen {
			need[i], fc.opening[i], any = true, true, true
		}
	}
	flags := fc.flags &^ (unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC)
	fc.mu.Unlock()
	if !any {
		return
	}
	loc := &graph.Loc{GFID: fd.GFID, Inode: fd.Inode}
	rs := fan(need, func(i int) (graph.Xdata, error) { return a.kids[i].Open(ctx, loc, flags, fd, nil) })
	fc.mu.Lock()
	for i, r := range rs {
		if !r.ok {
			continue
		}
		fc.opening[i] = false
		if r.err == nil {
			fc.opened[i] = true
			continue
		}
		fc.tried[i] = gen
		if e := graph.Errno(r.err); e != unix.ENOENT && e != unix.ESTALE && e != unix.ENOTCONN {
			a.Logger().Info("fix-open failed", zap.Stringer("gfid", fd.GFID), zap.Int("child", i), zap.Error(r.err))
		}
	}
	fc.mu.Unlock()
}
