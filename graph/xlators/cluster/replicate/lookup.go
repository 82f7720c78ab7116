package replicate

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Lookup implements graph.Fops: on every up child, with the changelogs requested. The copies'
// GFIDs must agree (a mismatch is an EIO "gfid split-brain" unless entry self-heal of the parent
// can resolve it); the changelogs tell which copies are blamed (need heal) and whether the
// copies blame each other (split-brain), which later reads honour. When a heal is pending and
// the *-self-heal options allow, metadata and entry are healed before the reply and data is
// healed in the background (afr_lookup_selfheal_wrap, afr-self-heal-name.c for missing names).
func (a *AFR) Lookup(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.LookupReply, error) {
	if loc == nil {
		return graph.LookupReply{}, errNilArg
	}
	if !isHealCtx(ctx) {
		if err := refusePrivate(loc, "lookup"); err != nil {
			return graph.LookupReply{}, err
		}
	}
	out, st, cs, err := a.lookupOnce(ctx, loc, xdata)
	if isHealCtx(ctx) {
		return out, err
	}
	// Name heal: the entry is missing on some up children, or their GFIDs differ.
	if loc.Name != "" && !loc.ParentGFID.IsZero() && a.entryHealOn() && (graph.Errno(err) == unix.EIO && cs != nil || a.missingSome(cs)) {
		if _, herr := a.healGFID(healCtx(ctx), loc.ParentGFID, healEntry); herr == nil {
			out, st, _, err = a.lookupOnce(ctx, loc, xdata)
		}
	}
	if err != nil || st == nil {
		return out, err
	}
	if types := a.inlineTypes(st); types != 0 {
		if _, herr := a.healGFID(healCtx(ctx), out.Stat.GFID, types); herr == nil {
			if o2, _, _, err2 := a.lookupOnce(ctx, loc, xdata); err2 == nil {
				out = o2
			}
		}
	}
	if a.dataHealOn() && st.needHeal[IdxData] && !st.isDir && (!st.splitBrain[IdxData] || a.favorite != "none") {
		a.backgroundDataHeal(out.Stat.GFID)
	}
	return out, nil
}

func (a *AFR) missingSome(cs []copyInfo) bool {
	if cs == nil {
		return false
	}
	have, miss := false, false
	for _, c := range cs {
		if c.asked && c.present {
			have = true
		}
		if c.asked && !c.present && graph.Errno(c.err) == unix.ENOENT {
			miss = true
		}
	}
	return have && miss
}

// inlineTypes returns the heal types lookup heals before replying.
func (a *AFR) inlineTypes(st *inodeState) healTypes {
	var t healTypes
	resolvable := func(typ int) bool { return st.needHeal[typ] && (!st.splitBrain[typ] || a.favorite != "none") }
	if a.metaHealOn() && resolvable(IdxMetadata) && st.accused[IdxMetadata] {
		t |= healMetadata
	}
	if a.entryHealOn() && st.isDir && resolvable(IdxEntry) && st.accused[IdxEntry] {
		t |= healEntry
	}
	return t
}

// lookupOnce looks loc up on every up child and analyses the changelogs.
func (a *AFR) lookupOnce(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.LookupReply, *inodeState, []copyInfo, error) {
	gen := a.evGen.Load() // before the up set: an event in between makes the state stale, not wrong
	up := a.upSet()
	seq := stateSeq.Add(1)
	x := a.changelogRequest(xdata)
	rs := fan(up, func(i int) (graph.LookupReply, error) { return a.kids[i].Lookup(ctx, loc, x) })
	cs := make([]copyInfo, len(rs))
	var firstErr error
	var g graph.GFID
	mismatch := false
	for i, r := range rs {
		cs[i] = a.copyOf(r.ok, r.v, r.err)
		cs[i].seq, cs[i].gen = seq, gen
		if !r.ok {
			continue
		}
		if r.err != nil {
			if firstErr == nil || graph.Errno(firstErr) == unix.ENOENT {
				firstErr = r.err
			}
			continue
		}
		if !g.IsZero() && r.v.Stat.GFID != g {
			mismatch = true
		}
		g = r.v.Stat.GFID
	}
	if mismatch {
		return graph.LookupReply{}, nil, cs, graph.Errorf(unix.EIO, "replicate %s: %s: gfid split-brain (copies differ)", a.Name(), loc)
	}
	if g.IsZero() {
		if firstErr == nil {
			firstErr = errDown("lookup")
		}
		return graph.LookupReply{}, nil, cs, firstErr
	}
	st := a.analyse(cs)
	a.setState(g, st)
	best := -1
	for i := range rs {
		if cs[i].present && st.readable[IdxMetadata][i] && i != a.arbiter {
			best = i
			break
		}
	}
	if best < 0 {
		for i := range rs {
			if cs[i].present {
				best = i
				break
			}
		}
	}
	out := rs[best].v
	out.Xdata = out.Xdata.Clone()
	if !st.isDir {
		// Size comes from a data-readable copy (never the arbiter's empty one).
		for i := range rs {
			if cs[i].present && st.readable[IdxData][i] && i != a.arbiter {
				out.Stat.Size, out.Stat.Blocks = rs[i].v.Stat.Size, rs[i].v.Stat.Blocks
				break
			}
		}
	}
	a.stripInternal(out.Xdata)
	return out, st, cs, nil
}

func (a *AFR) stripInternal(x graph.Xdata) {
	for _, k := range a.keys {
		delete(x, k)
	}
	delete(x, XattrDirty)
}

// analyse turns the copies' changelogs into readable sets and split-brain flags
// (afr_selfheal_find_direction): see direction.
func (a *AFR) analyse(cs []copyInfo) *inodeState {
	n := len(a.kids)
	st := &inodeState{}
	if len(cs) > 0 {
		st.seq, st.gen = cs[0].seq, cs[0].gen
	}
	for i := range cs {
		if cs[i].present && cs[i].st.IsDir() {
			st.isDir = true
		}
	}
	for t := 0; t < 3; t++ {
		d := a.direction(t, cs)
		readable := make([]bool, n)
		for j := range readable {
			readable[j] = cs[j].present && !d.sinks[j]
		}
		st.readable[t] = readable
		st.splitBrain[t] = d.splitBrain
		st.needHeal[t] = d.needHeal
		st.accused[t] = count(d.sinks) > 0 || d.splitBrain
	}
	return st
}
