package replicate

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// healTypes selects what a heal repairs.
type healTypes uint8

const (
	healData healTypes = 1 << iota
	healMetadata
	healEntry
	healAll = healData | healMetadata | healEntry
)

type healKey struct{}

// healCtx marks ctx as a heal's own, so lookups made on its behalf do not heal again.
func healCtx(ctx context.Context) context.Context { return context.WithValue(ctx, healKey{}, true) }

func isHealCtx(ctx context.Context) bool { v, _ := ctx.Value(healKey{}).(bool); return v }

// copyInfo is what one child says about a file: whether it has it, its attributes and its
// changelog (pending[j] = this copy's counters against child j; dirty = its own counters).
type copyInfo struct {
	seq     uint64 // stateSeq when the inspection began
	gen     uint64 // evGen when the inspection began
	asked   bool
	present bool
	err     error
	st      graph.Iatt
	pending [][3]int32
	dirty   [3]int32
}

func (a *AFR) copyOf(asked bool, r graph.LookupReply, err error) copyInfo {
	c := copyInfo{asked: asked, err: err, pending: make([][3]int32, len(a.kids))}
	if !asked || err != nil {
		return c
	}
	c.present = true
	c.st = r.Stat
	for j, k := range a.keys {
		if v, e := DecodePending(r.Xdata[k]); e == nil {
			c.pending[j] = v
		}
	}
	if v, e := DecodePending(r.Xdata[XattrDirty]); e == nil {
		c.dirty = v
	}
	return c
}

// verdict is the heal direction for one changelog type.
type verdict struct {
	sources, sinks []bool
	splitBrain     bool
	needHeal       bool // some counter of this type is non-zero on a present copy
}

// direction decides the heal direction of type t (afr_selfheal_find_direction): a copy is
// blamed when another present copy holds a non-zero pending counter against it. Only the
// blame of copies nobody blames counts: sinks are the copies they accuse, sources the other
// present copies. When every present copy is blamed, it is a split-brain. With arbiter, the
// arbiter is never a data source; a data split-brain is declared when no data copy is a source.
func (a *AFR) direction(t int, cs []copyInfo) verdict {
	n := len(a.kids)
	v := verdict{sources: make([]bool, n), sinks: make([]bool, n)}
	blamed := make([]bool, n)
	anyPresent := false
	for i := range cs {
		if !cs[i].present {
			continue
		}
		anyPresent = true
		if cs[i].dirty[t] != 0 {
			v.needHeal = true
		}
		for j := 0; j < n; j++ {
			if cs[i].pending[j][t] != 0 {
				v.needHeal = true
				if j != i {
					blamed[j] = true
				}
			}
		}
	}
	if !anyPresent {
		return v
	}
	innocent := false
	for i := range cs {
		if cs[i].present && !blamed[i] {
			innocent = true
			for j := 0; j < n; j++ {
				if j != i && cs[j].present && cs[i].pending[j][t] != 0 {
					v.sinks[j] = true
				}
			}
		}
	}
	if !innocent {
		v.splitBrain = true
		return v
	}
	dataSource := false
	for i := range cs {
		v.sources[i] = cs[i].present && !v.sinks[i]
		if v.sources[i] && !(t == IdxData && i == a.arbiter) {
			dataSource = true
		}
	}
	if !dataSource {
		v.splitBrain = true
	}
	return v
}

// inspect looks gfid up on the children in set, changelogs included.
func (a *AFR) inspect(ctx context.Context, set []bool, g graph.GFID) []copyInfo {
	seq, gen := stateSeq.Add(1), a.evGen.Load()
	x := a.changelogRequest(nil)
	rs := fan(set, func(i int) (graph.LookupReply, error) { return a.kids[i].Lookup(ctx, &graph.Loc{GFID: g}, x) })
	cs := make([]copyInfo, len(rs))
	for i, r := range rs {
		cs[i] = a.copyOf(r.ok, r.v, r.err)
		cs[i].seq, cs[i].gen = seq, gen
	}
	return cs
}

// refreshState records what an inspection learned, for the read-child choice.
func (a *AFR) refreshState(g graph.GFID, cs []copyInfo) {
	for _, c := range cs {
		if c.present {
			a.setState(g, a.analyse(cs))
			return
		}
	}
}

// ErrSplitBrain is wrapped (with EIO) by heals that find copies blaming each other and no
// favorite-child-policy to settle it.
var ErrSplitBrain = graph.Errorf(unix.EIO, "split-brain")

// HealResult says what one heal of a GFID did.
type HealResult struct {
	GFID       graph.GFID
	Healed     []string // "data", "metadata", "entry": types repaired
	SplitBrain []string // types found in split-brain and left alone
	Sources    []int    // child indices healed from (last type healed)
	Sinks      []int    // child indices healed (last type healed)
	Gone       bool     // no up child has the GFID
	NewEntries []graph.GFID
}

// HealFile heals one GFID (data, metadata and, for a directory, entries) from the copies the
// changelogs say are good to the ones they blame, under the AFR locks, and resets the
// counters it acted on. A split-brain is reported in the result (and as ErrSplitBrain) and
// left alone, unless favorite-child-policy picks a source.
func HealFile(ctx context.Context, a *AFR, g graph.GFID) (HealResult, error) {
	return a.healGFID(healCtx(ctx), g, healAll)
}

func (a *AFR) healGFID(ctx context.Context, g graph.GFID, types healTypes) (HealResult, error) {
	res := HealResult{GFID: g}
	if g.IsZero() {
		return res, graph.Errorf(unix.EINVAL, "replicate %s: heal of a null gfid", a.Name())
	}
	up := a.upSet()
	if count(up) < 2 {
		return res, graph.Errorf(unix.ENOTCONN, "replicate %s: heal needs two children up", a.Name())
	}
	cs := a.inspect(ctx, up, g)
	a.refreshState(g, cs)
	anyPresent, anyMissing := false, false
	isDir := false
	for i := range cs {
		if cs[i].present {
			anyPresent = true
			isDir = isDir || cs[i].st.IsDir()
		} else if cs[i].asked {
			if graph.Errno(cs[i].err) != unix.ENOENT && graph.Errno(cs[i].err) != unix.ESTALE {
				return res, cs[i].err
			}
			anyMissing = true
		}
	}
	_ = anyMissing
	if !anyPresent {
		res.Gone = true
		return res, nil
	}
	var firstErr error
	note := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if err := a.eagerFlushCtx(ctx, g); err != nil {
		return res, err
	}
	if types&healMetadata != 0 && a.direction(IdxMetadata, cs).needHeal {
		note(a.healInode(ctx, g, IdxMetadata, &res))
	}
	// Directories and links have no data, but new entries are marked data-pending as in
	// GlusterFS: their data "heal" resets the counters.
	if types&healData != 0 && a.direction(IdxData, cs).needHeal {
		note(a.healInode(ctx, g, IdxData, &res))
	}
	if types&healEntry != 0 && isDir && a.direction(IdxEntry, cs).needHeal {
		note(a.healEntries(ctx, g, &res))
	}
	if len(res.Healed) > 0 {
		a.healGen.Add(1)
		a.refreshState(g, a.inspect(ctx, a.upSet(), g))
	}
	if firstErr == nil && len(res.SplitBrain) > 0 {
		firstErr = fmt.Errorf("replicate %s: gfid %s: %v: %w", a.Name(), g, res.SplitBrain, ErrSplitBrain)
	}
	return res, firstErr
}

// healInode heals data or metadata of g: lock (data: whole file, in this translator's domain;
// metadata: the metadata range), inspect again under the lock, pick sources and sinks (or
// apply favorite-child-policy to a split-brain), copy, and take back exactly the counters seen.
func (a *AFR) healInode(ctx context.Context, g graph.GFID, typ int, res *HealResult) error {
	up := a.upSet()
	owner := newOwner()
	loc := &graph.Loc{GFID: g}
	locked := a.inodelk(ctx, up, typ, loc, nil, owner, graph.LockWrite)
	defer a.inodelk(ctx, locked, typ, loc, nil, owner, graph.LockUnlock)
	if ctx.Err() != nil {
		return graph.Errorf(unix.EINTR, "replicate %s: heal lock: %v", a.Name(), ctx.Err())
	}
	if count(locked) < 2 {
		return graph.Errorf(unix.ENOTCONN, "replicate %s: heal of %s: locked on fewer than two children", a.Name(), g)
	}
	cs := a.inspect(ctx, locked, g)
	v := a.direction(typ, cs)
	if !v.needHeal {
		return nil
	}
	if !v.splitBrain && count(v.sinks) == 0 && !a.allPresent(cs) {
		// Only dirty marks, or blame of a child not here: nothing can be healed now, and the
		// counters must stay for when every child is back.
		return nil
	}
	sources, sinks, err := a.pickSources(typ, cs, v)
	if err != nil {
		res.SplitBrain = append(res.SplitBrain, typName(typ))
		a.Logger().Warn("split-brain", zap.String("gfid", g.String()), zap.String("type", typName(typ)))
		return nil
	}
	if typ == IdxData {
		err = a.healData(ctx, g, cs, sources, sinks)
	} else {
		err = a.healMetadata(ctx, g, cs, sources, sinks)
	}
	if err != nil {
		return err
	}
	if err := a.undoPending(ctx, g, typ, cs, or(sources, sinks)); err != nil {
		return err
	}
	res.Healed = append(res.Healed, typName(typ))
	res.Sources, res.Sinks = indices(sources), indices(sinks)
	return nil
}

func or(x, y []bool) []bool {
	out := make([]bool, len(x))
	for i := range x {
		out[i] = x[i] || y[i]
	}
	return out
}

func indices(set []bool) []int {
	var out []int
	for i, b := range set {
		if b {
			out = append(out, i)
		}
	}
	return out
}

// pickSources turns a verdict into the copies to heal from and to. Without sinks (only dirty
// counters: a transaction interrupted everywhere) data is taken from one copy — the largest,
// then the newest mtime, then the lowest index (afr_mark_largest_file_as_source) — so the copies
// converge; metadata likewise from the newest ctime. A split-brain is settled only by
// favorite-child-policy.
func (a *AFR) pickSources(typ int, cs []copyInfo, v verdict) (sources, sinks []bool, err error) {
	n := len(cs)
	if v.splitBrain {
		fav := a.favoriteChild(typ, cs)
		if fav < 0 {
			return nil, nil, ErrSplitBrain
		}
		sources, sinks = make([]bool, n), make([]bool, n)
		for i := range cs {
			if cs[i].present {
				sinks[i] = i != fav
			}
		}
		sources[fav] = true
		return sources, sinks, nil
	}
	sources, sinks = append([]bool(nil), v.sources...), append([]bool(nil), v.sinks...)
	if count(sinks) == 0 && typ != IdxEntry {
		best := -1
		for i := range cs {
			if !sources[i] || (typ == IdxData && i == a.arbiter) {
				continue
			}
			if best < 0 || better(typ, cs[i].st, cs[best].st) {
				best = i
			}
		}
		if best >= 0 {
			for i := range cs {
				if sources[i] && i != best {
					sources[i], sinks[i] = false, true
				}
			}
		}
	}
	return sources, sinks, nil
}

func later(x, y graph.Timespec) bool { return x.Sec > y.Sec || x.Sec == y.Sec && x.Nsec > y.Nsec }

func better(typ int, x, y graph.Iatt) bool {
	if typ == IdxData {
		if x.Size != y.Size {
			return x.Size > y.Size
		}
		return later(x.Mtime, y.Mtime)
	}
	return later(x.Ctime, y.Ctime)
}

// favoriteChild applies favorite-child-policy to a split-brain: size (largest), mtime or ctime
// (newest), majority (a copy whose size and mtime more than half of the copies share). It
// returns -1 when the policy is none or picks nobody (ties are not broken by guessing).
func (a *AFR) favoriteChild(typ int, cs []copyInfo) int {
	cand := func(i int) bool { return cs[i].present && !(typ == IdxData && i == a.arbiter) }
	pick := func(gt func(x, y graph.Iatt) bool) int {
		best, tie := -1, false
		for i := range cs {
			if !cand(i) {
				continue
			}
			switch {
			case best < 0 || gt(cs[i].st, cs[best].st):
				best, tie = i, false
			case !gt(cs[best].st, cs[i].st):
				tie = true
			}
		}
		if tie {
			return -1
		}
		return best
	}
	switch a.favorite {
	case "size":
		return pick(func(x, y graph.Iatt) bool { return x.Size > y.Size })
	case "mtime":
		return pick(func(x, y graph.Iatt) bool { return later(x.Mtime, y.Mtime) })
	case "ctime":
		return pick(func(x, y graph.Iatt) bool { return later(x.Ctime, y.Ctime) })
	case "majority":
		present := 0
		for i := range cs {
			if cand(i) {
				present++
			}
		}
		for i := range cs {
			if !cand(i) {
				continue
			}
			same := 0
			for j := range cs {
				if cand(j) && cs[j].st.Size == cs[i].st.Size && cs[j].st.Mtime == cs[i].st.Mtime {
					same++
				}
			}
			if 2*same > len(a.kids) {
				return i
			}
		}
	}
	return -1
}

// allPresent reports whether every child took part in an inspection (has the file).
func (a *AFR) allPresent(cs []copyInfo) bool {
	for i := range cs {
		if !cs[i].present {
			return false
		}
	}
	return true
}

// undoPending takes back, on every copy in set, exactly the counters of type typ that the
// inspection under the lock saw, against the copies in set (afr_selfheal_undo_pending): what a
// concurrent transaction adds afterwards stays, and so does the blame of a child that did not
// take part (down). Dirty marks are taken back only when every child took part.
func (a *AFR) undoPending(ctx context.Context, g graph.GFID, typ int, cs []copyInfo, set []bool) error {
	all := count(set) == len(set)
	rs := fan(set, func(i int) (graph.Xdata, error) {
		if !cs[i].present {
			return nil, nil
		}
		x := graph.Xdata{}
		nonzero := false
		for j, k := range a.keys {
			var c [3]int32
			if set[j] && cs[j].present {
				c[typ] = -cs[i].pending[j][typ]
			}
			nonzero = nonzero || c[typ] != 0
			x[k] = EncodePending(c[0], c[1], c[2])
		}
		var d [3]int32
		if all {
			d[typ] = -cs[i].dirty[typ]
		}
		nonzero = nonzero || d[typ] != 0
		x[XattrDirty] = EncodePending(d[0], d[1], d[2])
		if !nonzero {
			return nil, nil
		}
		v, _, err := a.kids[i].Xattrop(internalCtx(ctx), &graph.Loc{GFID: g}, graph.XattropAddArray, x, nil)
		return v, err
	})
	for _, r := range rs {
		if r.ok && r.err != nil {
			return graph.Errorf(graph.Errno(r.err), "replicate %s: reset changelog of %s: %v", a.Name(), g, r.err)
		}
	}
	return nil
}

// ---- lookup-triggered background data heal --------------------------------------------------

func (a *AFR) backgroundDataHeal(g graph.GFID) {
	a.bgMu.Lock()
	if a.bgBusy[g] || len(a.bgBusy) >= a.bgMax {
		a.bgMu.Unlock()
		return
	}
	a.bgBusy[g] = true
	a.bgMu.Unlock()
	a.bgWG.Add(1)
	go func() {
		defer a.bgWG.Done()
		ctx, cancel := context.WithTimeout(a.bgCtx, 10*time.Minute)
		defer cancel()
		if _, err := a.healGFID(healCtx(ctx), g, healData); err != nil {
			a.Logger().Debug("background data heal", zap.String("gfid", g.String()), zap.Error(err))
		}
		a.bgMu.Lock()
		delete(a.bgBusy, g)
		a.bgMu.Unlock()
	}()
}
