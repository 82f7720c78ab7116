package distribute

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Type is the registered translator type.
const Type = "cluster/distribute"

// GFIDReqKey is the xdata key carrying the GFID a create-type fop gives the new entry.
const GFIDReqKey = "gfid-req"

// Lookup-unhashed modes (GF_DHT_LOOKUP_UNHASHED_*).
const (
	unhashedOff = iota
	unhashedOn
	unhashedAuto
)

func init() {
	graph.Register(graph.Registration{
		Type:        Type,
		New:         func() graph.Xlator { return &DHT{} },
		Description: "distribute files over subvolumes by name hash (GlusterFS DHT)",
		MinChildren: 1,
		MaxChildren: -1,
		Options: []graph.OptionSpec{
			{Key: "lookup-unhashed", Type: graph.OptEnum, Default: "on", Enum: []string{"on", "off", "auto", "yes", "no", "true", "false", "enable", "disable"},
				Description: "on a miss on the hashed subvolume, look the name up on every subvolume (auto: only in directories whose layout is not committed)"},
			{Key: "lookup-optimize", Type: graph.OptBool, Default: "on",
				Description: "new directories get the volume commit hash, so misses in them need not search everywhere"},
			{Key: "rsync-hash-regex", Type: graph.OptString, Default: DefaultRsyncHashRegex,
				Description: "names matching it hash as their first submatch (none disables)"},
			{Key: "extra-hash-regex", Type: graph.OptString, Default: "none",
				Description: "tried before rsync-hash-regex"},
			{Key: "weighted-rebalance", Type: graph.OptBool, Default: "on",
				Description: "size new directories' hash ranges by brick size"},
			{Key: "randomize-hash-range-by-gfid", Type: graph.OptBool, Default: "off",
				Description: "rotate new layouts by the directory's GFID instead of its path"},
			{Key: "directory-layout-spread", Type: graph.OptInt, Default: "0", Min: 0, Max: 1 << 16,
				Description: "number of subvolumes a new directory's layout spans (0: all)"},
			{Key: "min-free-disk", Type: graph.OptPercent, Default: "10",
				Description: "accepted for volfile compatibility; not used for placement yet"},
			{Key: "readdir-optimize", Type: graph.OptBool, Default: "off", Description: "accepted for volfile compatibility"},
			{Key: "force-migration", Type: graph.OptBool, Default: "off", Description: "accepted for volfile compatibility"},
			{Key: "lock-migration", Type: graph.OptBool, Default: "off", Description: "accepted for volfile compatibility"},
			{Key: "use-readdirp", Type: graph.OptBool, Default: "on", Description: "accepted for volfile compatibility"},
			{Key: "migrate-chunk-pause", Type: graph.OptDuration, Default: "0", Min: 0, Max: 60,
				Description: "pause between the chunks a file migration copies (rebalance throttle; 0: none)"},
			{Key: "rename-leftover-age", Type: graph.OptDuration, Default: "600", Min: 1, Max: 7 * 24 * 3600,
				Description: "fix-layout and rebalance remove rename's temporary names (.weft-dht-rename-*) older than this: leftovers of an interrupted rename"},
		},
	})
}

// DHT is the cluster/distribute translator.
type DHT struct {
	graph.Base

	subs     []graph.Xlator
	names    []string
	hasher   *Hasher
	unhashed int
	optimize bool
	weight   bool
	byGFID   bool
	spread   int
	pause    time.Duration
	// leftoverAge is how old a rename's temporary name must be before the fix-layout crawl
	// takes it for a leftover of an interrupted rename.
	leftoverAge time.Duration

	up      []atomic.Bool
	anyUp   atomic.Bool
	evMu    sync.Mutex
	upCount int

	mu      sync.Mutex
	layouts map[graph.GFID]*Layout // directory layouts (GlusterFS keeps them in the inode ctx)
	cached  map[graph.GFID]int     // regular files: the subvolume holding the data

	duMu     sync.Mutex
	duChunks []uint32
	duAt     time.Time

	// volCommit caches the volume commit hash (the root's trusted.glusterfs.dht.commithash):
	// bit 32 set means the low 32 bits are known (0: the root has none). It is dropped by
	// fix-layout and by layout errors, and refreshed by every lookup of the root.
	volCommit atomic.Uint64
}

const volCommitKnown = 1 << 32

const cacheLimit = 1 << 18

// Init implements graph.Xlator.
func (d *DHT) Init(ctx context.Context) error {
	o := d.Options()
	d.subs = d.Children()
	d.names = make([]string, len(d.subs))
	for i, s := range d.subs {
		d.names[i] = s.Name()
	}
	h, err := NewHasher(o.String("rsync-hash-regex"), o.String("extra-hash-regex"))
	if err != nil {
		return graph.Errorf(unix.EINVAL, "distribute %s: bad hash regex: %v", d.Name(), err)
	}
	d.hasher = h
	switch o.String("lookup-unhashed") {
	case "auto":
		d.unhashed = unhashedAuto
	default:
		if b, _ := graph.ParseBool(o.String("lookup-unhashed")); b {
			d.unhashed = unhashedOn
		} else {
			d.unhashed = unhashedOff
		}
	}
	d.optimize = o.Bool("lookup-optimize")
	d.weight = o.Bool("weighted-rebalance")
	d.byGFID = o.Bool("randomize-hash-range-by-gfid")
	d.spread = int(o.Int("directory-layout-spread"))
	d.pause = o.Duration("migrate-chunk-pause")
	d.leftoverAge = o.Duration("rename-leftover-age")
	d.up = make([]atomic.Bool, len(d.subs))
	d.layouts = map[graph.GFID]*Layout{}
	d.cached = map[graph.GFID]int{}
	return nil
}

// SubvolName returns the name of subvolume i.
func (d *DHT) SubvolName(i int) string { return d.names[i] }

// Subvols returns the subvolumes.
func (d *DHT) Subvols() []graph.Xlator { return d.subs }

func (d *DHT) subvolIndexOf(x graph.Xlator) int {
	for i, s := range d.subs {
		if s == x {
			return i
		}
	}
	return -1
}

func (d *DHT) subvolIndex(name string) int {
	for i, n := range d.names {
		if n == name {
			return i
		}
	}
	return -1
}

// ---- events ---------------------------------------------------------------------------------

// Notify implements graph.Xlator: CHILD_UP goes up when the first subvolume comes up, CHILD_DOWN
// when the last one goes down (dht_notify).
func (d *DHT) Notify(ctx context.Context, ev graph.Event, from graph.Xlator) {
	if ev.IsDownward() {
		d.ForwardEvent(ctx, ev)
		return
	}
	idx := -1
	for i, s := range d.subs {
		if s == from {
			idx = i
		}
	}
	if idx < 0 {
		d.ForwardEvent(ctx, ev)
		return
	}
	d.evMu.Lock()
	var send graph.Event
	switch ev {
	case graph.EventChildUp:
		if !d.up[idx].Swap(true) {
			d.upCount++
		}
		if d.upCount == 1 {
			send = graph.EventChildUp
		}
	case graph.EventChildDown:
		if d.up[idx].Swap(false) {
			d.upCount--
		}
		if d.upCount == 0 {
			send = graph.EventChildDown
		}
	default:
		send = ev
	}
	d.anyUp.Store(d.upCount > 0)
	d.evMu.Unlock()
	if send != 0 {
		d.ForwardEvent(ctx, send)
	}
}

// ---- caches ---------------------------------------------------------------------------------

func (d *DHT) getLayout(g graph.GFID) *Layout {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.layouts[g]
}

func (d *DHT) setLayout(g graph.GFID, l *Layout) {
	d.mu.Lock()
	if len(d.layouts) > cacheLimit {
		d.layouts = map[graph.GFID]*Layout{}
	}
	d.layouts[g] = l
	d.mu.Unlock()
}

func (d *DHT) getCached(g graph.GFID) (int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, ok := d.cached[g]
	return i, ok
}

func (d *DHT) setCached(g graph.GFID, i int) {
	d.mu.Lock()
	if len(d.cached) > cacheLimit {
		d.cached = map[graph.GFID]int{}
	}
	d.cached[g] = i
	d.mu.Unlock()
}

func (d *DHT) forget(g graph.GFID) {
	d.mu.Lock()
	delete(d.cached, g)
	delete(d.layouts, g)
	d.mu.Unlock()
}

// ---- helpers --------------------------------------------------------------------------------

type result[T any] struct {
	v   T
	err error
}

// fanout runs f on the given subvolumes in parallel and returns the results by position.
func fanout[T any](idx []int, f func(i int) (T, error)) []result[T] {
	out := make([]result[T], len(idx))
	if len(idx) == 1 {
		v, err := f(idx[0])
		out[0] = result[T]{v, err}
		return out
	}
	var wg sync.WaitGroup
	for k, i := range idx {
		wg.Add(1)
		go func(k, i int) {
			defer wg.Done()
			v, err := f(i)
			out[k] = result[T]{v, err}
		}(k, i)
	}
	wg.Wait()
	return out
}

func (d *DHT) all() []int {
	idx := make([]int, len(d.subs))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func isLinkfile(st *graph.Iatt, x graph.Xdata) bool {
	if !st.IsReg() || st.Perm() != unix.S_ISVTX {
		return false
	}
	if x == nil {
		return st.Size == 0
	}
	return x.Has(XattrLinkto)
}

func gfidReq(x graph.Xdata) (graph.GFID, graph.Xdata) {
	if v, ok := x[GFIDReqKey]; ok && len(v) == 16 {
		var g graph.GFID
		copy(g[:], v)
		return g, x
	}
	g := graph.NewGFID()
	nx := x.Clone()
	if nx == nil {
		nx = graph.Xdata{}
	}
	nx[GFIDReqKey] = append([]byte(nil), g[:]...)
	return g, nx
}

func withGFIDReq(x graph.Xdata, g graph.GFID) graph.Xdata {
	nx := x.Clone()
	if nx == nil {
		nx = graph.Xdata{}
	}
	nx[GFIDReqKey] = append([]byte(nil), g[:]...)
	return nx
}

func lookupXdata(x graph.Xdata) graph.Xdata {
	nx := x.Clone()
	if nx == nil {
		nx = graph.Xdata{}
	}
	nx[XattrLayout] = nil
	nx[XattrLinkto] = nil
	return nx
}

func locPath(loc *graph.Loc) string {
	if loc.Path != "" {
		return loc.Path
	}
	return loc.String()
}

// chunks returns the subvolumes' sizes in 1 MiB chunks, refreshed at most every 5 seconds
// (dht_get_du_info).
func (d *DHT) chunks(ctx context.Context) []uint32 {
	d.duMu.Lock()
	if d.duChunks != nil && time.Since(d.duAt) < 5*time.Second {
		c := d.duChunks
		d.duMu.Unlock()
		return c
	}
	d.duMu.Unlock()
	res := fanout(d.all(), func(i int) (graph.Statvfs, error) {
		st, _, err := d.subs[i].Statfs(ctx, graph.RootLoc(), nil)
		return st, err
	})
	c := make([]uint32, len(d.subs))
	for i, r := range res {
		if r.err != nil || r.v.Blocks == 0 || r.v.Bsize == 0 {
			continue
		}
		bpc := uint64(1<<20) / r.v.Bsize
		if bpc == 0 {
			bpc = 1
		}
		c[i] = uint32((r.v.Blocks + bpc - 1) / bpc)
	}
	d.duMu.Lock()
	d.duChunks, d.duAt = c, time.Now()
	d.duMu.Unlock()
	return c
}

func (d *DHT) assignParams(ctx context.Context, path string, g graph.GFID) AssignParams {
	return AssignParams{Hasher: d.hasher, Path: path, ByGFID: d.byGFID, GFID: g.String(),
		Chunks: d.chunks(ctx), Weight: d.weight, Spread: d.spread}
}

// ---- directory layouts ----------------------------------------------------------------------

type dirResult struct {
	rep graph.LookupReply
	err error
}

// lookupDir looks a directory up on every subvolume and merges the layout.
func (d *DHT) lookupDir(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) ([]dirResult, *Layout) {
	lx := lookupXdata(xdata)
	root := loc.GFID.IsRoot()
	if root {
		lx[XattrCommitHash] = nil // refreshes the cached volume commit hash for free
	}
	res := fanout(d.all(), func(i int) (graph.LookupReply, error) {
		return d.subs[i].Lookup(ctx, loc, lx)
	})
	if root && res[0].err == nil && res[0].v.Stat.IsDir() {
		d.noteRootCommitHash(res[0].v.Xdata)
		if !xdata.Has(XattrCommitHash) && res[0].v.Xdata != nil {
			delete(res[0].v.Xdata, XattrCommitHash)
		}
	}
	out := make([]dirResult, len(res))
	l := &Layout{Type: HashTypeDM, at: time.Now()}
	first := true
	for i, r := range res {
		out[i] = dirResult{r.v, r.err}
		rg := Range{Subvol: i, Name: d.names[i]}
		switch {
		case r.err != nil:
			rg.Err = int(graph.Errno(r.err))
		case !r.v.Stat.IsDir():
			rg.Err = int(unix.ENOTDIR)
		default:
			if v, ok := r.v.Xdata[XattrLayout]; ok && len(v) > 0 {
				ch, typ, st, sp, err := DecodeRange(v)
				if err != nil {
					rg.Err = -1 // a corrupt range is rewritten by the heal
					d.dropVolCommitHash()
				} else {
					rg.Start, rg.Stop, rg.CommitHash = st, sp, ch
					if typ == HashTypeDMUser {
						l.Type = typ
					}
					if first {
						l.CommitHash = ch
						first = false
					} else if l.CommitHash != ch {
						l.CommitHash = LayoutHashInvalid
					}
				}
			}
		}
		l.Ranges = append(l.Ranges, rg)
	}
	d.keepDownRanges(out, l)
	return out, l
}

// keepDownRanges gives subvolumes that are down (ENOTCONN) the range they had in the cached
// layout of the directory, so names hashed to them fail with ENOTCONN rather than EIO for a
// hole, and come back as soon as the subvolume does.
func (d *DHT) keepDownRanges(res []dirResult, l *Layout) {
	var g graph.GFID
	down := false
	for i, r := range res {
		if r.err == nil && r.rep.Stat.IsDir() && g.IsZero() {
			g = r.rep.Stat.GFID
		}
		if graph.Errno(res[i].err) == unix.ENOTCONN {
			down = true
		}
	}
	if !down || g.IsZero() {
		return
	}
	old := d.getLayout(g)
	if old == nil {
		return
	}
	for i := range l.Ranges {
		r := &l.Ranges[i]
		if r.Err != int(unix.ENOTCONN) {
			continue
		}
		if o := old.For(r.Subvol); o != nil && !(o.Start == 0 && o.Stop == 0) {
			r.Start, r.Stop, r.CommitHash = o.Start, o.Stop, o.CommitHash
		}
	}
}

// dirLayout returns the layout of directory g, looking it up (nameless) when not cached.
func (d *DHT) dirLayout(ctx context.Context, g graph.GFID) (*Layout, error) {
	if l := d.getLayout(g); l != nil {
		return l, nil
	}
	loc := &graph.Loc{GFID: g}
	if g.IsRoot() {
		loc = graph.RootLoc()
	}
	res, l := d.lookupDir(ctx, loc, nil)
	var firstErr error
	ok := false
	for _, r := range res {
		switch {
		case r.err == nil && r.rep.Stat.IsDir():
			ok = true
		case r.err == nil:
			// The "parent" is a file: names under it do not exist (ENOTDIR, as a path walk says).
			firstErr = graph.Errorf(unix.ENOTDIR, "distribute: %s is not a directory", loc)
		case firstErr == nil:
			firstErr = r.err
		}
	}
	if !ok {
		return nil, firstErr
	}
	if l.Search(0) < 0 && l.Anomalies().Holes > 0 && len(d.subs) > 0 {
		// A directory never laid out (a fresh root): heal it now.
		d.healLayout(ctx, loc, res, l)
	}
	d.setLayout(g, l)
	return l, nil
}

func (d *DHT) lock(ctx context.Context, sub graph.Xlator, loc *graph.Loc, typ int16) (func(), error) {
	fl := &graph.Flock{Type: typ}
	if _, err := sub.Inodelk(ctx, LayoutHealDomain, loc, graph.SetLkW, fl, nil); err != nil {
		if e := graph.Errno(err); e == unix.ENOSYS || e == unix.EOPNOTSUPP {
			return func() {}, nil // no locks translator below: nothing to serialise with
		}
		return nil, err
	}
	return func() {
		ul := &graph.Flock{Type: graph.LockUnlock}
		_, _ = sub.Inodelk(context.WithoutCancel(ctx), LayoutHealDomain, loc, graph.SetLk, ul, nil)
	}, nil
}

// healLayout recreates a directory where it is missing and rewrites the layout when it has holes
// or overlaps (dht_selfheal_directory), under an inodelk in dht.layout.heal. With a subvolume
// down nothing is rewritten (GlusterFS refuses too: the down brick's range is unknown).
func (d *DHT) healLayout(ctx context.Context, loc *graph.Loc, res []dirResult, l *Layout) {
	var src *graph.Iatt
	lockSub := -1
	for i, r := range res {
		if r.err == nil && r.rep.Stat.IsDir() {
			if src == nil {
				src = &res[i].rep.Stat
			}
			if lockSub < 0 {
				lockSub = i
			}
		}
	}
	a := l.Anomalies()
	if src == nil || a.Down > 0 || a.Misc > 0 {
		return
	}
	g := src.GFID
	dirLoc := *loc
	dirLoc.GFID = g
	unlock, err := d.lock(ctx, d.subs[lockSub], &graph.Loc{GFID: g, Path: loc.Path}, graph.LockWrite)
	if err != nil {
		return
	}
	defer unlock()
	var missing []int
	for i := range l.Ranges {
		if l.Ranges[i].Err == int(unix.ENOENT) && loc.Name != "" {
			missing = append(missing, l.Ranges[i].Subvol)
		}
	}
	mk := fanout(missing, func(i int) (graph.EntryReply, error) {
		ml := &graph.Loc{Path: loc.Path, Name: loc.Name, ParentGFID: loc.ParentGFID}
		return d.subs[i].Mkdir(ctx, ml, src.Mode&07777, 0, withGFIDReq(nil, g))
	})
	for k, i := range missing {
		if mk[k].err == nil || graph.Errno(mk[k].err) == unix.EEXIST {
			l.For(i).Err = -1
		}
	}
	if a.Holes == 0 && a.Overlaps == 0 {
		// Only missing copies: they join with an empty range (fix-layout gives them one).
		for _, i := range missing {
			if r := l.For(i); r.Err == -1 {
				r.Err = 0
			}
		}
		return
	}
	l.CommitHash = LayoutHashInvalid
	l.AssignNew(d.assignParams(ctx, locPath(loc), g))
	d.writeLayout(ctx, g, loc.Path, l)
}

// writeLayout stores each subvolume's range on its copy of the directory.
func (d *DHT) writeLayout(ctx context.Context, g graph.GFID, path string, l *Layout) []error {
	var idx []int
	for _, r := range l.Ranges {
		if r.Err == -1 || r.Err == 0 {
			idx = append(idx, r.Subvol)
		}
	}
	res := fanout(idx, func(i int) (graph.Xdata, error) {
		r := l.For(i)
		v := EncodeRange(r.CommitHash, l.Type, r.Start, r.Stop)
		return d.subs[i].Setxattr(ctx, &graph.Loc{GFID: g, Path: path}, graph.Xdata{XattrLayout: v}, 0, nil)
	})
	errs := make([]error, len(d.subs))
	for k, i := range idx {
		errs[i] = res[k].err
		if res[k].err == nil {
			l.For(i).Err = 0
		}
	}
	return errs
}

// layoutRecheck is how old a cached layout of a directory that is not committed may be before
// hashed reads it (and the volume commit hash) again.
const layoutRecheck = time.Second

// stale reports whether l, a cached directory layout, is not committed and old enough to be read
// again (see hashed). It only matters where commit state decides anything: lookup-optimize on.
func (d *DHT) stale(ctx context.Context, l *Layout) bool {
	if !d.optimize || len(d.subs) == 1 || d.unhashed == unhashedOff || d.committed(ctx, l) {
		return false
	}
	return time.Since(l.at) >= layoutRecheck
}

// dropLayout forgets the cached layout of directory g if it is still l.
func (d *DHT) dropLayout(g graph.GFID, l *Layout) {
	d.mu.Lock()
	if d.layouts[g] == l {
		delete(d.layouts, g)
	}
	d.mu.Unlock()
}

// hashed returns the subvolume that loc's name hashes to in its parent's layout.
func (d *DHT) hashed(ctx context.Context, loc *graph.Loc) (int, *Layout, error) {
	if len(d.subs) == 1 {
		return 0, nil, nil
	}
	pg := loc.ParentGFID
	if pg.IsZero() {
		return -1, nil, graph.Errorf(unix.EINVAL, "distribute: %s: no parent", loc)
	}
	l, err := d.dirLayout(ctx, pg)
	if err != nil {
		return -1, nil, err
	}
	if d.stale(ctx, l) {
		// The directory may have been committed by a rebalance since its layout was read
		// (the new volume commit hash and its layout's): read both again, at most once per
		// layoutRecheck, so that a long-lived client (a gateway resolving handles, which never
		// looks the directory up again) gets back to one-fop creates.
		d.dropVolCommitHash()
		d.dropLayout(pg, l)
		if nl, err := d.dirLayout(ctx, pg); err == nil {
			l = nl
		}
	}
	i := l.Search(d.hasher.Hash(loc.Name))
	if i < 0 {
		d.dropVolCommitHash()
		return -1, l, graph.Errorf(unix.EIO, "distribute: %s: no subvolume holds hash %#x (layout has a hole)", loc, d.hasher.Hash(loc.Name))
	}
	return i, l, nil
}

var errNotFound = errors.New("not found")

// cachedSubvol returns the subvolume holding the data of the file at loc (or with gfid g),
// looking the file up when it is not cached.
func (d *DHT) cachedSubvol(ctx context.Context, loc *graph.Loc) (int, error) {
	g := loc.GFID
	if !g.IsZero() {
		if i, ok := d.getCached(g); ok {
			return i, nil
		}
	}
	r, err := d.Lookup(ctx, loc, nil)
	if err != nil {
		return -1, err
	}
	if i, ok := d.getCached(r.Stat.GFID); ok {
		return i, nil
	}
	return -1, graph.Errorf(unix.EIO, "distribute: %s: %v", loc, errNotFound)
}

// fdState is distribute's context in an FD: the subvolume the FD is open on and the file's GFID
// (an FD given to Create carries no GFID; the file's is known once it is created or found).
type fdState struct {
	sub  int
	gfid graph.GFID
}

// bindFD records that fd is open on subvolume sub for the file with GFID g.
func (d *DHT) bindFD(fd *graph.FD, sub int, g graph.GFID) {
	if g.IsZero() {
		g = fd.GFID
	}
	fd.SetCtx(d, fdState{sub: sub, gfid: g})
}

// fdGFID returns the GFID of fd's file.
func (d *DHT) fdGFID(fd *graph.FD) graph.GFID {
	if v, ok := fd.Ctx(d); ok {
		if st := v.(fdState); !st.gfid.IsZero() {
			return st.gfid
		}
	}
	return fd.GFID
}

func (d *DHT) fdSubvol(ctx context.Context, fd *graph.FD) (int, error) {
	if v, ok := fd.Ctx(d); ok {
		return v.(fdState).sub, nil
	}
	if i, ok := d.getCached(fd.GFID); ok {
		return i, nil
	}
	return d.cachedSubvol(ctx, &graph.Loc{GFID: fd.GFID})
}

func (d *DHT) isDir(g graph.GFID) bool {
	if g.IsRoot() {
		return true
	}
	return d.getLayout(g) != nil
}

// volCommitHash returns the volume commit hash (0 when the root has none), read from the root on
// the first subvolume once and cached: it changes only when a rebalance commits, and the cache is
// refreshed by root lookups and dropped by fix-layout and layout errors. A failed read (the first
// subvolume down) is not cached.
func (d *DHT) volCommitHash(ctx context.Context) uint32 {
	if v := d.volCommit.Load(); v&volCommitKnown != 0 {
		return uint32(v)
	}
	v, _, err := d.subs[0].Getxattr(ctx, graph.RootLoc(), XattrCommitHash, nil)
	if err != nil {
		if graph.Errno(err) == unix.ENODATA {
			d.volCommit.Store(volCommitKnown)
		}
		return 0
	}
	n, ok := parseCommitHash(v[XattrCommitHash])
	d.volCommit.Store(volCommitKnown | uint64(n))
	if !ok {
		return 0
	}
	return n
}

// parseCommitHash decodes the root's commit hash xattr (a decimal string, NUL-terminated); a
// malformed value counts as none.
func parseCommitHash(b []byte) (uint32, bool) {
	n, err := strconv.ParseUint(string(trimNul(b)), 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(n), true
}

// noteRootCommitHash refreshes the cached volume commit hash from a root lookup's reply on the
// first subvolume (the xattr was asked for in its xdata; absent means the root has none).
func (d *DHT) noteRootCommitHash(x graph.Xdata) {
	n, _ := parseCommitHash(x[XattrCommitHash])
	d.volCommit.Store(volCommitKnown | uint64(n))
}

// dropVolCommitHash forgets the cached volume commit hash: the next use reads it again.
func (d *DHT) dropVolCommitHash() { d.volCommit.Store(0) }

func trimNul(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

var (
	errNilLoc = graph.Errorf(unix.EINVAL, "distribute: no location")
	errNilFD  = graph.Errorf(unix.EBADF, "distribute: no fd")
	errNilArg = graph.Errorf(unix.EINVAL, "distribute: missing argument")
)
