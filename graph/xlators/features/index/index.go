package index

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Type is the volfile type of the translator.
const Type = "features/index"

// Virtual-GFID and count keys answered by getxattr (GlusterFS glusterfs.h).
const (
	KeyIndexGFID  = "glusterfs.xattrop_index_gfid"
	KeyDirtyGFID  = "glusterfs.xattrop_dirty_gfid"
	KeyIndexCount = "glusterfs.xattrop_index_count"
	KeyDirtyCount = "glusterfs.xattrop_dirty_count"
)

// Index kinds: the subdirectories of index-base.
const (
	KindXattrop = 0 // pending changelogs ("xattrop")
	KindDirty   = 1 // transactions in flight ("dirty")
	numKinds    = 2
)

// Subdirs names the subdirectory of each kind.
var Subdirs = [numKinds]string{"xattrop", "dirty"}

func init() {
	graph.Register(graph.Registration{
		Type:        Type,
		New:         func() graph.Xlator { return &Index{} },
		Description: "index of files with pending replication changelogs (GlusterFS features/index)",
		MinChildren: 1,
		MaxChildren: 1,
		Options: []graph.OptionSpec{
			{Key: "index-base", Type: graph.OptPath, Description: "index directory, normally <brick>/.glusterfs/indices (required)"},
			{Key: "xattrop-pending-watchlist", Type: graph.OptString, Default: "trusted.afr.", Description: "comma-separated key prefixes whose non-zero value lists a file in the xattrop index"},
			{Key: "xattrop-dirty-watchlist", Type: graph.OptString, Default: "trusted.afr.dirty", Description: "comma-separated key prefixes whose non-zero value lists a file in the dirty index"},
			{Key: "xattrop64-watchlist", Type: graph.OptString, Default: "trusted.ec.dirty", Description: "prefixes that make an ADD_ARRAY64 xattrop tracked"},
		},
	})
}

// Index is the features/index translator.
type Index struct {
	graph.Passthrough

	base    string
	pending []string
	dirty   []string
	wl64    []string
	vgfid   [numKinds]graph.GFID

	mu   sync.Mutex
	uuid [numKinds]graph.GFID // current base-file uuid per kind

	stripes [256]sync.Mutex
}

// vdir is the FD context of an opened virtual index directory: a snapshot of its names.
type vdir struct {
	kind  int
	names []string
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// Init implements graph.Xlator: creates index-base and its subdirectories, picks the base-file
// uuids and the virtual GFIDs, and removes base files of earlier runs that no entry links to.
func (x *Index) Init(ctx context.Context) error {
	o := x.Options()
	x.base = o.String("index-base")
	if x.base == "" {
		return graph.Errorf(unix.EINVAL, "index %s: option index-base is required", x.Name())
	}
	x.base = filepath.Clean(x.base)
	if st, err := os.Stat(filepath.Dir(x.base)); err != nil || !st.IsDir() {
		return graph.Errorf(unix.ENOENT, "index %s: parent of index-base %s is not a directory", x.Name(), x.base)
	}
	x.pending = splitList(o.String("xattrop-pending-watchlist"))
	x.dirty = splitList(o.String("xattrop-dirty-watchlist"))
	x.wl64 = splitList(o.String("xattrop64-watchlist"))
	for k := 0; k < numKinds; k++ {
		if err := mkdirAll(x.subdir(k)); err != nil {
			return graph.Errorf(graph.Errno(err), "index %s: create %s", x.Name(), x.subdir(k))
		}
		x.uuid[k] = graph.NewGFID()
		x.vgfid[k] = graph.NewGFID()
		x.cleanStaleBases(k)
	}
	return nil
}

// mkdirAll creates dir and missing parents with mode 0600 (index_dir_create).
func mkdirAll(dir string) error {
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return unix.ENOTDIR
		}
		return nil
	}
	if err := mkdirAll(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := unix.Mkdir(dir, 0o600); err != nil && err != unix.EEXIST {
		return err
	}
	return nil
}

func (x *Index) subdir(k int) string { return filepath.Join(x.base, Subdirs[k]) }

func (x *Index) basePath(k int) string {
	x.mu.Lock()
	u := x.uuid[k]
	x.mu.Unlock()
	return filepath.Join(x.subdir(k), Subdirs[k]+"-"+u.String())
}

func isBaseName(k int, name string) bool {
	return len(name) == len(Subdirs[k])+1+36 && strings.HasPrefix(name, Subdirs[k]+"-")
}

func (x *Index) cleanStaleBases(k int) {
	ents, err := os.ReadDir(x.subdir(k))
	if err != nil {
		return
	}
	for _, e := range ents {
		if !isBaseName(k, e.Name()) {
			continue
		}
		p := filepath.Join(x.subdir(k), e.Name())
		var st unix.Stat_t
		if unix.Lstat(p, &st) == nil && st.Nlink == 1 {
			_ = unix.Unlink(p)
		}
	}
}

// EntryPath returns the path of gfid's entry in the index of kind k (for tests and tools).
func (x *Index) EntryPath(k int, g graph.GFID) string {
	return filepath.Join(x.subdir(k), g.String())
}

// add links gfid into the index of kind k (index_add, index_link_to_base).
func (x *Index) add(k int, g graph.GFID) error {
	p := x.EntryPath(k, g)
	var st unix.Stat_t
	if unix.Lstat(p, &st) == nil {
		return nil
	}
	for attempt := 0; attempt < 3; attempt++ {
		base := x.basePath(k)
		err := unix.Link(base, p)
		if err == nil || err == unix.EEXIST {
			return nil
		}
		switch err {
		case unix.ENOENT:
			if err := mkdirAll(x.subdir(k)); err != nil {
				return err
			}
		case unix.EMLINK:
			x.mu.Lock()
			x.uuid[k] = graph.NewGFID()
			x.mu.Unlock()
			base = x.basePath(k)
		default:
			return err
		}
		fd, err := unix.Open(base, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil && err != unix.EEXIST {
			return err
		}
		if err == nil {
			unix.Close(fd)
		}
	}
	return unix.EMLINK
}

// del removes gfid from the index of kind k (index_del).
func (x *Index) del(k int, g graph.GFID) error {
	if err := unix.Unlink(x.EntryPath(k, g)); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}

func hasPrefix(key string, list []string) bool {
	for _, p := range list {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// kindOf classifies an xattr key (index_find_xattr_type): dirty first, then pending.
func (x *Index) kindOf(key string) int {
	if hasPrefix(key, x.dirty) {
		return KindDirty
	}
	if hasPrefix(key, x.pending) {
		return KindXattrop
	}
	return -1
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (x *Index) tracked(flag graph.XattropFlag, dict graph.Xdata) bool {
	switch flag {
	case graph.XattropAddArray:
		return true
	case graph.XattropAddArray64:
		for k := range dict {
			if hasPrefix(k, x.wl64) || hasPrefix(k, x.pending) {
				return true
			}
		}
	}
	return false
}

// state per kind: -1 no watched key, 0 some watched key non-zero, 1 all watched keys zero.
func (x *Index) zfilled(d graph.Xdata, nonzeroOnly bool) [numKinds]int {
	z := [numKinds]int{-1, -1}
	for k, v := range d {
		kind := x.kindOf(k)
		if kind < 0 {
			continue
		}
		if !allZero(v) {
			z[kind] = 0
		} else if !nonzeroOnly && z[kind] != 0 {
			z[kind] = 1
		}
	}
	return z
}

func (x *Index) apply(g graph.GFID, z [numKinds]int) error {
	var first error
	for k, s := range z {
		var err error
		switch s {
		case 0:
			err = x.add(k, g)
		case 1:
			err = x.del(k, g)
		}
		if err != nil && first == nil {
			first = graph.Errorf(graph.Errno(err), "index %s: %s entry of %s", x.Name(), Subdirs[k], g)
		}
	}
	return first
}

func (x *Index) stripe(g graph.GFID) *sync.Mutex { return &x.stripes[g[15]] }

// xattrop is index_xattrop_do + xattrop_index_action around the child's xattrop.
func (x *Index) xattrop(ctx context.Context, g graph.GFID, flag graph.XattropFlag, dict graph.Xdata, do func() (graph.Xdata, graph.Xdata, error)) (graph.Xdata, graph.Xdata, error) {
	if g.IsZero() || !x.tracked(flag, dict) {
		return do()
	}
	mu := x.stripe(g)
	mu.Lock()
	defer mu.Unlock()
	// Wind phase: list the file before the change can reach the disk.
	if err := x.apply(g, x.zfilled(dict, true)); err != nil {
		return nil, nil, err
	}
	out, xd, err := do()
	if err != nil {
		return out, xd, err
	}
	if err := x.apply(g, x.zfilled(out, false)); err != nil {
		// The xattrop itself succeeded; a failed removal only leaves a stale entry (healed
		// away by the next crawl), a failed addition was already covered in the wind phase.
		x.Logger().Warn("index update after xattrop", zap.Error(err))
	}
	return out, xd, nil
}

// Xattrop implements graph.Fops.
func (x *Index) Xattrop(ctx context.Context, loc *graph.Loc, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	if loc == nil {
		return nil, nil, graph.Errorf(unix.EINVAL, "index: xattrop without loc")
	}
	if x.virtual(loc.GFID) >= 0 || x.virtual(loc.ParentGFID) >= 0 {
		return nil, nil, graph.Errorf(unix.EPERM, "index: xattrop on the index")
	}
	g := loc.GFID
	if g.IsZero() && loc.Name != "" {
		if r, err := x.FirstChild().Lookup(ctx, loc, nil); err == nil {
			g = r.Stat.GFID
		}
	}
	return x.xattrop(ctx, g, flag, dict, func() (graph.Xdata, graph.Xdata, error) {
		return x.FirstChild().Xattrop(ctx, loc, flag, dict, xdata)
	})
}

// Fxattrop implements graph.Fops.
func (x *Index) Fxattrop(ctx context.Context, fd *graph.FD, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	if fd == nil {
		return nil, nil, graph.Errorf(unix.EINVAL, "index: fxattrop without fd")
	}
	return x.xattrop(ctx, fd.GFID, flag, dict, func() (graph.Xdata, graph.Xdata, error) {
		return x.FirstChild().Fxattrop(ctx, fd, flag, dict, xdata)
	})
}

// ---- the virtual directories -----------------------------------------------------------------

// VirtualGFID returns the virtual GFID of the index of kind k.
func (x *Index) VirtualGFID(k int) graph.GFID { return x.vgfid[k] }

func (x *Index) virtual(g graph.GFID) int {
	if g.IsZero() {
		return -1
	}
	for k := range x.vgfid {
		if x.vgfid[k] == g {
			return k
		}
	}
	return -1
}

func iattOf(st *unix.Stat_t, g graph.GFID) graph.Iatt {
	return graph.Iatt{
		GFID: g, Ino: st.Ino, Dev: st.Dev, Mode: st.Mode, Nlink: uint32(st.Nlink), UID: st.Uid, GID: st.Gid,
		Size: uint64(st.Size), Blksize: uint32(st.Blksize), Blocks: uint64(st.Blocks),
		Atime: graph.Timespec{Sec: st.Atim.Sec, Nsec: uint32(st.Atim.Nsec)},
		Mtime: graph.Timespec{Sec: st.Mtim.Sec, Nsec: uint32(st.Mtim.Nsec)},
		Ctime: graph.Timespec{Sec: st.Ctim.Sec, Nsec: uint32(st.Ctim.Nsec)},
	}
}

// vstat describes a virtual directory or one of its entries.
func (x *Index) vstat(loc *graph.Loc) (graph.Iatt, bool, error) {
	if loc == nil {
		return graph.Iatt{}, false, nil
	}
	var st unix.Stat_t
	if k := x.virtual(loc.ParentGFID); k >= 0 && loc.Name != "" {
		g, err := graph.ParseGFID(loc.Name)
		if err != nil || strings.ContainsRune(loc.Name, '/') {
			return graph.Iatt{}, true, graph.Errorf(unix.ENOENT, "index: %s is not an index entry", loc.Name)
		}
		if err := unix.Lstat(x.EntryPath(k, g), &st); err != nil {
			return graph.Iatt{}, true, graph.Errorf(err.(unix.Errno), "index: entry %s", loc.Name)
		}
		return iattOf(&st, g), true, nil
	}
	if k := x.virtual(loc.GFID); k >= 0 {
		if err := unix.Lstat(x.subdir(k), &st); err != nil {
			return graph.Iatt{}, true, graph.Errorf(err.(unix.Errno), "index: %s", x.subdir(k))
		}
		return iattOf(&st, loc.GFID), true, nil
	}
	return graph.Iatt{}, false, nil
}

// Lookup implements graph.Fops: the virtual directories and their entries are answered here.
func (x *Index) Lookup(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.LookupReply, error) {
	if st, ok, err := x.vstat(loc); ok {
		return graph.LookupReply{Stat: st}, err
	}
	return x.FirstChild().Lookup(ctx, loc, xdata)
}

// Stat implements graph.Fops.
func (x *Index) Stat(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.Iatt, graph.Xdata, error) {
	if st, ok, err := x.vstat(loc); ok {
		return st, nil, err
	}
	return x.FirstChild().Stat(ctx, loc, xdata)
}

func (x *Index) count(k int) (uint64, error) {
	names, err := x.list(k)
	return uint64(len(names)), err
}

// list returns the GFID names in the index of kind k, sorted.
func (x *Index) list(k int) ([]string, error) {
	f, err := os.Open(x.subdir(k))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	all, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, n := range all {
		if isBaseName(k, n) || n == "." || n == ".." {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// Getxattr implements graph.Fops: the virtual GFIDs and the index counts.
func (x *Index) Getxattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	switch name {
	case KeyIndexGFID:
		return graph.Xdata{name: append([]byte(nil), x.vgfid[KindXattrop][:]...)}, nil, nil
	case KeyDirtyGFID:
		return graph.Xdata{name: append([]byte(nil), x.vgfid[KindDirty][:]...)}, nil, nil
	case KeyIndexCount, KeyDirtyCount:
		k := KindXattrop
		if name == KeyDirtyCount {
			k = KindDirty
		}
		n, err := x.count(k)
		if err != nil {
			return nil, nil, graph.Errorf(graph.Errno(err), "index: count %s", Subdirs[k])
		}
		return graph.Xdata{name: []byte(strconv.FormatUint(n, 10))}, nil, nil
	}
	if loc != nil && (x.virtual(loc.GFID) >= 0 || x.virtual(loc.ParentGFID) >= 0) {
		return nil, nil, graph.Errorf(unix.ENODATA, "index: no xattr %q on the index", name)
	}
	return x.FirstChild().Getxattr(ctx, loc, name, xdata)
}

// Opendir implements graph.Fops: a virtual directory is read into the FD at open.
func (x *Index) Opendir(ctx context.Context, loc *graph.Loc, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	if loc != nil && fd != nil {
		if k := x.virtual(loc.GFID); k >= 0 {
			names, err := x.list(k)
			if err != nil {
				return nil, graph.Errorf(graph.Errno(err), "index: opendir %s", Subdirs[k])
			}
			fd.SetCtx(x, &vdir{kind: k, names: names})
			return nil, nil
		}
	}
	return x.FirstChild().Opendir(ctx, loc, fd, xdata)
}

func (x *Index) vdirOf(fd *graph.FD) *vdir {
	if fd == nil {
		return nil
	}
	if v, ok := fd.Ctx(x); ok {
		return v.(*vdir)
	}
	return nil
}

func (x *Index) vreaddir(ctx context.Context, d *vdir, size uint32, offset uint64, plus bool) []graph.Dirent {
	var out []graph.Dirent
	used := uint32(0)
	for i := offset; i < uint64(len(d.names)); i++ {
		n := d.names[i]
		cost := uint32(24 + len(n))
		if plus {
			cost += 160
		}
		if len(out) > 0 && used+cost > size {
			break
		}
		used += cost
		de := graph.Dirent{Name: n, Off: i + 1, Type: unix.DT_UNKNOWN}
		if g, err := graph.ParseGFID(n); err == nil {
			de.Ino = graph.InoFromGFID(g)
			if plus {
				if r, err := x.FirstChild().Lookup(ctx, &graph.Loc{GFID: g}, nil); err == nil {
					de.Stat = r.Stat
					de.Type = r.Stat.DirentType()
				}
			}
		}
		out = append(out, de)
	}
	return out
}

// Readdir implements graph.Fops.
func (x *Index) Readdir(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) ([]graph.Dirent, graph.Xdata, error) {
	if d := x.vdirOf(fd); d != nil {
		return x.vreaddir(ctx, d, size, offset, false), nil, nil
	}
	return x.FirstChild().Readdir(ctx, fd, size, offset, xdata)
}

// Readdirp implements graph.Fops (entries carry the attributes of the GFID they name).
func (x *Index) Readdirp(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) ([]graph.Dirent, graph.Xdata, error) {
	if d := x.vdirOf(fd); d != nil {
		return x.vreaddir(ctx, d, size, offset, true), nil, nil
	}
	return x.FirstChild().Readdirp(ctx, fd, size, offset, xdata)
}

// Fstat implements graph.Fops.
func (x *Index) Fstat(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Iatt, graph.Xdata, error) {
	if d := x.vdirOf(fd); d != nil {
		st, _, err := x.vstat(&graph.Loc{GFID: x.vgfid[d.kind]})
		return st, nil, err
	}
	return x.FirstChild().Fstat(ctx, fd, xdata)
}

// Flush implements graph.Fops.
func (x *Index) Flush(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	if x.vdirOf(fd) != nil {
		return nil, nil
	}
	return x.FirstChild().Flush(ctx, fd, xdata)
}

// Fsyncdir implements graph.Fops.
func (x *Index) Fsyncdir(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (graph.Xdata, error) {
	if x.vdirOf(fd) != nil {
		return nil, nil
	}
	return x.FirstChild().Fsyncdir(ctx, fd, datasync, xdata)
}

// Unlink implements graph.Fops: (virtual GFID, "<gfid>") drops an index entry.
func (x *Index) Unlink(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (graph.ParentReply, error) {
	if loc != nil {
		if k := x.virtual(loc.ParentGFID); k >= 0 {
			return x.vremove(k, loc)
		}
	}
	return x.FirstChild().Unlink(ctx, loc, flags, xdata)
}

// Rmdir implements graph.Fops like Unlink for index entries.
func (x *Index) Rmdir(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (graph.ParentReply, error) {
	if loc != nil {
		if k := x.virtual(loc.ParentGFID); k >= 0 {
			return x.vremove(k, loc)
		}
	}
	return x.FirstChild().Rmdir(ctx, loc, flags, xdata)
}

func (x *Index) vremove(k int, loc *graph.Loc) (graph.ParentReply, error) {
	g, err := graph.ParseGFID(loc.Name)
	if err != nil {
		return graph.ParentReply{}, graph.Errorf(unix.ENOENT, "index: %q is not an index entry", loc.Name)
	}
	mu := x.stripe(g)
	mu.Lock()
	defer mu.Unlock()
	var st unix.Stat_t
	if err := unix.Lstat(x.EntryPath(k, g), &st); err != nil {
		return graph.ParentReply{}, graph.Errorf(unix.ENOENT, "index: no entry %s", loc.Name)
	}
	if err := x.del(k, g); err != nil {
		return graph.ParentReply{}, graph.Errorf(graph.Errno(err), "index: remove %s", loc.Name)
	}
	return graph.ParentReply{}, nil
}

// guard rejects modifying fops addressed to the index.
func (x *Index) guard(loc *graph.Loc) error {
	if loc != nil && (x.virtual(loc.GFID) >= 0 || x.virtual(loc.ParentGFID) >= 0) {
		return graph.Errorf(unix.EPERM, "index: operation on the index directory")
	}
	return nil
}

// Create implements graph.Fops.
func (x *Index) Create(ctx context.Context, loc *graph.Loc, flags int, mode uint32, umask uint32, fd *graph.FD, xdata graph.Xdata) (graph.EntryReply, error) {
	if err := x.guard(loc); err != nil {
		return graph.EntryReply{}, err
	}
	return x.FirstChild().Create(ctx, loc, flags, mode, umask, fd, xdata)
}

// Mkdir implements graph.Fops.
func (x *Index) Mkdir(ctx context.Context, loc *graph.Loc, mode uint32, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	if err := x.guard(loc); err != nil {
		return graph.EntryReply{}, err
	}
	return x.FirstChild().Mkdir(ctx, loc, mode, umask, xdata)
}

// Setxattr implements graph.Fops.
func (x *Index) Setxattr(ctx context.Context, loc *graph.Loc, dict graph.Xdata, flags int, xdata graph.Xdata) (graph.Xdata, error) {
	if err := x.guard(loc); err != nil {
		return nil, err
	}
	return x.FirstChild().Setxattr(ctx, loc, dict, flags, xdata)
}
