package client

import (
	"context"

	"github.com/weftfs/weft/bricks/proto"
	"github.com/weftfs/weft/graph"
)

// Every fop encodes its arguments, calls the brick and decodes the reply; errors carry the fop,
// the loc or fd and the brick, and wrap the brick's errno (ENOTCONN when the connection is gone).

func locArgs(loc *graph.Loc, xdata graph.Xdata) proto.Args {
	return proto.Args{Loc: proto.LocOf(loc), Xdata: xdata}
}

// Lookup implements graph.Fops.
func (c *Client) Lookup(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.LookupReply, error) {
	a := locArgs(loc, xdata)
	var r proto.Reply
	if err := c.call(ctx, graph.FopLookup, loc, nil, &a, &r); err != nil {
		return graph.LookupReply{Xdata: r.Xdata}, err
	}
	return graph.LookupReply{Stat: r.Stat, PostParent: r.Post, Xdata: r.Xdata}, nil
}

// Stat implements graph.Fops.
func (c *Client) Stat(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.Iatt, graph.Xdata, error) {
	a := locArgs(loc, xdata)
	var r proto.Reply
	err := c.call(ctx, graph.FopStat, loc, nil, &a, &r)
	return r.Stat, r.Xdata, err
}

// Fstat implements graph.Fops.
func (c *Client) Fstat(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Iatt, graph.Xdata, error) {
	a := proto.Args{Xdata: xdata}
	var r proto.Reply
	err := c.call(ctx, graph.FopFstat, nil, fd, &a, &r)
	return r.Stat, r.Xdata, err
}

// Access implements graph.Fops.
func (c *Client) Access(ctx context.Context, loc *graph.Loc, mask uint32, xdata graph.Xdata) (graph.Xdata, error) {
	a := locArgs(loc, xdata)
	a.Mode = mask
	var r proto.Reply
	err := c.call(ctx, graph.FopAccess, loc, nil, &a, &r)
	return r.Xdata, err
}

// Readlink implements graph.Fops.
func (c *Client) Readlink(ctx context.Context, loc *graph.Loc, size uint32, xdata graph.Xdata) (string, graph.Iatt, graph.Xdata, error) {
	a := locArgs(loc, xdata)
	a.Size = size
	var r proto.Reply
	err := c.call(ctx, graph.FopReadlink, loc, nil, &a, &r)
	return r.Link, r.Stat, r.Xdata, err
}

func entryReply(r *proto.Reply, err error) (graph.EntryReply, error) {
	if err != nil {
		return graph.EntryReply{Xdata: r.Xdata}, err
	}
	return graph.EntryReply{Stat: r.Stat, PreParent: r.Pre, PostParent: r.Post, Xdata: r.Xdata}, nil
}

func wccReply(r *proto.Reply, err error) (graph.WCCReply, error) {
	if err != nil {
		return graph.WCCReply{Xdata: r.Xdata}, err
	}
	return graph.WCCReply{Pre: r.Pre, Post: r.Post, Xdata: r.Xdata}, nil
}

// Mknod implements graph.Fops.
func (c *Client) Mknod(ctx context.Context, loc *graph.Loc, mode uint32, rdev uint64, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	a := locArgs(loc, xdata)
	a.Mode, a.Rdev, a.Umask = mode, rdev, umask
	var r proto.Reply
	return entryReply(&r, c.call(ctx, graph.FopMknod, loc, nil, &a, &r))
}

// Mkdir implements graph.Fops.
func (c *Client) Mkdir(ctx context.Context, loc *graph.Loc, mode uint32, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	a := locArgs(loc, xdata)
	a.Mode, a.Umask = mode, umask
	var r proto.Reply
	return entryReply(&r, c.call(ctx, graph.FopMkdir, loc, nil, &a, &r))
}

// Unlink implements graph.Fops.
func (c *Client) Unlink(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (graph.ParentReply, error) {
	a := locArgs(loc, xdata)
	a.Flags = int32(flags)
	var r proto.Reply
	if err := c.call(ctx, graph.FopUnlink, loc, nil, &a, &r); err != nil {
		return graph.ParentReply{Xdata: r.Xdata}, err
	}
	return graph.ParentReply{PreParent: r.Pre, PostParent: r.Post, Xdata: r.Xdata}, nil
}

// Rmdir implements graph.Fops.
func (c *Client) Rmdir(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (graph.ParentReply, error) {
	a := locArgs(loc, xdata)
	a.Flags = int32(flags)
	var r proto.Reply
	if err := c.call(ctx, graph.FopRmdir, loc, nil, &a, &r); err != nil {
		return graph.ParentReply{Xdata: r.Xdata}, err
	}
	return graph.ParentReply{PreParent: r.Pre, PostParent: r.Post, Xdata: r.Xdata}, nil
}

// Symlink implements graph.Fops.
func (c *Client) Symlink(ctx context.Context, target string, loc *graph.Loc, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	a := locArgs(loc, xdata)
	a.Target, a.Umask = target, umask
	var r proto.Reply
	return entryReply(&r, c.call(ctx, graph.FopSymlink, loc, nil, &a, &r))
}

// Rename implements graph.Fops.
func (c *Client) Rename(ctx context.Context, oldLoc, newLoc *graph.Loc, xdata graph.Xdata) (graph.RenameReply, error) {
	a := locArgs(oldLoc, xdata)
	a.Loc2 = proto.LocOf(newLoc)
	var r proto.Reply
	if err := c.call(ctx, graph.FopRename, oldLoc, nil, &a, &r); err != nil {
		return graph.RenameReply{Xdata: r.Xdata}, err
	}
	return graph.RenameReply{Stat: r.Stat, PreOldParent: r.Pre, PostOldParent: r.Post, PreNewParent: r.Pre2, PostNewParent: r.Post2, Xdata: r.Xdata}, nil
}

// Link implements graph.Fops.
func (c *Client) Link(ctx context.Context, oldLoc, newLoc *graph.Loc, xdata graph.Xdata) (graph.EntryReply, error) {
	a := locArgs(oldLoc, xdata)
	a.Loc2 = proto.LocOf(newLoc)
	var r proto.Reply
	return entryReply(&r, c.call(ctx, graph.FopLink, oldLoc, nil, &a, &r))
}

// Truncate implements graph.Fops.
func (c *Client) Truncate(ctx context.Context, loc *graph.Loc, offset int64, xdata graph.Xdata) (graph.WCCReply, error) {
	a := locArgs(loc, xdata)
	a.Offset = offset
	var r proto.Reply
	return wccReply(&r, c.call(ctx, graph.FopTruncate, loc, nil, &a, &r))
}

// Ftruncate implements graph.Fops.
func (c *Client) Ftruncate(ctx context.Context, fd *graph.FD, offset int64, xdata graph.Xdata) (graph.WCCReply, error) {
	a := proto.Args{Offset: offset, Xdata: xdata}
	var r proto.Reply
	return wccReply(&r, c.call(ctx, graph.FopFtruncate, nil, fd, &a, &r))
}

// Create implements graph.Fops. The remote fd is kept in fd's context.
func (c *Client) Create(ctx context.Context, loc *graph.Loc, flags int, mode uint32, umask uint32, fd *graph.FD, xdata graph.Xdata) (graph.EntryReply, error) {
	a := locArgs(loc, xdata)
	a.Flags, a.Mode, a.Umask = int32(flags), mode, umask
	var r proto.Reply
	gen, err := c.callGen(ctx, graph.FopCreate, loc, nil, &a, &r)
	if err == nil {
		c.bindFD(ctx, fd, gen, r.FD, r.Stat.GFID, flags, false)
	}
	return entryReply(&r, err)
}

// Open implements graph.Fops.
func (c *Client) Open(ctx context.Context, loc *graph.Loc, flags int, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	a := locArgs(loc, xdata)
	a.Flags = int32(flags)
	var r proto.Reply
	gen, err := c.callGen(ctx, graph.FopOpen, loc, nil, &a, &r)
	if err == nil {
		c.bindFD(ctx, fd, gen, r.FD, gfidOf(loc, fd), flags, false)
	}
	return r.Xdata, err
}

// Readv implements graph.Fops. The returned data aliases the reply record (no copy); the
// reply's Release hands the record's buffer back to the transport's pool (graph.ReadReply).
func (c *Client) Readv(ctx context.Context, fd *graph.FD, size uint32, offset int64, flags uint32, xdata graph.Xdata) (graph.ReadReply, error) {
	a := proto.Args{Size: size, Offset: offset, IOFlags: flags, Xdata: xdata}
	var r proto.Reply
	var release func()
	if _, err := c.callKeep(ctx, graph.FopReadv, nil, fd, &a, &r, &release); err != nil {
		return graph.ReadReply{Xdata: r.Xdata}, err
	}
	return graph.ReadReply{Data: r.Data, Stat: r.Stat, EOF: r.EOF, Xdata: r.Xdata, Release: release}, nil
}

// Writev implements graph.Fops. The data goes to the transport as its own buffer (no copy).
func (c *Client) Writev(ctx context.Context, fd *graph.FD, data []byte, offset int64, flags uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	a := proto.Args{Data: data, Offset: offset, IOFlags: flags, Xdata: xdata}
	var r proto.Reply
	return wccReply(&r, c.call(ctx, graph.FopWritev, nil, fd, &a, &r))
}

// Flush implements graph.Fops.
func (c *Client) Flush(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	a := proto.Args{Xdata: xdata}
	var r proto.Reply
	err := c.call(ctx, graph.FopFlush, nil, fd, &a, &r)
	return r.Xdata, err
}

// Fsync implements graph.Fops.
func (c *Client) Fsync(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (graph.WCCReply, error) {
	a := proto.Args{Datasync: datasync, Xdata: xdata}
	var r proto.Reply
	return wccReply(&r, c.call(ctx, graph.FopFsync, nil, fd, &a, &r))
}

// Opendir implements graph.Fops.
func (c *Client) Opendir(ctx context.Context, loc *graph.Loc, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	a := locArgs(loc, xdata)
	var r proto.Reply
	gen, err := c.callGen(ctx, graph.FopOpendir, loc, nil, &a, &r)
	if err == nil {
		c.bindFD(ctx, fd, gen, r.FD, gfidOf(loc, fd), 0, true)
	}
	return r.Xdata, err
}

// Readdir implements graph.Fops.
func (c *Client) Readdir(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) ([]graph.Dirent, graph.Xdata, error) {
	a := proto.Args{Size: size, Cookie: offset, Xdata: xdata}
	var r proto.Reply
	err := c.call(ctx, graph.FopReaddir, nil, fd, &a, &r)
	return r.Entries, r.Xdata, err
}

// Readdirp implements graph.Fops.
func (c *Client) Readdirp(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) ([]graph.Dirent, graph.Xdata, error) {
	a := proto.Args{Size: size, Cookie: offset, Xdata: xdata}
	var r proto.Reply
	err := c.call(ctx, graph.FopReaddirp, nil, fd, &a, &r)
	return r.Entries, r.Xdata, err
}

// Fsyncdir implements graph.Fops.
func (c *Client) Fsyncdir(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (graph.Xdata, error) {
	a := proto.Args{Datasync: datasync, Xdata: xdata}
	var r proto.Reply
	err := c.call(ctx, graph.FopFsyncdir, nil, fd, &a, &r)
	return r.Xdata, err
}

// Statfs implements graph.Fops.
func (c *Client) Statfs(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.Statvfs, graph.Xdata, error) {
	a := locArgs(loc, xdata)
	var r proto.Reply
	err := c.call(ctx, graph.FopStatfs, loc, nil, &a, &r)
	return r.Statvfs, r.Xdata, err
}

// Setxattr implements graph.Fops.
func (c *Client) Setxattr(ctx context.Context, loc *graph.Loc, dict graph.Xdata, flags int, xdata graph.Xdata) (graph.Xdata, error) {
	a := locArgs(loc, xdata)
	a.Dict, a.Flags = dict, int32(flags)
	var r proto.Reply
	err := c.call(ctx, graph.FopSetxattr, loc, nil, &a, &r)
	return r.Xdata, err
}

// Getxattr implements graph.Fops.
func (c *Client) Getxattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	a := locArgs(loc, xdata)
	a.Name = name
	var r proto.Reply
	err := c.call(ctx, graph.FopGetxattr, loc, nil, &a, &r)
	return r.Dict, r.Xdata, err
}

// Fsetxattr implements graph.Fops.
func (c *Client) Fsetxattr(ctx context.Context, fd *graph.FD, dict graph.Xdata, flags int, xdata graph.Xdata) (graph.Xdata, error) {
	a := proto.Args{Dict: dict, Flags: int32(flags), Xdata: xdata}
	var r proto.Reply
	err := c.call(ctx, graph.FopFsetxattr, nil, fd, &a, &r)
	return r.Xdata, err
}

// Fgetxattr implements graph.Fops.
func (c *Client) Fgetxattr(ctx context.Context, fd *graph.FD, name string, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	a := proto.Args{Name: name, Xdata: xdata}
	var r proto.Reply
	err := c.call(ctx, graph.FopFgetxattr, nil, fd, &a, &r)
	return r.Dict, r.Xdata, err
}

// Removexattr implements graph.Fops.
func (c *Client) Removexattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (graph.Xdata, error) {
	a := locArgs(loc, xdata)
	a.Name = name
	var r proto.Reply
	err := c.call(ctx, graph.FopRemovexattr, loc, nil, &a, &r)
	return r.Xdata, err
}

// Fremovexattr implements graph.Fops.
func (c *Client) Fremovexattr(ctx context.Context, fd *graph.FD, name string, xdata graph.Xdata) (graph.Xdata, error) {
	a := proto.Args{Name: name, Xdata: xdata}
	var r proto.Reply
	err := c.call(ctx, graph.FopFremovexattr, nil, fd, &a, &r)
	return r.Xdata, err
}

func flockOf(l *graph.Flock) graph.Flock {
	if l == nil {
		return graph.Flock{Type: graph.LockUnlock}
	}
	return *l
}

// Lk implements graph.Fops.
func (c *Client) Lk(ctx context.Context, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Flock, graph.Xdata, error) {
	a := proto.Args{Cmd: int32(cmd), Flock: flockOf(lock), Xdata: xdata}
	var r proto.Reply
	err := c.call(ctx, graph.FopLk, nil, fd, &a, &r)
	return r.Flock, r.Xdata, err
}

// Inodelk implements graph.Fops.
func (c *Client) Inodelk(ctx context.Context, volume string, loc *graph.Loc, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Xdata, error) {
	a := locArgs(loc, xdata)
	a.Volume, a.Cmd, a.Flock = volume, int32(cmd), flockOf(lock)
	var r proto.Reply
	err := c.call(ctx, graph.FopInodelk, loc, nil, &a, &r)
	return r.Xdata, err
}

// Finodelk implements graph.Fops.
func (c *Client) Finodelk(ctx context.Context, volume string, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Xdata, error) {
	a := proto.Args{Volume: volume, Cmd: int32(cmd), Flock: flockOf(lock), Xdata: xdata}
	var r proto.Reply
	err := c.call(ctx, graph.FopFinodelk, nil, fd, &a, &r)
	return r.Xdata, err
}

// Entrylk implements graph.Fops.
func (c *Client) Entrylk(ctx context.Context, volume string, loc *graph.Loc, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (graph.Xdata, error) {
	a := locArgs(loc, xdata)
	a.Volume, a.Name, a.Cmd, a.Type = volume, basename, int32(cmd), int32(typ)
	var r proto.Reply
	err := c.call(ctx, graph.FopEntrylk, loc, nil, &a, &r)
	return r.Xdata, err
}

// Fentrylk implements graph.Fops.
func (c *Client) Fentrylk(ctx context.Context, volume string, fd *graph.FD, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (graph.Xdata, error) {
	a := proto.Args{Volume: volume, Name: basename, Cmd: int32(cmd), Type: int32(typ), Xdata: xdata}
	var r proto.Reply
	err := c.call(ctx, graph.FopFentrylk, nil, fd, &a, &r)
	return r.Xdata, err
}

// Xattrop implements graph.Fops.
func (c *Client) Xattrop(ctx context.Context, loc *graph.Loc, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	a := locArgs(loc, xdata)
	a.Cmd, a.Dict = int32(flag), dict
	var r proto.Reply
	err := c.call(ctx, graph.FopXattrop, loc, nil, &a, &r)
	return r.Dict, r.Xdata, err
}

// Fxattrop implements graph.Fops.
func (c *Client) Fxattrop(ctx context.Context, fd *graph.FD, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	a := proto.Args{Cmd: int32(flag), Dict: dict, Xdata: xdata}
	var r proto.Reply
	err := c.call(ctx, graph.FopFxattrop, nil, fd, &a, &r)
	return r.Dict, r.Xdata, err
}

// Setattr implements graph.Fops.
func (c *Client) Setattr(ctx context.Context, loc *graph.Loc, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	a := locArgs(loc, xdata)
	if stbuf != nil {
		a.Stat = *stbuf
	}
	a.Valid = valid
	var r proto.Reply
	return wccReply(&r, c.call(ctx, graph.FopSetattr, loc, nil, &a, &r))
}

// Fsetattr implements graph.Fops.
func (c *Client) Fsetattr(ctx context.Context, fd *graph.FD, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	a := proto.Args{Valid: valid, Xdata: xdata}
	if stbuf != nil {
		a.Stat = *stbuf
	}
	var r proto.Reply
	return wccReply(&r, c.call(ctx, graph.FopFsetattr, nil, fd, &a, &r))
}

// Fallocate implements graph.Fops.
func (c *Client) Fallocate(ctx context.Context, fd *graph.FD, mode uint32, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	a := proto.Args{Mode: mode, Offset: offset, Length: length, Xdata: xdata}
	var r proto.Reply
	return wccReply(&r, c.call(ctx, graph.FopFallocate, nil, fd, &a, &r))
}

// Discard implements graph.Fops.
func (c *Client) Discard(ctx context.Context, fd *graph.FD, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	a := proto.Args{Offset: offset, Length: length, Xdata: xdata}
	var r proto.Reply
	return wccReply(&r, c.call(ctx, graph.FopDiscard, nil, fd, &a, &r))
}

// Zerofill implements graph.Fops.
func (c *Client) Zerofill(ctx context.Context, fd *graph.FD, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	a := proto.Args{Offset: offset, Length: length, Xdata: xdata}
	var r proto.Reply
	return wccReply(&r, c.call(ctx, graph.FopZerofill, nil, fd, &a, &r))
}

// Seek implements graph.Fops.
func (c *Client) Seek(ctx context.Context, fd *graph.FD, offset int64, what graph.SeekWhat, xdata graph.Xdata) (int64, graph.Xdata, error) {
	a := proto.Args{Offset: offset, Cmd: int32(what), Xdata: xdata}
	var r proto.Reply
	err := c.call(ctx, graph.FopSeek, nil, fd, &a, &r)
	return r.Offset, r.Xdata, err
}

// Rchecksum implements graph.Fops.
func (c *Client) Rchecksum(ctx context.Context, fd *graph.FD, offset int64, length uint32, xdata graph.Xdata) (graph.RchecksumReply, error) {
	a := proto.Args{Offset: offset, Size: length, Xdata: xdata}
	var r proto.Reply
	if err := c.call(ctx, graph.FopRchecksum, nil, fd, &a, &r); err != nil {
		return graph.RchecksumReply{Xdata: r.Xdata}, err
	}
	return graph.RchecksumReply{Weak: r.Weak, Strong: r.Strong, Xdata: r.Xdata}, nil
}

func gfidOf(loc *graph.Loc, fd *graph.FD) graph.GFID {
	if fd != nil && !fd.GFID.IsZero() {
		return fd.GFID
	}
	if loc != nil {
		return loc.GFID
	}
	return graph.GFID{}
}
