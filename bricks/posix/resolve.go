package posix

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// iattOf converts a stat(2) result and a GFID to an Iatt. A non-directory's link count does not
// count its handle, as GlusterFS does (posix-helpers.c posix_fdstat/posix_pstat: st_nlink--).
func iattOf(st *unix.Stat_t, g graph.GFID) graph.Iatt {
	nlink := uint32(st.Nlink)
	if nlink > 0 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		nlink--
	}
	return graph.Iatt{
		GFID:    g,
		Ino:     st.Ino,
		Dev:     st.Dev,
		Mode:    st.Mode,
		Nlink:   nlink,
		UID:     st.Uid,
		GID:     st.Gid,
		Rdev:    st.Rdev,
		Size:    uint64(st.Size),
		Blksize: uint32(st.Blksize),
		Blocks:  uint64(st.Blocks),
		Atime:   graph.Timespec{Sec: st.Atim.Sec, Nsec: uint32(st.Atim.Nsec)},
		Mtime:   graph.Timespec{Sec: st.Mtim.Sec, Nsec: uint32(st.Mtim.Nsec)},
		Ctime:   graph.Timespec{Sec: st.Ctim.Sec, Nsec: uint32(st.Ctim.Nsec)},
	}
}

// lstatRel is fstatat(rootFD, rel, AT_SYMLINK_NOFOLLOW).
func (p *Posix) lstatRel(rel string, st *unix.Stat_t) error {
	var err error
	if rel == "." {
		err = unix.Fstat(p.rootFD, st)
	} else {
		err = unix.Fstatat(p.rootFD, rel, st, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return fmt.Errorf("posix: lstat %s: %w", rel, err)
	}
	return nil
}

// statRel returns the Iatt (with GFID) of a brick-relative path.
func (p *Posix) statRel(rel string) (graph.Iatt, error) {
	var st unix.Stat_t
	if err := p.lstatRel(rel, &st); err != nil {
		return graph.Iatt{}, err
	}
	g, err := p.getGFIDPath(rel)
	if err != nil {
		return graph.Iatt{}, err
	}
	return iattOf(&st, g), nil
}

// statFd returns the Iatt of an open fd whose GFID is known.
func statFd(fd int, g graph.GFID) (graph.Iatt, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return graph.Iatt{}, fmt.Errorf("posix: fstat <gfid:%s>: %w", g, err)
	}
	return iattOf(&st, g), nil
}

// parentGFID returns the GFID of a loc's parent.
func parentGFID(loc *graph.Loc) (graph.GFID, error) {
	if loc == nil {
		return graph.GFID{}, graph.Errorf(unix.EINVAL, "posix: nil loc")
	}
	g := loc.ParentGFID
	if g.IsZero() && loc.Parent != nil {
		g = loc.Parent.GFID()
	}
	if g.IsZero() {
		return g, graph.Errorf(unix.EINVAL, "posix: %s: parent gfid unknown", loc)
	}
	return g, nil
}

// entry is a resolved (parent, name) pair.
type entry struct {
	parent    graph.GFID
	parentRel string
	name      string
	rel       string
}

// resolveEntry resolves the parent of a loc and its name; ".glusterfs" in the root is refused
// with EPERM, as GlusterFS refuses lookup/mkdir/create of it.
func (p *Posix) resolveEntry(loc *graph.Loc) (entry, error) {
	pg, err := parentGFID(loc)
	if err != nil {
		return entry{}, err
	}
	if err := validName(loc.Name); err != nil {
		return entry{}, fmt.Errorf("%s: %w", loc, err)
	}
	if pg.IsRoot() && loc.Name == HiddenDir {
		return entry{}, graph.Errorf(unix.EPERM, "posix: %s is reserved for the brick's handles", HiddenDir)
	}
	pr, err := p.dirPath(pg)
	if err != nil {
		return entry{}, fmt.Errorf("%s: %w", loc, err)
	}
	return entry{parent: pg, parentRel: pr, name: loc.Name, rel: joinRel(pr, loc.Name)}, nil
}

// resolveInode resolves a loc naming an existing file: by GFID when the loc carries one (through
// the handle), else by parent and name.
func (p *Posix) resolveInode(loc *graph.Loc) (string, error) {
	if loc == nil {
		return "", graph.Errorf(unix.EINVAL, "posix: nil loc")
	}
	g := loc.GFID
	if g.IsZero() && loc.Inode != nil {
		g = loc.Inode.GFID()
	}
	if !g.IsZero() {
		rel, err := p.gfidRel(g)
		if err != nil && loc.Name != "" && graph.Errno(err) == unix.ESTALE {
			// The handle is gone but the loc also has a name: let the name decide.
			if e, err2 := p.resolveEntry(loc); err2 == nil {
				if p.hasGFID(e.rel, g) {
					return e.rel, nil
				}
			}
		}
		return rel, err
	}
	if loc.Name != "" {
		e, err := p.resolveEntry(loc)
		if err != nil {
			return "", err
		}
		return e.rel, nil
	}
	if loc.Path == "/" {
		return ".", nil
	}
	return "", graph.Errorf(unix.EINVAL, "posix: %s: neither gfid nor parent and name", loc)
}

// resolveStat resolves loc like resolveInode and returns the file's attributes as well, in one
// fstatat(2) for a non-directory reached by its GFID (see gfidStat).
func (p *Posix) resolveStat(loc *graph.Loc) (string, graph.Iatt, error) {
	if loc == nil {
		return "", graph.Iatt{}, graph.Errorf(unix.EINVAL, "posix: nil loc")
	}
	g := loc.GFID
	if g.IsZero() && loc.Inode != nil {
		g = loc.Inode.GFID()
	}
	if !g.IsZero() {
		rel, a, err := p.gfidStat(g)
		if err == nil || loc.Name == "" || graph.Errno(err) != unix.ESTALE {
			return rel, a, err
		}
	}
	rel, err := p.resolveInode(loc)
	if err != nil {
		return "", graph.Iatt{}, err
	}
	a, err := p.statRel(rel)
	return rel, a, err
}

// gfidReq reads "gfid-req" from xdata: ok is false when absent.
func gfidReq(xdata graph.Xdata) (graph.GFID, bool, error) {
	b, ok := xdata[GFIDReqKey]
	if !ok {
		return graph.GFID{}, false, nil
	}
	if len(b) != 16 {
		return graph.GFID{}, false, graph.Errorf(unix.EINVAL, "posix: %s has %d bytes, want 16", GFIDReqKey, len(b))
	}
	g := graph.GFID(b)
	if g.IsZero() {
		return g, false, graph.Errorf(unix.EINVAL, "posix: %s is the null gfid", GFIDReqKey)
	}
	return g, true, nil
}

// wrap adds context to an errno from a syscall.
func wrap(err error, op, what string) error {
	if err == nil {
		return nil
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return fmt.Errorf("posix: %s %s: %w", op, what, err)
	}
	return fmt.Errorf("posix: %s %s: %w", op, what, err)
}

// fillXattrs puts into out the value of every trusted.*/user.* key that req holds with an empty
// value (posix-helpers.c posix_xattr_fill: lookup's xattr requests).
func (p *Posix) fillXattrs(path string, req graph.Xdata, out graph.Xdata) {
	for k, v := range req {
		if len(v) != 0 || !(hasPrefix(k, "trusted.") || hasPrefix(k, "user.")) {
			continue
		}
		if val, err := lgetxattr(path, k); err == nil {
			out[k] = val
		}
	}
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// lgetxattr reads a whole xattr value of a path (not following a final symlink).
func lgetxattr(path, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(path, name, buf)
		if err == nil {
			return buf[:n], nil
		}
		if !errors.Is(err, unix.ERANGE) {
			return nil, err
		}
		sz, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			return nil, err
		}
		if sz > 1<<20 {
			return nil, unix.E2BIG
		}
		buf = make([]byte, sz+64)
	}
}

// fgetxattr reads a whole xattr value of an open fd.
func fgetxattr(fd int, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Fgetxattr(fd, name, buf)
		if err == nil {
			return buf[:n], nil
		}
		if !errors.Is(err, unix.ERANGE) {
			return nil, err
		}
		sz, err := unix.Fgetxattr(fd, name, nil)
		if err != nil {
			return nil, err
		}
		if sz > 1<<20 {
			return nil, unix.E2BIG
		}
		buf = make([]byte, sz+64)
	}
}
