package billyfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-billy/v5"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

const (
	maxSymlinks = 40       // ELOOP after this many symlinks in one resolution (as Linux)
	ioChunk     = 1 << 20  // bytes per readv/writev
	dirChunk    = 64 << 10 // bytes per readdirp
	cacheMax    = 4096     // directory cache entries before it is flushed
)

// FS is a billy.Filesystem (with billy.Change) over an activated graph top: GlusterFS's
// libgfapi for Go programs. Paths are resolved by lookups from the volume root; directories
// met on the way are cached (path → GFID) and the cache is invalidated on rename and remove,
// and flushed whenever a cached GFID turns out stale.
//
// Methods are safe for concurrent use. Errors are *os.PathError (or *os.LinkError for Rename
// and Symlink) wrapping the unix.Errno, so os.IsNotExist, errors.Is(err, fs.ErrExist) and
// friends work.
type FS struct {
	vol   *volume
	root  string // chroot prefix inside the volume, clean and absolute
	ctx   context.Context
	creds *graph.Creds
	umask uint32
}

// volume is what every FS derived from one New shares.
type volume struct {
	top   graph.Fops
	id    string // random, makes lock owners unique per volume handle
	owner atomic.Uint64

	mu    sync.Mutex
	cache map[string]graph.GFID // absolute volume path of a directory → its GFID
}

// New returns a file system over top, which must be activated (graphtest.Activate, or a graph
// that has reported CHILD_UP). It acts as root with umask 022 until told otherwise.
func New(top graph.Fops) *FS {
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &FS{
		vol:   &volume{top: top, id: hex.EncodeToString(id[:]), cache: map[string]graph.GFID{}},
		root:  "/",
		ctx:   context.Background(),
		creds: &graph.Creds{},
		umask: 0o022,
	}
}

func (fs *FS) clone() *FS { c := *fs; return &c }

// WithContext returns a view of the file system whose fops carry ctx (deadlines, cancellation).
func (fs *FS) WithContext(ctx context.Context) *FS { c := fs.clone(); c.ctx = ctx; return c }

// WithCreds returns a view that acts with the given credentials (permission checks, ownership
// of new files).
func (fs *FS) WithCreds(cr *graph.Creds) *FS { c := fs.clone(); c.creds = cr; return c }

// WithUmask returns a view that applies umask to the modes of new files and directories.
func (fs *FS) WithUmask(umask os.FileMode) *FS {
	c := fs.clone()
	c.umask = uint32(umask.Perm())
	return c
}

// Capabilities implements billy.Capable.
func (fs *FS) Capabilities() billy.Capability { return billy.DefaultCapabilities }

func (fs *FS) fctx() context.Context { return graph.WithCreds(fs.ctx, fs.creds) }

// abs maps a path of this (possibly chrooted) file system to a clean absolute volume path.
// ".." cannot climb above the chroot.
func (fs *FS) abs(name string) string {
	rel := path.Clean("/" + name)
	if fs.root == "/" {
		return rel
	}
	if rel == "/" {
		return fs.root
	}
	return fs.root + rel
}

// ---- errors --------------------------------------------------------------------------------

func pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: name, Err: cause(err)}
}

// cause reduces err to what an *os.PathError carries: the bare errno (so os.IsNotExist and
// errors.Is(err, fs.ErrNotExist) work), or os.ErrClosed.
func cause(err error) error {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, os.ErrClosed) {
		return os.ErrClosed
	}
	return graph.Errno(err)
}

func linkErr(op, oldname, newname string, err error) error {
	if err == nil {
		return nil
	}
	return &os.LinkError{Op: op, Old: oldname, New: newname, Err: cause(err)}
}

func stale(err error) bool {
	e := graph.Errno(err)
	return e == unix.ESTALE || e == unix.ENOENT
}

// ---- the directory cache -------------------------------------------------------------------

func (v *volume) cached(p string) (graph.GFID, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	g, ok := v.cache[p]
	return g, ok
}

func (v *volume) remember(p string, g graph.GFID) {
	v.mu.Lock()
	if len(v.cache) >= cacheMax {
		v.cache = map[string]graph.GFID{}
	}
	v.cache[p] = g
	v.mu.Unlock()
}

// forget drops p and everything below it.
func (v *volume) forget(p string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.cache, p)
	prefix := p + "/"
	if p == "/" {
		prefix = "/"
	}
	for k := range v.cache {
		if strings.HasPrefix(k, prefix) {
			delete(v.cache, k)
		}
	}
}

func (v *volume) flush() {
	v.mu.Lock()
	v.cache = map[string]graph.GFID{}
	v.mu.Unlock()
}

// ---- resolution ----------------------------------------------------------------------------

// entry is a resolved path: its loc (parent GFID + name + own GFID) and attributes.
type entry struct {
	loc  *graph.Loc
	st   graph.Iatt
	path string // the absolute volume path after symlink expansion
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// resolve looks up the absolute volume path p. Symlinks in the middle of the path are always
// followed; a symlink as the last component only when follow is set. A stale cached directory
// flushes the cache and the walk is retried once.
func (fs *FS) resolve(p string, follow bool) (*entry, error) {
	// The cache skips lookups, and so the search-permission checks they make: only root uses it.
	e, usedCache, err := fs.walk(p, follow, fs.creds.UID == 0)
	if err != nil && usedCache && stale(err) {
		fs.vol.flush()
		e, _, err = fs.walk(p, follow, false)
	}
	return e, err
}

// resolveParent resolves the directory that holds p (following symlinks) and returns it with
// the last component's name.
func (fs *FS) resolveParent(p string) (*entry, string, error) {
	dir, name := path.Split(p)
	if name == "" {
		return nil, "", graph.Errorf(unix.EINVAL, "billyfs: %s has no last component", p)
	}
	d, err := fs.resolve(path.Clean(dir), true)
	if err != nil {
		return nil, "", err
	}
	if !d.st.IsDir() {
		return nil, "", graph.Errorf(unix.ENOTDIR, "billyfs: %s", dir)
	}
	return d, name, nil
}

func (fs *FS) walk(p string, follow, useCache bool) (*entry, bool, error) {
	ctx := fs.fctx()
	top := fs.vol.top
	links := 0
	usedCache := false
restart:
	comps := splitPath(p)
	cur := graph.RootLoc()
	curPath := "/"
	var st graph.Iatt
	if len(comps) == 0 {
		r, err := top.Lookup(ctx, cur, nil)
		if err != nil {
			return nil, usedCache, err
		}
		return &entry{loc: cur, st: r.Stat, path: "/"}, usedCache, nil
	}
	for i, name := range comps {
		last := i == len(comps)-1
		childPath := path.Join(curPath, name)
		if !last && useCache {
			if g, ok := fs.vol.cached(childPath); ok {
				loc := cur.Child(name)
				loc.GFID = g
				cur, curPath = loc, childPath
				usedCache = true
				continue
			}
		}
		loc := cur.Child(name)
		r, err := top.Lookup(ctx, loc, nil)
		if err != nil {
			return nil, usedCache, err
		}
		st = r.Stat
		loc.GFID = st.GFID
		if st.IsLnk() && (!last || follow) {
			links++
			if links > maxSymlinks {
				return nil, usedCache, graph.Errorf(unix.ELOOP, "billyfs: too many symbolic links in %s", p)
			}
			target, _, _, err := top.Readlink(ctx, loc, 0, nil)
			if err != nil {
				return nil, usedCache, err
			}
			rest := strings.Join(comps[i+1:], "/")
			var next string
			if strings.HasPrefix(target, "/") {
				next = fs.abs(target) // absolute targets are relative to this file system's root
			} else {
				next = path.Join(curPath, target)
			}
			p = path.Clean(next + "/" + rest)
			if fs.root != "/" && p != fs.root && !strings.HasPrefix(p, fs.root+"/") {
				return nil, usedCache, graph.Errorf(unix.EXDEV, "billyfs: symlink %s leaves the chroot", childPath)
			}
			goto restart
		}
		if !last && !st.IsDir() {
			return nil, usedCache, graph.Errorf(unix.ENOTDIR, "billyfs: %s", childPath)
		}
		if st.IsDir() {
			fs.vol.remember(childPath, st.GFID)
		}
		cur, curPath = loc, childPath
	}
	return &entry{loc: cur, st: st, path: curPath}, usedCache, nil
}

// ---- billy.Basic ---------------------------------------------------------------------------

// Create implements billy.Basic: O_RDWR|O_CREATE|O_TRUNC, mode 0666 before the umask.
func (fs *FS) Create(filename string) (billy.File, error) {
	return fs.OpenFile(filename, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

// Open implements billy.Basic: read-only.
func (fs *FS) Open(filename string) (billy.File, error) {
	return fs.OpenFile(filename, os.O_RDONLY, 0)
}

func unixPerm(m os.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		p |= unix.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		p |= unix.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		p |= unix.S_ISVTX
	}
	return p
}

// OpenFile implements billy.Basic. As billy's osfs does, O_CREATE creates missing parent
// directories.
func (fs *FS) OpenFile(filename string, flag int, perm os.FileMode) (billy.File, error) {
	p := fs.abs(filename)
	f, err := fs.openFile(p, filename, flag, perm)
	if err != nil {
		return nil, pathErr("open", filename, err)
	}
	return f, nil
}

func (fs *FS) openFile(p, name string, flag int, perm os.FileMode) (*File, error) {
	ctx := fs.fctx()
	top := fs.vol.top
	flag &^= os.O_SYNC // stable writes are the graph's business (fsync on Sync)
	if flag&os.O_CREATE != 0 {
		if err := fs.mkdirAll(path.Dir(p), 0o777); err != nil {
			return nil, err
		}
	}
	for attempt := 0; attempt < 8; attempt++ {
		e, err := fs.resolve(p, true)
		switch {
		case err == nil:
			if flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL {
				return nil, graph.Errorf(unix.EEXIST, "billyfs: %s", p)
			}
			if e.st.IsDir() && flag&(os.O_WRONLY|os.O_RDWR|os.O_TRUNC) != 0 {
				return nil, graph.Errorf(unix.EISDIR, "billyfs: %s", p)
			}
			fd := graph.NewFD(nil, e.st.GFID, flag&^(os.O_CREATE|os.O_EXCL))
			if e.st.IsDir() {
				fd.IsDir = true
				_, err = top.Opendir(ctx, e.loc, fd, nil)
			} else {
				_, err = top.Open(ctx, e.loc, fd.Flags, fd, nil)
			}
			if err != nil {
				fd.Unref()
				return nil, err
			}
			return fs.newFile(name, e.loc, fd, flag), nil
		case graph.Errno(err) != unix.ENOENT || flag&os.O_CREATE == 0:
			return nil, err
		}
		d, base, err := fs.resolveParent(p)
		if err != nil {
			return nil, err
		}
		loc := d.loc.Child(base)
		fd := graph.NewFD(nil, graph.GFID{}, flag|os.O_CREATE)
		r, err := top.Create(ctx, loc, flag|os.O_CREATE|os.O_EXCL, unixPerm(perm), fs.umask, fd, nil)
		if err != nil {
			fd.Unref()
			if graph.Errno(err) == unix.EEXIST && flag&os.O_EXCL == 0 {
				continue // created meanwhile by someone else: open it
			}
			return nil, err
		}
		fd.GFID = r.Stat.GFID
		loc.GFID = r.Stat.GFID
		return fs.newFile(name, loc, fd, flag), nil
	}
	return nil, graph.Errorf(unix.EAGAIN, "billyfs: %s keeps appearing and disappearing", p)
}

// Stat implements billy.Basic (follows symlinks).
func (fs *FS) Stat(filename string) (os.FileInfo, error) {
	e, err := fs.resolve(fs.abs(filename), true)
	if err != nil {
		return nil, pathErr("stat", filename, err)
	}
	return newInfo(path.Base(filename), e.st), nil
}

// Lstat implements billy.Symlink (does not follow a final symlink).
func (fs *FS) Lstat(filename string) (os.FileInfo, error) {
	e, err := fs.resolve(fs.abs(filename), false)
	if err != nil {
		return nil, pathErr("lstat", filename, err)
	}
	return newInfo(path.Base(filename), e.st), nil
}

// Rename implements billy.Basic with rename(2) semantics; as billy's osfs does, it creates
// the destination's parent directories.
func (fs *FS) Rename(oldpath, newpath string) error {
	op, np := fs.abs(oldpath), fs.abs(newpath)
	if op == fs.root || np == fs.root {
		return linkErr("rename", oldpath, newpath, unix.EBUSY)
	}
	if err := fs.mkdirAll(path.Dir(np), 0o777); err != nil {
		return linkErr("rename", oldpath, newpath, err)
	}
	err := fs.rename(op, np)
	if err != nil && stale(err) {
		fs.vol.flush()
		err = fs.rename(op, np)
	}
	return linkErr("rename", oldpath, newpath, err)
}

func (fs *FS) rename(op, np string) error {
	src, err := fs.resolve(op, false)
	if err != nil {
		return err
	}
	dp, dname, err := fs.resolveParent(np)
	if err != nil {
		return err
	}
	dst := dp.loc.Child(dname)
	if r, err := fs.vol.top.Lookup(fs.fctx(), dst, nil); err == nil {
		dst.GFID = r.Stat.GFID
	}
	_, err = fs.vol.top.Rename(fs.fctx(), src.loc, dst, nil)
	if err == nil || stale(err) {
		fs.vol.forget(src.path)
		fs.vol.forget(path.Join(dp.path, dname))
		fs.vol.forget(np)
		fs.vol.forget(op)
	}
	return err
}

// Remove implements billy.Basic: unlink a file or symlink, rmdir an empty directory.
func (fs *FS) Remove(filename string) error {
	p := fs.abs(filename)
	if p == fs.root {
		return pathErr("remove", filename, unix.EBUSY)
	}
	e, err := fs.resolve(p, false)
	if err != nil {
		return pathErr("remove", filename, err)
	}
	if e.st.IsDir() {
		_, err = fs.vol.top.Rmdir(fs.fctx(), e.loc, 0, nil)
	} else {
		_, err = fs.vol.top.Unlink(fs.fctx(), e.loc, 0, nil)
	}
	if err == nil || stale(err) {
		fs.vol.forget(e.path)
		fs.vol.forget(p)
	}
	return pathErr("remove", filename, err)
}

// Join implements billy.Basic.
func (fs *FS) Join(elem ...string) string { return path.Join(elem...) }

// ---- billy.TempFile ------------------------------------------------------------------------

// TempFile implements billy.TempFile: a new file named prefix+random in dir ("" means the
// root), created with O_EXCL and mode 0600.
func (fs *FS) TempFile(dir, prefix string) (billy.File, error) {
	if dir == "" {
		dir = "/"
	}
	for i := 0; i < 100; i++ {
		var b [6]byte
		_, _ = rand.Read(b[:])
		name := path.Join(dir, prefix+hex.EncodeToString(b[:]))
		f, err := fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil || !os.IsExist(err) {
			return f, err
		}
	}
	return nil, pathErr("tempfile", dir, unix.EEXIST)
}

// ---- billy.Dir -----------------------------------------------------------------------------

// ReadDir implements billy.Dir: the entries of a directory sorted by name, with lstat
// attributes (from readdirp), without "." and "..".
func (fs *FS) ReadDir(name string) ([]os.FileInfo, error) {
	e, err := fs.resolve(fs.abs(name), true)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	if !e.st.IsDir() {
		return nil, pathErr("readdir", name, unix.ENOTDIR)
	}
	ents, err := fs.readdir(e.loc)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	out := make([]os.FileInfo, 0, len(ents))
	for _, d := range ents {
		out = append(out, newInfo(d.Name, d.Stat))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (fs *FS) readdir(loc *graph.Loc) ([]graph.Dirent, error) {
	ctx := fs.fctx()
	top := fs.vol.top
	fd := graph.NewFD(nil, loc.GFID, os.O_RDONLY|unix.O_DIRECTORY)
	fd.IsDir = true
	defer fd.Unref()
	if _, err := top.Opendir(ctx, loc, fd, nil); err != nil {
		return nil, err
	}
	var out []graph.Dirent
	var off uint64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ents, _, err := top.Readdirp(ctx, fd, dirChunk, off, nil)
		if err != nil {
			return nil, err
		}
		if len(ents) == 0 {
			return out, nil
		}
		for _, d := range ents {
			if d.Name == "." || d.Name == ".." {
				continue
			}
			if d.Stat.GFID.IsZero() {
				// A translator that did not fill the attributes: ask.
				l := loc.Child(d.Name)
				r, err := top.Lookup(ctx, l, nil)
				if err != nil {
					if graph.Errno(err) == unix.ENOENT {
						continue // gone since the listing
					}
					return nil, err
				}
				d.Stat = r.Stat
			}
			out = append(out, d)
		}
		off = ents[len(ents)-1].Off
	}
}

// MkdirAll implements billy.Dir.
func (fs *FS) MkdirAll(filename string, perm os.FileMode) error {
	return pathErr("mkdir", filename, fs.mkdirAll(fs.abs(filename), perm))
}

func (fs *FS) mkdirAll(p string, perm os.FileMode) error {
	e, err := fs.resolve(p, true)
	if err == nil {
		if e.st.IsDir() {
			return nil
		}
		return graph.Errorf(unix.ENOTDIR, "billyfs: %s exists and is not a directory", p)
	}
	if graph.Errno(err) != unix.ENOENT || p == fs.root || p == "/" {
		return err
	}
	if err := fs.mkdirAll(path.Dir(p), perm); err != nil {
		return err
	}
	d, name, err := fs.resolveParent(p)
	if err != nil {
		return err
	}
	loc := d.loc.Child(name)
	r, err := fs.vol.top.Mkdir(fs.fctx(), loc, unixPerm(perm), fs.umask, nil)
	if err != nil {
		if graph.Errno(err) == unix.EEXIST {
			// Made meanwhile; it must be a directory.
			e, err2 := fs.resolve(p, true)
			if err2 == nil && e.st.IsDir() {
				return nil
			}
		}
		return err
	}
	fs.vol.remember(path.Join(d.path, name), r.Stat.GFID)
	return nil
}

// ---- billy.Symlink -------------------------------------------------------------------------

// Symlink implements billy.Symlink; like billy's osfs, it creates link's parent directories.
func (fs *FS) Symlink(target, link string) error {
	p := fs.abs(link)
	if err := fs.mkdirAll(path.Dir(p), 0o777); err != nil {
		return linkErr("symlink", target, link, err)
	}
	d, name, err := fs.resolveParent(p)
	if err != nil {
		return linkErr("symlink", target, link, err)
	}
	_, err = fs.vol.top.Symlink(fs.fctx(), target, d.loc.Child(name), fs.umask, nil)
	return linkErr("symlink", target, link, err)
}

// Readlink implements billy.Symlink.
func (fs *FS) Readlink(link string) (string, error) {
	e, err := fs.resolve(fs.abs(link), false)
	if err != nil {
		return "", pathErr("readlink", link, err)
	}
	if !e.st.IsLnk() {
		return "", pathErr("readlink", link, unix.EINVAL)
	}
	t, _, _, err := fs.vol.top.Readlink(fs.fctx(), e.loc, 0, nil)
	if err != nil {
		return "", pathErr("readlink", link, err)
	}
	return t, nil
}

// ---- billy.Chroot --------------------------------------------------------------------------

// Chroot implements billy.Chroot: a view rooted at path (which need not exist yet; it is not
// created). Paths of the view cannot climb above its root, and absolute symlink targets
// resolve inside it.
func (fs *FS) Chroot(p string) (billy.Filesystem, error) {
	c := fs.clone()
	c.root = fs.abs(p)
	return c, nil
}

// Root implements billy.Chroot: the root of this view as a path in the volume.
func (fs *FS) Root() string { return fs.root }

// ---- billy.Change --------------------------------------------------------------------------

func (fs *FS) setattr(op, name string, follow bool, st *graph.Iatt, valid uint32) error {
	e, err := fs.resolve(fs.abs(name), follow)
	if err != nil {
		return pathErr(op, name, err)
	}
	_, err = fs.vol.top.Setattr(fs.fctx(), e.loc, st, valid, nil)
	return pathErr(op, name, err)
}

// Chmod implements billy.Change (follows symlinks).
func (fs *FS) Chmod(name string, mode os.FileMode) error {
	return fs.setattr("chmod", name, true, &graph.Iatt{Mode: unixPerm(mode)}, graph.SetAttrMode)
}

func ownerAttrs(uid, gid int) (*graph.Iatt, uint32) {
	var valid uint32
	st := &graph.Iatt{}
	if uid >= 0 {
		st.UID = uint32(uid)
		valid |= graph.SetAttrUID
	}
	if gid >= 0 {
		st.GID = uint32(gid)
		valid |= graph.SetAttrGID
	}
	return st, valid
}

// Chown implements billy.Change (follows symlinks); -1 leaves an id unchanged.
func (fs *FS) Chown(name string, uid, gid int) error {
	st, valid := ownerAttrs(uid, gid)
	if valid == 0 {
		return nil
	}
	return fs.setattr("chown", name, true, st, valid)
}

// Lchown implements billy.Change (does not follow a final symlink).
func (fs *FS) Lchown(name string, uid, gid int) error {
	st, valid := ownerAttrs(uid, gid)
	if valid == 0 {
		return nil
	}
	return fs.setattr("lchown", name, false, st, valid)
}

// Chtimes implements billy.Change, with nanosecond precision.
func (fs *FS) Chtimes(name string, atime, mtime time.Time) error {
	st := &graph.Iatt{Atime: graph.TimespecOf(atime), Mtime: graph.TimespecOf(mtime)}
	return fs.setattr("chtimes", name, true, st, graph.SetAttrAtime|graph.SetAttrMtime)
}

var (
	_ billy.Filesystem = (*FS)(nil)
	_ billy.Change     = (*FS)(nil)
	_ billy.Capable    = (*FS)(nil)
)
