// The fops of routedTop, one per graph.Fops method (written mechanically from graph/fops.go):
// each finds the top to call through the routedTop's route (a fop on a Loc by route.loc, a fop
// on an FD by route.fd) and holds its reference for the call; an open pins its FD (route.pin).

package server

import (
	"context"

	"github.com/weftfs/weft/graph"
)

// Lookup implements graph.Fops through the route.
func (t *routedTop) Lookup(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (r0 graph.LookupReply, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Lookup(ctx, loc, xdata)
}

// Stat implements graph.Fops through the route.
func (t *routedTop) Stat(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (r0 graph.Iatt, r1 graph.Xdata, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Stat(ctx, loc, xdata)
}

// Fstat implements graph.Fops through the route.
func (t *routedTop) Fstat(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (r0 graph.Iatt, r1 graph.Xdata, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Fstat(ctx, fd, xdata)
}

// Access implements graph.Fops through the route.
func (t *routedTop) Access(ctx context.Context, loc *graph.Loc, mask uint32, xdata graph.Xdata) (r0 graph.Xdata, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Access(ctx, loc, mask, xdata)
}

// Readlink implements graph.Fops through the route.
func (t *routedTop) Readlink(ctx context.Context, loc *graph.Loc, size uint32, xdata graph.Xdata) (r0 string, r1 graph.Iatt, r2 graph.Xdata, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Readlink(ctx, loc, size, xdata)
}

// Mknod implements graph.Fops through the route.
func (t *routedTop) Mknod(ctx context.Context, loc *graph.Loc, mode uint32, rdev uint64, umask uint32, xdata graph.Xdata) (r0 graph.EntryReply, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Mknod(ctx, loc, mode, rdev, umask, xdata)
}

// Mkdir implements graph.Fops through the route.
func (t *routedTop) Mkdir(ctx context.Context, loc *graph.Loc, mode uint32, umask uint32, xdata graph.Xdata) (r0 graph.EntryReply, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Mkdir(ctx, loc, mode, umask, xdata)
}

// Unlink implements graph.Fops through the route.
func (t *routedTop) Unlink(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (r0 graph.ParentReply, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Unlink(ctx, loc, flags, xdata)
}

// Rmdir implements graph.Fops through the route.
func (t *routedTop) Rmdir(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (r0 graph.ParentReply, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Rmdir(ctx, loc, flags, xdata)
}

// Symlink implements graph.Fops through the route.
func (t *routedTop) Symlink(ctx context.Context, target string, loc *graph.Loc, umask uint32, xdata graph.Xdata) (r0 graph.EntryReply, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Symlink(ctx, target, loc, umask, xdata)
}

// Rename implements graph.Fops through the route.
func (t *routedTop) Rename(ctx context.Context, oldLoc *graph.Loc, newLoc *graph.Loc, xdata graph.Xdata) (r0 graph.RenameReply, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Rename(ctx, oldLoc, newLoc, xdata)
}

// Link implements graph.Fops through the route.
func (t *routedTop) Link(ctx context.Context, oldLoc *graph.Loc, newLoc *graph.Loc, xdata graph.Xdata) (r0 graph.EntryReply, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Link(ctx, oldLoc, newLoc, xdata)
}

// Truncate implements graph.Fops through the route.
func (t *routedTop) Truncate(ctx context.Context, loc *graph.Loc, offset int64, xdata graph.Xdata) (r0 graph.WCCReply, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Truncate(ctx, loc, offset, xdata)
}

// Ftruncate implements graph.Fops through the route.
func (t *routedTop) Ftruncate(ctx context.Context, fd *graph.FD, offset int64, xdata graph.Xdata) (r0 graph.WCCReply, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Ftruncate(ctx, fd, offset, xdata)
}

// Create implements graph.Fops through the route.
func (t *routedTop) Create(ctx context.Context, loc *graph.Loc, flags int, mode uint32, umask uint32, fd *graph.FD, xdata graph.Xdata) (r0 graph.EntryReply, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	r0, err = top.Create(ctx, loc, flags, mode, umask, fd, xdata)
	t.r.pin(fd, top, done, err)
	return
}

// Open implements graph.Fops through the route.
func (t *routedTop) Open(ctx context.Context, loc *graph.Loc, flags int, fd *graph.FD, xdata graph.Xdata) (r0 graph.Xdata, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	r0, err = top.Open(ctx, loc, flags, fd, xdata)
	t.r.pin(fd, top, done, err)
	return
}

// Readv implements graph.Fops through the route.
func (t *routedTop) Readv(ctx context.Context, fd *graph.FD, size uint32, offset int64, flags uint32, xdata graph.Xdata) (r0 graph.ReadReply, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Readv(ctx, fd, size, offset, flags, xdata)
}

// Writev implements graph.Fops through the route.
func (t *routedTop) Writev(ctx context.Context, fd *graph.FD, data []byte, offset int64, flags uint32, xdata graph.Xdata) (r0 graph.WCCReply, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Writev(ctx, fd, data, offset, flags, xdata)
}

// Flush implements graph.Fops through the route.
func (t *routedTop) Flush(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (r0 graph.Xdata, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Flush(ctx, fd, xdata)
}

// Fsync implements graph.Fops through the route.
func (t *routedTop) Fsync(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (r0 graph.WCCReply, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Fsync(ctx, fd, datasync, xdata)
}

// Opendir implements graph.Fops through the route.
func (t *routedTop) Opendir(ctx context.Context, loc *graph.Loc, fd *graph.FD, xdata graph.Xdata) (r0 graph.Xdata, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	r0, err = top.Opendir(ctx, loc, fd, xdata)
	t.r.pin(fd, top, done, err)
	return
}

// Readdir implements graph.Fops through the route.
func (t *routedTop) Readdir(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) (r0 []graph.Dirent, r1 graph.Xdata, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Readdir(ctx, fd, size, offset, xdata)
}

// Readdirp implements graph.Fops through the route.
func (t *routedTop) Readdirp(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) (r0 []graph.Dirent, r1 graph.Xdata, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Readdirp(ctx, fd, size, offset, xdata)
}

// Fsyncdir implements graph.Fops through the route.
func (t *routedTop) Fsyncdir(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (r0 graph.Xdata, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Fsyncdir(ctx, fd, datasync, xdata)
}

// Statfs implements graph.Fops through the route.
func (t *routedTop) Statfs(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (r0 graph.Statvfs, r1 graph.Xdata, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Statfs(ctx, loc, xdata)
}

// Setxattr implements graph.Fops through the route.
func (t *routedTop) Setxattr(ctx context.Context, loc *graph.Loc, dict graph.Xdata, flags int, xdata graph.Xdata) (r0 graph.Xdata, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Setxattr(ctx, loc, dict, flags, xdata)
}

// Getxattr implements graph.Fops through the route.
func (t *routedTop) Getxattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (r0 graph.Xdata, r1 graph.Xdata, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Getxattr(ctx, loc, name, xdata)
}

// Fsetxattr implements graph.Fops through the route.
func (t *routedTop) Fsetxattr(ctx context.Context, fd *graph.FD, dict graph.Xdata, flags int, xdata graph.Xdata) (r0 graph.Xdata, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Fsetxattr(ctx, fd, dict, flags, xdata)
}

// Fgetxattr implements graph.Fops through the route.
func (t *routedTop) Fgetxattr(ctx context.Context, fd *graph.FD, name string, xdata graph.Xdata) (r0 graph.Xdata, r1 graph.Xdata, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Fgetxattr(ctx, fd, name, xdata)
}

// Removexattr implements graph.Fops through the route.
func (t *routedTop) Removexattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (r0 graph.Xdata, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Removexattr(ctx, loc, name, xdata)
}

// Fremovexattr implements graph.Fops through the route.
func (t *routedTop) Fremovexattr(ctx context.Context, fd *graph.FD, name string, xdata graph.Xdata) (r0 graph.Xdata, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Fremovexattr(ctx, fd, name, xdata)
}

// Lk implements graph.Fops through the route.
func (t *routedTop) Lk(ctx context.Context, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (r0 graph.Flock, r1 graph.Xdata, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Lk(ctx, fd, cmd, lock, xdata)
}

// Inodelk implements graph.Fops through the route.
func (t *routedTop) Inodelk(ctx context.Context, volume string, loc *graph.Loc, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (r0 graph.Xdata, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Inodelk(ctx, volume, loc, cmd, lock, xdata)
}

// Finodelk implements graph.Fops through the route.
func (t *routedTop) Finodelk(ctx context.Context, volume string, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (r0 graph.Xdata, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Finodelk(ctx, volume, fd, cmd, lock, xdata)
}

// Entrylk implements graph.Fops through the route.
func (t *routedTop) Entrylk(ctx context.Context, volume string, loc *graph.Loc, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (r0 graph.Xdata, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Entrylk(ctx, volume, loc, basename, cmd, typ, xdata)
}

// Fentrylk implements graph.Fops through the route.
func (t *routedTop) Fentrylk(ctx context.Context, volume string, fd *graph.FD, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (r0 graph.Xdata, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Fentrylk(ctx, volume, fd, basename, cmd, typ, xdata)
}

// Xattrop implements graph.Fops through the route.
func (t *routedTop) Xattrop(ctx context.Context, loc *graph.Loc, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (r0 graph.Xdata, r1 graph.Xdata, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Xattrop(ctx, loc, flag, dict, xdata)
}

// Fxattrop implements graph.Fops through the route.
func (t *routedTop) Fxattrop(ctx context.Context, fd *graph.FD, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (r0 graph.Xdata, r1 graph.Xdata, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Fxattrop(ctx, fd, flag, dict, xdata)
}

// Setattr implements graph.Fops through the route.
func (t *routedTop) Setattr(ctx context.Context, loc *graph.Loc, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (r0 graph.WCCReply, err error) {
	top, done, err := t.r.loc(ctx)
	if err != nil {
		return
	}
	defer done()
	return top.Setattr(ctx, loc, stbuf, valid, xdata)
}

// Fsetattr implements graph.Fops through the route.
func (t *routedTop) Fsetattr(ctx context.Context, fd *graph.FD, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (r0 graph.WCCReply, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Fsetattr(ctx, fd, stbuf, valid, xdata)
}

// Fallocate implements graph.Fops through the route.
func (t *routedTop) Fallocate(ctx context.Context, fd *graph.FD, mode uint32, offset int64, length int64, xdata graph.Xdata) (r0 graph.WCCReply, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Fallocate(ctx, fd, mode, offset, length, xdata)
}

// Discard implements graph.Fops through the route.
func (t *routedTop) Discard(ctx context.Context, fd *graph.FD, offset int64, length int64, xdata graph.Xdata) (r0 graph.WCCReply, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Discard(ctx, fd, offset, length, xdata)
}

// Zerofill implements graph.Fops through the route.
func (t *routedTop) Zerofill(ctx context.Context, fd *graph.FD, offset int64, length int64, xdata graph.Xdata) (r0 graph.WCCReply, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Zerofill(ctx, fd, offset, length, xdata)
}

// Seek implements graph.Fops through the route.
func (t *routedTop) Seek(ctx context.Context, fd *graph.FD, offset int64, what graph.SeekWhat, xdata graph.Xdata) (r0 int64, r1 graph.Xdata, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Seek(ctx, fd, offset, what, xdata)
}

// Rchecksum implements graph.Fops through the route.
func (t *routedTop) Rchecksum(ctx context.Context, fd *graph.FD, offset int64, length uint32, xdata graph.Xdata) (r0 graph.RchecksumReply, err error) {
	top, done, err := t.r.fd(ctx, fd)
	if err != nil {
		return
	}
	defer done()
	return top.Rchecksum(ctx, fd, offset, length, xdata)
}
