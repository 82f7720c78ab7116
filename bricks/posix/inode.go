package posix

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Stat implements graph.Fops.
func (p *Posix) Stat(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.Iatt, graph.Xdata, error) {
	if err := p.enter(ctx); err != nil {
		return graph.Iatt{}, nil, err
	}
	_, st, err := p.resolveStat(loc)
	if err != nil {
		return graph.Iatt{}, nil, err
	}
	return st, nil, nil
}

// Access implements graph.Fops from the mode bits and the caller's credentials.
func (p *Posix) Access(ctx context.Context, loc *graph.Loc, mask uint32, xdata graph.Xdata) (graph.Xdata, error) {
	if err := p.enter(ctx); err != nil {
		return nil, err
	}
	if mask&^uint32(unix.R_OK|unix.W_OK|unix.X_OK) != 0 {
		return nil, graph.Errorf(unix.EINVAL, "posix: access %s: bad mask %#o", loc, mask)
	}
	_, st, err := p.resolveStat(loc)
	if err != nil {
		return nil, err
	}
	if !permits(graph.CredsFrom(ctx), &st, mask) {
		return nil, graph.Errorf(unix.EACCES, "posix: access %s: mask %#o", loc, mask)
	}
	return nil, nil
}

// permits applies the classic owner/group/other check; root may read and write anything and
// execute what has any execute bit (or is a directory).
func permits(c *graph.Creds, st *graph.Iatt, mask uint32) bool {
	if mask == 0 {
		return true
	}
	if c.UID == 0 {
		if mask&unix.X_OK != 0 && !st.IsDir() && st.Mode&0111 == 0 {
			return false
		}
		return true
	}
	var bits uint32
	switch {
	case c.UID == st.UID:
		bits = (st.Mode >> 6) & 7
	case c.InGroup(st.GID):
		bits = (st.Mode >> 3) & 7
	default:
		bits = st.Mode & 7
	}
	return bits&mask == mask
}

// Readlink implements graph.Fops.
func (p *Posix) Readlink(ctx context.Context, loc *graph.Loc, size uint32, xdata graph.Xdata) (string, graph.Iatt, graph.Xdata, error) {
	if err := p.enter(ctx); err != nil {
		return "", graph.Iatt{}, nil, err
	}
	rel, st, err := p.resolveStat(loc)
	if err != nil {
		return "", graph.Iatt{}, nil, err
	}
	if !st.IsLnk() {
		return "", graph.Iatt{}, nil, graph.Errorf(unix.EINVAL, "posix: readlink %s: not a symlink", loc)
	}
	t, err := readlinkat(p.rootFD, rel)
	if err != nil {
		return "", graph.Iatt{}, nil, wrap(err, "readlink", rel)
	}
	if size > 0 && uint32(len(t)) > size {
		t = t[:size]
	}
	return t, st, nil, nil
}

// Truncate implements graph.Fops.
func (p *Posix) Truncate(ctx context.Context, loc *graph.Loc, offset int64, xdata graph.Xdata) (graph.WCCReply, error) {
	var r graph.WCCReply
	if err := p.enter(ctx); err != nil {
		return r, err
	}
	rel, err := p.resolveInode(loc)
	if err != nil {
		return r, err
	}
	if err := p.needRel(ctx, rel, unix.W_OK, "no permission to truncate "+rel); err != nil {
		return r, err
	}
	fd, err := unix.Openat(p.rootFD, rel, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			err = unix.EINVAL
		}
		return r, wrap(err, "truncate", rel)
	}
	defer unix.Close(fd)
	g, err := getGFIDFd(fd)
	if err != nil {
		return r, err
	}
	if r.Pre, err = statFd(fd, g); err != nil {
		return r, err
	}
	if err := unix.Ftruncate(fd, offset); err != nil {
		return r, wrap(err, "truncate", rel)
	}
	r.Post, err = statFd(fd, g)
	return r, err
}

// timespecs builds the utimensat argument from stbuf and the valid bits.
func timespecs(stbuf *graph.Iatt, valid uint32) [2]unix.Timespec {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
	switch {
	case valid&graph.SetAttrAtimeNow != 0:
		ts[0] = unix.Timespec{Nsec: unix.UTIME_NOW}
	case valid&graph.SetAttrAtime != 0:
		ts[0] = unix.Timespec{Sec: stbuf.Atime.Sec, Nsec: int64(stbuf.Atime.Nsec)}
	}
	switch {
	case valid&graph.SetAttrMtimeNow != 0:
		ts[1] = unix.Timespec{Nsec: unix.UTIME_NOW}
	case valid&graph.SetAttrMtime != 0:
		ts[1] = unix.Timespec{Sec: stbuf.Mtime.Sec, Nsec: int64(stbuf.Mtime.Nsec)}
	}
	return ts
}

func badNsec(stbuf *graph.Iatt, valid uint32) bool {
	return (valid&graph.SetAttrAtime != 0 && valid&graph.SetAttrAtimeNow == 0 && stbuf.Atime.Nsec >= 1e9) ||
		(valid&graph.SetAttrMtime != 0 && valid&graph.SetAttrMtimeNow == 0 && stbuf.Mtime.Nsec >= 1e9)
}

// Setattr implements graph.Fops: mode (not on symlinks, as GlusterFS), owner, size and times
// (with nanoseconds and the NOW variants); ctime is the kernel's.
func (p *Posix) Setattr(ctx context.Context, loc *graph.Loc, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	var r graph.WCCReply
	if err := p.enter(ctx); err != nil {
		return r, err
	}
	if stbuf == nil {
		return r, graph.Errorf(unix.EINVAL, "posix: setattr %s: nil attributes", loc)
	}
	if badNsec(stbuf, valid) {
		return r, graph.Errorf(unix.EINVAL, "posix: setattr %s: nanoseconds out of range", loc)
	}
	rel, pre, err := p.resolveStat(loc)
	if err != nil {
		return r, err
	}
	r.Pre = pre
	if err := needSetattr(ctx, &r.Pre, stbuf, valid); err != nil {
		return r, err
	}
	if valid&graph.SetAttrMode != 0 && !r.Pre.IsLnk() {
		if err := unix.Fchmodat(p.rootFD, rel, stbuf.Mode&07777, 0); err != nil {
			return r, wrap(err, "chmod", rel)
		}
	}
	if valid&(graph.SetAttrUID|graph.SetAttrGID) != 0 {
		uid, gid := -1, -1
		if valid&graph.SetAttrUID != 0 {
			uid = int(stbuf.UID)
		}
		if valid&graph.SetAttrGID != 0 {
			gid = int(stbuf.GID)
		}
		if err := unix.Fchownat(p.rootFD, rel, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return r, wrap(err, "chown", rel)
		}
	}
	if valid&graph.SetAttrSize != 0 {
		if r.Pre.IsDir() {
			return r, graph.Errorf(unix.EISDIR, "posix: truncate %s", rel)
		}
		if !r.Pre.IsReg() {
			return r, graph.Errorf(unix.EINVAL, "posix: truncate %s: not a regular file", rel)
		}
		fd, err := unix.Openat(p.rootFD, rel, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return r, wrap(err, "truncate", rel)
		}
		err = unix.Ftruncate(fd, int64(stbuf.Size))
		unix.Close(fd)
		if err != nil {
			return r, wrap(err, "truncate", rel)
		}
	}
	if valid&(graph.SetAttrAtime|graph.SetAttrMtime|graph.SetAttrAtimeNow|graph.SetAttrMtimeNow) != 0 {
		ts := timespecs(stbuf, valid)
		path := rel
		if rel == "." {
			path = p.dir
		}
		if err := unix.UtimesNanoAt(p.rootFD, path, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return r, wrap(err, "utimensat", rel)
		}
	}
	r.Post, err = p.statRel(rel)
	return r, err
}

// Fsetattr implements graph.Fops on an open fd.
func (p *Posix) Fsetattr(ctx context.Context, fd *graph.FD, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	var r graph.WCCReply
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return r, err
	}
	if stbuf == nil {
		return r, graph.Errorf(unix.EINVAL, "posix: fsetattr: nil attributes")
	}
	if badNsec(stbuf, valid) {
		return r, graph.Errorf(unix.EINVAL, "posix: fsetattr: nanoseconds out of range")
	}
	what := "<gfid:" + f.gfid.String() + ">"
	if r.Pre, err = statFd(f.fd, f.gfid); err != nil {
		return r, err
	}
	if err := needSetattr(ctx, &r.Pre, stbuf, valid); err != nil {
		return r, err
	}
	if valid&graph.SetAttrMode != 0 {
		if err := unix.Fchmod(f.fd, stbuf.Mode&07777); err != nil {
			return r, wrap(err, "fchmod", what)
		}
	}
	if valid&(graph.SetAttrUID|graph.SetAttrGID) != 0 {
		uid, gid := -1, -1
		if valid&graph.SetAttrUID != 0 {
			uid = int(stbuf.UID)
		}
		if valid&graph.SetAttrGID != 0 {
			gid = int(stbuf.GID)
		}
		if err := unix.Fchown(f.fd, uid, gid); err != nil {
			return r, wrap(err, "fchown", what)
		}
	}
	if valid&graph.SetAttrSize != 0 {
		if err := unix.Ftruncate(f.fd, int64(stbuf.Size)); err != nil {
			return r, wrap(err, "ftruncate", what)
		}
	}
	if valid&(graph.SetAttrAtime|graph.SetAttrMtime|graph.SetAttrAtimeNow|graph.SetAttrMtimeNow) != 0 {
		ts := timespecs(stbuf, valid)
		if err := futimens(f.fd, &ts); err != nil {
			return r, wrap(err, "futimens", what)
		}
	}
	r.Post, err = statFd(f.fd, f.gfid)
	return r, err
}

// Statfs implements graph.Fops; the reserve is taken off the free counts (GlusterFS
// posix_statfs).
func (p *Posix) Statfs(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.Statvfs, graph.Xdata, error) {
	if err := p.enter(ctx); err != nil {
		return graph.Statvfs{}, nil, err
	}
	var s unix.Statfs_t
	if err := unix.Fstatfs(p.rootFD, &s); err != nil {
		return graph.Statvfs{}, nil, wrap(err, "statfs", p.dir)
	}
	p.hcMu.Lock()
	reserve := p.reserve
	p.hcMu.Unlock()
	reserved := uint64(float64(s.Blocks) * reserve / 100)
	bfree, bavail := s.Bfree, s.Bavail
	if bfree > reserved {
		bfree -= reserved
		if bavail > bfree {
			bavail = bfree
		}
	} else {
		bfree, bavail = 0, 0
	}
	fsid := uint64(uint32(s.Fsid.Val[0])) | uint64(uint32(s.Fsid.Val[1]))<<32
	return graph.Statvfs{
		Bsize: uint64(s.Bsize), Frsize: uint64(s.Frsize), Blocks: s.Blocks, Bfree: bfree, Bavail: bavail,
		Files: s.Files, Ffree: s.Ffree, Favail: s.Ffree, Fsid: fsid, Flag: uint64(s.Flags), Namemax: uint64(s.Namelen),
	}, nil, nil
}

// protectedXattr reports names clients may not set or remove.
func protectedXattr(name string) bool {
	return name == GFIDXattr || name == VolumeIDXattr
}

func checkXattrDict(dict graph.Xdata) error {
	if len(dict) == 0 {
		return graph.Errorf(unix.EINVAL, "posix: setxattr: empty dictionary")
	}
	for k := range dict {
		if protectedXattr(k) {
			return graph.Errorf(unix.EPERM, "posix: setxattr %s: reserved for the brick", k)
		}
		if k == "" || len(k) > 255 || strings.IndexByte(k, 0) >= 0 {
			return graph.Errorf(unix.EINVAL, "posix: setxattr: bad name %q", k)
		}
	}
	return nil
}

// Setxattr implements graph.Fops (trusted.gfid and the volume id are refused with EPERM).
func (p *Posix) Setxattr(ctx context.Context, loc *graph.Loc, dict graph.Xdata, flags int, xdata graph.Xdata) (graph.Xdata, error) {
	if err := p.enter(ctx); err != nil {
		return nil, err
	}
	if err := checkXattrDict(dict); err != nil {
		return nil, err
	}
	rel, err := p.resolveInode(loc)
	if err != nil {
		return nil, err
	}
	if err := p.needXattrWrite(ctx, rel, dict.Keys()); err != nil {
		return nil, err
	}
	path := p.abs(rel)
	for _, k := range dict.Keys() {
		if err := unix.Lsetxattr(path, k, dict[k], flags); err != nil {
			return nil, wrap(err, "setxattr "+k+" on", rel)
		}
	}
	return nil, nil
}

// Fsetxattr implements graph.Fops.
func (p *Posix) Fsetxattr(ctx context.Context, fd *graph.FD, dict graph.Xdata, flags int, xdata graph.Xdata) (graph.Xdata, error) {
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return nil, err
	}
	if err := checkXattrDict(dict); err != nil {
		return nil, err
	}
	if !isRoot(ctx) {
		for k := range dict {
			if !hasPrefix(k, "user.") {
				return nil, graph.Errorf(unix.EPERM, "posix: xattr %s needs root", k)
			}
		}
	}
	for _, k := range dict.Keys() {
		if err := unix.Fsetxattr(f.fd, k, dict[k], flags); err != nil {
			return nil, wrap(err, "fsetxattr "+k+" on", "<gfid:"+f.gfid.String()+">")
		}
	}
	return nil, nil
}

// xattrNames splits a listxattr buffer.
func xattrNames(buf []byte) []string {
	var names []string
	for _, n := range strings.Split(string(buf), "\x00") {
		if n != "" {
			names = append(names, n)
		}
	}
	return names
}

func listAll(list func([]byte) (int, error), get func(string) ([]byte, error)) (graph.Xdata, error) {
	sz, err := list(nil)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, sz+256)
	n, err := list(buf)
	if err != nil {
		return nil, err
	}
	out := graph.Xdata{}
	for _, name := range xattrNames(buf[:n]) {
		v, err := get(name)
		if err != nil {
			if errors.Is(err, unix.ENODATA) {
				continue // removed meanwhile
			}
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

// Getxattr implements graph.Fops: one name, or every xattr when name is empty.
func (p *Posix) Getxattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	if err := p.enter(ctx); err != nil {
		return nil, nil, err
	}
	rel, err := p.resolveInode(loc)
	if err != nil {
		return nil, nil, err
	}
	path := p.abs(rel)
	if name == "" {
		d, err := listAll(func(b []byte) (int, error) { return unix.Llistxattr(path, b) },
			func(n string) ([]byte, error) { return lgetxattr(path, n) })
		return d, nil, wrap(err, "listxattr", rel)
	}
	v, err := lgetxattr(path, name)
	if err != nil {
		return nil, nil, wrap(err, "getxattr "+name+" of", rel)
	}
	return graph.Xdata{name: v}, nil, nil
}

// Fgetxattr implements graph.Fops.
func (p *Posix) Fgetxattr(ctx context.Context, fd *graph.FD, name string, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return nil, nil, err
	}
	what := "<gfid:" + f.gfid.String() + ">"
	if name == "" {
		d, err := listAll(func(b []byte) (int, error) { return unix.Flistxattr(f.fd, b) },
			func(n string) ([]byte, error) { return fgetxattr(f.fd, n) })
		return d, nil, wrap(err, "flistxattr", what)
	}
	v, err := fgetxattr(f.fd, name)
	if err != nil {
		return nil, nil, wrap(err, "fgetxattr "+name+" of", what)
	}
	return graph.Xdata{name: v}, nil, nil
}

// Removexattr implements graph.Fops.
func (p *Posix) Removexattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (graph.Xdata, error) {
	if err := p.enter(ctx); err != nil {
		return nil, err
	}
	if protectedXattr(name) {
		return nil, graph.Errorf(unix.EPERM, "posix: removexattr %s: reserved for the brick", name)
	}
	rel, err := p.resolveInode(loc)
	if err != nil {
		return nil, err
	}
	if err := p.needXattrWrite(ctx, rel, []string{name}); err != nil {
		return nil, err
	}
	return nil, wrap(unix.Lremovexattr(p.abs(rel), name), "removexattr "+name+" of", rel)
}

// Fremovexattr implements graph.Fops.
func (p *Posix) Fremovexattr(ctx context.Context, fd *graph.FD, name string, xdata graph.Xdata) (graph.Xdata, error) {
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return nil, err
	}
	if protectedXattr(name) {
		return nil, graph.Errorf(unix.EPERM, "posix: fremovexattr %s: reserved for the brick", name)
	}
	return nil, wrap(unix.Fremovexattr(f.fd, name), "fremovexattr "+name+" of", "<gfid:"+f.gfid.String()+">")
}

// xattrIO abstracts path- and fd-based xattr access for xattrop.
type xattrIO struct {
	get func(name string, buf []byte) (int, error)
	set func(name string, val []byte) error
}

// Xattrop implements graph.Fops.
func (p *Posix) Xattrop(ctx context.Context, loc *graph.Loc, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	if err := p.enter(ctx); err != nil {
		return nil, nil, err
	}
	rel, err := p.resolveInode(loc)
	if err != nil {
		return nil, nil, err
	}
	g, err := p.getGFIDPath(rel)
	if err != nil {
		return nil, nil, err
	}
	path := p.abs(rel)
	io := xattrIO{
		get: func(n string, b []byte) (int, error) { return unix.Lgetxattr(path, n, b) },
		set: func(n string, v []byte) error { return unix.Lsetxattr(path, n, v, 0) },
	}
	out, err := p.xattrop(g, flag, dict, io)
	return out, nil, wrap(err, "xattrop", rel)
}

// Fxattrop implements graph.Fops.
func (p *Posix) Fxattrop(ctx context.Context, fd *graph.FD, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return nil, nil, err
	}
	io := xattrIO{
		get: func(n string, b []byte) (int, error) { return unix.Fgetxattr(f.fd, n, b) },
		set: func(n string, v []byte) error { return unix.Fsetxattr(f.fd, n, v, 0) },
	}
	out, err := p.xattrop(f.gfid, flag, dict, io)
	return out, nil, wrap(err, "fxattrop", "<gfid:"+f.gfid.String()+">")
}

// xattrop applies flag to every key of dict under the GFID's lock and returns the resulting
// values (GlusterFS posix-inode-fd-ops.c _posix_handle_xattr_keyvalue_pair).
func (p *Posix) xattrop(g graph.GFID, flag graph.XattropFlag, dict graph.Xdata, io xattrIO) (graph.Xdata, error) {
	// Validate everything before changing anything.
	for _, k := range dict.Keys() {
		v := dict[k]
		if protectedXattr(k) || k == "" {
			return nil, graph.Errorf(unix.EPERM, "xattrop on %q", k)
		}
		if err := graph.XattropCheck(flag, v); err != nil {
			return nil, fmt.Errorf("xattrop %s: %w", k, err)
		}
	}
	mu := p.xattropLock(g)
	mu.Lock()
	defer mu.Unlock()
	out := graph.Xdata{}
	for _, k := range dict.Keys() {
		v := dict[k]
		count := len(v)
		if flag == graph.XattropAddArrayWithDefault || flag == graph.XattropAddArray64WithDefault {
			count /= 2
		}
		cur := make([]byte, count)
		n, err := io.get(k, cur)
		switch {
		case err == nil:
			cur = cur[:n]
		case errors.Is(err, unix.ENODATA):
			cur = nil
		default:
			return nil, graph.Errorf(graph.Errno(err), "get %s", k)
		}
		store, reply, err := graph.XattropApply(flag, cur, v)
		if err != nil {
			return nil, fmt.Errorf("xattrop %s: %w", k, err)
		}
		if store != nil {
			if err := io.set(k, store); err != nil {
				return nil, graph.Errorf(graph.Errno(err), "set %s", k)
			}
		}
		if reply != nil {
			out[k] = reply
		}
	}
	return out, nil
}
