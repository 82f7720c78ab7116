package graph

import (
	"context"

	"golang.org/x/sys/unix"
)

// Passthrough forwards every fop to the first child (GlusterFS default_* fops). Translators embed
// it and override the fops they change. With no child, every fop fails with ENOTCONN.
type Passthrough struct {
	Base
}

var errNoChild = Errorf(unix.ENOTCONN, "passthrough: no subvolume")

func (p *Passthrough) child() (Xlator, error) {
	c := p.FirstChild()
	if c == nil {
		return nil, errNoChild
	}
	return c, nil
}

// Lookup implements Fops by forwarding to the first child.
func (p *Passthrough) Lookup(ctx context.Context, loc *Loc, xdata Xdata) (LookupReply, error) {
	c, err := p.child()
	if err != nil {
		return LookupReply{}, err
	}
	return c.Lookup(ctx, loc, xdata)
}

// Stat implements Fops by forwarding to the first child.
func (p *Passthrough) Stat(ctx context.Context, loc *Loc, xdata Xdata) (Iatt, Xdata, error) {
	c, err := p.child()
	if err != nil {
		return Iatt{}, nil, err
	}
	return c.Stat(ctx, loc, xdata)
}

// Fstat implements Fops by forwarding to the first child.
func (p *Passthrough) Fstat(ctx context.Context, fd *FD, xdata Xdata) (Iatt, Xdata, error) {
	c, err := p.child()
	if err != nil {
		return Iatt{}, nil, err
	}
	return c.Fstat(ctx, fd, xdata)
}

// Access implements Fops by forwarding to the first child.
func (p *Passthrough) Access(ctx context.Context, loc *Loc, mask uint32, xdata Xdata) (Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	return c.Access(ctx, loc, mask, xdata)
}

// Readlink implements Fops by forwarding to the first child.
func (p *Passthrough) Readlink(ctx context.Context, loc *Loc, size uint32, xdata Xdata) (string, Iatt, Xdata, error) {
	c, err := p.child()
	if err != nil {
		return "", Iatt{}, nil, err
	}
	return c.Readlink(ctx, loc, size, xdata)
}

// Mknod implements Fops by forwarding to the first child.
func (p *Passthrough) Mknod(ctx context.Context, loc *Loc, mode uint32, rdev uint64, umask uint32, xdata Xdata) (EntryReply, error) {
	c, err := p.child()
	if err != nil {
		return EntryReply{}, err
	}
	return c.Mknod(ctx, loc, mode, rdev, umask, xdata)
}

// Mkdir implements Fops by forwarding to the first child.
func (p *Passthrough) Mkdir(ctx context.Context, loc *Loc, mode uint32, umask uint32, xdata Xdata) (EntryReply, error) {
	c, err := p.child()
	if err != nil {
		return EntryReply{}, err
	}
	return c.Mkdir(ctx, loc, mode, umask, xdata)
}

// Unlink implements Fops by forwarding to the first child.
func (p *Passthrough) Unlink(ctx context.Context, loc *Loc, flags int, xdata Xdata) (ParentReply, error) {
	c, err := p.child()
	if err != nil {
		return ParentReply{}, err
	}
	return c.Unlink(ctx, loc, flags, xdata)
}

// Rmdir implements Fops by forwarding to the first child.
func (p *Passthrough) Rmdir(ctx context.Context, loc *Loc, flags int, xdata Xdata) (ParentReply, error) {
	c, err := p.child()
	if err != nil {
		return ParentReply{}, err
	}
	return c.Rmdir(ctx, loc, flags, xdata)
}

// Symlink implements Fops by forwarding to the first child.
func (p *Passthrough) Symlink(ctx context.Context, target string, loc *Loc, umask uint32, xdata Xdata) (EntryReply, error) {
	c, err := p.child()
	if err != nil {
		return EntryReply{}, err
	}
	return c.Symlink(ctx, target, loc, umask, xdata)
}

// Rename implements Fops by forwarding to the first child.
func (p *Passthrough) Rename(ctx context.Context, oldLoc, newLoc *Loc, xdata Xdata) (RenameReply, error) {
	c, err := p.child()
	if err != nil {
		return RenameReply{}, err
	}
	return c.Rename(ctx, oldLoc, newLoc, xdata)
}

// Link implements Fops by forwarding to the first child.
func (p *Passthrough) Link(ctx context.Context, oldLoc, newLoc *Loc, xdata Xdata) (EntryReply, error) {
	c, err := p.child()
	if err != nil {
		return EntryReply{}, err
	}
	return c.Link(ctx, oldLoc, newLoc, xdata)
}

// Truncate implements Fops by forwarding to the first child.
func (p *Passthrough) Truncate(ctx context.Context, loc *Loc, offset int64, xdata Xdata) (WCCReply, error) {
	c, err := p.child()
	if err != nil {
		return WCCReply{}, err
	}
	return c.Truncate(ctx, loc, offset, xdata)
}

// Ftruncate implements Fops by forwarding to the first child.
func (p *Passthrough) Ftruncate(ctx context.Context, fd *FD, offset int64, xdata Xdata) (WCCReply, error) {
	c, err := p.child()
	if err != nil {
		return WCCReply{}, err
	}
	return c.Ftruncate(ctx, fd, offset, xdata)
}

// Create implements Fops by forwarding to the first child.
func (p *Passthrough) Create(ctx context.Context, loc *Loc, flags int, mode uint32, umask uint32, fd *FD, xdata Xdata) (EntryReply, error) {
	c, err := p.child()
	if err != nil {
		return EntryReply{}, err
	}
	return c.Create(ctx, loc, flags, mode, umask, fd, xdata)
}

// Open implements Fops by forwarding to the first child.
func (p *Passthrough) Open(ctx context.Context, loc *Loc, flags int, fd *FD, xdata Xdata) (Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	return c.Open(ctx, loc, flags, fd, xdata)
}

// Readv implements Fops by forwarding to the first child.
func (p *Passthrough) Readv(ctx context.Context, fd *FD, size uint32, offset int64, flags uint32, xdata Xdata) (ReadReply, error) {
	c, err := p.child()
	if err != nil {
		return ReadReply{}, err
	}
	return c.Readv(ctx, fd, size, offset, flags, xdata)
}

// Writev implements Fops by forwarding to the first child.
func (p *Passthrough) Writev(ctx context.Context, fd *FD, data []byte, offset int64, flags uint32, xdata Xdata) (WCCReply, error) {
	c, err := p.child()
	if err != nil {
		return WCCReply{}, err
	}
	return c.Writev(ctx, fd, data, offset, flags, xdata)
}

// Flush implements Fops by forwarding to the first child.
func (p *Passthrough) Flush(ctx context.Context, fd *FD, xdata Xdata) (Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	return c.Flush(ctx, fd, xdata)
}

// Fsync implements Fops by forwarding to the first child.
func (p *Passthrough) Fsync(ctx context.Context, fd *FD, datasync bool, xdata Xdata) (WCCReply, error) {
	c, err := p.child()
	if err != nil {
		return WCCReply{}, err
	}
	return c.Fsync(ctx, fd, datasync, xdata)
}

// Opendir implements Fops by forwarding to the first child.
func (p *Passthrough) Opendir(ctx context.Context, loc *Loc, fd *FD, xdata Xdata) (Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	return c.Opendir(ctx, loc, fd, xdata)
}

// Readdir implements Fops by forwarding to the first child.
func (p *Passthrough) Readdir(ctx context.Context, fd *FD, size uint32, offset uint64, xdata Xdata) ([]Dirent, Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, nil, err
	}
	return c.Readdir(ctx, fd, size, offset, xdata)
}

// Readdirp implements Fops by forwarding to the first child.
func (p *Passthrough) Readdirp(ctx context.Context, fd *FD, size uint32, offset uint64, xdata Xdata) ([]Dirent, Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, nil, err
	}
	return c.Readdirp(ctx, fd, size, offset, xdata)
}

// Fsyncdir implements Fops by forwarding to the first child.
func (p *Passthrough) Fsyncdir(ctx context.Context, fd *FD, datasync bool, xdata Xdata) (Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	return c.Fsyncdir(ctx, fd, datasync, xdata)
}

// Statfs implements Fops by forwarding to the first child.
func (p *Passthrough) Statfs(ctx context.Context, loc *Loc, xdata Xdata) (Statvfs, Xdata, error) {
	c, err := p.child()
	if err != nil {
		return Statvfs{}, nil, err
	}
	return c.Statfs(ctx, loc, xdata)
}

// Setxattr implements Fops by forwarding to the first child.
func (p *Passthrough) Setxattr(ctx context.Context, loc *Loc, dict Xdata, flags int, xdata Xdata) (Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	return c.Setxattr(ctx, loc, dict, flags, xdata)
}

// Getxattr implements Fops by forwarding to the first child.
func (p *Passthrough) Getxattr(ctx context.Context, loc *Loc, name string, xdata Xdata) (Xdata, Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, nil, err
	}
	return c.Getxattr(ctx, loc, name, xdata)
}

// Fsetxattr implements Fops by forwarding to the first child.
func (p *Passthrough) Fsetxattr(ctx context.Context, fd *FD, dict Xdata, flags int, xdata Xdata) (Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	return c.Fsetxattr(ctx, fd, dict, flags, xdata)
}

// Fgetxattr implements Fops by forwarding to the first child.
func (p *Passthrough) Fgetxattr(ctx context.Context, fd *FD, name string, xdata Xdata) (Xdata, Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, nil, err
	}
	return c.Fgetxattr(ctx, fd, name, xdata)
}

// Removexattr implements Fops by forwarding to the first child.
func (p *Passthrough) Removexattr(ctx context.Context, loc *Loc, name string, xdata Xdata) (Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	return c.Removexattr(ctx, loc, name, xdata)
}

// Fremovexattr implements Fops by forwarding to the first child.
func (p *Passthrough) Fremovexattr(ctx context.Context, fd *FD, name string, xdata Xdata) (Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	return c.Fremovexattr(ctx, fd, name, xdata)
}

// Lk implements Fops by forwarding to the first child.
func (p *Passthrough) Lk(ctx context.Context, fd *FD, cmd LkCmd, lock *Flock, xdata Xdata) (Flock, Xdata, error) {
	c, err := p.child()
	if err != nil {
		return Flock{}, nil, err
	}
	return c.Lk(ctx, fd, cmd, lock, xdata)
}

// Inodelk implements Fops by forwarding to the first child.
func (p *Passthrough) Inodelk(ctx context.Context, volume string, loc *Loc, cmd LkCmd, lock *Flock, xdata Xdata) (Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	return c.Inodelk(ctx, volume, loc, cmd, lock, xdata)
}

// Finodelk implements Fops by forwarding to the first child.
func (p *Passthrough) Finodelk(ctx context.Context, volume string, fd *FD, cmd LkCmd, lock *Flock, xdata Xdata) (Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	return c.Finodelk(ctx, volume, fd, cmd, lock, xdata)
}

// Entrylk implements Fops by forwarding to the first child.
func (p *Passthrough) Entrylk(ctx context.Context, volume string, loc *Loc, basename string, cmd EntrylkCmd, typ EntrylkType, xdata Xdata) (Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	return c.Entrylk(ctx, volume, loc, basename, cmd, typ, xdata)
}

// Fentrylk implements Fops by forwarding to the first child.
func (p *Passthrough) Fentrylk(ctx context.Context, volume string, fd *FD, basename string, cmd EntrylkCmd, typ EntrylkType, xdata Xdata) (Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, err
	}
	return c.Fentrylk(ctx, volume, fd, basename, cmd, typ, xdata)
}

// Xattrop implements Fops by forwarding to the first child.
func (p *Passthrough) Xattrop(ctx context.Context, loc *Loc, flag XattropFlag, dict Xdata, xdata Xdata) (Xdata, Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, nil, err
	}
	return c.Xattrop(ctx, loc, flag, dict, xdata)
}

// Fxattrop implements Fops by forwarding to the first child.
func (p *Passthrough) Fxattrop(ctx context.Context, fd *FD, flag XattropFlag, dict Xdata, xdata Xdata) (Xdata, Xdata, error) {
	c, err := p.child()
	if err != nil {
		return nil, nil, err
	}
	return c.Fxattrop(ctx, fd, flag, dict, xdata)
}

// Setattr implements Fops by forwarding to the first child.
func (p *Passthrough) Setattr(ctx context.Context, loc *Loc, stbuf *Iatt, valid uint32, xdata Xdata) (WCCReply, error) {
	c, err := p.child()
	if err != nil {
		return WCCReply{}, err
	}
	return c.Setattr(ctx, loc, stbuf, valid, xdata)
}

// Fsetattr implements Fops by forwarding to the first child.
func (p *Passthrough) Fsetattr(ctx context.Context, fd *FD, stbuf *Iatt, valid uint32, xdata Xdata) (WCCReply, error) {
	c, err := p.child()
	if err != nil {
		return WCCReply{}, err
	}
	return c.Fsetattr(ctx, fd, stbuf, valid, xdata)
}

// Fallocate implements Fops by forwarding to the first child.
func (p *Passthrough) Fallocate(ctx context.Context, fd *FD, mode uint32, offset, length int64, xdata Xdata) (WCCReply, error) {
	c, err := p.child()
	if err != nil {
		return WCCReply{}, err
	}
	return c.Fallocate(ctx, fd, mode, offset, length, xdata)
}

// Discard implements Fops by forwarding to the first child.
func (p *Passthrough) Discard(ctx context.Context, fd *FD, offset, length int64, xdata Xdata) (WCCReply, error) {
	c, err := p.child()
	if err != nil {
		return WCCReply{}, err
	}
	return c.Discard(ctx, fd, offset, length, xdata)
}

// Zerofill implements Fops by forwarding to the first child.
func (p *Passthrough) Zerofill(ctx context.Context, fd *FD, offset, length int64, xdata Xdata) (WCCReply, error) {
	c, err := p.child()
	if err != nil {
		return WCCReply{}, err
	}
	return c.Zerofill(ctx, fd, offset, length, xdata)
}

// Seek implements Fops by forwarding to the first child.
func (p *Passthrough) Seek(ctx context.Context, fd *FD, offset int64, what SeekWhat, xdata Xdata) (int64, Xdata, error) {
	c, err := p.child()
	if err != nil {
		return 0, nil, err
	}
	return c.Seek(ctx, fd, offset, what, xdata)
}

// Rchecksum implements Fops by forwarding to the first child.
func (p *Passthrough) Rchecksum(ctx context.Context, fd *FD, offset int64, length uint32, xdata Xdata) (RchecksumReply, error) {
	c, err := p.child()
	if err != nil {
		return RchecksumReply{}, err
	}
	return c.Rchecksum(ctx, fd, offset, length, xdata)
}
