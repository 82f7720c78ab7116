package replicate

import (
	"context"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

func locGFID(loc *graph.Loc) graph.GFID {
	if loc == nil {
		return graph.GFID{}
	}
	return loc.GFID
}

func fdGFID(fd *graph.FD) graph.GFID {
	if fd == nil {
		return graph.GFID{}
	}
	return fd.GFID
}

var errNilArg = graph.Errorf(unix.EINVAL, "replicate: missing loc or fd")

// notServing tells whether err means the child cannot serve the fop at all rather than that
// the fop failed there: it is down (ENOTCONN), or the fd is not open on it (EBADFD: the fd was
// opened while the child was down, or was lost with an earlier connection and could not be
// re-opened because the file is missing there). Such a child is not part of the fd, as a child
// that was down when a GlusterFS fd was opened is not (afr_fd_ctx opened_on): fd fops skip it
// and try the others; transactions leave it out of the lock set, so the good copies blame it.
func notServing(err error) bool {
	e := graph.Errno(err)
	return e == unix.ENOTCONN || e == unix.EBADFD
}

// read runs a read fop on the read child of g, failing over to the next readable child when
// one cannot serve it (down, or the fd is not open there).
func read[T any](ctx context.Context, a *AFR, g graph.GFID, typ int, op func(i int) (T, error)) (T, error) {
	return readFD(ctx, a, nil, g, typ, op)
}

// readFD is read through fd: children fd is not open on are not asked.
func readFD[T any](ctx context.Context, a *AFR, fd *graph.FD, g graph.GFID, typ int, op func(i int) (T, error)) (T, error) {
	var zero T
	tried := map[int]bool{}
	if fd != nil {
		for i, o := range a.fdOpenSet(fd) {
			if !o {
				tried[i] = true
			}
		}
	}
	var last error
	for k := 0; k < len(a.kids); k++ {
		i, err := a.readChildExcept(ctx, g, typ, tried)
		if err != nil {
			if k == 0 {
				return zero, err
			}
			break
		}
		tried[i] = true
		v, err := op(i)
		if err == nil || !notServing(err) {
			return v, err
		}
		last = err
	}
	if graph.Errno(last) == unix.EBADFD {
		return zero, last
	}
	return zero, errDown("read")
}

// onAll runs op on every up child; the first success is returned.
func onAll[T any](a *AFR, op func(i int) (T, error)) (T, error) {
	var zero T
	rs := fan(a.upSet(), op)
	var firstErr error
	for _, r := range rs {
		if r.ok && r.err == nil {
			return r.v, nil
		}
		if r.ok && firstErr == nil {
			firstErr = r.err
		}
	}
	if firstErr == nil {
		firstErr = errDown("fop")
	}
	return zero, firstErr
}

// Stat implements graph.Fops.
func (a *AFR) Stat(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.Iatt, graph.Xdata, error) {
	type r struct {
		s graph.Iatt
		x graph.Xdata
	}
	v, err := read(ctx, a, locGFID(loc), IdxMetadata, func(i int) (r, error) {
		s, x, err := a.kids[i].Stat(ctx, loc, xdata)
		return r{s, x}, err
	})
	return v.s, v.x, err
}

// Fstat implements graph.Fops.
func (a *AFR) Fstat(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Iatt, graph.Xdata, error) {
	type r struct {
		s graph.Iatt
		x graph.Xdata
	}
	v, err := readFD(ctx, a, fd, fdGFID(fd), IdxMetadata, func(i int) (r, error) {
		s, x, err := a.kids[i].Fstat(ctx, fd, xdata)
		return r{s, x}, err
	})
	return v.s, v.x, err
}

// Access implements graph.Fops.
func (a *AFR) Access(ctx context.Context, loc *graph.Loc, mask uint32, xdata graph.Xdata) (graph.Xdata, error) {
	return read(ctx, a, locGFID(loc), IdxMetadata, func(i int) (graph.Xdata, error) { return a.kids[i].Access(ctx, loc, mask, xdata) })
}

// Readlink implements graph.Fops.
func (a *AFR) Readlink(ctx context.Context, loc *graph.Loc, size uint32, xdata graph.Xdata) (string, graph.Iatt, graph.Xdata, error) {
	type r struct {
		t string
		s graph.Iatt
		x graph.Xdata
	}
	v, err := read(ctx, a, locGFID(loc), IdxMetadata, func(i int) (r, error) {
		t, s, x, err := a.kids[i].Readlink(ctx, loc, size, xdata)
		return r{t, s, x}, err
	})
	return v.t, v.s, v.x, err
}

// Readv implements graph.Fops (from one readable data copy). The reply, with its Release, is
// the child's; a failed read's buffer is handed back before the next child is tried.
func (a *AFR) Readv(ctx context.Context, fd *graph.FD, size uint32, offset int64, flags uint32, xdata graph.Xdata) (graph.ReadReply, error) {
	return readFD(ctx, a, fd, fdGFID(fd), IdxData, func(i int) (graph.ReadReply, error) {
		r, err := a.kids[i].Readv(ctx, fd, size, offset, flags, xdata)
		if err != nil {
			r.Done()
			r.Data = nil
		}
		return r, err
	})
}

// Getxattr implements graph.Fops.
func (a *AFR) Getxattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	type r struct{ v, x graph.Xdata }
	v, err := read(ctx, a, locGFID(loc), IdxMetadata, func(i int) (r, error) {
		p, q, err := a.kids[i].Getxattr(ctx, loc, name, xdata)
		return r{p, q}, err
	})
	if name == "" && err == nil {
		v.v = a.hideChangelog(v.v)
	}
	return v.v, v.x, err
}

// Fgetxattr implements graph.Fops.
func (a *AFR) Fgetxattr(ctx context.Context, fd *graph.FD, name string, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	type r struct{ v, x graph.Xdata }
	v, err := readFD(ctx, a, fd, fdGFID(fd), IdxMetadata, func(i int) (r, error) {
		p, q, err := a.kids[i].Fgetxattr(ctx, fd, name, xdata)
		return r{p, q}, err
	})
	if name == "" && err == nil {
		v.v = a.hideChangelog(v.v)
	}
	return v.v, v.x, err
}

// Statfs implements graph.Fops.
func (a *AFR) Statfs(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.Statvfs, graph.Xdata, error) {
	type r struct {
		s graph.Statvfs
		x graph.Xdata
	}
	v, err := read(ctx, a, graph.GFID{}, IdxData, func(i int) (r, error) {
		s, x, err := a.kids[i].Statfs(ctx, loc, xdata)
		return r{s, x}, err
	})
	return v.s, v.x, err
}

// Seek implements graph.Fops.
func (a *AFR) Seek(ctx context.Context, fd *graph.FD, offset int64, what graph.SeekWhat, xdata graph.Xdata) (int64, graph.Xdata, error) {
	type r struct {
		o int64
		x graph.Xdata
	}
	v, err := readFD(ctx, a, fd, fdGFID(fd), IdxData, func(i int) (r, error) {
		o, x, err := a.kids[i].Seek(ctx, fd, offset, what, xdata)
		return r{o, x}, err
	})
	return v.o, v.x, err
}

// Rchecksum implements graph.Fops.
func (a *AFR) Rchecksum(ctx context.Context, fd *graph.FD, offset int64, length uint32, xdata graph.Xdata) (graph.RchecksumReply, error) {
	return readFD(ctx, a, fd, fdGFID(fd), IdxData, func(i int) (graph.RchecksumReply, error) { return a.kids[i].Rchecksum(ctx, fd, offset, length, xdata) })
}

// ---- open / dirs ----------------------------------------------------------------------------

// Open implements graph.Fops on every up child.
func (a *AFR) Open(ctx context.Context, loc *graph.Loc, flags int, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	if flags&unix.O_TRUNC != 0 {
		if _, err := a.Truncate(ctx, loc, 0, nil); err != nil {
			return nil, err
		}
		flags &^= unix.O_TRUNC
	}
	if fd == nil {
		return nil, errNilArg
	}
	return onAll(a, func(i int) (graph.Xdata, error) {
		x, err := a.kids[i].Open(ctx, loc, flags, fd, xdata)
		if err == nil {
			a.noteOpened(fd, flags, i)
		}
		return x, err
	})
}

// Opendir implements graph.Fops on every up child.
func (a *AFR) Opendir(ctx context.Context, loc *graph.Loc, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	return onAll(a, func(i int) (graph.Xdata, error) { return a.kids[i].Opendir(ctx, loc, fd, xdata) })
}

type readdirChild struct{ i int }

func (a *AFR) readdir(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata, plus bool) ([]graph.Dirent, graph.Xdata, error) {
	if fd == nil {
		return nil, nil, errNilArg
	}
	var i int
	if v, ok := fd.Ctx(a); ok && offset != 0 {
		i = v.(readdirChild).i
		if !a.up[i].Load() {
			return nil, nil, graph.Errorf(unix.EIO, "replicate %s: readdir child went down mid-listing", a.Name())
		}
	} else {
		var err error
		if i, err = a.readChild(ctx, fd.GFID, IdxEntry); err != nil {
			return nil, nil, err
		}
		fd.SetCtx(a, readdirChild{i})
	}
	for {
		var ents []graph.Dirent
		var x graph.Xdata
		var err error
		if plus {
			ents, x, err = a.kids[i].Readdirp(ctx, fd, size, offset, xdata)
			for k := range ents {
				for _, key := range a.keys {
					delete(ents[k].Xdata, key)
				}
			}
		} else {
			ents, x, err = a.kids[i].Readdir(ctx, fd, size, offset, xdata)
		}
		if err != nil || fd.GFID != graph.RootGFID || len(ents) == 0 {
			return ents, x, err
		}
		kept := ents[:0]
		for _, e := range ents {
			if !privateName(graph.RootGFID, e.Name) {
				kept = append(kept, e)
			}
		}
		if len(kept) > 0 {
			return kept, x, nil
		}
		// The page held only private entries: an empty one would end the listing.
		offset = ents[len(ents)-1].Off
	}
}

// privateName reports whether name in directory parent is one of the directories GlusterFS's
// replicate keeps for itself in a volume's root: ".landfill" (its old trash) and
// ".glusterfs-anonymous-inode-<volume id>" (where its entry self-heal parks inodes whose names
// are unknown; GlusterFS 9 and later create it). Clients neither list nor look them up
// (afr_is_private_directory), so a volume adopted from GlusterFS shows none of its internals.
func privateName(parent graph.GFID, name string) bool {
	return parent == graph.RootGFID && (name == ".landfill" || strings.HasPrefix(name, anonInodePrefix))
}

const anonInodePrefix = ".glusterfs-anonymous-inode"

// refusePrivate is the EPERM a client gets for a fop naming a private directory of the root.
func refusePrivate(loc *graph.Loc, fop string) error {
	if loc != nil && privateName(loc.ParentGFID, loc.Name) {
		return graph.Errorf(unix.EPERM, "replicate: %s %s: a private directory of the volume root", fop, loc.Name)
	}
	return nil
}

// Readdir implements graph.Fops from one child (kept for the whole listing).
func (a *AFR) Readdir(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) ([]graph.Dirent, graph.Xdata, error) {
	return a.readdir(ctx, fd, size, offset, xdata, false)
}

// Readdirp implements graph.Fops from one child (kept for the whole listing).
func (a *AFR) Readdirp(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) ([]graph.Dirent, graph.Xdata, error) {
	return a.readdir(ctx, fd, size, offset, xdata, true)
}

// Flush implements graph.Fops on every up child.
func (a *AFR) Flush(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	if err := a.eagerFlushCtx(ctx, fdGFID(fd)); err != nil {
		return nil, err
	}
	rs := fan(and(a.upSet(), a.fdOpenSet(fd)), func(i int) (graph.Xdata, error) { return a.kids[i].Flush(ctx, fd, xdata) })
	for _, r := range rs {
		if r.ok && r.err == nil {
			return r.v, nil
		}
	}
	for _, r := range rs {
		if r.ok {
			return nil, r.err
		}
	}
	return nil, errDown("flush")
}

// Fsync implements graph.Fops: on every up child; it returns when all have synced. A child the
// fd is not open on (it was down when the fd was opened, or it came back without the file) is
// skipped: it missed the writes and is blamed for them, it has nothing of this fd to sync.
func (a *AFR) Fsync(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (graph.WCCReply, error) {
	defer func() { _ = a.eagerFlushCtx(ctx, fdGFID(fd)) }()
	rs := fan(and(a.upSet(), a.fdOpenSet(fd)), func(i int) (graph.WCCReply, error) { return a.kids[i].Fsync(ctx, fd, datasync, xdata) })
	for _, r := range rs {
		if r.ok && r.err != nil && !notServing(r.err) {
			return graph.WCCReply{}, r.err
		}
	}
	for _, r := range rs {
		if r.ok && r.err == nil {
			return r.v, nil
		}
	}
	return graph.WCCReply{}, errDown("fsync")
}

// Fsyncdir implements graph.Fops on every up child.
func (a *AFR) Fsyncdir(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (graph.Xdata, error) {
	return onAll(a, func(i int) (graph.Xdata, error) { return a.kids[i].Fsyncdir(ctx, fd, datasync, xdata) })
}

// ---- locks (every up child) -----------------------------------------------------------------

// Lk implements graph.Fops.
func (a *AFR) Lk(ctx context.Context, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Flock, graph.Xdata, error) {
	type r struct {
		f graph.Flock
		x graph.Xdata
	}
	v, err := onAll(a, func(i int) (r, error) {
		f, x, err := a.kids[i].Lk(ctx, fd, cmd, lock, xdata)
		return r{f, x}, err
	})
	return v.f, v.x, err
}

// Inodelk implements graph.Fops.
func (a *AFR) Inodelk(ctx context.Context, volume string, loc *graph.Loc, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Xdata, error) {
	return onAll(a, func(i int) (graph.Xdata, error) { return a.kids[i].Inodelk(ctx, volume, loc, cmd, lock, xdata) })
}

// Finodelk implements graph.Fops.
func (a *AFR) Finodelk(ctx context.Context, volume string, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Xdata, error) {
	return onAll(a, func(i int) (graph.Xdata, error) { return a.kids[i].Finodelk(ctx, volume, fd, cmd, lock, xdata) })
}

// Entrylk implements graph.Fops.
func (a *AFR) Entrylk(ctx context.Context, volume string, loc *graph.Loc, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (graph.Xdata, error) {
	return onAll(a, func(i int) (graph.Xdata, error) {
		return a.kids[i].Entrylk(ctx, volume, loc, basename, cmd, typ, xdata)
	})
}

// Fentrylk implements graph.Fops.
func (a *AFR) Fentrylk(ctx context.Context, volume string, fd *graph.FD, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (graph.Xdata, error) {
	return onAll(a, func(i int) (graph.Xdata, error) {
		return a.kids[i].Fentrylk(ctx, volume, fd, basename, cmd, typ, xdata)
	})
}

// Xattrop implements graph.Fops on every up child (callers above keep their own counters).
func (a *AFR) Xattrop(ctx context.Context, loc *graph.Loc, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	type r struct{ v, x graph.Xdata }
	v, err := txn(ctx, a, IdxMetadata, loc, nil, func(i int) (r, error) {
		p, q, err := a.kids[i].Xattrop(ctx, loc, flag, dict, xdata)
		return r{p, q}, err
	})
	return v.v, v.x, err
}

// Fxattrop implements graph.Fops.
func (a *AFR) Fxattrop(ctx context.Context, fd *graph.FD, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	type r struct{ v, x graph.Xdata }
	v, err := txn(ctx, a, IdxMetadata, nil, fd, func(i int) (r, error) {
		p, q, err := a.kids[i].Fxattrop(ctx, fd, flag, dict, xdata)
		return r{p, q}, err
	})
	return v.v, v.x, err
}

// ---- inode write transactions ---------------------------------------------------------------

// Writev implements graph.Fops as a data transaction.
func (a *AFR) Writev(ctx context.Context, fd *graph.FD, data []byte, offset int64, flags uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	if fd != nil && a.eagerOn && !fd.GFID.IsZero() {
		return a.eagerWrite(ctx, fd, data, offset, flags, xdata)
	}
	return txn(ctx, a, IdxData, nil, fd, func(i int) (graph.WCCReply, error) { return a.kids[i].Writev(ctx, fd, data, offset, flags, xdata) })
}

// Truncate implements graph.Fops as a data transaction.
func (a *AFR) Truncate(ctx context.Context, loc *graph.Loc, offset int64, xdata graph.Xdata) (graph.WCCReply, error) {
	return txn(ctx, a, IdxData, loc, nil, func(i int) (graph.WCCReply, error) { return a.kids[i].Truncate(ctx, loc, offset, xdata) })
}

// Ftruncate implements graph.Fops as a data transaction.
func (a *AFR) Ftruncate(ctx context.Context, fd *graph.FD, offset int64, xdata graph.Xdata) (graph.WCCReply, error) {
	return txn(ctx, a, IdxData, nil, fd, func(i int) (graph.WCCReply, error) { return a.kids[i].Ftruncate(ctx, fd, offset, xdata) })
}

// Fallocate implements graph.Fops as a data transaction.
func (a *AFR) Fallocate(ctx context.Context, fd *graph.FD, mode uint32, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	return txn(ctx, a, IdxData, nil, fd, func(i int) (graph.WCCReply, error) {
		return a.kids[i].Fallocate(ctx, fd, mode, offset, length, xdata)
	})
}

// Discard implements graph.Fops as a data transaction.
func (a *AFR) Discard(ctx context.Context, fd *graph.FD, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	return txn(ctx, a, IdxData, nil, fd, func(i int) (graph.WCCReply, error) { return a.kids[i].Discard(ctx, fd, offset, length, xdata) })
}

// Zerofill implements graph.Fops as a data transaction.
func (a *AFR) Zerofill(ctx context.Context, fd *graph.FD, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	return txn(ctx, a, IdxData, nil, fd, func(i int) (graph.WCCReply, error) { return a.kids[i].Zerofill(ctx, fd, offset, length, xdata) })
}

// Setattr implements graph.Fops as a metadata transaction.
func (a *AFR) Setattr(ctx context.Context, loc *graph.Loc, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	return txn(ctx, a, IdxMetadata, loc, nil, func(i int) (graph.WCCReply, error) { return a.kids[i].Setattr(ctx, loc, stbuf, valid, xdata) })
}

// Fsetattr implements graph.Fops as a metadata transaction.
func (a *AFR) Fsetattr(ctx context.Context, fd *graph.FD, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	return txn(ctx, a, IdxMetadata, nil, fd, func(i int) (graph.WCCReply, error) { return a.kids[i].Fsetattr(ctx, fd, stbuf, valid, xdata) })
}

func (a *AFR) internal(d graph.Xdata) bool {
	for _, k := range a.keys {
		if d.Has(k) {
			return true
		}
	}
	return false
}

// Setxattr implements graph.Fops as a metadata transaction.
func (a *AFR) Setxattr(ctx context.Context, loc *graph.Loc, dict graph.Xdata, flags int, xdata graph.Xdata) (graph.Xdata, error) {
	if a.internal(dict) {
		return nil, graph.Errorf(unix.EPERM, "replicate: setxattr %s: changelog xattr", loc)
	}
	return txn(ctx, a, IdxMetadata, loc, nil, func(i int) (graph.Xdata, error) { return a.kids[i].Setxattr(ctx, loc, dict, flags, xdata) })
}

// Fsetxattr implements graph.Fops as a metadata transaction.
func (a *AFR) Fsetxattr(ctx context.Context, fd *graph.FD, dict graph.Xdata, flags int, xdata graph.Xdata) (graph.Xdata, error) {
	if a.internal(dict) {
		return nil, graph.Errorf(unix.EPERM, "replicate: fsetxattr: changelog xattr")
	}
	return txn(ctx, a, IdxMetadata, nil, fd, func(i int) (graph.Xdata, error) { return a.kids[i].Fsetxattr(ctx, fd, dict, flags, xdata) })
}

// Removexattr implements graph.Fops as a metadata transaction.
func (a *AFR) Removexattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (graph.Xdata, error) {
	return txn(ctx, a, IdxMetadata, loc, nil, func(i int) (graph.Xdata, error) { return a.kids[i].Removexattr(ctx, loc, name, xdata) })
}

// Fremovexattr implements graph.Fops as a metadata transaction.
func (a *AFR) Fremovexattr(ctx context.Context, fd *graph.FD, name string, xdata graph.Xdata) (graph.Xdata, error) {
	return txn(ctx, a, IdxMetadata, nil, fd, func(i int) (graph.Xdata, error) { return a.kids[i].Fremovexattr(ctx, fd, name, xdata) })
}

// ---- entry transactions ---------------------------------------------------------------------

func withGFID(x graph.Xdata) graph.Xdata {
	if v, ok := x["gfid-req"]; ok && len(v) == 16 {
		return x
	}
	g := graph.NewGFID()
	nx := x.Clone()
	if nx == nil {
		nx = graph.Xdata{}
	}
	nx["gfid-req"] = g[:]
	return nx
}

func entryGFID(r graph.EntryReply) (graph.GFID, bool) { return r.Stat.GFID, r.Stat.IsDir() }

// Create implements graph.Fops as an entry transaction (one GFID on every copy).
func (a *AFR) Create(ctx context.Context, loc *graph.Loc, flags int, mode uint32, umask uint32, fd *graph.FD, xdata graph.Xdata) (graph.EntryReply, error) {
	if loc == nil || fd == nil {
		return graph.EntryReply{}, errNilArg
	}
	if err := refusePrivate(loc, "create"); err != nil {
		return graph.EntryReply{}, err
	}
	x := withGFID(xdata)
	return entryTxn(ctx, a, loc.ParentGFID, loc.Name, true, entryGFID, func(i int) (graph.EntryReply, error) {
		r, err := a.kids[i].Create(ctx, loc, flags, mode, umask, fd, x)
		if err == nil {
			a.noteOpened(fd, flags, i)
		}
		return r, err
	})
}

// Mknod implements graph.Fops as an entry transaction.
func (a *AFR) Mknod(ctx context.Context, loc *graph.Loc, mode uint32, rdev uint64, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	if loc == nil {
		return graph.EntryReply{}, errNilArg
	}
	if err := refusePrivate(loc, "mknod"); err != nil {
		return graph.EntryReply{}, err
	}
	x := withGFID(xdata)
	return entryTxn(ctx, a, loc.ParentGFID, loc.Name, true, entryGFID, func(i int) (graph.EntryReply, error) {
		return a.kids[i].Mknod(ctx, loc, mode, rdev, umask, x)
	})
}

// Mkdir implements graph.Fops as an entry transaction.
func (a *AFR) Mkdir(ctx context.Context, loc *graph.Loc, mode uint32, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	if loc == nil {
		return graph.EntryReply{}, errNilArg
	}
	if err := refusePrivate(loc, "mkdir"); err != nil {
		return graph.EntryReply{}, err
	}
	x := withGFID(xdata)
	return entryTxn(ctx, a, loc.ParentGFID, loc.Name, true, entryGFID, func(i int) (graph.EntryReply, error) {
		return a.kids[i].Mkdir(ctx, loc, mode, umask, x)
	})
}

// Symlink implements graph.Fops as an entry transaction.
func (a *AFR) Symlink(ctx context.Context, target string, loc *graph.Loc, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	if loc == nil {
		return graph.EntryReply{}, errNilArg
	}
	if err := refusePrivate(loc, "symlink"); err != nil {
		return graph.EntryReply{}, err
	}
	x := withGFID(xdata)
	return entryTxn(ctx, a, loc.ParentGFID, loc.Name, true, entryGFID, func(i int) (graph.EntryReply, error) {
		return a.kids[i].Symlink(ctx, target, loc, umask, x)
	})
}

// Link implements graph.Fops as an entry transaction on the new parent.
func (a *AFR) Link(ctx context.Context, oldLoc, newLoc *graph.Loc, xdata graph.Xdata) (graph.EntryReply, error) {
	if oldLoc == nil || newLoc == nil {
		return graph.EntryReply{}, errNilArg
	}
	if err := refusePrivate(newLoc, "link"); err != nil {
		return graph.EntryReply{}, err
	}
	return entryTxn(ctx, a, newLoc.ParentGFID, newLoc.Name, false, entryGFID, func(i int) (graph.EntryReply, error) {
		return a.kids[i].Link(ctx, oldLoc, newLoc, xdata)
	})
}

func noGFID[T any](T) (graph.GFID, bool) { return graph.GFID{}, false }

// Unlink implements graph.Fops as an entry transaction.
func (a *AFR) Unlink(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (graph.ParentReply, error) {
	if loc == nil {
		return graph.ParentReply{}, errNilArg
	}
	if err := a.eagerFlushCtx(ctx, loc.GFID); err != nil {
		return graph.ParentReply{}, err
	}
	return entryTxn(ctx, a, loc.ParentGFID, loc.Name, false, noGFID[graph.ParentReply], func(i int) (graph.ParentReply, error) {
		return a.kids[i].Unlink(ctx, loc, flags, xdata)
	})
}

// Rmdir implements graph.Fops as an entry transaction.
func (a *AFR) Rmdir(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (graph.ParentReply, error) {
	if loc == nil {
		return graph.ParentReply{}, errNilArg
	}
	return entryTxn(ctx, a, loc.ParentGFID, loc.Name, false, noGFID[graph.ParentReply], func(i int) (graph.ParentReply, error) {
		return a.kids[i].Rmdir(ctx, loc, flags, xdata)
	})
}

// Rename implements graph.Fops as an entry transaction (changelog on the source parent; the
// destination parent is locked by name too when it differs).
func (a *AFR) Rename(ctx context.Context, oldLoc, newLoc *graph.Loc, xdata graph.Xdata) (graph.RenameReply, error) {
	if oldLoc == nil || newLoc == nil {
		return graph.RenameReply{}, errNilArg
	}
	if err := refusePrivate(newLoc, "rename"); err != nil {
		return graph.RenameReply{}, err
	}
	if newLoc.ParentGFID != oldLoc.ParentGFID {
		pl := &graph.Loc{GFID: newLoc.ParentGFID}
		owner := newOwner()
		held := a.entrylk(ctx, a.upSet(), pl, newLoc.Name, owner, true)
		defer a.entrylk(ctx, held, pl, newLoc.Name, owner, false)
	}
	return entryTxn2(ctx, a, oldLoc.ParentGFID, newLoc.ParentGFID, oldLoc.Name, false, noGFID[graph.RenameReply], func(i int) (graph.RenameReply, error) {
		return a.kids[i].Rename(ctx, oldLoc, newLoc, xdata)
	})
}

// hideChangelog drops AFR's changelog xattrs from a full xattr listing (afr_filter_xattrs).
func (a *AFR) hideChangelog(x graph.Xdata) graph.Xdata {
	if x == nil {
		return nil
	}
	out := graph.Xdata{}
	for k, v := range x {
		if !strings.HasPrefix(k, XattrPrefix) {
			out[k] = v
		}
	}
	return out
}
