package graph

import (
	"sync/atomic"
)

var liveFDs atomic.Int64

// LiveFDs returns the number of FDs created and not yet destroyed in this process (leak checks).
func LiveFDs() int64 { return liveFDs.Load() }

// FD is an open file or directory as the graph sees it (GlusterFS's fd_t). It is reference
// counted; each translator keeps its own state in the FD's context slots (posix keeps the kernel
// fd, protocol/client the remote fd number). When the last reference goes, every context value
// that implements Releaser is released.
type FD struct {
	Inode *Inode // may be nil for FDs made outside an inode table
	GFID  GFID
	Flags int   // open(2) flags
	Pid   int32 // opener's pid
	IsDir bool

	ref  atomic.Int32
	ctx  ctxSlots
	done atomic.Bool
}

// NewFD returns an FD with one reference for a file with the given GFID. inode may be nil; when
// given, the FD holds a reference on it.
func NewFD(inode *Inode, gfid GFID, flags int) *FD {
	fd := &FD{Inode: inode, GFID: gfid, Flags: flags}
	if inode != nil {
		inode.Ref()
		if gfid.IsZero() {
			fd.GFID = inode.GFID()
		}
	}
	fd.ref.Store(1)
	liveFDs.Add(1)
	return fd
}

// Ref takes a reference and returns fd.
func (fd *FD) Ref() *FD {
	fd.ref.Add(1)
	return fd
}

// Unref drops a reference; the last one destroys the FD.
func (fd *FD) Unref() {
	n := fd.ref.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 || !fd.done.CompareAndSwap(false, true) {
		return // over-released: ignore rather than double free
	}
	fd.ctx.releaseAll()
	if fd.Inode != nil {
		fd.Inode.Unref()
	}
	liveFDs.Add(-1)
}

// Refs returns the current reference count (tests and statedump).
func (fd *FD) Refs() int32 { return fd.ref.Load() }

// Ctx returns the context value stored under key (conventionally the translator).
func (fd *FD) Ctx(key any) (any, bool) { return fd.ctx.get(key) }

// SetCtx stores a context value under key.
func (fd *FD) SetCtx(key, v any) { fd.ctx.set(key, v) }

// CtxOrSet returns the value under key, storing mk() first if there is none.
func (fd *FD) CtxOrSet(key any, mk func() any) any { return fd.ctx.getOrSet(key, mk) }

// DelCtx removes and returns the value under key (without releasing it).
func (fd *FD) DelCtx(key any) (any, bool) { return fd.ctx.del(key) }
