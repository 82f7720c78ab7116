package memory

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Type is the registered translator type.
const Type = "storage/memory"

// GFIDReqKey is the xdata key carrying the GFID a create-type fop must give the new entry
// (GlusterFS "gfid-req").
const GFIDReqKey = "gfid-req"

// XattrGFID is the virtual xattr that returns a file's GFID (16 bytes), as on a posix brick.
const XattrGFID = "trusted.gfid"

const (
	pageSize = 4096
	nameMax  = 255
	devID    = 0x77656674 // "weft"
	maxRead  = 16 << 20   // a larger readv is answered short (not at EOF)
)

func init() {
	graph.Register(graph.Registration{
		Type:        Type,
		New:         func() graph.Xlator { return &Memory{} },
		Description: "in-memory storage leaf (tests, scratch volumes)",
		Options: []graph.OptionSpec{
			{Key: "size", Type: graph.OptSize, Default: "1TB", Min: pageSize, Max: 1 << 60,
				Description: "capacity reported by statfs; writes beyond it fail with ENOSPC"},
			{Key: "inodes", Type: graph.OptInt, Default: "16777216", Min: 16, Max: 1 << 40,
				Description: "number of inodes reported by statfs; creates beyond it fail with ENOSPC"},
		},
		MinChildren: 0,
		MaxChildren: 0,
	})
}

// Memory is the storage/memory translator.
type Memory struct {
	graph.Base

	capPages int64
	capFiles int64

	ns     sync.RWMutex // namespace: dir entries, parent pointers, byGFID, nlink writes
	byGFID map[graph.GFID]*node
	root   *node

	usedPages atomic.Int64
	files     atomic.Int64
}

// node is one file, directory, symlink or special file.
type node struct {
	gfid graph.GFID
	typ  uint32 // S_IFMT bits: fixed at creation, read without a lock

	mu     sync.Mutex // attributes and data; taken after ns, never two at once
	mode   uint32
	uid    uint32
	gid    uint32
	nlink  uint32 // written under ns.Lock and mu
	rdev   uint64
	size   int64
	pages  map[int64]*[pageSize]byte
	target string
	xattrs map[string][]byte
	atime  graph.Timespec
	mtime  graph.Timespec
	ctime  graph.Timespec
	// unlinked: the last name is gone; pages no longer count against the capacity
	unlinked bool

	// directories only, protected by ns
	parent  *node
	entries map[string]*entry
	order   []*entry // by cookie, append-only; removed entries are marked
	live    int
	cookie  uint64
}

type entry struct {
	name    string
	n       *node
	cookie  uint64
	removed bool
}

// openFile is what an FD's context holds.
type openFile struct {
	n *node
}

// Init implements graph.Xlator.
func (m *Memory) Init(ctx context.Context) error {
	o := m.Options()
	m.capPages = int64(o.Size("size") / pageSize)
	m.capFiles = o.Int("inodes")
	if m.capPages <= 0 {
		m.capPages = (1 << 40) / pageSize
	}
	if m.capFiles <= 0 {
		m.capFiles = 1 << 24
	}
	m.byGFID = map[graph.GFID]*node{}
	now := graph.TimespecOf(time.Now())
	m.root = &node{gfid: graph.RootGFID, typ: unix.S_IFDIR, mode: unix.S_IFDIR | 0o755, nlink: 2,
		atime: now, mtime: now, ctime: now, entries: map[string]*entry{}, cookie: 2}
	m.root.parent = m.root
	m.byGFID[graph.RootGFID] = m.root
	m.files.Store(1)
	return nil
}

// Notify implements graph.Xlator: a leaf answers PARENT_UP with CHILD_UP.
func (m *Memory) Notify(ctx context.Context, ev graph.Event, from graph.Xlator) {
	switch ev {
	case graph.EventParentUp:
		m.ForwardEvent(ctx, graph.EventChildUp)
	case graph.EventParentDown:
		// nothing to release: the store lives as long as the translator
	default:
		m.ForwardEvent(ctx, ev)
	}
}

// ---- helpers -------------------------------------------------------------------------------

func now() graph.Timespec { return graph.TimespecOf(time.Now()) }

// isDir reads the immutable type, not mode (which setattr changes under n.mu): lookups call it
// without n.mu (a data race the cluster model test found under -race).
func (n *node) isDir() bool { return n.typ == unix.S_IFDIR }

// iattLocked returns the attributes; n.mu held.
func (n *node) iattLocked() graph.Iatt {
	a := graph.Iatt{
		GFID: n.gfid, Ino: graph.InoFromGFID(n.gfid), Dev: devID, Mode: n.mode, Nlink: n.nlink,
		UID: n.uid, GID: n.gid, Rdev: n.rdev, Size: uint64(n.size), Blksize: pageSize,
		Blocks: uint64(len(n.pages)) * (pageSize / 512), Atime: n.atime, Mtime: n.mtime, Ctime: n.ctime,
	}
	if n.isDir() {
		a.Size = pageSize
		a.Blocks = pageSize / 512
	}
	return a
}

func (n *node) iatt() graph.Iatt {
	if n == nil {
		return graph.Iatt{}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.iattLocked()
}

// touchDir updates a directory's mtime and ctime; n.mu not held.
func (n *node) touch(t graph.Timespec) {
	n.mu.Lock()
	n.mtime, n.ctime = t, t
	n.mu.Unlock()
}

// permit reports whether creds c may access n with want (R=4, W=2, X=1); n.mu not held.
func permit(c *graph.Creds, n *node, want uint32) bool {
	n.mu.Lock()
	mode, uid, gid := n.mode, n.uid, n.gid
	n.mu.Unlock()
	return permitMode(c, mode, uid, gid, want)
}

func permitMode(c *graph.Creds, mode, uid, gid, want uint32) bool {
	if want == 0 {
		return true
	}
	if c.UID == 0 {
		if want&1 != 0 && mode&unix.S_IFMT != unix.S_IFDIR && mode&0o111 == 0 {
			return false
		}
		return true
	}
	var bits uint32
	switch {
	case c.UID == uid:
		bits = (mode >> 6) & 7
	case c.InGroup(gid):
		bits = (mode >> 3) & 7
	default:
		bits = mode & 7
	}
	return bits&want == want
}

func checkName(name string) error {
	if name == "" || name == "." || name == ".." {
		return graph.Errorf(unix.EINVAL, "memory: invalid name %q", name)
	}
	if len(name) > nameMax {
		return graph.Errorf(unix.ENAMETOOLONG, "memory: name of %d bytes", len(name))
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return graph.Errorf(unix.EINVAL, "memory: invalid name %q", name)
		}
	}
	return nil
}

// parentLocked resolves the parent directory of a loc naming an entry; ns held.
func (m *Memory) parentLocked(loc *graph.Loc) (*node, error) {
	if loc == nil || loc.Name == "" || loc.ParentGFID.IsZero() {
		return nil, graph.Errorf(unix.EINVAL, "memory: %s: loc has no parent and name", loc)
	}
	p := m.byGFID[loc.ParentGFID]
	if p == nil {
		return nil, graph.Errorf(unix.ESTALE, "memory: %s: parent not found", loc)
	}
	if !p.isDir() {
		return nil, graph.Errorf(unix.ENOTDIR, "memory: %s: parent is not a directory", loc)
	}
	return p, nil
}

// resolveLocked finds the node a loc names: by GFID when known, else by parent and name; ns held.
func (m *Memory) resolveLocked(loc *graph.Loc) (*node, error) {
	if loc == nil {
		return nil, graph.Errorf(unix.EINVAL, "memory: nil loc")
	}
	if !loc.GFID.IsZero() {
		if n := m.byGFID[loc.GFID]; n != nil {
			return n, nil
		}
		if loc.Name == "" || loc.ParentGFID.IsZero() {
			return nil, graph.Errorf(unix.ESTALE, "memory: %s: no such gfid", loc)
		}
		return nil, graph.Errorf(unix.ENOENT, "memory: %s: no such file", loc)
	}
	if loc.Name == "" {
		if loc.Path == "/" {
			return m.root, nil
		}
		return nil, graph.Errorf(unix.EINVAL, "memory: %s: loc has neither gfid nor name", loc)
	}
	p, err := m.parentLocked(loc)
	if err != nil {
		return nil, err
	}
	e := p.entries[loc.Name]
	if e == nil {
		return nil, graph.Errorf(unix.ENOENT, "memory: %s: no such file", loc)
	}
	return e.n, nil
}

func (m *Memory) resolve(loc *graph.Loc) (*node, error) {
	m.ns.RLock()
	defer m.ns.RUnlock()
	return m.resolveLocked(loc)
}

// fdNode returns the node an FD refers to.
func (m *Memory) fdNode(fd *graph.FD) (*node, error) {
	if fd == nil {
		return nil, graph.Errorf(unix.EBADF, "memory: nil fd")
	}
	if v, ok := fd.Ctx(m); ok {
		if of, ok := v.(*openFile); ok {
			return of.n, nil
		}
	}
	// An anonymous FD (never opened here): resolve by GFID.
	m.ns.RLock()
	n := m.byGFID[fd.GFID]
	m.ns.RUnlock()
	if n == nil {
		return nil, graph.Errorf(unix.EBADF, "memory: fd for unknown gfid %s", fd.GFID)
	}
	return n, nil
}

func gfidReq(xdata graph.Xdata) (graph.GFID, bool, error) {
	v, ok := xdata[GFIDReqKey]
	if !ok {
		return graph.GFID{}, false, nil
	}
	var g graph.GFID
	if len(v) != len(g) {
		return g, false, graph.Errorf(unix.EINVAL, "memory: gfid-req of %d bytes", len(v))
	}
	copy(g[:], v)
	if g.IsZero() {
		return g, false, graph.Errorf(unix.EINVAL, "memory: null gfid-req")
	}
	return g, true, nil
}

// requestedXattrs fills a reply dictionary with the values of xattrs whose names are keys of the
// request (GlusterFS's lookup/readdirp xattr requests); n.mu not held.
func requestedXattrs(n *node, req graph.Xdata) graph.Xdata {
	if len(req) == 0 {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var out graph.Xdata
	for k := range req {
		if k == XattrGFID {
			if out == nil {
				out = graph.Xdata{}
			}
			out[k] = append([]byte(nil), n.gfid[:]...)
			continue
		}
		if v, ok := n.xattrs[k]; ok {
			if out == nil {
				out = graph.Xdata{}
			}
			out[k] = append([]byte(nil), v...)
		}
	}
	return out
}

// ---- namespace -----------------------------------------------------------------------------

func (d *node) addEntryLocked(name string, n *node) {
	d.cookie++
	e := &entry{name: name, n: n, cookie: d.cookie}
	d.entries[name] = e
	d.order = append(d.order, e)
	d.live++
}

func (d *node) removeEntryLocked(name string) {
	e := d.entries[name]
	if e == nil {
		return
	}
	e.removed = true
	delete(d.entries, name)
	d.live--
	if len(d.order) > 64 && d.live < len(d.order)/2 {
		kept := make([]*entry, 0, d.live)
		for _, e := range d.order {
			if !e.removed {
				kept = append(kept, e)
			}
		}
		d.order = kept
	}
}

// dropLinkLocked decrements the link count of n after a name went away; ns held.
func (m *Memory) dropLinkLocked(n *node, t graph.Timespec) {
	n.mu.Lock()
	if n.isDir() {
		n.nlink = 0
	} else if n.nlink > 0 {
		n.nlink--
	}
	n.ctime = t
	gone := n.nlink == 0
	if gone {
		// Data of an unlinked file lives while FDs reference the node; its pages no longer
		// count against the capacity.
		n.unlinked = true
		m.usedPages.Add(-int64(len(n.pages)))
	}
	n.mu.Unlock()
	if gone {
		delete(m.byGFID, n.gfid)
		m.files.Add(-1)
	}
}

// newEntry creates a node of the given mode under loc's parent. Caller checks the type.
func (m *Memory) newEntry(ctx context.Context, loc *graph.Loc, mode uint32, umask uint32, xdata graph.Xdata, fill func(n *node)) (*node, graph.Iatt, graph.Iatt, error) {
	if loc == nil {
		return nil, graph.Iatt{}, graph.Iatt{}, graph.Errorf(unix.EINVAL, "memory: nil loc")
	}
	if err := checkName(loc.Name); err != nil {
		return nil, graph.Iatt{}, graph.Iatt{}, err
	}
	g, haveReq, err := gfidReq(xdata)
	if err != nil {
		return nil, graph.Iatt{}, graph.Iatt{}, err
	}
	if !haveReq {
		g = graph.NewGFID()
	}
	c := graph.CredsFrom(ctx)
	m.ns.Lock()
	defer m.ns.Unlock()
	p, err := m.parentLocked(loc)
	if err != nil {
		return nil, graph.Iatt{}, graph.Iatt{}, err
	}
	if !permit(c, p, 3) {
		return nil, graph.Iatt{}, graph.Iatt{}, graph.Errorf(unix.EACCES, "memory: %s: create in directory", loc)
	}
	if p.nlink == 0 {
		return nil, graph.Iatt{}, graph.Iatt{}, graph.Errorf(unix.ENOENT, "memory: %s: parent directory removed", loc)
	}
	if p.entries[loc.Name] != nil {
		return nil, graph.Iatt{}, graph.Iatt{}, graph.Errorf(unix.EEXIST, "memory: %s", loc)
	}
	if m.byGFID[g] != nil {
		return nil, graph.Iatt{}, graph.Iatt{}, graph.Errorf(unix.EEXIST, "memory: %s: gfid-req %s already in use", loc, g)
	}
	if m.files.Load() >= m.capFiles {
		return nil, graph.Iatt{}, graph.Iatt{}, graph.Errorf(unix.ENOSPC, "memory: %s: out of inodes", loc)
	}
	t := now()
	pre := p.iatt()
	n := &node{gfid: g, typ: mode & unix.S_IFMT, mode: mode&unix.S_IFMT | (mode&0o7777)&^umask, uid: c.UID, gid: c.GID, nlink: 1,
		atime: t, mtime: t, ctime: t}
	p.mu.Lock()
	if p.mode&unix.S_ISGID != 0 {
		n.gid = p.gid
		if n.isDir() {
			n.mode |= unix.S_ISGID
		}
	}
	p.mu.Unlock()
	if fill != nil {
		fill(n)
	}
	if n.isDir() {
		n.nlink = 2
		n.parent = p
		n.entries = map[string]*entry{}
		n.cookie = 2
		p.mu.Lock()
		p.nlink++
		p.mu.Unlock()
	}
	p.addEntryLocked(loc.Name, n)
	p.touch(t)
	m.byGFID[g] = n
	m.files.Add(1)
	return n, pre, p.iatt(), nil
}

// Lookup implements graph.Fops.
func (m *Memory) Lookup(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.LookupReply, error) {
	c := graph.CredsFrom(ctx)
	m.ns.RLock()
	var n, p *node
	var err error
	if loc != nil && loc.Name != "" && !loc.ParentGFID.IsZero() {
		p, err = m.parentLocked(loc)
		if err == nil {
			if !permit(c, p, 1) {
				err = graph.Errorf(unix.EACCES, "memory: lookup %s: search permission", loc)
			} else if e := p.entries[loc.Name]; e != nil {
				n = e.n
			} else {
				err = graph.Errorf(unix.ENOENT, "memory: lookup %s", loc)
			}
		}
		if err == nil && !loc.GFID.IsZero() && n.gfid != loc.GFID {
			err = graph.Errorf(unix.ESTALE, "memory: lookup %s: gfid changed", loc)
		}
	} else if loc != nil && !loc.GFID.IsZero() {
		n = m.byGFID[loc.GFID]
		if n == nil {
			err = graph.Errorf(unix.ENOENT, "memory: nameless lookup %s", loc)
		} else if n.isDir() {
			p = n.parent
		}
	} else {
		n, err = m.resolveLocked(loc)
		if err == nil && n == m.root {
			p = m.root
		}
	}
	m.ns.RUnlock()
	if err != nil {
		return graph.LookupReply{}, err
	}
	r := graph.LookupReply{Stat: n.iatt(), Xdata: requestedXattrs(n, xdata)}
	if p != nil {
		r.PostParent = p.iatt()
	}
	return r, nil
}

// Stat implements graph.Fops.
func (m *Memory) Stat(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.Iatt, graph.Xdata, error) {
	n, err := m.resolve(loc)
	if err != nil {
		return graph.Iatt{}, nil, err
	}
	return n.iatt(), nil, nil
}

// Fstat implements graph.Fops.
func (m *Memory) Fstat(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Iatt, graph.Xdata, error) {
	n, err := m.fdNode(fd)
	if err != nil {
		return graph.Iatt{}, nil, err
	}
	return n.iatt(), nil, nil
}

// Access implements graph.Fops.
func (m *Memory) Access(ctx context.Context, loc *graph.Loc, mask uint32, xdata graph.Xdata) (graph.Xdata, error) {
	n, err := m.resolve(loc)
	if err != nil {
		return nil, err
	}
	if mask&^7 != 0 {
		return nil, graph.Errorf(unix.EINVAL, "memory: access %s: mask %#o", loc, mask)
	}
	if !permit(graph.CredsFrom(ctx), n, mask&7) {
		return nil, graph.Errorf(unix.EACCES, "memory: access %s mask %#o", loc, mask)
	}
	return nil, nil
}

// Readlink implements graph.Fops.
func (m *Memory) Readlink(ctx context.Context, loc *graph.Loc, size uint32, xdata graph.Xdata) (string, graph.Iatt, graph.Xdata, error) {
	n, err := m.resolve(loc)
	if err != nil {
		return "", graph.Iatt{}, nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.typ != unix.S_IFLNK {
		return "", graph.Iatt{}, nil, graph.Errorf(unix.EINVAL, "memory: readlink %s: not a symlink", loc)
	}
	t := n.target
	if size > 0 && int(size) < len(t) {
		t = t[:size]
	}
	return t, n.iattLocked(), nil, nil
}

// Mknod implements graph.Fops.
func (m *Memory) Mknod(ctx context.Context, loc *graph.Loc, mode uint32, rdev uint64, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	switch mode & unix.S_IFMT {
	case 0:
		mode |= unix.S_IFREG
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK:
	case unix.S_IFCHR, unix.S_IFBLK:
		if graph.CredsFrom(ctx).UID != 0 {
			return graph.EntryReply{}, graph.Errorf(unix.EPERM, "memory: mknod %s: device node", loc)
		}
	default:
		return graph.EntryReply{}, graph.Errorf(unix.EINVAL, "memory: mknod %s: mode %#o", loc, mode)
	}
	n, pre, post, err := m.newEntry(ctx, loc, mode, umask, xdata, func(n *node) { n.rdev = rdev })
	if err != nil {
		return graph.EntryReply{}, err
	}
	return graph.EntryReply{Stat: n.iatt(), PreParent: pre, PostParent: post}, nil
}

// Mkdir implements graph.Fops.
func (m *Memory) Mkdir(ctx context.Context, loc *graph.Loc, mode uint32, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	n, pre, post, err := m.newEntry(ctx, loc, unix.S_IFDIR|mode&0o7777, umask, xdata, nil)
	if err != nil {
		return graph.EntryReply{}, err
	}
	return graph.EntryReply{Stat: n.iatt(), PreParent: pre, PostParent: post}, nil
}

// Symlink implements graph.Fops.
func (m *Memory) Symlink(ctx context.Context, target string, loc *graph.Loc, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	if target == "" {
		return graph.EntryReply{}, graph.Errorf(unix.ENOENT, "memory: symlink %s: empty target", loc)
	}
	if len(target) > 4095 {
		return graph.EntryReply{}, graph.Errorf(unix.ENAMETOOLONG, "memory: symlink %s: target of %d bytes", loc, len(target))
	}
	n, pre, post, err := m.newEntry(ctx, loc, unix.S_IFLNK|0o777, 0, xdata, func(n *node) {
		n.target = target
		n.size = int64(len(target))
	})
	if err != nil {
		return graph.EntryReply{}, err
	}
	return graph.EntryReply{Stat: n.iatt(), PreParent: pre, PostParent: post}, nil
}

// sticky reports whether the sticky bit of dir p forbids c removing n; ns held.
func sticky(c *graph.Creds, p, n *node) bool {
	if c.UID == 0 {
		return false
	}
	p.mu.Lock()
	st, puid := p.mode&unix.S_ISVTX != 0, p.uid
	p.mu.Unlock()
	if !st || c.UID == puid {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return c.UID != n.uid
}

func (m *Memory) remove(ctx context.Context, loc *graph.Loc, dir bool) (graph.ParentReply, error) {
	c := graph.CredsFrom(ctx)
	m.ns.Lock()
	defer m.ns.Unlock()
	p, err := m.parentLocked(loc)
	if err != nil {
		return graph.ParentReply{}, err
	}
	e := p.entries[loc.Name]
	if e == nil {
		return graph.ParentReply{}, graph.Errorf(unix.ENOENT, "memory: remove %s", loc)
	}
	n := e.n
	if dir && !n.isDir() {
		return graph.ParentReply{}, graph.Errorf(unix.ENOTDIR, "memory: rmdir %s", loc)
	}
	if !dir && n.isDir() {
		return graph.ParentReply{}, graph.Errorf(unix.EISDIR, "memory: unlink %s", loc)
	}
	if !permit(c, p, 3) || sticky(c, p, n) {
		return graph.ParentReply{}, graph.Errorf(unix.EACCES, "memory: remove %s", loc)
	}
	if dir && n.live > 0 {
		return graph.ParentReply{}, graph.Errorf(unix.ENOTEMPTY, "memory: rmdir %s", loc)
	}
	t := now()
	pre := p.iatt()
	p.removeEntryLocked(loc.Name)
	if dir {
		p.mu.Lock()
		p.nlink--
		p.mu.Unlock()
	}
	m.dropLinkLocked(n, t)
	p.touch(t)
	return graph.ParentReply{PreParent: pre, PostParent: p.iatt()}, nil
}

// Unlink implements graph.Fops.
func (m *Memory) Unlink(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (graph.ParentReply, error) {
	return m.remove(ctx, loc, false)
}

// Rmdir implements graph.Fops.
func (m *Memory) Rmdir(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (graph.ParentReply, error) {
	return m.remove(ctx, loc, true)
}

// Rename implements graph.Fops with rename(2) semantics.
func (m *Memory) Rename(ctx context.Context, oldLoc, newLoc *graph.Loc, xdata graph.Xdata) (graph.RenameReply, error) {
	if newLoc != nil {
		if err := checkName(newLoc.Name); err != nil {
			return graph.RenameReply{}, err
		}
	}
	c := graph.CredsFrom(ctx)
	m.ns.Lock()
	defer m.ns.Unlock()
	sp, err := m.parentLocked(oldLoc)
	if err != nil {
		return graph.RenameReply{}, err
	}
	dp, err := m.parentLocked(newLoc)
	if err != nil {
		return graph.RenameReply{}, err
	}
	se := sp.entries[oldLoc.Name]
	if se == nil {
		return graph.RenameReply{}, graph.Errorf(unix.ENOENT, "memory: rename %s", oldLoc)
	}
	n := se.n
	if !permit(c, sp, 3) || !permit(c, dp, 3) || sticky(c, sp, n) {
		return graph.RenameReply{}, graph.Errorf(unix.EACCES, "memory: rename %s -> %s", oldLoc, newLoc)
	}
	if dp.nlink == 0 {
		return graph.RenameReply{}, graph.Errorf(unix.ENOENT, "memory: rename %s: target directory removed", newLoc)
	}
	var victim *node
	if de := dp.entries[newLoc.Name]; de != nil {
		victim = de.n
	}
	if n.isDir() {
		// The destination must not be inside the source.
		for a := dp; ; a = a.parent {
			if a == n {
				return graph.RenameReply{}, graph.Errorf(unix.EINVAL, "memory: rename %s into its own subtree %s", oldLoc, newLoc)
			}
			if a == m.root || a.parent == nil {
				break
			}
		}
	}
	if victim != nil {
		if sticky(c, dp, victim) {
			return graph.RenameReply{}, graph.Errorf(unix.EACCES, "memory: rename over %s", newLoc)
		}
		switch {
		case victim == n:
			// Both names are links to the same file: rename does nothing.
			r := graph.RenameReply{Stat: n.iatt(), PreOldParent: sp.iatt(), PreNewParent: dp.iatt()}
			r.PostOldParent, r.PostNewParent = r.PreOldParent, r.PreNewParent
			return r, nil
		case n.isDir() && !victim.isDir():
			return graph.RenameReply{}, graph.Errorf(unix.ENOTDIR, "memory: rename directory %s over non-directory %s", oldLoc, newLoc)
		case !n.isDir() && victim.isDir():
			return graph.RenameReply{}, graph.Errorf(unix.EISDIR, "memory: rename %s over directory %s", oldLoc, newLoc)
		case victim.isDir() && victim.live > 0:
			return graph.RenameReply{}, graph.Errorf(unix.ENOTEMPTY, "memory: rename over %s", newLoc)
		}
	}
	t := now()
	r := graph.RenameReply{PreOldParent: sp.iatt(), PreNewParent: dp.iatt()}
	if victim != nil {
		dp.removeEntryLocked(newLoc.Name)
		if victim.isDir() {
			dp.mu.Lock()
			dp.nlink--
			dp.mu.Unlock()
		}
		m.dropLinkLocked(victim, t)
	}
	sp.removeEntryLocked(oldLoc.Name)
	dp.addEntryLocked(newLoc.Name, n)
	if n.isDir() && sp != dp {
		sp.mu.Lock()
		sp.nlink--
		sp.mu.Unlock()
		dp.mu.Lock()
		dp.nlink++
		dp.mu.Unlock()
		n.parent = dp
	}
	n.mu.Lock()
	n.ctime = t
	n.mu.Unlock()
	sp.touch(t)
	dp.touch(t)
	r.Stat = n.iatt()
	r.PostOldParent = sp.iatt()
	r.PostNewParent = dp.iatt()
	return r, nil
}

// Link implements graph.Fops.
func (m *Memory) Link(ctx context.Context, oldLoc, newLoc *graph.Loc, xdata graph.Xdata) (graph.EntryReply, error) {
	if newLoc == nil {
		return graph.EntryReply{}, graph.Errorf(unix.EINVAL, "memory: link: nil loc")
	}
	if err := checkName(newLoc.Name); err != nil {
		return graph.EntryReply{}, err
	}
	c := graph.CredsFrom(ctx)
	m.ns.Lock()
	defer m.ns.Unlock()
	n, err := m.resolveLocked(oldLoc)
	if err != nil {
		return graph.EntryReply{}, err
	}
	if n.isDir() {
		return graph.EntryReply{}, graph.Errorf(unix.EPERM, "memory: link %s: is a directory", oldLoc)
	}
	dp, err := m.parentLocked(newLoc)
	if err != nil {
		return graph.EntryReply{}, err
	}
	if !permit(c, dp, 3) {
		return graph.EntryReply{}, graph.Errorf(unix.EACCES, "memory: link %s", newLoc)
	}
	if dp.entries[newLoc.Name] != nil {
		return graph.EntryReply{}, graph.Errorf(unix.EEXIST, "memory: link %s", newLoc)
	}
	if m.byGFID[n.gfid] != n {
		return graph.EntryReply{}, graph.Errorf(unix.ENOENT, "memory: link %s: file removed", oldLoc)
	}
	t := now()
	pre := dp.iatt()
	dp.addEntryLocked(newLoc.Name, n)
	n.mu.Lock()
	n.nlink++
	n.ctime = t
	n.mu.Unlock()
	dp.touch(t)
	return graph.EntryReply{Stat: n.iatt(), PreParent: pre, PostParent: dp.iatt()}, nil
}

// ---- open files ----------------------------------------------------------------------------

func accMode(flags int) int { return flags & unix.O_ACCMODE }

func openWant(flags int) uint32 {
	var want uint32
	switch accMode(flags) {
	case unix.O_RDONLY:
		want = 4
	case unix.O_WRONLY:
		want = 2
	case unix.O_RDWR:
		want = 6
	}
	if flags&unix.O_TRUNC != 0 {
		want |= 2
	}
	return want
}

// Create implements graph.Fops.
func (m *Memory) Create(ctx context.Context, loc *graph.Loc, flags int, mode uint32, umask uint32, fd *graph.FD, xdata graph.Xdata) (graph.EntryReply, error) {
	if fd == nil {
		return graph.EntryReply{}, graph.Errorf(unix.EBADF, "memory: create %s: nil fd", loc)
	}
	n, pre, post, err := m.newEntry(ctx, loc, unix.S_IFREG|mode&0o7777, umask, xdata, nil)
	if errno := graph.Errno(err); errno == unix.EEXIST && flags&unix.O_EXCL == 0 {
		// open(O_CREAT) of an existing file opens it.
		m.ns.RLock()
		p, perr := m.parentLocked(loc)
		if perr == nil {
			if e := p.entries[loc.Name]; e != nil {
				n = e.n
				pre = p.iatt()
				post = pre
				err = nil
			}
		}
		m.ns.RUnlock()
		if err == nil {
			if n.isDir() {
				return graph.EntryReply{}, graph.Errorf(unix.EISDIR, "memory: create %s", loc)
			}
			if !permit(graph.CredsFrom(ctx), n, openWant(flags)) {
				return graph.EntryReply{}, graph.Errorf(unix.EACCES, "memory: create %s: open existing", loc)
			}
			if flags&unix.O_TRUNC != 0 {
				m.truncate(n, 0)
			}
		}
	}
	if err != nil {
		return graph.EntryReply{}, err
	}
	fd.SetCtx(m, &openFile{n: n})
	return graph.EntryReply{Stat: n.iatt(), PreParent: pre, PostParent: post}, nil
}

// Open implements graph.Fops.
func (m *Memory) Open(ctx context.Context, loc *graph.Loc, flags int, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	if fd == nil {
		return nil, graph.Errorf(unix.EBADF, "memory: open %s: nil fd", loc)
	}
	n, err := m.resolve(loc)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	typ := n.typ
	n.mu.Unlock()
	if typ == unix.S_IFDIR && (accMode(flags) != unix.O_RDONLY || flags&unix.O_TRUNC != 0) {
		return nil, graph.Errorf(unix.EISDIR, "memory: open %s for writing", loc)
	}
	if typ == unix.S_IFLNK {
		return nil, graph.Errorf(unix.ELOOP, "memory: open %s: symbolic link", loc)
	}
	if !permit(graph.CredsFrom(ctx), n, openWant(flags)) {
		return nil, graph.Errorf(unix.EACCES, "memory: open %s", loc)
	}
	if flags&unix.O_TRUNC != 0 && typ == unix.S_IFREG {
		m.truncate(n, 0)
	}
	fd.SetCtx(m, &openFile{n: n})
	return nil, nil
}

// readAt copies file data at off into b; n.mu held. Returns the bytes read.
func (n *node) readAtLocked(b []byte, off int64) int {
	if off >= n.size {
		return 0
	}
	if max := n.size - off; int64(len(b)) > max {
		b = b[:max]
	}
	done := 0
	for done < len(b) {
		pos := off + int64(done)
		idx, in := pos/pageSize, int(pos%pageSize)
		chunk := min(pageSize-in, len(b)-done)
		if pg := n.pages[idx]; pg != nil {
			copy(b[done:done+chunk], pg[in:in+chunk])
		} else {
			clear(b[done : done+chunk])
		}
		done += chunk
	}
	return done
}

// writeAtLocked stores b at off, allocating pages; n.mu held. zero: b is all zeros and pages
// are allocated but the caller passes b==nil with length ln.
func (m *Memory) writeAtLocked(n *node, b []byte, off int64, ln int64) error {
	end := off + ln
	// Count the pages to allocate first so a write either fits or fails whole.
	var need int64
	for idx := off / pageSize; idx*pageSize < end; idx++ {
		if n.pages[idx] == nil {
			need++
		}
	}
	if n.unlinked {
		need = 0
	}
	if need > 0 && m.usedPages.Add(need) > m.capPages {
		m.usedPages.Add(-need)
		return graph.Errorf(unix.ENOSPC, "memory: no space for %d pages", need)
	}
	if n.pages == nil {
		n.pages = map[int64]*[pageSize]byte{}
	}
	var done int64
	for done < ln {
		pos := off + done
		idx, in := pos/pageSize, pos%pageSize
		chunk := min(pageSize-in, ln-done)
		pg := n.pages[idx]
		if pg == nil {
			pg = new([pageSize]byte)
			n.pages[idx] = pg
		}
		if b != nil {
			copy(pg[in:in+chunk], b[done:done+chunk])
		} else {
			clear(pg[in : in+chunk])
		}
		done += chunk
	}
	return nil
}

// punchLocked zeroes [off, off+ln) and frees whole pages in it; n.mu held.
func (m *Memory) punchLocked(n *node, off, ln int64) {
	end := off + ln
	var freed int64
	for idx, pg := range n.pages {
		ps, pe := idx*pageSize, (idx+1)*pageSize
		if pe <= off || ps >= end {
			continue
		}
		if ps >= off && pe <= end {
			delete(n.pages, idx)
			freed++
			continue
		}
		lo, hi := max(ps, off)-ps, min(pe, end)-ps
		clear(pg[lo:hi])
	}
	if freed > 0 && !n.unlinked {
		m.usedPages.Add(-freed)
	}
}

// truncate sets the size of a regular file.
func (m *Memory) truncate(n *node, size int64) {
	n.mu.Lock()
	m.truncateLocked(n, size)
	n.mu.Unlock()
}

func (m *Memory) truncateLocked(n *node, size int64) {
	if size < n.size {
		m.punchLocked(n, size, n.size-size)
	}
	n.size = size
	t := now()
	n.mtime, n.ctime = t, t
}

func (m *Memory) doTruncate(ctx context.Context, n *node, offset int64, what string, checkPerm bool) (graph.WCCReply, error) {
	if offset < 0 {
		return graph.WCCReply{}, graph.Errorf(unix.EINVAL, "memory: %s to %d", what, offset)
	}
	if checkPerm && !permit(graph.CredsFrom(ctx), n, 2) {
		return graph.WCCReply{}, graph.Errorf(unix.EACCES, "memory: %s", what)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.typ {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return graph.WCCReply{}, graph.Errorf(unix.EISDIR, "memory: %s", what)
	default:
		return graph.WCCReply{}, graph.Errorf(unix.EINVAL, "memory: %s: not a regular file", what)
	}
	pre := n.iattLocked()
	m.truncateLocked(n, offset)
	return graph.WCCReply{Pre: pre, Post: n.iattLocked()}, nil
}

// Truncate implements graph.Fops.
func (m *Memory) Truncate(ctx context.Context, loc *graph.Loc, offset int64, xdata graph.Xdata) (graph.WCCReply, error) {
	n, err := m.resolve(loc)
	if err != nil {
		return graph.WCCReply{}, err
	}
	return m.doTruncate(ctx, n, offset, "truncate "+loc.String(), true)
}

// Ftruncate implements graph.Fops.
func (m *Memory) Ftruncate(ctx context.Context, fd *graph.FD, offset int64, xdata graph.Xdata) (graph.WCCReply, error) {
	n, err := m.fdNode(fd)
	if err != nil {
		return graph.WCCReply{}, err
	}
	if accMode(fd.Flags) == unix.O_RDONLY {
		return graph.WCCReply{}, graph.Errorf(unix.EBADF, "memory: ftruncate on a read-only fd")
	}
	return m.doTruncate(ctx, n, offset, "ftruncate", false)
}

// Readv implements graph.Fops.
func (m *Memory) Readv(ctx context.Context, fd *graph.FD, size uint32, offset int64, flags uint32, xdata graph.Xdata) (graph.ReadReply, error) {
	n, err := m.fdNode(fd)
	if err != nil {
		return graph.ReadReply{}, err
	}
	if accMode(fd.Flags) == unix.O_WRONLY {
		return graph.ReadReply{}, graph.Errorf(unix.EBADF, "memory: read on a write-only fd")
	}
	if offset < 0 {
		return graph.ReadReply{}, graph.Errorf(unix.EINVAL, "memory: read at %d", offset)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.isDir() {
		return graph.ReadReply{}, graph.Errorf(unix.EISDIR, "memory: read of a directory")
	}
	var buf []byte
	if offset < n.size {
		buf = make([]byte, min(int64(size), n.size-offset, maxRead))
		n.readAtLocked(buf, offset)
	}
	return graph.ReadReply{Data: buf, Stat: n.iattLocked(), EOF: offset+int64(len(buf)) >= n.size}, nil
}

// Writev implements graph.Fops.
func (m *Memory) Writev(ctx context.Context, fd *graph.FD, data []byte, offset int64, flags uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	n, err := m.fdNode(fd)
	if err != nil {
		return graph.WCCReply{}, err
	}
	if accMode(fd.Flags) == unix.O_RDONLY {
		return graph.WCCReply{}, graph.Errorf(unix.EBADF, "memory: write on a read-only fd")
	}
	if offset < 0 || offset+int64(len(data)) < offset {
		return graph.WCCReply{}, graph.Errorf(unix.EINVAL, "memory: write at %d", offset)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.isReg() {
		return graph.WCCReply{}, graph.Errorf(unix.EINVAL, "memory: write to a non-regular file")
	}
	pre := n.iattLocked()
	if fd.Flags&unix.O_APPEND != 0 {
		offset = n.size
	}
	if err := m.writeAtLocked(n, data, offset, int64(len(data))); err != nil {
		return graph.WCCReply{}, err
	}
	if end := offset + int64(len(data)); end > n.size {
		n.size = end
	}
	t := now()
	n.mtime, n.ctime = t, t
	if graph.CredsFrom(ctx).UID != 0 {
		n.mode &^= unix.S_ISUID
		if n.mode&0o010 != 0 {
			n.mode &^= unix.S_ISGID
		}
	}
	return graph.WCCReply{Pre: pre, Post: n.iattLocked()}, nil
}

func (n *node) isReg() bool { return n.typ == unix.S_IFREG }

// Flush implements graph.Fops.
func (m *Memory) Flush(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	if _, err := m.fdNode(fd); err != nil {
		return nil, err
	}
	return nil, nil
}

// Fsync implements graph.Fops: memory is as stable as it gets.
func (m *Memory) Fsync(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (graph.WCCReply, error) {
	n, err := m.fdNode(fd)
	if err != nil {
		return graph.WCCReply{}, err
	}
	a := n.iatt()
	return graph.WCCReply{Pre: a, Post: a}, nil
}

// Opendir implements graph.Fops.
func (m *Memory) Opendir(ctx context.Context, loc *graph.Loc, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	if fd == nil {
		return nil, graph.Errorf(unix.EBADF, "memory: opendir %s: nil fd", loc)
	}
	n, err := m.resolve(loc)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, graph.Errorf(unix.ENOTDIR, "memory: opendir %s", loc)
	}
	if !permit(graph.CredsFrom(ctx), n, 4) {
		return nil, graph.Errorf(unix.EACCES, "memory: opendir %s", loc)
	}
	fd.SetCtx(m, &openFile{n: n})
	return nil, nil
}

// direntSize is the space one entry takes in a readdir reply (struct dirent64, 8-aligned).
func direntSize(name string) uint32 { return uint32((19 + len(name) + 1 + 7) &^ 7) }

// iattWire approximates the extra room readdirp's attributes take.
const iattWire = 112

func (m *Memory) readdir(ctx context.Context, fd *graph.FD, size uint32, offset uint64, plus bool, req graph.Xdata) ([]graph.Dirent, error) {
	d, err := m.fdNode(fd)
	if err != nil {
		return nil, err
	}
	if !d.isDir() {
		return nil, graph.Errorf(unix.ENOTDIR, "memory: readdir of a non-directory")
	}
	type pick struct {
		name   string
		n      *node
		cookie uint64
	}
	var picks []pick
	var used uint32
	take := func(name string, n *node, cookie uint64) bool {
		sz := direntSize(name)
		if plus {
			sz += iattWire
		}
		if len(picks) > 0 && used+sz > size {
			return false
		}
		used += sz
		picks = append(picks, pick{name, n, cookie})
		return true
	}
	m.ns.RLock()
	full := false
	if offset < 1 {
		full = !take(".", d, 1)
	}
	if !full && offset < 2 {
		full = !take("..", d.parent, 2)
	}
	if !full {
		i := sort.Search(len(d.order), func(i int) bool { return d.order[i].cookie > offset })
		for ; i < len(d.order); i++ {
			e := d.order[i]
			if e.removed {
				continue
			}
			if !take(e.name, e.n, e.cookie) {
				break
			}
		}
	}
	m.ns.RUnlock()
	out := make([]graph.Dirent, len(picks))
	for i, p := range picks {
		a := p.n.iatt()
		out[i] = graph.Dirent{Name: p.name, Ino: a.Ino, Off: p.cookie, Type: a.DirentType()}
		if plus {
			out[i].Stat = a
			out[i].Xdata = requestedXattrs(p.n, req)
		}
	}
	return out, nil
}

// Readdir implements graph.Fops. Cookies are stable: an entry keeps its cookie until removed,
// and new entries get larger cookies, so a reader continuing from a cookie sees every entry that
// existed throughout exactly once.
func (m *Memory) Readdir(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) ([]graph.Dirent, graph.Xdata, error) {
	ents, err := m.readdir(ctx, fd, size, offset, false, nil)
	return ents, nil, err
}

// Readdirp implements graph.Fops: readdir with attributes and any requested xattrs per entry.
func (m *Memory) Readdirp(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) ([]graph.Dirent, graph.Xdata, error) {
	ents, err := m.readdir(ctx, fd, size, offset, true, xdata)
	return ents, nil, err
}

// Fsyncdir implements graph.Fops.
func (m *Memory) Fsyncdir(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (graph.Xdata, error) {
	n, err := m.fdNode(fd)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, graph.Errorf(unix.ENOTDIR, "memory: fsyncdir of a non-directory")
	}
	return nil, nil
}

// Statfs implements graph.Fops.
func (m *Memory) Statfs(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.Statvfs, graph.Xdata, error) {
	if _, err := m.resolve(loc); err != nil {
		return graph.Statvfs{}, nil, err
	}
	used := m.usedPages.Load()
	files := m.files.Load()
	free := max(m.capPages-used, 0)
	ffree := max(m.capFiles-files, 0)
	return graph.Statvfs{
		Bsize: pageSize, Frsize: pageSize, Blocks: uint64(m.capPages), Bfree: uint64(free), Bavail: uint64(free),
		Files: uint64(m.capFiles), Ffree: uint64(ffree), Favail: uint64(ffree), Fsid: devID, Namemax: nameMax,
	}, nil, nil
}

// Lk implements graph.Fops: a storage leaf does not lock (features/locks does).
func (m *Memory) Lk(ctx context.Context, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Flock, graph.Xdata, error) {
	return graph.Flock{}, nil, graph.Errorf(unix.ENOSYS, "memory: lk: load features/locks above the storage leaf")
}

// Inodelk implements graph.Fops: ENOSYS, as on a storage leaf.
func (m *Memory) Inodelk(ctx context.Context, volume string, loc *graph.Loc, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Xdata, error) {
	return nil, graph.Errorf(unix.ENOSYS, "memory: inodelk: load features/locks above the storage leaf")
}

// Finodelk implements graph.Fops: ENOSYS, as on a storage leaf.
func (m *Memory) Finodelk(ctx context.Context, volume string, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Xdata, error) {
	return nil, graph.Errorf(unix.ENOSYS, "memory: finodelk: load features/locks above the storage leaf")
}

// Entrylk implements graph.Fops: ENOSYS, as on a storage leaf.
func (m *Memory) Entrylk(ctx context.Context, volume string, loc *graph.Loc, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (graph.Xdata, error) {
	return nil, graph.Errorf(unix.ENOSYS, "memory: entrylk: load features/locks above the storage leaf")
}

// Fentrylk implements graph.Fops: ENOSYS, as on a storage leaf.
func (m *Memory) Fentrylk(ctx context.Context, volume string, fd *graph.FD, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (graph.Xdata, error) {
	return nil, graph.Errorf(unix.ENOSYS, "memory: fentrylk: load features/locks above the storage leaf")
}
