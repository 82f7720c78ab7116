package proto

import (
	"sort"

	"github.com/weftfs/weft/graph"
)

// Loc is a graph.Loc as it travels: the brick resolves it by GFID (a nameless loc) or by parent
// GFID + name. Path is informative (logs).
type Loc struct {
	GFID       graph.GFID
	ParentGFID graph.GFID
	Name       string
	Path       string
}

// LocOf converts a graph.Loc (nil gives the zero Loc).
func LocOf(l *graph.Loc) Loc {
	if l == nil {
		return Loc{}
	}
	return Loc{GFID: l.GFID, ParentGFID: l.ParentGFID, Name: l.Name, Path: l.Path}
}

// Graph returns the graph.Loc (without inodes; the server fills them from its table).
func (l *Loc) Graph() *graph.Loc {
	return &graph.Loc{GFID: l.GFID, ParentGFID: l.ParentGFID, Name: l.Name, Path: l.Path}
}

// EncodeLoc appends a Loc: gfid[16] parent[16] string name<MaxName> string path<MaxPath>.
func (e *Encoder) Loc(l *Loc) {
	e.Fixed(l.GFID[:])
	e.Fixed(l.ParentGFID[:])
	e.String(l.Name)
	e.String(l.Path)
}

// GFID appends a GFID as fixed opaque[16].
func (e *Encoder) GFID(g graph.GFID) { e.Fixed(g[:]) }

// GFID reads a GFID.
func (d *Decoder) GFID() (g graph.GFID) {
	copy(g[:], d.Fixed(16))
	return g
}

// Loc reads a Loc.
func (d *Decoder) Loc(l *Loc) {
	l.GFID = d.GFID()
	l.ParentGFID = d.GFID()
	l.Name = d.String(MaxName)
	l.Path = d.String(MaxPath)
}

// Iatt appends a graph.Iatt: gfid[16] ino dev mode nlink uid gid rdev size blksize blocks
// atime mtime ctime (hyper sec, unsigned nsec each) generation.
func (e *Encoder) Iatt(a *graph.Iatt) {
	e.Fixed(a.GFID[:])
	e.Uint64(a.Ino)
	e.Uint64(a.Dev)
	e.Uint32(a.Mode)
	e.Uint32(a.Nlink)
	e.Uint32(a.UID)
	e.Uint32(a.GID)
	e.Uint64(a.Rdev)
	e.Uint64(a.Size)
	e.Uint32(a.Blksize)
	e.Uint64(a.Blocks)
	e.timespec(a.Atime)
	e.timespec(a.Mtime)
	e.timespec(a.Ctime)
	e.Uint32(a.Generation)
}

func (e *Encoder) timespec(t graph.Timespec) {
	e.Int64(t.Sec)
	e.Uint32(t.Nsec)
}

// Iatt reads a graph.Iatt.
func (d *Decoder) Iatt(a *graph.Iatt) {
	a.GFID = d.GFID()
	a.Ino = d.Uint64()
	a.Dev = d.Uint64()
	a.Mode = d.Uint32()
	a.Nlink = d.Uint32()
	a.UID = d.Uint32()
	a.GID = d.Uint32()
	a.Rdev = d.Uint64()
	a.Size = d.Uint64()
	a.Blksize = d.Uint32()
	a.Blocks = d.Uint64()
	a.Atime = d.timespec()
	a.Mtime = d.timespec()
	a.Ctime = d.timespec()
	a.Generation = d.Uint32()
}

func (d *Decoder) timespec() graph.Timespec {
	sec := d.Int64()
	nsec := d.Uint32()
	if nsec >= 1e9 {
		d.fail("nsec %d", nsec)
	}
	return graph.Timespec{Sec: sec, Nsec: nsec}
}

// Xdata appends a dictionary as an array of {string key; opaque value} sorted by key
// (deterministic). A nil and an empty dictionary both encode as the empty array.
func (e *Encoder) Xdata(x graph.Xdata) {
	e.Uint32(uint32(len(x)))
	if len(x) == 0 {
		return
	}
	if len(x) == 1 {
		for k, v := range x {
			e.String(k)
			e.Opaque(v)
		}
		return
	}
	keys := make([]string, 0, len(x))
	for k := range x {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e.String(k)
		e.Opaque(x[k])
	}
}

// Xdata reads a dictionary; values are copied (they outlive the record). An empty array decodes
// as nil. Keys must be strictly increasing (no duplicates, canonical order).
func (d *Decoder) Xdata() graph.Xdata {
	n := d.Count(MaxXdata, 8)
	if n == 0 {
		return nil
	}
	x := make(graph.Xdata, n)
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		k := d.String(MaxKey)
		v := d.OpaqueCopy(MaxValue)
		if i > 0 && k <= prev {
			d.fail("xdata keys out of order or duplicated at %q", k)
			return nil
		}
		prev = k
		if v == nil {
			v = []byte{}
		}
		x[k] = v
	}
	if d.err != nil {
		return nil
	}
	return x
}

// Flock appends a lock: int type, hyper start, hyper len, int pid, opaque owner<MaxOwner>.
func (e *Encoder) Flock(f *graph.Flock) {
	e.Int32(int32(f.Type))
	e.Int64(f.Start)
	e.Int64(f.Len)
	e.Int32(f.Pid)
	e.Opaque(f.Owner)
}

// Flock reads a lock. Types other than F_RDLCK, F_WRLCK, F_UNLCK are malformed.
func (d *Decoder) Flock(f *graph.Flock) {
	t := d.Int32()
	switch int16(t) {
	case graph.LockRead, graph.LockWrite, graph.LockUnlock:
		if int32(int16(t)) != t {
			d.fail("lock type %d", t)
		}
	default:
		d.fail("lock type %d", t)
	}
	f.Type = int16(t)
	f.Start = d.Int64()
	f.Len = d.Int64()
	f.Pid = d.Int32()
	f.Owner = d.OpaqueCopy(MaxOwner)
}

// Statvfs appends the eleven unsigned hypers of a statvfs.
func (e *Encoder) Statvfs(s *graph.Statvfs) {
	for _, v := range [...]uint64{s.Bsize, s.Frsize, s.Blocks, s.Bfree, s.Bavail, s.Files, s.Ffree, s.Favail, s.Fsid, s.Flag, s.Namemax} {
		e.Uint64(v)
	}
}

// Statvfs reads a statvfs.
func (d *Decoder) Statvfs(s *graph.Statvfs) {
	for _, p := range [...]*uint64{&s.Bsize, &s.Frsize, &s.Blocks, &s.Bfree, &s.Bavail, &s.Files, &s.Ffree, &s.Favail, &s.Fsid, &s.Flag, &s.Namemax} {
		*p = d.Uint64()
	}
}

// Dirents appends a directory listing: an array of {string name; hyper ino; hyper off;
// unsigned type; iatt stat; xdata}.
func (e *Encoder) Dirents(ds []graph.Dirent) {
	e.Uint32(uint32(len(ds)))
	for i := range ds {
		de := &ds[i]
		e.String(de.Name)
		e.Uint64(de.Ino)
		e.Uint64(de.Off)
		e.Uint32(uint32(de.Type))
		e.Iatt(&de.Stat)
		e.Xdata(de.Xdata)
	}
}

// Dirents reads a directory listing (nil when empty).
func (d *Decoder) Dirents() []graph.Dirent {
	n := d.Count(MaxDirents, minDirentLen)
	if n == 0 {
		return nil
	}
	ds := make([]graph.Dirent, n)
	for i := 0; i < n && d.err == nil; i++ {
		de := &ds[i]
		de.Name = d.String(MaxName)
		de.Ino = d.Uint64()
		de.Off = d.Uint64()
		t := d.Uint32()
		if t > 255 {
			d.fail("dirent type %d", t)
		}
		de.Type = uint8(t)
		d.Iatt(&de.Stat)
		de.Xdata = d.Xdata()
	}
	if d.err != nil {
		return nil
	}
	return ds
}
