package graph

import "context"

// Fops is the complete GlusterFS file-operation set. Every translator implements it. Each call is
// synchronous: it returns when the operation is done (GlusterFS's wind and unwind in one call).
// Errors are unix.Errno values, possibly wrapped; use Errno to extract them.
//
// FDs passed to Create, Open and Opendir are allocated by the caller (NewFD); the callee stores
// its own state in the FD's per-translator context.
type Fops interface {
	Lookup(ctx context.Context, loc *Loc, xdata Xdata) (LookupReply, error)
	Stat(ctx context.Context, loc *Loc, xdata Xdata) (Iatt, Xdata, error)
	Fstat(ctx context.Context, fd *FD, xdata Xdata) (Iatt, Xdata, error)
	Access(ctx context.Context, loc *Loc, mask uint32, xdata Xdata) (Xdata, error)
	Readlink(ctx context.Context, loc *Loc, size uint32, xdata Xdata) (string, Iatt, Xdata, error)
	Mknod(ctx context.Context, loc *Loc, mode uint32, rdev uint64, umask uint32, xdata Xdata) (EntryReply, error)
	Mkdir(ctx context.Context, loc *Loc, mode uint32, umask uint32, xdata Xdata) (EntryReply, error)
	Unlink(ctx context.Context, loc *Loc, flags int, xdata Xdata) (ParentReply, error)
	Rmdir(ctx context.Context, loc *Loc, flags int, xdata Xdata) (ParentReply, error)
	Symlink(ctx context.Context, target string, loc *Loc, umask uint32, xdata Xdata) (EntryReply, error)
	Rename(ctx context.Context, oldLoc, newLoc *Loc, xdata Xdata) (RenameReply, error)
	Link(ctx context.Context, oldLoc, newLoc *Loc, xdata Xdata) (EntryReply, error)
	Truncate(ctx context.Context, loc *Loc, offset int64, xdata Xdata) (WCCReply, error)
	Ftruncate(ctx context.Context, fd *FD, offset int64, xdata Xdata) (WCCReply, error)
	Create(ctx context.Context, loc *Loc, flags int, mode uint32, umask uint32, fd *FD, xdata Xdata) (EntryReply, error)
	Open(ctx context.Context, loc *Loc, flags int, fd *FD, xdata Xdata) (Xdata, error)
	Readv(ctx context.Context, fd *FD, size uint32, offset int64, flags uint32, xdata Xdata) (ReadReply, error)
	Writev(ctx context.Context, fd *FD, data []byte, offset int64, flags uint32, xdata Xdata) (WCCReply, error)
	Flush(ctx context.Context, fd *FD, xdata Xdata) (Xdata, error)
	Fsync(ctx context.Context, fd *FD, datasync bool, xdata Xdata) (WCCReply, error)
	Opendir(ctx context.Context, loc *Loc, fd *FD, xdata Xdata) (Xdata, error)
	Readdir(ctx context.Context, fd *FD, size uint32, offset uint64, xdata Xdata) ([]Dirent, Xdata, error)
	Readdirp(ctx context.Context, fd *FD, size uint32, offset uint64, xdata Xdata) ([]Dirent, Xdata, error)
	Fsyncdir(ctx context.Context, fd *FD, datasync bool, xdata Xdata) (Xdata, error)
	Statfs(ctx context.Context, loc *Loc, xdata Xdata) (Statvfs, Xdata, error)
	Setxattr(ctx context.Context, loc *Loc, dict Xdata, flags int, xdata Xdata) (Xdata, error)
	Getxattr(ctx context.Context, loc *Loc, name string, xdata Xdata) (Xdata, Xdata, error)
	Fsetxattr(ctx context.Context, fd *FD, dict Xdata, flags int, xdata Xdata) (Xdata, error)
	Fgetxattr(ctx context.Context, fd *FD, name string, xdata Xdata) (Xdata, Xdata, error)
	Removexattr(ctx context.Context, loc *Loc, name string, xdata Xdata) (Xdata, error)
	Fremovexattr(ctx context.Context, fd *FD, name string, xdata Xdata) (Xdata, error)
	Lk(ctx context.Context, fd *FD, cmd LkCmd, lock *Flock, xdata Xdata) (Flock, Xdata, error)
	Inodelk(ctx context.Context, volume string, loc *Loc, cmd LkCmd, lock *Flock, xdata Xdata) (Xdata, error)
	Finodelk(ctx context.Context, volume string, fd *FD, cmd LkCmd, lock *Flock, xdata Xdata) (Xdata, error)
	Entrylk(ctx context.Context, volume string, loc *Loc, basename string, cmd EntrylkCmd, typ EntrylkType, xdata Xdata) (Xdata, error)
	Fentrylk(ctx context.Context, volume string, fd *FD, basename string, cmd EntrylkCmd, typ EntrylkType, xdata Xdata) (Xdata, error)
	Xattrop(ctx context.Context, loc *Loc, flag XattropFlag, dict Xdata, xdata Xdata) (Xdata, Xdata, error)
	Fxattrop(ctx context.Context, fd *FD, flag XattropFlag, dict Xdata, xdata Xdata) (Xdata, Xdata, error)
	Setattr(ctx context.Context, loc *Loc, stbuf *Iatt, valid uint32, xdata Xdata) (WCCReply, error)
	Fsetattr(ctx context.Context, fd *FD, stbuf *Iatt, valid uint32, xdata Xdata) (WCCReply, error)
	Fallocate(ctx context.Context, fd *FD, mode uint32, offset, length int64, xdata Xdata) (WCCReply, error)
	Discard(ctx context.Context, fd *FD, offset, length int64, xdata Xdata) (WCCReply, error)
	Zerofill(ctx context.Context, fd *FD, offset, length int64, xdata Xdata) (WCCReply, error)
	Seek(ctx context.Context, fd *FD, offset int64, what SeekWhat, xdata Xdata) (int64, Xdata, error)
	Rchecksum(ctx context.Context, fd *FD, offset int64, length uint32, xdata Xdata) (RchecksumReply, error)
}

// Fop identifies one file operation (GlusterFS glusterfs_fop_t). Its names equal the Fops method
// names; a test asserts the two sets are the same.
type Fop int

// The fops, in the order of the Fops interface.
const (
	FopLookup Fop = iota
	FopStat
	FopFstat
	FopAccess
	FopReadlink
	FopMknod
	FopMkdir
	FopUnlink
	FopRmdir
	FopSymlink
	FopRename
	FopLink
	FopTruncate
	FopFtruncate
	FopCreate
	FopOpen
	FopReadv
	FopWritev
	FopFlush
	FopFsync
	FopOpendir
	FopReaddir
	FopReaddirp
	FopFsyncdir
	FopStatfs
	FopSetxattr
	FopGetxattr
	FopFsetxattr
	FopFgetxattr
	FopRemovexattr
	FopFremovexattr
	FopLk
	FopInodelk
	FopFinodelk
	FopEntrylk
	FopFentrylk
	FopXattrop
	FopFxattrop
	FopSetattr
	FopFsetattr
	FopFallocate
	FopDiscard
	FopZerofill
	FopSeek
	FopRchecksum
	NumFops // the number of fops; not a fop
)

var fopNames = [NumFops]string{
	"Lookup", "Stat", "Fstat", "Access", "Readlink", "Mknod", "Mkdir", "Unlink", "Rmdir", "Symlink",
	"Rename", "Link", "Truncate", "Ftruncate", "Create", "Open", "Readv", "Writev", "Flush", "Fsync",
	"Opendir", "Readdir", "Readdirp", "Fsyncdir", "Statfs", "Setxattr", "Getxattr", "Fsetxattr",
	"Fgetxattr", "Removexattr", "Fremovexattr", "Lk", "Inodelk", "Finodelk", "Entrylk", "Fentrylk",
	"Xattrop", "Fxattrop", "Setattr", "Fsetattr", "Fallocate", "Discard", "Zerofill", "Seek",
	"Rchecksum",
}

// String returns the fop's name as in the Fops interface ("Lookup", "Writev", ...).
func (f Fop) String() string {
	if f >= 0 && f < NumFops {
		return fopNames[f]
	}
	return "Fop(?)"
}

// FopByName returns the fop with the given method name.
func FopByName(name string) (Fop, bool) {
	for i, n := range fopNames {
		if n == name {
			return Fop(i), true
		}
	}
	return 0, false
}

// IsModifying reports whether the fop changes file system state (used by read-only, stats, DRC).
func (f Fop) IsModifying() bool {
	switch f {
	case FopMknod, FopMkdir, FopUnlink, FopRmdir, FopSymlink, FopRename, FopLink, FopTruncate,
		FopFtruncate, FopCreate, FopWritev, FopSetxattr, FopFsetxattr, FopRemovexattr,
		FopFremovexattr, FopXattrop, FopFxattrop, FopSetattr, FopFsetattr, FopFallocate,
		FopDiscard, FopZerofill:
		return true
	}
	return false
}
