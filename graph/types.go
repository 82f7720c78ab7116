package graph

import (
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// Timespec is a point in time with nanoseconds, as carried in an Iatt.
type Timespec struct {
	Sec  int64
	Nsec uint32
}

// Time converts t to a time.Time.
func (t Timespec) Time() time.Time { return time.Unix(t.Sec, int64(t.Nsec)) }

// TimespecOf converts a time.Time.
func TimespecOf(t time.Time) Timespec {
	return Timespec{Sec: t.Unix(), Nsec: uint32(t.Nanosecond())}
}

// Iatt is the attributes of a file as every translator sees them: stat(2) plus the GFID
// (GlusterFS's struct iatt). Mode carries the file type bits (S_IFMT) and the permission bits.
type Iatt struct {
	GFID       GFID
	Ino        uint64 // derived from the GFID by the top of the graph; bricks fill the local inode
	Dev        uint64
	Mode       uint32 // S_IFMT | permission bits
	Nlink      uint32
	UID        uint32
	GID        uint32
	Rdev       uint64
	Size       uint64
	Blksize    uint32
	Blocks     uint64 // 512-byte blocks actually allocated
	Atime      Timespec
	Mtime      Timespec
	Ctime      Timespec
	Generation uint32
}

// Type returns the S_IFMT bits of the mode.
func (a *Iatt) Type() uint32 { return a.Mode & unix.S_IFMT }

// IsDir reports whether the attributes describe a directory.
func (a *Iatt) IsDir() bool { return a.Type() == unix.S_IFDIR }

// IsReg reports whether the attributes describe a regular file.
func (a *Iatt) IsReg() bool { return a.Type() == unix.S_IFREG }

// IsLnk reports whether the attributes describe a symbolic link.
func (a *Iatt) IsLnk() bool { return a.Type() == unix.S_IFLNK }

// Perm returns the permission bits including setuid, setgid and sticky.
func (a *Iatt) Perm() uint32 { return a.Mode & 07777 }

// InoFromGFID derives a stable 64-bit inode number from a GFID, as GlusterFS does (the last 8
// bytes, big-endian); the root maps to 1.
func InoFromGFID(g GFID) uint64 {
	return binary.BigEndian.Uint64(g[8:])
}

// Setattr valid bits (GlusterFS GF_SET_ATTR_*).
const (
	SetAttrMode     uint32 = 0x1
	SetAttrUID      uint32 = 0x2
	SetAttrGID      uint32 = 0x4
	SetAttrSize     uint32 = 0x8
	SetAttrAtime    uint32 = 0x10
	SetAttrMtime    uint32 = 0x20
	SetAttrCtime    uint32 = 0x40
	SetAttrAtimeNow uint32 = 0x80
	SetAttrMtimeNow uint32 = 0x100
)

// Loc locates a file either by path (parent GFID + name) or by its own GFID (GlusterFS's loc_t).
// A fop that creates an entry uses ParentGFID + Name; a fop on an existing file may use GFID
// alone ("nameless" lookup). Path is informative (logs, distribute's hashing uses Name).
type Loc struct {
	Path       string // from the volume root, e.g. "/a/b"; may be "<gfid:...>/name" when unknown
	Name       string // the last component; empty for a nameless loc and for the root
	GFID       GFID   // the file's GFID if known
	ParentGFID GFID   // the parent directory's GFID, with Name
	Inode      *Inode // optional: the inode in the caller's table
	Parent     *Inode // optional: the parent's inode
}

// String formats the loc for logs and error messages.
func (l *Loc) String() string {
	if l == nil {
		return "<nil loc>"
	}
	if l.Path != "" {
		return l.Path
	}
	if l.Name != "" {
		return "<gfid:" + l.ParentGFID.String() + ">/" + l.Name
	}
	return "<gfid:" + l.GFID.String() + ">"
}

// Child returns a Loc for name in the directory described by l (whose GFID must be known).
func (l *Loc) Child(name string) *Loc {
	p := l.Path
	if p == "/" {
		p = ""
	}
	return &Loc{Path: p + "/" + name, Name: name, ParentGFID: l.GFID, Parent: l.Inode}
}

// RootLoc returns the Loc of the volume root.
func RootLoc() *Loc { return &Loc{Path: "/", GFID: RootGFID} }

// Xdata is the dictionary carried with every fop in both directions (GlusterFS's dict_t xdata),
// also used as the key/value set of xattr fops. Values are raw bytes.
type Xdata map[string][]byte

// Clone returns a deep copy.
func (x Xdata) Clone() Xdata {
	if x == nil {
		return nil
	}
	c := make(Xdata, len(x))
	for k, v := range x {
		c[k] = append([]byte(nil), v...)
	}
	return c
}

// Keys returns the keys in sorted order.
func (x Xdata) Keys() []string {
	ks := make([]string, 0, len(x))
	for k := range x {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Has reports whether key is present.
func (x Xdata) Has(key string) bool { _, ok := x[key]; return ok }

// SetUint32 stores v as 4 big-endian bytes.
func (x Xdata) SetUint32(key string, v uint32) {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	x[key] = b
}

// Uint32 reads a value stored by SetUint32.
func (x Xdata) Uint32(key string) (uint32, bool) {
	b, ok := x[key]
	if !ok || len(b) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}

// SetUint64 stores v as 8 big-endian bytes.
func (x Xdata) SetUint64(key string, v uint64) {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	x[key] = b
}

// Uint64 reads a value stored by SetUint64.
func (x Xdata) Uint64(key string) (uint64, bool) {
	b, ok := x[key]
	if !ok || len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// SetString stores a string value.
func (x Xdata) SetString(key, v string) { x[key] = []byte(v) }

// String returns a string value.
func (x Xdata) String(key string) (string, bool) {
	b, ok := x[key]
	return string(b), ok
}

// Dirent is one directory entry returned by readdir/readdirp. Off is the cookie to pass as the
// offset of the next readdir to continue after this entry (d_off).
type Dirent struct {
	Name  string
	Ino   uint64
	Off   uint64
	Type  uint8 // DT_* from dirent.h (unix.DT_REG, ...)
	Stat  Iatt  // filled by readdirp
	Xdata Xdata // per-entry xdata (readdirp)
}

// Statvfs is the result of statfs (struct statvfs).
type Statvfs struct {
	Bsize   uint64
	Frsize  uint64
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	Favail  uint64
	Fsid    uint64
	Flag    uint64
	Namemax uint64
}

// LkCmd is the command of lk/inodelk/finodelk.
type LkCmd int

// Lock commands (F_GETLK, F_SETLK, F_SETLKW).
const (
	GetLk LkCmd = iota
	SetLk
	SetLkW
)

func (c LkCmd) String() string {
	switch c {
	case GetLk:
		return "GETLK"
	case SetLk:
		return "SETLK"
	case SetLkW:
		return "SETLKW"
	}
	return fmt.Sprintf("LkCmd(%d)", int(c))
}

// Lock types of a Flock.
const (
	LockRead   int16 = unix.F_RDLCK
	LockWrite  int16 = unix.F_WRLCK
	LockUnlock int16 = unix.F_UNLCK
)

// Flock is a byte-range lock (struct gf_flock). Start/Len are absolute (whence is resolved by the
// caller); Len 0 means "to the end of the file". Owner is the lock owner (lk-owner) bytes.
type Flock struct {
	Type  int16
	Start int64
	Len   int64
	Pid   int32
	Owner []byte
}

// EntrylkCmd is the command of entrylk/fentrylk.
type EntrylkCmd int

// Entry lock commands (ENTRYLK_LOCK, ENTRYLK_UNLOCK, ENTRYLK_LOCK_NB).
const (
	EntrylkLock EntrylkCmd = iota
	EntrylkUnlock
	EntrylkLockNB
)

// EntrylkType is the type of an entry lock.
type EntrylkType int

// Entry lock types (ENTRYLK_RDLCK, ENTRYLK_WRLCK).
const (
	EntrylkRdlck EntrylkType = iota
	EntrylkWrlck
)

// XattropFlag selects the xattrop operation (gf_xattrop_flags_t).
type XattropFlag int

// Xattrop operations, numbered as GlusterFS numbers them.
const (
	XattropAddArray   XattropFlag = iota // add arrays of big-endian int32
	XattropAddArray64                    // add arrays of big-endian int64
	XattropOrArray
	XattropAndArray
	XattropGetAndSet
	XattropAddArrayWithDefault
	XattropAddArray64WithDefault
)

// SeekWhat selects SEEK_DATA or SEEK_HOLE.
type SeekWhat int

// Seek modes.
const (
	SeekData SeekWhat = unix.SEEK_DATA
	SeekHole SeekWhat = unix.SEEK_HOLE
)

// Fallocate mode bits (FALLOC_FL_*), passed through to fallocate(2).
const (
	FallocKeepSize  uint32 = unix.FALLOC_FL_KEEP_SIZE
	FallocPunchHole uint32 = unix.FALLOC_FL_PUNCH_HOLE
)

// EntryReply is the result of fops that create an entry (mknod, mkdir, symlink, link, create).
type EntryReply struct {
	Stat       Iatt
	PreParent  Iatt
	PostParent Iatt
	Xdata      Xdata
}

// LookupReply is the result of lookup.
type LookupReply struct {
	Stat       Iatt
	PostParent Iatt
	Xdata      Xdata
}

// ParentReply is the result of unlink and rmdir.
type ParentReply struct {
	PreParent  Iatt
	PostParent Iatt
	Xdata      Xdata
}

// RenameReply is the result of rename.
type RenameReply struct {
	Stat          Iatt
	PreOldParent  Iatt
	PostOldParent Iatt
	PreNewParent  Iatt
	PostNewParent Iatt
	Xdata         Xdata
}

// WCCReply carries the attributes before and after a modifying fop (weak cache consistency).
type WCCReply struct {
	Pre   Iatt
	Post  Iatt
	Xdata Xdata
}

// ReadReply is the result of readv. Data is the caller's to read until it calls Release (or, when
// Release is nil, for as long as it likes: the buffer is then garbage collected).
type ReadReply struct {
	Data  []byte
	Stat  Iatt
	EOF   bool
	Xdata Xdata
	// Release, when not nil, hands Data's buffer back to the translator that filled it (GlusterFS's
	// iobuf_unref), so large reads reuse buffers instead of faulting in fresh memory. The final
	// consumer of the data calls it exactly once, after its last use of Data (protocol/server
	// and the NFS gateway: after the reply carrying Data is written). A translator that passes
	// the reply upward passes Release with it; one that copies Data, or discards the reply (a
	// failed replica read, say), calls it. Never calling it is safe.
	Release func()
}

// Done calls r.Release if set and clears it, so a second call does nothing.
func (r *ReadReply) Done() {
	if f := r.Release; f != nil {
		r.Release = nil
		f()
	}
}

// RchecksumReply is the result of rchecksum: a weak (Adler-32 style rolling) and a strong
// (SHA-256) checksum of a range.
type RchecksumReply struct {
	Weak   uint32
	Strong []byte
	Xdata  Xdata
}
