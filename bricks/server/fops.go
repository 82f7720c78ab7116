package server

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/bricks/proto"
	"github.com/weftfs/weft/graph"
)

// resolved is a Loc made from the wire, with inodes from the server's table; done drops them.
type resolved struct {
	loc graph.Loc
}

func (s *Server) resolve(l *proto.Loc) *resolved {
	r := &resolved{loc: graph.Loc{GFID: l.GFID, ParentGFID: l.ParentGFID, Name: l.Name, Path: l.Path}}
	if !l.GFID.IsZero() {
		r.loc.Inode = s.inodeOf(l.GFID)
	}
	if !l.ParentGFID.IsZero() {
		r.loc.Parent = s.inodeOf(l.ParentGFID)
	}
	if r.loc.Path == "" {
		r.loc.Path = r.loc.String()
	}
	return r
}

func (r *resolved) done() {
	if r.loc.Inode != nil {
		r.loc.Inode.Unref()
	}
	if r.loc.Parent != nil {
		r.loc.Parent.Unref()
	}
}

// inodeOf returns the table's inode for gfid, referenced, linking a nameless one if needed.
func (s *Server) inodeOf(g graph.GFID) *graph.Inode {
	if in := s.inodes.Find(g); in != nil {
		return in
	}
	fresh := s.inodes.NewInode()
	in := s.inodes.Link(fresh, nil, "", &graph.Iatt{GFID: g})
	if in != fresh {
		fresh.Unref()
	} else {
		in.Unref() // Link took an extra reference on top of NewInode's
	}
	return in
}

// link records a name learnt from a reply (lookup, create...) in the inode table.
func (s *Server) link(loc *graph.Loc, st *graph.Iatt) {
	if st.GFID.IsZero() || loc.Parent == nil || loc.Name == "" {
		return
	}
	fresh := s.inodes.NewInode()
	in := s.inodes.Link(fresh, loc.Parent, loc.Name, st)
	in.Unref()
	fresh.Unref()
}

func errnoOf(err error) uint32 {
	if err == nil {
		return 0
	}
	return uint32(graph.Errno(err))
}

// fail sets the reply's errno from err.
func fail(r *proto.Reply, err error) *proto.Reply {
	r.Errno = errnoOf(err)
	if r.Errno == 0 {
		r.Errno = uint32(unix.EIO)
	}
	return r
}

// fop runs one fop for client c on the subvolume. The reply's Data (readv) is the callee's
// buffer; *release is then set to its ReadReply.Release (possibly nil), which the caller calls
// once it no longer needs Data (sendReply: after the reply is written).
func (s *Server) fop(ctx context.Context, c *clientConn, f graph.Fop, a *proto.Args, release *func()) *proto.Reply {
	sub := c.sub
	r := &proto.Reply{}
	var err error
	// FD-based fops: look the remote fd up and hold a reference for the call.
	var fd *graph.FD
	switch f {
	case graph.FopFstat, graph.FopFtruncate, graph.FopReadv, graph.FopWritev, graph.FopFlush, graph.FopFsync,
		graph.FopReaddir, graph.FopReaddirp, graph.FopFsyncdir, graph.FopFsetxattr, graph.FopFgetxattr,
		graph.FopFremovexattr, graph.FopLk, graph.FopFinodelk, graph.FopFentrylk, graph.FopFxattrop,
		graph.FopFsetattr, graph.FopFallocate, graph.FopDiscard, graph.FopZerofill, graph.FopSeek, graph.FopRchecksum:
		fd = c.getFD(a.FD)
		if fd == nil {
			r.Errno = uint32(unix.EBADF)
			return r
		}
		defer fd.Unref()
	}
	var rl, rl2 *resolved
	switch f {
	case graph.FopLookup, graph.FopStat, graph.FopAccess, graph.FopReadlink, graph.FopMknod, graph.FopMkdir,
		graph.FopUnlink, graph.FopRmdir, graph.FopSymlink, graph.FopRename, graph.FopLink, graph.FopTruncate,
		graph.FopCreate, graph.FopOpen, graph.FopOpendir, graph.FopStatfs, graph.FopSetxattr, graph.FopGetxattr,
		graph.FopRemovexattr, graph.FopInodelk, graph.FopEntrylk, graph.FopXattrop, graph.FopSetattr:
		rl = s.resolve(&a.Loc)
		defer rl.done()
	}
	if f == graph.FopRename || f == graph.FopLink {
		rl2 = s.resolve(&a.Loc2)
		defer rl2.done()
	}
	switch f {
	case graph.FopLookup:
		var rep graph.LookupReply
		rep, err = sub.Lookup(ctx, &rl.loc, a.Xdata)
		r.Stat, r.Post, r.Xdata = rep.Stat, rep.PostParent, rep.Xdata
		if err == nil {
			s.link(&rl.loc, &rep.Stat)
		}
	case graph.FopStat:
		r.Stat, r.Xdata, err = sub.Stat(ctx, &rl.loc, a.Xdata)
	case graph.FopFstat:
		r.Stat, r.Xdata, err = sub.Fstat(ctx, fd, a.Xdata)
	case graph.FopAccess:
		r.Xdata, err = sub.Access(ctx, &rl.loc, a.Mode, a.Xdata)
	case graph.FopReadlink:
		r.Link, r.Stat, r.Xdata, err = sub.Readlink(ctx, &rl.loc, a.Size, a.Xdata)
	case graph.FopMknod:
		err = entry(r, &rl.loc, s)(sub.Mknod(ctx, &rl.loc, a.Mode, a.Rdev, a.Umask, a.Xdata))
	case graph.FopMkdir:
		err = entry(r, &rl.loc, s)(sub.Mkdir(ctx, &rl.loc, a.Mode, a.Umask, a.Xdata))
	case graph.FopUnlink:
		var rep graph.ParentReply
		rep, err = sub.Unlink(ctx, &rl.loc, int(a.Flags), a.Xdata)
		r.Pre, r.Post, r.Xdata = rep.PreParent, rep.PostParent, rep.Xdata
	case graph.FopRmdir:
		var rep graph.ParentReply
		rep, err = sub.Rmdir(ctx, &rl.loc, int(a.Flags), a.Xdata)
		r.Pre, r.Post, r.Xdata = rep.PreParent, rep.PostParent, rep.Xdata
	case graph.FopSymlink:
		err = entry(r, &rl.loc, s)(sub.Symlink(ctx, a.Target, &rl.loc, a.Umask, a.Xdata))
	case graph.FopRename:
		var rep graph.RenameReply
		rep, err = sub.Rename(ctx, &rl.loc, &rl2.loc, a.Xdata)
		r.Stat, r.Pre, r.Post, r.Pre2, r.Post2, r.Xdata = rep.Stat, rep.PreOldParent, rep.PostOldParent, rep.PreNewParent, rep.PostNewParent, rep.Xdata
	case graph.FopLink:
		err = entry(r, &rl2.loc, s)(sub.Link(ctx, &rl.loc, &rl2.loc, a.Xdata))
	case graph.FopTruncate:
		err = wcc(r)(sub.Truncate(ctx, &rl.loc, a.Offset, a.Xdata))
	case graph.FopFtruncate:
		err = wcc(r)(sub.Ftruncate(ctx, fd, a.Offset, a.Xdata))
	case graph.FopCreate:
		nfd := graph.NewFD(rl.loc.Inode, rl.loc.GFID, int(a.Flags))
		nfd.Pid = a.Pid
		err = entry(r, &rl.loc, s)(sub.Create(ctx, &rl.loc, int(a.Flags), a.Mode, a.Umask, nfd, a.Xdata))
		if err == nil {
			nfd.GFID = r.Stat.GFID
			r.FD = c.addFD(nfd)
		} else {
			nfd.Unref()
		}
	case graph.FopOpen, graph.FopOpendir:
		nfd := graph.NewFD(rl.loc.Inode, rl.loc.GFID, int(a.Flags))
		nfd.Pid = a.Pid
		if f == graph.FopOpen {
			r.Xdata, err = sub.Open(ctx, &rl.loc, int(a.Flags), nfd, a.Xdata)
		} else {
			nfd.IsDir = true
			r.Xdata, err = sub.Opendir(ctx, &rl.loc, nfd, a.Xdata)
		}
		if err == nil {
			r.FD = c.addFD(nfd)
		} else {
			nfd.Unref()
		}
	case graph.FopReadv:
		size := a.Size
		if size > proto.MaxData {
			size = proto.MaxData
		}
		var rep graph.ReadReply
		rep, err = sub.Readv(ctx, fd, size, a.Offset, a.IOFlags, a.Xdata)
		r.Data, r.Stat, r.EOF, r.Xdata = rep.Data, rep.Stat, rep.EOF, rep.Xdata
		if err != nil {
			rep.Done() // the data is not sent
		} else {
			*release = rep.Release
		}
		if len(r.Data) > int(size) {
			r.Data = r.Data[:size]
		}
	case graph.FopWritev:
		err = wcc(r)(sub.Writev(ctx, fd, a.Data, a.Offset, a.IOFlags, a.Xdata))
	case graph.FopFlush:
		r.Xdata, err = sub.Flush(ctx, fd, a.Xdata)
	case graph.FopFsync:
		err = wcc(r)(sub.Fsync(ctx, fd, a.Datasync, a.Xdata))
	case graph.FopReaddir:
		r.Entries, r.Xdata, err = sub.Readdir(ctx, fd, a.Size, a.Cookie, a.Xdata)
	case graph.FopReaddirp:
		r.Entries, r.Xdata, err = sub.Readdirp(ctx, fd, a.Size, a.Cookie, a.Xdata)
	case graph.FopFsyncdir:
		r.Xdata, err = sub.Fsyncdir(ctx, fd, a.Datasync, a.Xdata)
	case graph.FopStatfs:
		r.Statvfs, r.Xdata, err = sub.Statfs(ctx, &rl.loc, a.Xdata)
	case graph.FopSetxattr:
		r.Xdata, err = sub.Setxattr(ctx, &rl.loc, a.Dict, int(a.Flags), a.Xdata)
	case graph.FopGetxattr:
		r.Dict, r.Xdata, err = sub.Getxattr(ctx, &rl.loc, a.Name, a.Xdata)
	case graph.FopFsetxattr:
		r.Xdata, err = sub.Fsetxattr(ctx, fd, a.Dict, int(a.Flags), a.Xdata)
	case graph.FopFgetxattr:
		r.Dict, r.Xdata, err = sub.Fgetxattr(ctx, fd, a.Name, a.Xdata)
	case graph.FopRemovexattr:
		r.Xdata, err = sub.Removexattr(ctx, &rl.loc, a.Name, a.Xdata)
	case graph.FopFremovexattr:
		r.Xdata, err = sub.Fremovexattr(ctx, fd, a.Name, a.Xdata)
	case graph.FopLk:
		r.Flock, r.Xdata, err = sub.Lk(ctx, fd, graph.LkCmd(a.Cmd), &a.Flock, a.Xdata)
	case graph.FopInodelk:
		r.Xdata, err = sub.Inodelk(ctx, a.Volume, &rl.loc, graph.LkCmd(a.Cmd), &a.Flock, a.Xdata)
	case graph.FopFinodelk:
		r.Xdata, err = sub.Finodelk(ctx, a.Volume, fd, graph.LkCmd(a.Cmd), &a.Flock, a.Xdata)
	case graph.FopEntrylk:
		r.Xdata, err = sub.Entrylk(ctx, a.Volume, &rl.loc, a.Name, graph.EntrylkCmd(a.Cmd), graph.EntrylkType(a.Type), a.Xdata)
	case graph.FopFentrylk:
		r.Xdata, err = sub.Fentrylk(ctx, a.Volume, fd, a.Name, graph.EntrylkCmd(a.Cmd), graph.EntrylkType(a.Type), a.Xdata)
	case graph.FopXattrop:
		r.Dict, r.Xdata, err = sub.Xattrop(ctx, &rl.loc, graph.XattropFlag(a.Cmd), a.Dict, a.Xdata)
	case graph.FopFxattrop:
		r.Dict, r.Xdata, err = sub.Fxattrop(ctx, fd, graph.XattropFlag(a.Cmd), a.Dict, a.Xdata)
	case graph.FopSetattr:
		err = wcc(r)(sub.Setattr(ctx, &rl.loc, &a.Stat, a.Valid, a.Xdata))
	case graph.FopFsetattr:
		err = wcc(r)(sub.Fsetattr(ctx, fd, &a.Stat, a.Valid, a.Xdata))
	case graph.FopFallocate:
		err = wcc(r)(sub.Fallocate(ctx, fd, a.Mode, a.Offset, a.Length, a.Xdata))
	case graph.FopDiscard:
		err = wcc(r)(sub.Discard(ctx, fd, a.Offset, a.Length, a.Xdata))
	case graph.FopZerofill:
		err = wcc(r)(sub.Zerofill(ctx, fd, a.Offset, a.Length, a.Xdata))
	case graph.FopSeek:
		r.Offset, r.Xdata, err = sub.Seek(ctx, fd, a.Offset, graph.SeekWhat(a.Cmd), a.Xdata)
	case graph.FopRchecksum:
		var rep graph.RchecksumReply
		rep, err = sub.Rchecksum(ctx, fd, a.Offset, a.Size, a.Xdata)
		r.Weak, r.Strong, r.Xdata = rep.Weak, rep.Strong, rep.Xdata
		if len(r.Strong) > proto.MaxChecksum {
			err = graph.Errorf(unix.EOVERFLOW, "rchecksum of %d bytes", len(r.Strong))
		}
	default:
		r.Errno = uint32(unix.ENOSYS)
		return r
	}
	if err != nil {
		x := r.Xdata
		*r = proto.Reply{Xdata: x}
		return fail(r, err)
	}
	return r
}

func entry(r *proto.Reply, loc *graph.Loc, s *Server) func(graph.EntryReply, error) error {
	return func(rep graph.EntryReply, err error) error {
		r.Stat, r.Pre, r.Post, r.Xdata = rep.Stat, rep.PreParent, rep.PostParent, rep.Xdata
		if err == nil {
			s.link(loc, &rep.Stat)
		}
		return err
	}
}

func wcc(r *proto.Reply) func(graph.WCCReply, error) error {
	return func(rep graph.WCCReply, err error) error {
		r.Pre, r.Post, r.Xdata = rep.Pre, rep.Post, rep.Xdata
		return err
	}
}
