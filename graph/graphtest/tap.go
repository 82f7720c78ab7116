package graphtest

import (
	"context"
	"fmt"

	"github.com/weftfs/weft/graph"
)

// tap implements graph.Fops by reporting each call (fop, argument summary, result) to on and
// forwarding it to next(). The Recorder and the suite's fop counter are built on it.
type tap struct {
	next func() (graph.Fops, error)
	on   func(f graph.Fop, summary string, err error)
}

func locS(l *graph.Loc) string {
	if l == nil {
		return "<nil>"
	}
	return l.String()
}

func fdS(fd *graph.FD) string {
	if fd == nil {
		return "fd=<nil>"
	}
	return "fd=" + fd.GFID.String()
}

func (t *tap) fwd() (graph.Fops, error) { return t.next() }

func (t *tap) rec(f graph.Fop, err error, format string, args ...any) {
	if t.on != nil {
		t.on(f, fmt.Sprintf(format, args...), err)
	}
}

func (t *tap) Lookup(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (r graph.LookupReply, err error) {
	defer func() { t.rec(graph.FopLookup, err, "%s", locS(loc)) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Lookup(ctx, loc, xdata)
}

func (t *tap) Stat(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (a graph.Iatt, x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopStat, err, "%s", locS(loc)) }()
	c, err := t.fwd()
	if err != nil {
		return a, nil, err
	}
	return c.Stat(ctx, loc, xdata)
}

func (t *tap) Fstat(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (a graph.Iatt, x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopFstat, err, "%s", fdS(fd)) }()
	c, err := t.fwd()
	if err != nil {
		return a, nil, err
	}
	return c.Fstat(ctx, fd, xdata)
}

func (t *tap) Access(ctx context.Context, loc *graph.Loc, mask uint32, xdata graph.Xdata) (x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopAccess, err, "%s mask=%#o", locS(loc), mask) }()
	c, err := t.fwd()
	if err != nil {
		return nil, err
	}
	return c.Access(ctx, loc, mask, xdata)
}

func (t *tap) Readlink(ctx context.Context, loc *graph.Loc, size uint32, xdata graph.Xdata) (s string, a graph.Iatt, x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopReadlink, err, "%s size=%d", locS(loc), size) }()
	c, err := t.fwd()
	if err != nil {
		return "", a, nil, err
	}
	return c.Readlink(ctx, loc, size, xdata)
}

func (t *tap) Mknod(ctx context.Context, loc *graph.Loc, mode uint32, rdev uint64, umask uint32, xdata graph.Xdata) (r graph.EntryReply, err error) {
	defer func() { t.rec(graph.FopMknod, err, "%s mode=%#o rdev=%d", locS(loc), mode, rdev) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Mknod(ctx, loc, mode, rdev, umask, xdata)
}

func (t *tap) Mkdir(ctx context.Context, loc *graph.Loc, mode uint32, umask uint32, xdata graph.Xdata) (r graph.EntryReply, err error) {
	defer func() { t.rec(graph.FopMkdir, err, "%s mode=%#o", locS(loc), mode) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Mkdir(ctx, loc, mode, umask, xdata)
}

func (t *tap) Unlink(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (r graph.ParentReply, err error) {
	defer func() { t.rec(graph.FopUnlink, err, "%s", locS(loc)) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Unlink(ctx, loc, flags, xdata)
}

func (t *tap) Rmdir(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (r graph.ParentReply, err error) {
	defer func() { t.rec(graph.FopRmdir, err, "%s", locS(loc)) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Rmdir(ctx, loc, flags, xdata)
}

func (t *tap) Symlink(ctx context.Context, target string, loc *graph.Loc, umask uint32, xdata graph.Xdata) (r graph.EntryReply, err error) {
	defer func() { t.rec(graph.FopSymlink, err, "%s -> %q", locS(loc), target) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Symlink(ctx, target, loc, umask, xdata)
}

func (t *tap) Rename(ctx context.Context, oldLoc, newLoc *graph.Loc, xdata graph.Xdata) (r graph.RenameReply, err error) {
	defer func() { t.rec(graph.FopRename, err, "%s -> %s", locS(oldLoc), locS(newLoc)) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Rename(ctx, oldLoc, newLoc, xdata)
}

func (t *tap) Link(ctx context.Context, oldLoc, newLoc *graph.Loc, xdata graph.Xdata) (r graph.EntryReply, err error) {
	defer func() { t.rec(graph.FopLink, err, "%s -> %s", locS(oldLoc), locS(newLoc)) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Link(ctx, oldLoc, newLoc, xdata)
}

func (t *tap) Truncate(ctx context.Context, loc *graph.Loc, offset int64, xdata graph.Xdata) (r graph.WCCReply, err error) {
	defer func() { t.rec(graph.FopTruncate, err, "%s off=%d", locS(loc), offset) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Truncate(ctx, loc, offset, xdata)
}

func (t *tap) Ftruncate(ctx context.Context, fd *graph.FD, offset int64, xdata graph.Xdata) (r graph.WCCReply, err error) {
	defer func() { t.rec(graph.FopFtruncate, err, "%s off=%d", fdS(fd), offset) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Ftruncate(ctx, fd, offset, xdata)
}

func (t *tap) Create(ctx context.Context, loc *graph.Loc, flags int, mode uint32, umask uint32, fd *graph.FD, xdata graph.Xdata) (r graph.EntryReply, err error) {
	defer func() { t.rec(graph.FopCreate, err, "%s flags=%#x mode=%#o", locS(loc), flags, mode) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Create(ctx, loc, flags, mode, umask, fd, xdata)
}

func (t *tap) Open(ctx context.Context, loc *graph.Loc, flags int, fd *graph.FD, xdata graph.Xdata) (x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopOpen, err, "%s flags=%#x", locS(loc), flags) }()
	c, err := t.fwd()
	if err != nil {
		return nil, err
	}
	return c.Open(ctx, loc, flags, fd, xdata)
}

func (t *tap) Readv(ctx context.Context, fd *graph.FD, size uint32, offset int64, flags uint32, xdata graph.Xdata) (r graph.ReadReply, err error) {
	defer func() { t.rec(graph.FopReadv, err, "%s size=%d off=%d", fdS(fd), size, offset) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Readv(ctx, fd, size, offset, flags, xdata)
}

func (t *tap) Writev(ctx context.Context, fd *graph.FD, data []byte, offset int64, flags uint32, xdata graph.Xdata) (r graph.WCCReply, err error) {
	defer func() { t.rec(graph.FopWritev, err, "%s len=%d off=%d", fdS(fd), len(data), offset) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Writev(ctx, fd, data, offset, flags, xdata)
}

func (t *tap) Flush(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopFlush, err, "%s", fdS(fd)) }()
	c, err := t.fwd()
	if err != nil {
		return nil, err
	}
	return c.Flush(ctx, fd, xdata)
}

func (t *tap) Fsync(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (r graph.WCCReply, err error) {
	defer func() { t.rec(graph.FopFsync, err, "%s datasync=%v", fdS(fd), datasync) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Fsync(ctx, fd, datasync, xdata)
}

func (t *tap) Opendir(ctx context.Context, loc *graph.Loc, fd *graph.FD, xdata graph.Xdata) (x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopOpendir, err, "%s", locS(loc)) }()
	c, err := t.fwd()
	if err != nil {
		return nil, err
	}
	return c.Opendir(ctx, loc, fd, xdata)
}

func (t *tap) Readdir(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) (d []graph.Dirent, x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopReaddir, err, "%s size=%d off=%d", fdS(fd), size, offset) }()
	c, err := t.fwd()
	if err != nil {
		return nil, nil, err
	}
	return c.Readdir(ctx, fd, size, offset, xdata)
}

func (t *tap) Readdirp(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) (d []graph.Dirent, x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopReaddirp, err, "%s size=%d off=%d", fdS(fd), size, offset) }()
	c, err := t.fwd()
	if err != nil {
		return nil, nil, err
	}
	return c.Readdirp(ctx, fd, size, offset, xdata)
}

func (t *tap) Fsyncdir(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopFsyncdir, err, "%s datasync=%v", fdS(fd), datasync) }()
	c, err := t.fwd()
	if err != nil {
		return nil, err
	}
	return c.Fsyncdir(ctx, fd, datasync, xdata)
}

func (t *tap) Statfs(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (s graph.Statvfs, x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopStatfs, err, "%s", locS(loc)) }()
	c, err := t.fwd()
	if err != nil {
		return s, nil, err
	}
	return c.Statfs(ctx, loc, xdata)
}

func (t *tap) Setxattr(ctx context.Context, loc *graph.Loc, dict graph.Xdata, flags int, xdata graph.Xdata) (x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopSetxattr, err, "%s keys=%v flags=%d", locS(loc), dict.Keys(), flags) }()
	c, err := t.fwd()
	if err != nil {
		return nil, err
	}
	return c.Setxattr(ctx, loc, dict, flags, xdata)
}

func (t *tap) Getxattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (d, x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopGetxattr, err, "%s name=%q", locS(loc), name) }()
	c, err := t.fwd()
	if err != nil {
		return nil, nil, err
	}
	return c.Getxattr(ctx, loc, name, xdata)
}

func (t *tap) Fsetxattr(ctx context.Context, fd *graph.FD, dict graph.Xdata, flags int, xdata graph.Xdata) (x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopFsetxattr, err, "%s keys=%v flags=%d", fdS(fd), dict.Keys(), flags) }()
	c, err := t.fwd()
	if err != nil {
		return nil, err
	}
	return c.Fsetxattr(ctx, fd, dict, flags, xdata)
}

func (t *tap) Fgetxattr(ctx context.Context, fd *graph.FD, name string, xdata graph.Xdata) (d, x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopFgetxattr, err, "%s name=%q", fdS(fd), name) }()
	c, err := t.fwd()
	if err != nil {
		return nil, nil, err
	}
	return c.Fgetxattr(ctx, fd, name, xdata)
}

func (t *tap) Removexattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopRemovexattr, err, "%s name=%q", locS(loc), name) }()
	c, err := t.fwd()
	if err != nil {
		return nil, err
	}
	return c.Removexattr(ctx, loc, name, xdata)
}

func (t *tap) Fremovexattr(ctx context.Context, fd *graph.FD, name string, xdata graph.Xdata) (x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopFremovexattr, err, "%s name=%q", fdS(fd), name) }()
	c, err := t.fwd()
	if err != nil {
		return nil, err
	}
	return c.Fremovexattr(ctx, fd, name, xdata)
}

func flockS(l *graph.Flock) string {
	if l == nil {
		return "<nil>"
	}
	return fmt.Sprintf("type=%d start=%d len=%d owner=%x", l.Type, l.Start, l.Len, l.Owner)
}

func (t *tap) Lk(ctx context.Context, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (fl graph.Flock, x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopLk, err, "%s %s %s", fdS(fd), cmd, flockS(lock)) }()
	c, err := t.fwd()
	if err != nil {
		return fl, nil, err
	}
	return c.Lk(ctx, fd, cmd, lock, xdata)
}

func (t *tap) Inodelk(ctx context.Context, volume string, loc *graph.Loc, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopInodelk, err, "%s vol=%s %s %s", locS(loc), volume, cmd, flockS(lock)) }()
	c, err := t.fwd()
	if err != nil {
		return nil, err
	}
	return c.Inodelk(ctx, volume, loc, cmd, lock, xdata)
}

func (t *tap) Finodelk(ctx context.Context, volume string, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopFinodelk, err, "%s vol=%s %s %s", fdS(fd), volume, cmd, flockS(lock)) }()
	c, err := t.fwd()
	if err != nil {
		return nil, err
	}
	return c.Finodelk(ctx, volume, fd, cmd, lock, xdata)
}

func (t *tap) Entrylk(ctx context.Context, volume string, loc *graph.Loc, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (x graph.Xdata, err error) {
	defer func() {
		t.rec(graph.FopEntrylk, err, "%s vol=%s base=%q cmd=%d type=%d", locS(loc), volume, basename, cmd, typ)
	}()
	c, err := t.fwd()
	if err != nil {
		return nil, err
	}
	return c.Entrylk(ctx, volume, loc, basename, cmd, typ, xdata)
}

func (t *tap) Fentrylk(ctx context.Context, volume string, fd *graph.FD, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (x graph.Xdata, err error) {
	defer func() {
		t.rec(graph.FopFentrylk, err, "%s vol=%s base=%q cmd=%d type=%d", fdS(fd), volume, basename, cmd, typ)
	}()
	c, err := t.fwd()
	if err != nil {
		return nil, err
	}
	return c.Fentrylk(ctx, volume, fd, basename, cmd, typ, xdata)
}

func (t *tap) Xattrop(ctx context.Context, loc *graph.Loc, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (d, x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopXattrop, err, "%s flag=%d keys=%v", locS(loc), flag, dict.Keys()) }()
	c, err := t.fwd()
	if err != nil {
		return nil, nil, err
	}
	return c.Xattrop(ctx, loc, flag, dict, xdata)
}

func (t *tap) Fxattrop(ctx context.Context, fd *graph.FD, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (d, x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopFxattrop, err, "%s flag=%d keys=%v", fdS(fd), flag, dict.Keys()) }()
	c, err := t.fwd()
	if err != nil {
		return nil, nil, err
	}
	return c.Fxattrop(ctx, fd, flag, dict, xdata)
}

func (t *tap) Setattr(ctx context.Context, loc *graph.Loc, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (r graph.WCCReply, err error) {
	defer func() { t.rec(graph.FopSetattr, err, "%s valid=%#x", locS(loc), valid) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Setattr(ctx, loc, stbuf, valid, xdata)
}

func (t *tap) Fsetattr(ctx context.Context, fd *graph.FD, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (r graph.WCCReply, err error) {
	defer func() { t.rec(graph.FopFsetattr, err, "%s valid=%#x", fdS(fd), valid) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Fsetattr(ctx, fd, stbuf, valid, xdata)
}

func (t *tap) Fallocate(ctx context.Context, fd *graph.FD, mode uint32, offset, length int64, xdata graph.Xdata) (r graph.WCCReply, err error) {
	defer func() { t.rec(graph.FopFallocate, err, "%s mode=%#x off=%d len=%d", fdS(fd), mode, offset, length) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Fallocate(ctx, fd, mode, offset, length, xdata)
}

func (t *tap) Discard(ctx context.Context, fd *graph.FD, offset, length int64, xdata graph.Xdata) (r graph.WCCReply, err error) {
	defer func() { t.rec(graph.FopDiscard, err, "%s off=%d len=%d", fdS(fd), offset, length) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Discard(ctx, fd, offset, length, xdata)
}

func (t *tap) Zerofill(ctx context.Context, fd *graph.FD, offset, length int64, xdata graph.Xdata) (r graph.WCCReply, err error) {
	defer func() { t.rec(graph.FopZerofill, err, "%s off=%d len=%d", fdS(fd), offset, length) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Zerofill(ctx, fd, offset, length, xdata)
}

func (t *tap) Seek(ctx context.Context, fd *graph.FD, offset int64, what graph.SeekWhat, xdata graph.Xdata) (o int64, x graph.Xdata, err error) {
	defer func() { t.rec(graph.FopSeek, err, "%s off=%d what=%d", fdS(fd), offset, what) }()
	c, err := t.fwd()
	if err != nil {
		return 0, nil, err
	}
	return c.Seek(ctx, fd, offset, what, xdata)
}

func (t *tap) Rchecksum(ctx context.Context, fd *graph.FD, offset int64, length uint32, xdata graph.Xdata) (r graph.RchecksumReply, err error) {
	defer func() { t.rec(graph.FopRchecksum, err, "%s off=%d len=%d", fdS(fd), offset, length) }()
	c, err := t.fwd()
	if err != nil {
		return r, err
	}
	return c.Rchecksum(ctx, fd, offset, length, xdata)
}

var _ graph.Fops = (*tap)(nil)
