package posix

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

var stageSeq atomic.Uint64

// owner returns the uid/gid a new entry in parent gets: the caller's, or the parent's group when
// the parent is set-gid (GlusterFS posix_mkdir/posix_create: preparent.ia_prot.sgid).
func owner(ctx context.Context, parent *graph.Iatt) (uid, gid uint32, sgid bool) {
	c := graph.CredsFrom(ctx)
	uid, gid = c.UID, c.GID
	if parent.Mode&unix.S_ISGID != 0 {
		return uid, parent.GID, true
	}
	return uid, gid, false
}

// newGFID returns the GFID a new entry gets: gfid-req, or a fresh one.
func newGFID(xdata graph.Xdata) (graph.GFID, error) {
	g, ok, err := gfidReq(xdata)
	if err != nil {
		return g, err
	}
	if !ok {
		g = graph.NewGFID()
	}
	return g, nil
}

// makeEntry creates a new entry e through the staging directory so that it is never visible
// without its GFID: mk creates the object at the staging path (returning an open fd or -1);
// then the GFID xattr and the owner are set, the handle of a non-directory is linked, and the
// object is renamed into place with RENAME_NOREPLACE; a directory's handle symlink follows the
// rename. On success the returned fd (or -1) belongs to the caller.
func (p *Posix) makeEntry(ctx context.Context, e entry, g graph.GFID, isDir bool, pre *graph.Iatt,
	mk func(stage string) (int, error)) (int, error) {
	stage := stagingDir + "/" + g.String() + "." + strconv.FormatUint(stageSeq.Add(1), 10)
	fd, err := mk(stage)
	if err != nil {
		return -1, wrap(err, "create", e.rel)
	}
	handled := false
	cleanup := func() {
		if fd >= 0 {
			unix.Close(fd)
		}
		var st unix.Stat_t
		if unix.Fstatat(p.rootFD, stage, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && handled {
			p.dropFileHandleIfStaged(g, &st)
		}
		flag := 0
		if isDir {
			flag = unix.AT_REMOVEDIR
		}
		_ = unix.Unlinkat(p.rootFD, stage, flag)
	}
	if fd >= 0 {
		err = unix.Fsetxattr(fd, GFIDXattr, g[:], unix.XATTR_CREATE)
	} else {
		err = unix.Lsetxattr(p.abs(stage), GFIDXattr, g[:], unix.XATTR_CREATE)
	}
	if err != nil {
		cleanup()
		return -1, wrap(err, "set gfid on", e.rel)
	}
	if p.asRoot {
		uid, gid, _ := owner(ctx, pre)
		if err := unix.Fchownat(p.rootFD, stage, int(uid), int(gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			cleanup()
			return -1, wrap(err, "chown", e.rel)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstatat(p.rootFD, stage, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		cleanup()
		return -1, wrap(err, "stat", stage)
	}
	if !isDir {
		if err := p.linkHandle(stage, g, &st); err != nil {
			cleanup()
			return -1, fmt.Errorf("%s: %w", e.rel, err)
		}
		handled = true
	}
	err = unix.Renameat2(p.rootFD, stage, p.rootFD, e.rel, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) && !isDir {
		// A file system without RENAME_NOREPLACE: link(2) also refuses an existing name.
		if err = unix.Linkat(p.rootFD, stage, p.rootFD, e.rel, 0); err == nil {
			_ = unix.Unlinkat(p.rootFD, stage, 0)
		}
	}
	if err != nil {
		cleanup()
		return -1, wrap(err, "create", e.rel)
	}
	if isDir {
		if err := p.symlinkHandle(g, e.parent, e.name); err != nil {
			// The directory exists with its GFID; a lookup heals the handle.
			p.Logger().Warn("directory handle not created", zap.String("path", e.rel), zap.Error(err))
		}
	}
	return fd, nil
}

// dropFileHandleIfStaged removes the handle linked for a staged object being abandoned.
func (p *Posix) dropFileHandleIfStaged(g graph.GFID, st *unix.Stat_t) {
	var hs unix.Stat_t
	h := handleRel(g)
	if unix.Fstatat(p.rootFD, h, &hs, unix.AT_SYMLINK_NOFOLLOW) == nil && hs.Ino == st.Ino && hs.Dev == st.Dev {
		_ = unix.Unlinkat(p.rootFD, h, 0)
	}
}

// healEntry gives an existing entry found without a GFID the requested one, and makes sure an
// entry with a GFID has its handle (GlusterFS posix_gfid_heal / posix_gfid_set).
func (p *Posix) healEntry(e entry, st *unix.Stat_t, g graph.GFID, xdata graph.Xdata) (graph.GFID, error) {
	if g.IsZero() {
		req, ok, err := gfidReq(xdata)
		if err != nil || !ok {
			return g, err
		}
		if err := unix.Lsetxattr(p.abs(e.rel), GFIDXattr, req[:], unix.XATTR_CREATE); err != nil {
			if !errors.Is(err, unix.EEXIST) {
				return g, wrap(err, "set gfid on", e.rel)
			}
			cur, err := p.getGFIDPath(e.rel)
			if err != nil {
				return g, err
			}
			req = cur
		}
		g = req
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if t, err := readlinkat(p.rootFD, handleRel(g)); err != nil || t != dirHandleTarget(e.parent, e.name) {
			if err := p.symlinkHandle(g, e.parent, e.name); err != nil {
				return g, err
			}
		}
		return g, nil
	}
	var hs unix.Stat_t
	if err := unix.Fstatat(p.rootFD, handleRel(g), &hs, unix.AT_SYMLINK_NOFOLLOW); err == nil && hs.Ino == st.Ino {
		return g, nil
	}
	return g, p.linkHandle(e.rel, g, st)
}

// Lookup implements graph.Fops: by parent and name, or nameless by GFID through the handle.
func (p *Posix) Lookup(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.LookupReply, error) {
	if err := p.enter(ctx); err != nil {
		return graph.LookupReply{}, err
	}
	if loc == nil {
		return graph.LookupReply{}, graph.Errorf(unix.EINVAL, "posix: lookup: nil loc")
	}
	var r graph.LookupReply
	var rel string
	if loc.Name != "" {
		e, err := p.resolveEntry(loc)
		if err != nil {
			return r, err
		}
		if r.PostParent, err = p.statKnown(e.parentRel, e.parent); err != nil {
			return r, err
		}
		if err := need(ctx, &r.PostParent, unix.X_OK, "no search permission on the directory of "+e.rel); err != nil {
			return r, err
		}
		var st unix.Stat_t
		if err := p.lstatRel(e.rel, &st); err != nil {
			return r, err
		}
		g, err := p.getGFIDPath(e.rel)
		if err != nil {
			return r, err
		}
		if g, err = p.healEntry(e, &st, g, xdata); err != nil {
			return r, err
		}
		r.Stat = iattOf(&st, g)
		rel = e.rel
	} else {
		var err error
		if rel, err = p.resolveInode(loc); err != nil {
			return r, err
		}
		if r.Stat, err = p.statRel(rel); err != nil {
			return r, err
		}
		want := loc.GFID
		if want.IsZero() && loc.Path == "/" {
			want = graph.RootGFID
		}
		if !want.IsZero() && r.Stat.GFID != want {
			return graph.LookupReply{}, graph.Errorf(unix.ESTALE, "posix: lookup <gfid:%s>: handle leads to gfid %s", want, r.Stat.GFID)
		}
	}
	if len(xdata) > 0 {
		r.Xdata = graph.Xdata{}
		p.fillXattrs(p.abs(rel), xdata, r.Xdata)
	}
	return r, nil
}

// createPrologue does what every entry creation starts with: admission, the space check, the
// entry's resolution, its new GFID (from xdata's gfid-req or fresh), the parent's attributes
// into preParent, and the caller's write and search permission on the parent.
func (p *Posix) createPrologue(ctx context.Context, loc *graph.Loc, xdata graph.Xdata, preParent *graph.Iatt) (entry, graph.GFID, error) {
	if err := p.enter(ctx); err != nil {
		return entry{}, graph.GFID{}, err
	}
	if err := p.spaceCheck(xdata); err != nil {
		return entry{}, graph.GFID{}, err
	}
	e, err := p.resolveEntry(loc)
	if err != nil {
		return entry{}, graph.GFID{}, err
	}
	g, err := newGFID(xdata)
	if err != nil {
		return entry{}, graph.GFID{}, err
	}
	if *preParent, err = p.statKnown(e.parentRel, e.parent); err != nil {
		return entry{}, graph.GFID{}, err
	}
	if err := need(ctx, preParent, unix.W_OK|unix.X_OK, "no permission to create in the directory of "+e.rel); err != nil {
		return entry{}, graph.GFID{}, err
	}
	return e, g, nil
}

// createCommon does what mknod, mkdir and symlink share.
func (p *Posix) createCommon(ctx context.Context, loc *graph.Loc, xdata graph.Xdata, isDir bool,
	mk func(stage string, sgid bool) (int, error)) (graph.EntryReply, int, error) {
	var r graph.EntryReply
	e, g, err := p.createPrologue(ctx, loc, xdata, &r.PreParent)
	if err != nil {
		return r, -1, err
	}
	var st unix.Stat_t
	if unix.Fstatat(p.rootFD, e.rel, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		return r, -1, graph.Errorf(unix.EEXIST, "posix: create %s", e.rel)
	}
	_, _, sgid := owner(ctx, &r.PreParent)
	fd, err := p.makeEntry(ctx, e, g, isDir, &r.PreParent, func(stage string) (int, error) { return mk(stage, sgid) })
	if err != nil {
		return r, -1, err
	}
	if fd >= 0 {
		r.Stat, err = statFd(fd, g)
	} else {
		r.Stat, err = p.statRel(e.rel)
	}
	if err == nil {
		r.PostParent, err = p.statKnown(e.parentRel, e.parent)
	}
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return graph.EntryReply{}, -1, err
	}
	return r, fd, nil
}

// Mknod implements graph.Fops. The type comes from mode's S_IFMT bits (none: a regular file).
func (p *Posix) Mknod(ctx context.Context, loc *graph.Loc, mode uint32, rdev uint64, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	typ := mode & unix.S_IFMT
	switch typ {
	case 0:
		typ = unix.S_IFREG
	case unix.S_IFREG, unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
	default:
		return graph.EntryReply{}, graph.Errorf(unix.EINVAL, "posix: mknod %s: bad type %#o", loc, typ)
	}
	perm := mode & 07777 &^ umask
	r, _, err := p.createCommon(ctx, loc, xdata, false, func(stage string, _ bool) (int, error) {
		return -1, unix.Mknodat(p.rootFD, stage, typ|perm, int(rdev))
	})
	return r, err
}

// Mkdir implements graph.Fops.
func (p *Posix) Mkdir(ctx context.Context, loc *graph.Loc, mode uint32, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	perm := mode & 07777 &^ umask
	r, _, err := p.createCommon(ctx, loc, xdata, true, func(stage string, sgid bool) (int, error) {
		if err := unix.Mkdirat(p.rootFD, stage, perm&0777); err != nil {
			return -1, err
		}
		// mkdir(2) drops the special bits; set them explicitly (and S_ISGID under a set-gid parent).
		if extra := perm & 07000; extra != 0 || sgid {
			if sgid {
				extra |= unix.S_ISGID
			}
			if err := unix.Fchmodat(p.rootFD, stage, perm&0777|extra, 0); err != nil {
				return -1, err
			}
		}
		return -1, nil
	})
	return r, err
}

// Symlink implements graph.Fops.
func (p *Posix) Symlink(ctx context.Context, target string, loc *graph.Loc, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	if target == "" {
		return graph.EntryReply{}, graph.Errorf(unix.ENOENT, "posix: symlink %s: empty target", loc)
	}
	if len(target) >= 4096 {
		return graph.EntryReply{}, graph.Errorf(unix.ENAMETOOLONG, "posix: symlink %s: target too long", loc)
	}
	r, _, err := p.createCommon(ctx, loc, xdata, false, func(stage string, _ bool) (int, error) {
		return -1, unix.Symlinkat(target, p.rootFD, stage)
	})
	return r, err
}

// openFlags are the open(2) flags posix keeps from a client's flags.
func openFlags(flags int) int {
	keep := unix.O_ACCMODE | unix.O_APPEND | unix.O_SYNC | unix.O_DSYNC | unix.O_TRUNC | unix.O_NOATIME
	return flags&keep | unix.O_CLOEXEC | unix.O_NOFOLLOW
}

// Create implements graph.Fops: create and open a regular file. Without O_EXCL an existing file
// is opened, unless its GFID differs from gfid-req (EEXIST).
func (p *Posix) Create(ctx context.Context, loc *graph.Loc, flags int, mode uint32, umask uint32, fd *graph.FD, xdata graph.Xdata) (graph.EntryReply, error) {
	if fd == nil {
		return graph.EntryReply{}, graph.Errorf(unix.EINVAL, "posix: create %s: nil fd", loc)
	}
	perm := mode & 07777 &^ umask
	oflags := openFlags(flags)
	var r graph.EntryReply
	var kfd int
	err := errNoTmpfile
	if flags&unix.O_ACCMODE != unix.O_RDONLY && !p.noTmpfile.Load() {
		r, kfd, err = p.createTmpfile(ctx, loc, oflags, perm, xdata)
	}
	if err == errNoTmpfile {
		r, kfd, err = p.createStaged(ctx, loc, oflags, perm, xdata)
	}
	if err != nil && graph.Errno(err) == unix.EEXIST && flags&unix.O_EXCL == 0 {
		// The name exists (as opposed to a GFID conflict): open what is there.
		if e, rerr := p.resolveEntry(loc); rerr == nil {
			var st unix.Stat_t
			if unix.Fstatat(p.rootFD, e.rel, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
				return p.createExisting(ctx, loc, flags, fd, xdata)
			}
		}
	}
	if err != nil {
		return r, err
	}
	p.setPfd(fd, kfd, r.Stat.GFID, oflags, false)
	return r, nil
}

// errNoTmpfile tells Create to make the file through the staging directory.
var errNoTmpfile = errors.New("posix: O_TMPFILE not usable")

// createTmpfile makes a regular file without ever showing a name that lacks its GFID, in the
// fewest syscalls the format allows: an unnamed inode is made in the parent directory with
// O_TMPFILE, gets trusted.gfid (and its owner) while it has no name, is linked as its handle
// .glusterfs/<pp>/<qq>/<gfid> (the hash directories are made only when that link finds them
// missing), then linked under its name, which fails with EEXIST if the name is taken. The
// handle goes first, so a GFID already in use is refused before anything is visible.
// errNoTmpfile means the file system has no O_TMPFILE (or the open mode cannot use it).
func (p *Posix) createTmpfile(ctx context.Context, loc *graph.Loc, oflags int, perm uint32, xdata graph.Xdata) (graph.EntryReply, int, error) {
	var r graph.EntryReply
	e, g, err := p.createPrologue(ctx, loc, xdata, &r.PreParent)
	if err != nil {
		return r, -1, err
	}
	kfd, err := unix.Openat(p.rootFD, e.parentRel, oflags&^unix.O_TRUNC|unix.O_TMPFILE, perm)
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) {
			p.noTmpfile.Store(true)
			return r, -1, errNoTmpfile
		}
		return r, -1, wrap(err, "create", e.rel)
	}
	fail := func(err error) (graph.EntryReply, int, error) {
		unix.Close(kfd) // the unnamed inode goes with its last fd
		return graph.EntryReply{}, -1, err
	}
	if err := unix.Fsetxattr(kfd, GFIDXattr, g[:], unix.XATTR_CREATE); err != nil {
		return fail(wrap(err, "set gfid on", e.rel))
	}
	if p.asRoot {
		// The kernel made the inode ours (the parent's group under a set-gid parent); chown
		// only when the caller is someone else.
		uid, gid, sgid := owner(ctx, &r.PreParent)
		if uid != p.euid || (!sgid && gid != p.egid) {
			if err := unix.Fchown(kfd, int(uid), int(gid)); err != nil {
				return fail(wrap(err, "chown", e.rel))
			}
		}
	}
	if perm&07000 != 0 { // be explicit for setuid/setgid/sticky
		if err := unix.Fchmod(kfd, perm); err != nil {
			return fail(wrap(err, "chmod", e.rel))
		}
	}
	h := handleRel(g)
	err = p.linkFd(kfd, h)
	if errors.Is(err, unix.ENOENT) {
		if err = p.mkdirHashes(g); err == nil {
			err = p.linkFd(kfd, h)
		}
	}
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fail(graph.Errorf(unix.EEXIST, "posix: create %s: gfid %s already belongs to another file", e.rel, g))
		}
		return fail(wrap(err, "link handle of", e.rel))
	}
	if err := p.linkFd(kfd, e.rel); err != nil {
		_ = unix.Unlinkat(p.rootFD, h, 0) // only this inode has that name: it was linked above
		return fail(wrap(err, "create", e.rel))
	}
	var st unix.Stat_t
	if err := unix.Fstat(kfd, &st); err != nil {
		return fail(wrap(err, "fstat", e.rel))
	}
	r.Stat = iattOf(&st, g)
	if r.PostParent, err = p.statKnown(e.parentRel, e.parent); err != nil {
		return fail(err)
	}
	return r, kfd, nil
}

// createStaged makes a regular file through the staging directory (file systems without
// O_TMPFILE, and creates opened read-only).
func (p *Posix) createStaged(ctx context.Context, loc *graph.Loc, oflags int, perm uint32, xdata graph.Xdata) (graph.EntryReply, int, error) {
	return p.createCommon(ctx, loc, xdata, false, func(stage string, _ bool) (int, error) {
		f, err := unix.Openat(p.rootFD, stage, oflags&^unix.O_TRUNC|unix.O_CREAT|unix.O_EXCL, perm)
		if err != nil {
			return -1, err
		}
		if perm&07000 != 0 { // open(2) with umask may drop nothing, but be explicit for setuid/setgid
			if err := unix.Fchmod(f, perm); err != nil {
				unix.Close(f)
				return -1, err
			}
		}
		return f, nil
	})
}

// createExisting opens the file a non-exclusive create found in place.
func (p *Posix) createExisting(ctx context.Context, loc *graph.Loc, flags int, fd *graph.FD, xdata graph.Xdata) (graph.EntryReply, error) {
	var r graph.EntryReply
	e, err := p.resolveEntry(loc)
	if err != nil {
		return r, err
	}
	if r.PreParent, err = p.statKnown(e.parentRel, e.parent); err != nil {
		return r, err
	}
	if err := need(ctx, &r.PreParent, unix.X_OK, "no search permission on the directory of "+e.rel); err != nil {
		return r, err
	}
	if err := p.needRel(ctx, e.rel, accessMask(flags), "no permission to open "+e.rel); err != nil {
		return r, err
	}
	oflags := openFlags(flags)
	kfd, err := unix.Openat(p.rootFD, e.rel, oflags, 0)
	if err != nil {
		return r, wrap(err, "open", e.rel)
	}
	g, err := getGFIDFd(kfd)
	if err == nil {
		if req, ok, _ := gfidReq(xdata); ok && !g.IsZero() && req != g {
			err = graph.Errorf(unix.EEXIST, "posix: create %s: exists with gfid %s, not %s", e.rel, g, req)
		}
	}
	if err == nil {
		var st unix.Stat_t
		if err = unix.Fstat(kfd, &st); err == nil {
			if st.Mode&unix.S_IFMT != unix.S_IFREG {
				err = graph.Errorf(unix.EEXIST, "posix: create %s: exists and is not a regular file", e.rel)
			} else if g, err = p.healEntry(e, &st, g, xdata); err == nil {
				r.Stat = iattOf(&st, g)
			}
		}
	}
	if err == nil {
		r.PostParent, err = p.statKnown(e.parentRel, e.parent)
	}
	if err != nil {
		unix.Close(kfd)
		return graph.EntryReply{}, err
	}
	p.setPfd(fd, kfd, g, oflags, false)
	return r, nil
}

// Unlink implements graph.Fops; the handle goes with the last name.
func (p *Posix) Unlink(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (graph.ParentReply, error) {
	var r graph.ParentReply
	if err := p.enter(ctx); err != nil {
		return r, err
	}
	e, err := p.resolveEntry(loc)
	if err != nil {
		return r, err
	}
	if r.PreParent, err = p.statKnown(e.parentRel, e.parent); err != nil {
		return r, err
	}
	if !isRoot(ctx) {
		// The permission checks need the victim's owner; root skips them, and with them the
		// lstat: unlinkat(2) itself refuses a directory with EISDIR and a missing name with
		// ENOENT.
		var st unix.Stat_t
		if err := p.lstatRel(e.rel, &st); err != nil {
			return r, err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return r, graph.Errorf(unix.EISDIR, "posix: unlink %s", e.rel)
		}
		if err := need(ctx, &r.PreParent, unix.W_OK|unix.X_OK, "no permission to unlink in the directory of "+e.rel); err != nil {
			return r, err
		}
		if err := p.needSticky(ctx, e, &st); err != nil {
			return r, err
		}
	}
	g, err := p.getGFIDPath(e.rel)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return r, fmt.Errorf("posix: lstat %s: %w", e.rel, unix.ENOENT)
		}
		return r, err
	}
	if err := unix.Unlinkat(p.rootFD, e.rel, 0); err != nil {
		return r, wrap(err, "unlink", e.rel)
	}
	// The handle goes when it is the last link left (the handle of a file is the inode with
	// the GFID in its name: the GFID read from the name proves they are the same file).
	p.dropFileHandle(g, 0)
	r.PostParent, err = p.statKnown(e.parentRel, e.parent)
	return r, err
}

// Rmdir implements graph.Fops (flags, GlusterFS's "move to landfill" hint, are not used: the
// directory must be empty).
func (p *Posix) Rmdir(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (graph.ParentReply, error) {
	var r graph.ParentReply
	if err := p.enter(ctx); err != nil {
		return r, err
	}
	e, err := p.resolveEntry(loc)
	if err != nil {
		return r, err
	}
	if r.PreParent, err = p.statKnown(e.parentRel, e.parent); err != nil {
		return r, err
	}
	var st unix.Stat_t
	if err := p.lstatRel(e.rel, &st); err != nil {
		return r, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return r, graph.Errorf(unix.ENOTDIR, "posix: rmdir %s", e.rel)
	}
	if err := need(ctx, &r.PreParent, unix.W_OK|unix.X_OK, "no permission to rmdir in the directory of "+e.rel); err != nil {
		return r, err
	}
	if err := p.needSticky(ctx, e, &st); err != nil {
		return r, err
	}
	g, err := p.getGFIDPath(e.rel)
	if err != nil {
		return r, err
	}
	if err := unix.Unlinkat(p.rootFD, e.rel, unix.AT_REMOVEDIR); err != nil {
		if errors.Is(err, unix.EEXIST) {
			err = unix.ENOTEMPTY
		}
		return r, wrap(err, "rmdir", e.rel)
	}
	p.dropDirHandle(g, e.parent, e.name)
	r.PostParent, err = p.statKnown(e.parentRel, e.parent)
	return r, err
}

// Link implements graph.Fops: a new name for an existing non-directory.
func (p *Posix) Link(ctx context.Context, oldLoc, newLoc *graph.Loc, xdata graph.Xdata) (graph.EntryReply, error) {
	var r graph.EntryReply
	if err := p.enter(ctx); err != nil {
		return r, err
	}
	if err := p.spaceCheck(xdata); err != nil {
		return r, err
	}
	oldRel, err := p.resolveInode(oldLoc)
	if err != nil {
		return r, err
	}
	var st unix.Stat_t
	if err := p.lstatRel(oldRel, &st); err != nil {
		return r, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return r, graph.Errorf(unix.EPERM, "posix: link %s: is a directory", oldLoc)
	}
	e, err := p.resolveEntry(newLoc)
	if err != nil {
		return r, err
	}
	if r.PreParent, err = p.statKnown(e.parentRel, e.parent); err != nil {
		return r, err
	}
	if err := need(ctx, &r.PreParent, unix.W_OK|unix.X_OK, "no permission to link in the directory of "+e.rel); err != nil {
		return r, err
	}
	if err := unix.Linkat(p.rootFD, oldRel, p.rootFD, e.rel, 0); err != nil {
		return r, wrap(err, "link", e.rel)
	}
	g, err := p.getGFIDPath(e.rel)
	if err != nil {
		return r, err
	}
	if !g.IsZero() {
		if err := p.linkHandle(e.rel, g, &st); err != nil {
			return r, err
		}
	}
	if r.Stat, err = p.statRel(e.rel); err != nil {
		return r, err
	}
	r.PostParent, err = p.statKnown(e.parentRel, e.parent)
	return r, err
}

// Rename implements graph.Fops. A directory's handle symlink is moved to its new place; the
// handle of whatever the rename replaced goes with its last name.
func (p *Posix) Rename(ctx context.Context, oldLoc, newLoc *graph.Loc, xdata graph.Xdata) (graph.RenameReply, error) {
	var r graph.RenameReply
	if err := p.enter(ctx); err != nil {
		return r, err
	}
	src, err := p.resolveEntry(oldLoc)
	if err != nil {
		return r, err
	}
	dst, err := p.resolveEntry(newLoc)
	if err != nil {
		return r, err
	}
	if r.PreOldParent, err = p.statKnown(src.parentRel, src.parent); err != nil {
		return r, err
	}
	if r.PreNewParent, err = p.statKnown(dst.parentRel, dst.parent); err != nil {
		return r, err
	}
	if err := need(ctx, &r.PreOldParent, unix.W_OK|unix.X_OK, "no permission to rename from the directory of "+src.rel); err != nil {
		return r, err
	}
	if err := need(ctx, &r.PreNewParent, unix.W_OK|unix.X_OK, "no permission to rename into the directory of "+dst.rel); err != nil {
		return r, err
	}
	var sst, dstSt unix.Stat_t
	if err := p.lstatRel(src.rel, &sst); err != nil {
		return r, err
	}
	if err := p.needSticky(ctx, src, &sst); err != nil {
		return r, err
	}
	sg, err := p.getGFIDPath(src.rel)
	if err != nil {
		return r, err
	}
	var dg graph.GFID
	dstExists := unix.Fstatat(p.rootFD, dst.rel, &dstSt, unix.AT_SYMLINK_NOFOLLOW) == nil
	if dstExists {
		if dg, err = p.getGFIDPath(dst.rel); err != nil {
			return r, err
		}
		if err := p.needSticky(ctx, dst, &dstSt); err != nil {
			return r, err
		}
	}
	if err := unix.Renameat(p.rootFD, src.rel, p.rootFD, dst.rel); err != nil {
		return r, wrap(err, "rename "+src.rel+" to", dst.rel)
	}
	same := dstExists && dstSt.Ino == sst.Ino && dstSt.Dev == sst.Dev
	if !same {
		if sst.Mode&unix.S_IFMT == unix.S_IFDIR && !sg.IsZero() {
			if err := p.symlinkHandle(sg, dst.parent, dst.name); err != nil {
				p.Logger().Error("directory handle not moved", zap.String("gfid", sg.String()), zap.Error(err))
			}
		}
		if dstExists {
			if dstSt.Mode&unix.S_IFMT == unix.S_IFDIR {
				p.dropDirHandle(dg, dst.parent, dst.name)
			} else {
				p.dropFileHandle(dg, dstSt.Ino)
			}
		}
	}
	if r.Stat, err = p.statRel(dst.rel); err != nil {
		return r, err
	}
	if r.PostOldParent, err = p.statKnown(src.parentRel, src.parent); err != nil {
		return r, err
	}
	r.PostNewParent, err = p.statKnown(dst.parentRel, dst.parent)
	return r, err
}
