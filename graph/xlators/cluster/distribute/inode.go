package distribute

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// resolve tells whether loc is a directory and, for a file, which subvolume holds it.
func (d *DHT) resolve(ctx context.Context, loc *graph.Loc) (dir bool, sub int, err error) {
	g := loc.GFID
	if g.IsRoot() || (!g.IsZero() && d.getLayout(g) != nil) {
		return true, -1, nil
	}
	if !g.IsZero() {
		if i, ok := d.getCached(g); ok {
			return false, i, nil
		}
	}
	r, err := d.Lookup(ctx, loc, nil)
	if err != nil {
		return false, -1, err
	}
	if r.Stat.IsDir() {
		return true, -1, nil
	}
	i, ok := d.getCached(r.Stat.GFID)
	if !ok {
		return false, -1, graph.Errorf(unix.EIO, "distribute: %s: location unknown", loc)
	}
	return false, i, nil
}

// retryable reports whether err means the file moved away (migration) so the fop should be
// retried after a fresh lookup.
func retryable(err error) bool {
	e := graph.Errno(err)
	return e == unix.ENOENT || e == unix.ESTALE
}

// onFile runs f on the subvolume holding loc; directories go to every subvolume with allDirs
// (the first answer wins) or to the first up one otherwise.
func onFile[T any](ctx context.Context, d *DHT, loc *graph.Loc, allDirs bool, f func(sub graph.Xlator) (T, error)) (T, error) {
	var zero T
	if loc == nil {
		return zero, errNilLoc
	}
	dir, s, err := d.resolve(ctx, loc)
	if err != nil {
		return zero, err
	}
	if dir {
		if !allDirs {
			return f(d.subs[d.firstUp()])
		}
		res := fanout(d.all(), func(i int) (T, error) { return f(d.subs[i]) })
		var firstErr error
		for i, r := range res {
			if r.err == nil && i == d.firstUp() {
				return r.v, nil
			}
			if r.err != nil && firstErr == nil && graph.Errno(r.err) != unix.ENOTCONN {
				firstErr = r.err
			}
		}
		if firstErr != nil {
			return zero, firstErr
		}
		for _, r := range res {
			if r.err == nil {
				return r.v, nil
			}
		}
		return zero, res[0].err
	}
	v, err := f(d.subs[s])
	if err != nil && retryable(err) && !loc.GFID.IsZero() {
		d.forget(loc.GFID)
		if _, s2, err2 := d.resolve(ctx, loc); err2 == nil && s2 >= 0 && s2 != s {
			return f(d.subs[s2])
		}
	}
	return v, err
}

func onFD[T any](ctx context.Context, d *DHT, fd *graph.FD, f func(sub graph.Xlator) (T, error)) (T, error) {
	var zero T
	if fd == nil {
		return zero, errNilFD
	}
	if fd.IsDir || d.isDir(d.fdGFID(fd)) {
		return f(d.subs[d.firstUp()])
	}
	s, err := d.fdSubvol(ctx, fd)
	if err != nil {
		return zero, err
	}
	v, err := f(d.subs[s])
	if err != nil && retryable(err) {
		// The file may have migrated (rebalance): find it again, reopen there, retry once.
		if s2, rerr := d.reopen(ctx, fd, s); rerr == nil && s2 != s {
			return f(d.subs[s2])
		}
	}
	return v, err
}

// Stat implements graph.Fops.
func (d *DHT) Stat(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.Iatt, graph.Xdata, error) {
	type r struct {
		st graph.Iatt
		x  graph.Xdata
	}
	v, err := onFile(ctx, d, loc, false, func(s graph.Xlator) (r, error) {
		st, x, err := s.Stat(ctx, loc, xdata)
		return r{st, x}, err
	})
	stripPhase(&v.st)
	return v.st, v.x, err
}

// Access implements graph.Fops.
func (d *DHT) Access(ctx context.Context, loc *graph.Loc, mask uint32, xdata graph.Xdata) (graph.Xdata, error) {
	return onFile(ctx, d, loc, false, func(s graph.Xlator) (graph.Xdata, error) { return s.Access(ctx, loc, mask, xdata) })
}

// Readlink implements graph.Fops.
func (d *DHT) Readlink(ctx context.Context, loc *graph.Loc, size uint32, xdata graph.Xdata) (string, graph.Iatt, graph.Xdata, error) {
	type r struct {
		t  string
		st graph.Iatt
		x  graph.Xdata
	}
	v, err := onFile(ctx, d, loc, false, func(s graph.Xlator) (r, error) {
		t, st, x, err := s.Readlink(ctx, loc, size, xdata)
		return r{t, st, x}, err
	})
	return v.t, v.st, v.x, err
}

// Truncate implements graph.Fops.
func (d *DHT) Truncate(ctx context.Context, loc *graph.Loc, offset int64, xdata graph.Xdata) (graph.WCCReply, error) {
	var src graph.Xlator
	r, err := onFile(ctx, d, loc, false, func(s graph.Xlator) (graph.WCCReply, error) {
		src = s
		return s.Truncate(ctx, loc, offset, xdata)
	})
	if err == nil && inPhase1(&r.Post) {
		if i := d.subvolIndexOf(src); i >= 0 {
			err = d.replayOnDest(ctx, r.Post.GFID, i, offset, 0, func(ictx context.Context, sub graph.Xlator, dfd *graph.FD) error {
				_, err := sub.Ftruncate(ictx, dfd, offset, nil)
				return err
			})
		}
	}
	stripWCC(&r)
	return r, err
}

// Open implements graph.Fops on the subvolume holding the file's data (dht_open).
func (d *DHT) Open(ctx context.Context, loc *graph.Loc, flags int, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	if loc == nil || fd == nil {
		return nil, errNilArg
	}
	x, _, err := d.open(ctx, loc, flags, fd, xdata)
	return x, err
}

// open opens loc where its data is. O_TRUNC (with write access) is not passed down: the file is
// truncated through the new FD instead, so that during a migration the truncate is replayed on
// the destination like any write (a brick truncating the source in its open would leave the
// destination's copied chunks in place). The attributes after that truncate are returned.
func (d *DHT) open(ctx context.Context, loc *graph.Loc, flags int, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, *graph.Iatt, error) {
	dir, s, err := d.resolve(ctx, loc)
	if err != nil {
		return nil, nil, err
	}
	if dir {
		return nil, nil, graph.Errorf(unix.EISDIR, "distribute: open %s", loc)
	}
	trunc := flags&unix.O_TRUNC != 0 && flags&unix.O_ACCMODE != unix.O_RDONLY
	if trunc {
		flags &^= unix.O_TRUNC
	}
	x, err := d.subs[s].Open(ctx, loc, flags, fd, xdata)
	if err != nil && retryable(err) && !loc.GFID.IsZero() {
		// Migrated away since it was cached: look it up again.
		d.forget(loc.GFID)
		if _, s2, err2 := d.resolve(ctx, loc); err2 == nil && s2 >= 0 && s2 != s {
			s = s2
			x, err = d.subs[s].Open(ctx, loc, flags, fd, xdata)
		}
	}
	if err != nil {
		return x, nil, err
	}
	g := loc.GFID
	if g.IsZero() {
		if lr, lerr := d.Lookup(ctx, loc, nil); lerr == nil {
			g = lr.Stat.GFID
		}
	}
	d.bindFD(fd, s, g)
	if !trunc {
		return x, nil, nil
	}
	r, err := d.Ftruncate(ctx, fd, 0, nil)
	if err != nil {
		return nil, nil, err
	}
	return x, &r.Post, nil
}

// Setattr implements graph.Fops (directories: every subvolume). A file in a migration's phase 1
// keeps its phase bits, and the change reaches the destination (replayAttrs).
func (d *DHT) Setattr(ctx context.Context, loc *graph.Loc, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	var src graph.Xlator // set only for a file in phase 1 (a directory's fan-out never is)
	r, err := onFile(ctx, d, loc, true, func(s graph.Xlator) (graph.WCCReply, error) {
		sb := stbuf
		if valid&graph.SetAttrMode != 0 && stbuf != nil {
			if cur, _, err := s.Stat(ctx, loc, nil); err == nil {
				sb = keepPhaseBits(&cur, stbuf, valid)
			}
		}
		r, err := s.Setattr(ctx, loc, sb, valid, xdata)
		if err == nil && inPhase1(&r.Post) {
			src = s
		}
		return r, err
	})
	if err == nil && src != nil && inPhase1(&r.Post) {
		if i := d.subvolIndexOf(src); i >= 0 {
			err = d.replayAttrs(ctx, r.Post.GFID, i, stbuf, valid)
		}
	}
	stripWCC(&r)
	return r, err
}

// Setxattr implements graph.Fops (directories: every subvolume). The layout xattrs are
// distribute's own and cannot be set through it.
func (d *DHT) Setxattr(ctx context.Context, loc *graph.Loc, dict graph.Xdata, flags int, xdata graph.Xdata) (graph.Xdata, error) {
	if dict.Has(XattrLayout) || dict.Has(XattrLinkto) {
		return nil, graph.Errorf(unix.EPERM, "distribute: setxattr %s: internal xattr", loc)
	}
	return onFile(ctx, d, loc, true, func(s graph.Xlator) (graph.Xdata, error) { return s.Setxattr(ctx, loc, dict, flags, xdata) })
}

// Getxattr implements graph.Fops.
func (d *DHT) Getxattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	type r struct{ v, x graph.Xdata }
	v, err := onFile(ctx, d, loc, false, func(s graph.Xlator) (r, error) {
		a, b, err := s.Getxattr(ctx, loc, name, xdata)
		return r{a, b}, err
	})
	if v.v != nil && name == "" {
		delete(v.v, XattrLayout)
		delete(v.v, XattrLinkto)
	}
	return v.v, v.x, err
}

// Removexattr implements graph.Fops (directories: every subvolume).
func (d *DHT) Removexattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (graph.Xdata, error) {
	if name == XattrLayout || name == XattrLinkto {
		return nil, graph.Errorf(unix.EPERM, "distribute: removexattr %s: internal xattr", loc)
	}
	return onFile(ctx, d, loc, true, func(s graph.Xlator) (graph.Xdata, error) { return s.Removexattr(ctx, loc, name, xdata) })
}

// Xattrop implements graph.Fops.
func (d *DHT) Xattrop(ctx context.Context, loc *graph.Loc, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	type r struct{ v, x graph.Xdata }
	v, err := onFile(ctx, d, loc, false, func(s graph.Xlator) (r, error) {
		a, b, err := s.Xattrop(ctx, loc, flag, dict, xdata)
		return r{a, b}, err
	})
	return v.v, v.x, err
}

// Inodelk implements graph.Fops (directories: the first up subvolume).
func (d *DHT) Inodelk(ctx context.Context, volume string, loc *graph.Loc, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Xdata, error) {
	return onFile(ctx, d, loc, false, func(s graph.Xlator) (graph.Xdata, error) { return s.Inodelk(ctx, volume, loc, cmd, lock, xdata) })
}

// Entrylk implements graph.Fops on the subvolume the basename hashes to (the directory's first
// up subvolume without a basename).
func (d *DHT) Entrylk(ctx context.Context, volume string, loc *graph.Loc, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (graph.Xdata, error) {
	if loc == nil {
		return nil, errNilLoc
	}
	s := d.firstUp()
	if basename != "" && !loc.GFID.IsZero() {
		if h, _, err := d.hashed(ctx, &graph.Loc{Name: basename, ParentGFID: loc.GFID}); err == nil {
			s = h
		}
	}
	return d.subs[s].Entrylk(ctx, volume, loc, basename, cmd, typ, xdata)
}

// Fentrylk implements graph.Fops.
func (d *DHT) Fentrylk(ctx context.Context, volume string, fd *graph.FD, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (graph.Xdata, error) {
	if fd == nil {
		return nil, errNilFD
	}
	s := d.firstUp()
	if basename != "" {
		if h, _, err := d.hashed(ctx, &graph.Loc{Name: basename, ParentGFID: fd.GFID}); err == nil {
			s = h
		}
	}
	return d.subs[s].Fentrylk(ctx, volume, fd, basename, cmd, typ, xdata)
}

// ---- fd fops --------------------------------------------------------------------------------

// Fstat implements graph.Fops.
func (d *DHT) Fstat(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Iatt, graph.Xdata, error) {
	type r struct {
		st graph.Iatt
		x  graph.Xdata
	}
	v, err := fdOp(ctx, d, fd, func(v *r) *graph.Iatt { return &v.st }, nil, func(s graph.Xlator) (r, error) {
		st, x, err := s.Fstat(ctx, fd, xdata)
		return r{st, x}, err
	})
	stripPhase(&v.st)
	return v.st, v.x, err
}

// Readv implements graph.Fops. The reply, with its Release, is the subvolume's; a reply that a
// retry (the file migrated away) or an error drops is released here.
func (d *DHT) Readv(ctx context.Context, fd *graph.FD, size uint32, offset int64, flags uint32, xdata graph.Xdata) (graph.ReadReply, error) {
	var last graph.ReadReply // the latest subvolume reply, until fdOp returns it or drops it
	r, err := fdOp(ctx, d, fd, func(r *graph.ReadReply) *graph.Iatt { return &r.Stat }, nil, func(s graph.Xlator) (graph.ReadReply, error) {
		last.Done() // a retry: the previous attempt's reply is not returned
		var err error
		last, err = s.Readv(ctx, fd, size, offset, flags, xdata)
		return last, err
	})
	if err != nil {
		last.Done()
		r.Data, r.Release = nil, nil
	}
	stripPhase(&r.Stat)
	return r, err
}

// Writev implements graph.Fops.
func (d *DHT) Writev(ctx context.Context, fd *graph.FD, data []byte, offset int64, flags uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	n := int64(len(data))
	if n == 0 {
		n = 1
	}
	return d.fdWrite(ctx, fd, offset, n, func(ctx context.Context, s graph.Xlator, fd *graph.FD) (graph.WCCReply, error) {
		return s.Writev(ctx, fd, data, offset, flags, xdata)
	})
}

// Flush implements graph.Fops.
func (d *DHT) Flush(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	if fd == nil {
		return nil, errNilFD
	}
	if fd.IsDir {
		return nil, nil
	}
	return onFD(ctx, d, fd, func(s graph.Xlator) (graph.Xdata, error) { return s.Flush(ctx, fd, xdata) })
}

// Fsync implements graph.Fops. During a migration's phase 1 the destination, which holds the
// copied chunks and the replayed writes, is synced too; after it (phase 2) the FD moves to the
// destination and syncs there (dht_fsync_cbk, dht_fsync2).
func (d *DHT) Fsync(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (graph.WCCReply, error) {
	if fd == nil {
		return graph.WCCReply{}, errNilFD
	}
	return d.fdWrite(ctx, fd, -1, 0, func(ctx context.Context, s graph.Xlator, fd *graph.FD) (graph.WCCReply, error) {
		return s.Fsync(ctx, fd, datasync, xdata)
	})
}

// Ftruncate implements graph.Fops.
func (d *DHT) Ftruncate(ctx context.Context, fd *graph.FD, offset int64, xdata graph.Xdata) (graph.WCCReply, error) {
	return d.fdWrite(ctx, fd, offset, 0, func(ctx context.Context, s graph.Xlator, fd *graph.FD) (graph.WCCReply, error) {
		return s.Ftruncate(ctx, fd, offset, xdata)
	})
}

// Fsetattr implements graph.Fops.
func (d *DHT) Fsetattr(ctx context.Context, fd *graph.FD, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	if fd == nil {
		return graph.WCCReply{}, errNilFD
	}
	if fd.IsDir || d.isDir(fd.GFID) {
		return d.Setattr(ctx, &graph.Loc{GFID: fd.GFID}, stbuf, valid, xdata)
	}
	replay := func(src int) error { return d.replayAttrs(ctx, d.fdGFID(fd), src, stbuf, valid) }
	r, err := fdOp(ctx, d, fd, wccPost, replay, func(s graph.Xlator) (graph.WCCReply, error) {
		sb := stbuf
		if valid&graph.SetAttrMode != 0 && stbuf != nil {
			if cur, _, err := s.Fstat(ctx, fd, nil); err == nil {
				sb = keepPhaseBits(&cur, stbuf, valid)
			}
		}
		return s.Fsetattr(ctx, fd, sb, valid, xdata)
	})
	stripWCC(&r)
	return r, err
}

// Fsetxattr implements graph.Fops.
func (d *DHT) Fsetxattr(ctx context.Context, fd *graph.FD, dict graph.Xdata, flags int, xdata graph.Xdata) (graph.Xdata, error) {
	if fd == nil {
		return nil, errNilFD
	}
	if fd.IsDir || d.isDir(fd.GFID) {
		return d.Setxattr(ctx, &graph.Loc{GFID: fd.GFID}, dict, flags, xdata)
	}
	if dict.Has(XattrLayout) || dict.Has(XattrLinkto) {
		return nil, graph.Errorf(unix.EPERM, "distribute: fsetxattr: internal xattr")
	}
	return onFD(ctx, d, fd, func(s graph.Xlator) (graph.Xdata, error) { return s.Fsetxattr(ctx, fd, dict, flags, xdata) })
}

// Fgetxattr implements graph.Fops.
func (d *DHT) Fgetxattr(ctx context.Context, fd *graph.FD, name string, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	type r struct{ v, x graph.Xdata }
	v, err := onFD(ctx, d, fd, func(s graph.Xlator) (r, error) {
		a, b, err := s.Fgetxattr(ctx, fd, name, xdata)
		return r{a, b}, err
	})
	if v.v != nil && name == "" {
		delete(v.v, XattrLayout)
		delete(v.v, XattrLinkto)
	}
	return v.v, v.x, err
}

// Fremovexattr implements graph.Fops.
func (d *DHT) Fremovexattr(ctx context.Context, fd *graph.FD, name string, xdata graph.Xdata) (graph.Xdata, error) {
	if fd == nil {
		return nil, errNilFD
	}
	if fd.IsDir || d.isDir(fd.GFID) {
		return d.Removexattr(ctx, &graph.Loc{GFID: fd.GFID}, name, xdata)
	}
	return onFD(ctx, d, fd, func(s graph.Xlator) (graph.Xdata, error) { return s.Fremovexattr(ctx, fd, name, xdata) })
}

// Lk implements graph.Fops.
func (d *DHT) Lk(ctx context.Context, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Flock, graph.Xdata, error) {
	type r struct {
		f graph.Flock
		x graph.Xdata
	}
	v, err := onFD(ctx, d, fd, func(s graph.Xlator) (r, error) {
		f, x, err := s.Lk(ctx, fd, cmd, lock, xdata)
		return r{f, x}, err
	})
	return v.f, v.x, err
}

// Finodelk implements graph.Fops.
func (d *DHT) Finodelk(ctx context.Context, volume string, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Xdata, error) {
	return onFD(ctx, d, fd, func(s graph.Xlator) (graph.Xdata, error) { return s.Finodelk(ctx, volume, fd, cmd, lock, xdata) })
}

// Fxattrop implements graph.Fops.
func (d *DHT) Fxattrop(ctx context.Context, fd *graph.FD, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	type r struct{ v, x graph.Xdata }
	v, err := onFD(ctx, d, fd, func(s graph.Xlator) (r, error) {
		a, b, err := s.Fxattrop(ctx, fd, flag, dict, xdata)
		return r{a, b}, err
	})
	return v.v, v.x, err
}

// Fallocate implements graph.Fops.
func (d *DHT) Fallocate(ctx context.Context, fd *graph.FD, mode uint32, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	return d.fdWrite(ctx, fd, offset, length, func(ctx context.Context, s graph.Xlator, fd *graph.FD) (graph.WCCReply, error) {
		return s.Fallocate(ctx, fd, mode, offset, length, xdata)
	})
}

// Discard implements graph.Fops.
func (d *DHT) Discard(ctx context.Context, fd *graph.FD, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	return d.fdWrite(ctx, fd, offset, length, func(ctx context.Context, s graph.Xlator, fd *graph.FD) (graph.WCCReply, error) {
		return s.Discard(ctx, fd, offset, length, xdata)
	})
}

// Zerofill implements graph.Fops.
func (d *DHT) Zerofill(ctx context.Context, fd *graph.FD, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	return d.fdWrite(ctx, fd, offset, length, func(ctx context.Context, s graph.Xlator, fd *graph.FD) (graph.WCCReply, error) {
		return s.Zerofill(ctx, fd, offset, length, xdata)
	})
}

// Seek implements graph.Fops.
func (d *DHT) Seek(ctx context.Context, fd *graph.FD, offset int64, what graph.SeekWhat, xdata graph.Xdata) (int64, graph.Xdata, error) {
	type r struct {
		o int64
		x graph.Xdata
	}
	v, err := onFD(ctx, d, fd, func(s graph.Xlator) (r, error) {
		o, x, err := s.Seek(ctx, fd, offset, what, xdata)
		return r{o, x}, err
	})
	return v.o, v.x, err
}

// Rchecksum implements graph.Fops.
func (d *DHT) Rchecksum(ctx context.Context, fd *graph.FD, offset int64, length uint32, xdata graph.Xdata) (graph.RchecksumReply, error) {
	return onFD(ctx, d, fd, func(s graph.Xlator) (graph.RchecksumReply, error) { return s.Rchecksum(ctx, fd, offset, length, xdata) })
}
