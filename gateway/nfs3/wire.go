package nfs3

import (
	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph"
	"golang.org/x/sys/unix"
)

// Program and version (RFC 1813 §3).
const (
	Program = 100003
	Version = 3
)

// Procedure numbers (RFC 1813 §3.3).
const (
	ProcNull        = 0
	ProcGetattr     = 1
	ProcSetattr     = 2
	ProcLookup      = 3
	ProcAccess      = 4
	ProcReadlink    = 5
	ProcRead        = 6
	ProcWrite       = 7
	ProcCreate      = 8
	ProcMkdir       = 9
	ProcSymlink     = 10
	ProcMknod       = 11
	ProcRemove      = 12
	ProcRmdir       = 13
	ProcRename      = 14
	ProcLink        = 15
	ProcReaddir     = 16
	ProcReaddirplus = 17
	ProcFsstat      = 18
	ProcFsinfo      = 19
	ProcPathconf    = 20
	ProcCommit      = 21
	NumProcs        = 22
)

// ProcNames are the procedure names, indexed by number.
var ProcNames = [NumProcs]string{
	"NULL", "GETATTR", "SETATTR", "LOOKUP", "ACCESS", "READLINK", "READ", "WRITE", "CREATE",
	"MKDIR", "SYMLINK", "MKNOD", "REMOVE", "RMDIR", "RENAME", "LINK", "READDIR", "READDIRPLUS",
	"FSSTAT", "FSINFO", "PATHCONF", "COMMIT",
}

// ftype3 (RFC 1813 §2.6).
const (
	NF3REG  = 1
	NF3DIR  = 2
	NF3BLK  = 3
	NF3CHR  = 4
	NF3LNK  = 5
	NF3SOCK = 6
	NF3FIFO = 7
)

// ACCESS bits (RFC 1813 §3.3.4).
const (
	AccessRead    = 0x01
	AccessLookup  = 0x02
	AccessModify  = 0x04
	AccessExtend  = 0x08
	AccessDelete  = 0x10
	AccessExecute = 0x20
)

// stable_how (RFC 1813 §3.3.7).
const (
	Unstable = 0
	DataSync = 1
	FileSync = 2
)

// createmode3 (RFC 1813 §3.3.8).
const (
	Unchecked = 0
	Guarded   = 1
	Exclusive = 2
)

// time_how (RFC 1813 §2.6 sattr3).
const (
	DontChange      = 0
	SetToServerTime = 1
	SetToClientTime = 2
)

// FSINFO properties (RFC 1813 §3.3.19).
const (
	FSFLink        = 0x1
	FSFSymlink     = 0x2
	FSFHomogeneous = 0x8
	FSFCanSetTime  = 0x10
)

// Limits the gateway announces and enforces.
const (
	MaxRead    = 1 << 20 // rtmax
	MaxWrite   = 1 << 20 // wtmax
	MaxName    = 255     // name_max
	MaxPath    = 4095    // longest symlink target
	PrefDir    = 64 << 10
	maxNameDec = 8192 // names longer than this are GARBAGE_ARGS; longer than MaxName NAMETOOLONG
)

// sattr3 (RFC 1813 §2.6) decoded.
type sattr struct {
	setMode, setUID, setGID, setSize bool
	mode, uid, gid                   uint32
	size                             uint64
	atime, mtime                     uint32 // time_how
	atimeV, mtimeV                   graph.Timespec
}

func readTime(r *xdr.Reader) graph.Timespec {
	s := r.Uint32()
	ns := r.Uint32()
	if ns >= 1e9 {
		r.Fail(errBadTime)
	}
	return graph.Timespec{Sec: int64(s), Nsec: ns}
}

func readSattr(r *xdr.Reader) sattr {
	var s sattr
	if s.setMode = r.Bool(); s.setMode {
		s.mode = r.Uint32()
	}
	if s.setUID = r.Bool(); s.setUID {
		s.uid = r.Uint32()
	}
	if s.setGID = r.Bool(); s.setGID {
		s.gid = r.Uint32()
	}
	if s.setSize = r.Bool(); s.setSize {
		s.size = r.Uint64()
	}
	s.atime = r.Uint32()
	switch s.atime {
	case DontChange, SetToServerTime:
	case SetToClientTime:
		s.atimeV = readTime(r)
	default:
		r.Fail(errBadEnum)
	}
	s.mtime = r.Uint32()
	switch s.mtime {
	case DontChange, SetToServerTime:
	case SetToClientTime:
		s.mtimeV = readTime(r)
	default:
		r.Fail(errBadEnum)
	}
	return s
}

func (s *sattr) empty() bool {
	return !s.setMode && !s.setUID && !s.setGID && !s.setSize && s.atime == DontChange && s.mtime == DontChange
}

type diropargs struct {
	dir  []byte
	name string
}

func readFH(r *xdr.Reader) []byte { return r.Opaque(handle.MaxSize) }

func readDirop(r *xdr.Reader) diropargs {
	return diropargs{dir: readFH(r), name: r.String(maxNameDec)}
}

func ftype(mode uint32) uint32 {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return NF3REG
	case unix.S_IFDIR:
		return NF3DIR
	case unix.S_IFBLK:
		return NF3BLK
	case unix.S_IFCHR:
		return NF3CHR
	case unix.S_IFLNK:
		return NF3LNK
	case unix.S_IFSOCK:
		return NF3SOCK
	case unix.S_IFIFO:
		return NF3FIFO
	}
	return NF3REG
}

// putFattr writes fattr3 (RFC 1813 §2.6).
func putFattr(w *xdr.Writer, a *graph.Iatt, fsid uint64) {
	w.Uint32(ftype(a.Mode))
	w.Uint32(a.Mode & 07777)
	w.Uint32(a.Nlink)
	w.Uint32(a.UID)
	w.Uint32(a.GID)
	w.Uint64(a.Size)
	w.Uint64(a.Blocks * 512)
	w.Uint32(unix.Major(a.Rdev))
	w.Uint32(unix.Minor(a.Rdev))
	w.Uint64(fsid)
	w.Uint64(graph.InoFromGFID(a.GFID))
	putTime(w, a.Atime)
	putTime(w, a.Mtime)
	putTime(w, a.Ctime)
}

func putTime(w *xdr.Writer, t graph.Timespec) {
	w.Uint32(uint32(t.Sec))
	w.Uint32(t.Nsec)
}

// putPostOp writes post_op_attr: attributes follow when a is non-nil and has a GFID.
func putPostOp(w *xdr.Writer, a *graph.Iatt, fsid uint64) {
	if a == nil || a.GFID.IsZero() {
		w.Bool(false)
		return
	}
	w.Bool(true)
	putFattr(w, a, fsid)
}

// putWcc writes wcc_data (RFC 1813 §2.6): pre_op_attr then post_op_attr.
func putWcc(w *xdr.Writer, pre, post *graph.Iatt, fsid uint64) {
	if pre == nil || pre.GFID.IsZero() {
		w.Bool(false)
	} else {
		w.Bool(true)
		w.Uint64(pre.Size)
		putTime(w, pre.Mtime)
		putTime(w, pre.Ctime)
	}
	putPostOp(w, post, fsid)
}

func putPostFH(w *xdr.Writer, fh []byte) {
	if fh == nil {
		w.Bool(false)
		return
	}
	w.Bool(true)
	w.Opaque(fh)
}
