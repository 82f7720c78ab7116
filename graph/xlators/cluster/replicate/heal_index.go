package replicate

import (
	"context"
	"sort"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/xlators/features/index"
)

// indexList reads the index of kind (index.KindXattrop or index.KindDirty) of child i through
// the brick's features/index: getxattr of the virtual GFID on the root, then opendir and
// readdir of that GFID (what afr-self-heald.c's afr_shd_index_sweep does over the wire).
func (a *AFR) indexList(ctx context.Context, i, kind int) ([]graph.GFID, graph.GFID, error) {
	key := index.KeyIndexGFID
	if kind == index.KindDirty {
		key = index.KeyDirtyGFID
	}
	var vg graph.GFID
	v, _, err := a.kids[i].Getxattr(ctx, graph.RootLoc(), key, nil)
	if err != nil {
		return nil, vg, err
	}
	if len(v[key]) != 16 {
		return nil, vg, graph.Errorf(unix.ENOTSUP, "replicate %s: child %s has no index (no %s)", a.Name(), a.kids[i].Name(), key)
	}
	copy(vg[:], v[key])
	fd := graph.NewFD(nil, vg, unix.O_RDONLY|unix.O_DIRECTORY)
	fd.IsDir = true
	defer fd.Unref()
	if _, err := a.kids[i].Opendir(ctx, &graph.Loc{GFID: vg}, fd, nil); err != nil {
		return nil, vg, err
	}
	var out []graph.GFID
	var off uint64
	for {
		ents, _, err := a.kids[i].Readdir(ctx, fd, 64<<10, off, nil)
		if err != nil {
			return out, vg, err
		}
		if len(ents) == 0 {
			return out, vg, nil
		}
		for _, e := range ents {
			if g, err := graph.ParseGFID(e.Name); err == nil {
				out = append(out, g)
			}
		}
		if ents[len(ents)-1].Off == off {
			return out, vg, nil
		}
		off = ents[len(ents)-1].Off
	}
}

// pendingGFIDs is the union of the xattrop and dirty indices of every up child, sorted.
func (a *AFR) pendingGFIDs(ctx context.Context) ([]graph.GFID, map[graph.GFID][]int, error) {
	where := map[graph.GFID][]int{}
	var firstErr error
	ok := false
	for i := range a.kids {
		if !a.up[i].Load() {
			continue
		}
		for _, kind := range []int{index.KindXattrop, index.KindDirty} {
			gs, _, err := a.indexList(ctx, i, kind)
			if err != nil {
				firstErr = keep(firstErr, err)
				continue
			}
			ok = true
			for _, g := range gs {
				where[g] = append(where[g], i)
			}
		}
	}
	if !ok && firstErr != nil {
		return nil, nil, firstErr
	}
	out := make([]graph.GFID, 0, len(where))
	for g := range where {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i][:]) < string(out[j][:]) })
	return out, where, nil
}

// HealSummary counts what a sweep did.
type HealSummary struct {
	Scanned    int
	Healed     int
	SplitBrain []graph.GFID
	Failed     map[graph.GFID]string
	Purged     int // index entries of GFIDs no child has any more
}

func (s *HealSummary) add(r HealResult, err error) {
	s.Scanned++
	if len(r.Healed) > 0 {
		s.Healed++
	}
	if len(r.SplitBrain) > 0 {
		s.SplitBrain = append(s.SplitBrain, r.GFID)
	} else if err != nil {
		if s.Failed == nil {
			s.Failed = map[graph.GFID]string{}
		}
		s.Failed[r.GFID] = err.Error()
	}
}

// healTree heals g and then, depth first, the entries an entry heal created.
func (a *AFR) healTree(ctx context.Context, g graph.GFID, sum *HealSummary) HealResult {
	queue := []graph.GFID{g}
	var first HealResult
	for k := 0; len(queue) > 0 && k < 1<<20; k++ {
		cur := queue[0]
		queue = queue[1:]
		r, err := a.healGFID(ctx, cur, healAll)
		if k == 0 {
			first = r
		}
		sum.add(r, err)
		queue = append(queue, r.NewEntries...)
		if !r.Gone && len(r.Healed) == 0 && len(r.SplitBrain) == 0 && err == nil {
			a.touchChangelog(ctx, cur)
		}
	}
	return first
}

// touchChangelog sends an all-zero xattrop of the changelog keys to every up copy: nothing
// changes, and features/index drops a stale entry whose counters are all zero (race-free: the
// index judges the values the xattrop returns under its per-GFID serialisation).
func (a *AFR) touchChangelog(ctx context.Context, g graph.GFID) {
	x := a.changelogDict(IdxData, 0, nil)
	fan(a.upSet(), func(i int) (graph.Xdata, error) {
		v, _, err := a.kids[i].Xattrop(internalCtx(ctx), &graph.Loc{GFID: g}, graph.XattropAddArray, x, nil)
		return v, err
	})
}

// HealAll heals every GFID listed in the xattrop and dirty indices of the up children (index
// heal, "gluster volume heal VOL"), repeating while a sweep heals something (entry heals list
// new entries), at most 5 sweeps. Index entries of GFIDs no child has are removed.
func HealAll(ctx context.Context, a *AFR) (HealSummary, error) {
	ctx = healCtx(ctx)
	var sum HealSummary
	for sweep := 0; sweep < 5; sweep++ {
		gs, where, err := a.pendingGFIDs(ctx)
		if err != nil {
			return sum, err
		}
		before := sum.Healed
		for _, g := range gs {
			if ctx.Err() != nil {
				return sum, graph.Errorf(unix.EINTR, "replicate %s: heal: %v", a.Name(), ctx.Err())
			}
			r := a.healTree(ctx, g, &sum)
			if r.Gone {
				for _, i := range where[g] {
					a.purgeIndex(ctx, i, g)
				}
				sum.Purged++
			}
		}
		if sum.Healed == before {
			break
		}
	}
	return sum, nil
}

func (a *AFR) purgeIndex(ctx context.Context, i int, g graph.GFID) {
	for _, kind := range []int{index.KindXattrop, index.KindDirty} {
		key := index.KeyIndexGFID
		if kind == index.KindDirty {
			key = index.KeyDirtyGFID
		}
		v, _, err := a.kids[i].Getxattr(ctx, graph.RootLoc(), key, nil)
		if err != nil || len(v[key]) != 16 {
			continue
		}
		var vg graph.GFID
		copy(vg[:], v[key])
		_, _ = a.kids[i].Unlink(ctx, &graph.Loc{ParentGFID: vg, Name: g.String()}, 0, nil)
	}
}

// HealFull crawls the whole volume from the root ("gluster volume heal VOL full"): every
// directory is entry-healed before it is listed, every GFID found is healed.
func HealFull(ctx context.Context, a *AFR) (HealSummary, error) {
	ctx = healCtx(ctx)
	var sum HealSummary
	dirs := []graph.GFID{graph.RootGFID}
	seen := map[graph.GFID]bool{graph.RootGFID: true}
	for len(dirs) > 0 {
		d := dirs[0]
		dirs = dirs[1:]
		if ctx.Err() != nil {
			return sum, graph.Errorf(unix.EINTR, "replicate %s: heal full: %v", a.Name(), ctx.Err())
		}
		a.healTree(ctx, d, &sum)
		i, err := a.readChild(ctx, d, IdxEntry)
		if err != nil {
			i = a.firstUp()
		}
		if i < 0 {
			return sum, errDown("heal full")
		}
		ents, err := a.listDir(ctx, i, d)
		if err != nil {
			sum.add(HealResult{GFID: d}, err)
			continue
		}
		names := make([]string, 0, len(ents))
		for n := range ents {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			e := ents[n]
			if seen[e.gfid] || e.gfid.IsZero() {
				continue
			}
			seen[e.gfid] = true
			if e.mode&unix.S_IFMT == unix.S_IFDIR {
				dirs = append(dirs, e.gfid)
				continue
			}
			a.healTree(ctx, e.gfid, &sum)
		}
	}
	return sum, nil
}

func (a *AFR) firstUp() int {
	for i := range a.kids {
		if a.up[i].Load() {
			return i
		}
	}
	return -1
}

// HealInfoEntry is one GFID needing heal as a child's index lists it.
type HealInfoEntry struct {
	GFID   graph.GFID
	Path   string // "" when the GFID's path is not known to this graph
	Status string // "split-brain", "pending" (a copy is blamed) or "possibly healing" (only dirty)
	Types  []string
}

// ChildHealInfo is heal info for one child ("Brick ...: Number of entries").
type ChildHealInfo struct {
	Child   string
	Up      bool
	Err     string
	Entries []HealInfoEntry
}

// HealInfo lists, per child, the GFIDs its indices hold that still need heal, and which of
// them are in split-brain ("gluster volume heal VOL info").
func HealInfo(ctx context.Context, a *AFR) ([]ChildHealInfo, error) {
	ctx = healCtx(ctx)
	out := make([]ChildHealInfo, len(a.kids))
	cache := map[graph.GFID]*HealInfoEntry{}
	for i, k := range a.kids {
		out[i] = ChildHealInfo{Child: k.Name(), Up: a.up[i].Load()}
		if !out[i].Up {
			continue
		}
		seen := map[graph.GFID]bool{}
		for _, kind := range []int{index.KindXattrop, index.KindDirty} {
			gs, _, err := a.indexList(ctx, i, kind)
			if err != nil {
				out[i].Err = err.Error()
				continue
			}
			for _, g := range gs {
				if seen[g] {
					continue
				}
				seen[g] = true
				e, ok := cache[g]
				if !ok {
					e = a.healInfoOf(ctx, g)
					cache[g] = e
				}
				if e != nil {
					out[i].Entries = append(out[i].Entries, *e)
				}
			}
		}
	}
	return out, nil
}

func (a *AFR) healInfoOf(ctx context.Context, g graph.GFID) *HealInfoEntry {
	cs := a.inspect(ctx, a.upSet(), g)
	e := &HealInfoEntry{GFID: g, Path: a.pathOf(g)}
	pending, sb, dirtyOnly := false, false, true
	for t := 0; t < 3; t++ {
		v := a.direction(t, cs)
		if !v.needHeal {
			continue
		}
		e.Types = append(e.Types, typName(t))
		pending = true
		if v.splitBrain {
			sb = true
		}
		if count(v.sinks) > 0 || v.splitBrain {
			dirtyOnly = false
		}
	}
	if !pending {
		return nil
	}
	switch {
	case sb:
		e.Status = "split-brain"
	case dirtyOnly:
		e.Status = "possibly healing"
	default:
		e.Status = "pending"
	}
	return e
}

func (a *AFR) pathOf(g graph.GFID) string {
	if g.IsRoot() {
		return "/"
	}
	gr := a.Graph()
	if gr == nil || gr.Inodes == nil {
		return ""
	}
	in := gr.Inodes.Find(g)
	if in == nil {
		return ""
	}
	defer in.Unref()
	return in.Path()
}

// RunHealDaemon is the self-heal daemon loop (afr-self-heald.c) for one replicate translator:
// an index heal every interval, at once when a child that was down comes back up, and again
// within a few seconds while a sweep leaves failures (a brick still reconnecting). It returns
// when ctx is done.
func RunHealDaemon(ctx context.Context, a *AFR, interval time.Duration) {
	if interval <= 0 {
		interval = 10 * time.Minute
	}
	retry := 2 * time.Second
	if retry > interval {
		retry = interval
	}
	for {
		wait := interval
		if count(a.upSet()) >= 2 {
			sum, err := HealAll(ctx, a)
			switch {
			case err != nil && ctx.Err() == nil:
				a.Logger().Warn("index heal", zap.Error(err))
				wait = retry
			case len(sum.Failed) > 0:
				a.Logger().Info("index heal left failures; retrying", zap.Int("failed", len(sum.Failed)))
				wait = retry
			case sum.Healed > 0 || len(sum.SplitBrain) > 0:
				a.Logger().Info("index heal", zap.Int("scanned", sum.Scanned), zap.Int("healed", sum.Healed), zap.Int("split-brain", len(sum.SplitBrain)))
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-a.childCameUp:
			t.Stop()
		}
	}
}
