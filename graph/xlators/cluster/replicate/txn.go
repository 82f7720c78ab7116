package replicate

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// txn runs one AFR transaction (afr-transaction.c): quorum check; inodelk (data/metadata) or
// entrylk (entry, on the parent) in this translator's domain; pre-op — every up child's
// changelog counts one pending operation against every child; the fop on every up child
// (arbiter skipped for data); post-op — on each child where the fop succeeded, the pending count
// of the children where it also succeeded is taken back, so only the blame for failed or down
// children stays; unlock. onLoc/onFD address the changelog target.
func txn[T any](ctx context.Context, a *AFR, typ int, loc *graph.Loc, fd *graph.FD, op func(i int) (T, error)) (T, error) {
	var zero T
	up := a.upSet()
	if a.qType != "none" && !a.quorumMet(up) {
		return zero, graph.Errorf(unix.EROFS, "replicate %s: quorum not met", a.Name())
	}
	anyUp := false
	for _, b := range up {
		anyUp = anyUp || b
	}
	if !anyUp {
		return zero, errDown("transaction")
	}
	unlock := a.lock(ctx, typ, loc, fd, up)
	defer unlock()
	all := make([]bool, len(up))
	for i := range all {
		all[i] = true
	}
	pre := fan(up, func(i int) (graph.Xdata, error) { return a.xattrop(ctx, i, loc, fd, a.pendingDict(typ, 1, all)) })
	staged := make([]bool, len(up))
	anyStaged := false
	var preErr error
	for i, r := range pre {
		staged[i] = r.ok && r.err == nil
		anyStaged = anyStaged || staged[i]
		if r.ok && r.err != nil && (preErr == nil || graph.Errno(preErr) == unix.ENOTCONN) {
			preErr = r.err
		}
	}
	if !anyStaged {
		// The pre-op failed everywhere (the file does not exist, ...): that is the fop's answer.
		return zero, preErr
	}
	doOp := append([]bool(nil), staged...)
	if typ == IdxData && a.arbiter >= 0 {
		doOp[a.arbiter] = false
	}
	rs := fan(doOp, op)
	success := make([]bool, len(up))
	best := -1
	var firstErr error
	for i, r := range rs {
		if !r.ok {
			continue
		}
		if r.err == nil {
			success[i] = true
			if best < 0 {
				best = i
			}
		} else if firstErr == nil {
			firstErr = r.err
		}
	}
	if typ == IdxData && a.arbiter >= 0 && staged[a.arbiter] && best >= 0 {
		success[a.arbiter] = true // the arbiter holds no data: it is in sync by definition
	}
	if best < 0 {
		// Nothing changed anywhere: take the pre-op back on every staged child.
		fan(staged, func(i int) (graph.Xdata, error) { return a.xattrop(ctx, i, loc, fd, a.pendingDict(typ, -1, staged)) })
		if firstErr == nil {
			firstErr = errDown("transaction")
		}
		return zero, firstErr
	}
	fan(success, func(i int) (graph.Xdata, error) { return a.xattrop(ctx, i, loc, fd, a.pendingDict(typ, -1, success)) })
	// Children that stayed staged but failed keep their own full blame of the others; that is
	// GlusterFS's behaviour too (the survivors' changelogs decide the heal direction).
	if a.qType != "none" && !a.quorumMet(success) {
		return rs[best].v, graph.Errorf(unix.EROFS, "replicate %s: succeeded on too few children for quorum", a.Name())
	}
	return rs[best].v, nil
}

// internalCtx returns ctx with root's uid and gid, keeping the lock owner, pid and client: the
// changelog xattrs are trusted.*, which only root may change, and they are AFR's bookkeeping, not
// the caller's (GlusterFS's posix does no permission check on xattrop at all).
func internalCtx(ctx context.Context) context.Context {
	c := *graph.CredsFrom(ctx)
	if c.UID == 0 && c.GID == 0 && len(c.Groups) == 0 {
		return ctx
	}
	c.UID, c.GID, c.Groups = 0, 0, nil
	return graph.WithCreds(ctx, &c)
}

func (a *AFR) xattrop(ctx context.Context, i int, loc *graph.Loc, fd *graph.FD, d graph.Xdata) (graph.Xdata, error) {
	ctx = internalCtx(ctx)
	if fd != nil {
		v, _, err := a.kids[i].Fxattrop(ctx, fd, graph.XattropAddArray, d, nil)
		return v, err
	}
	v, _, err := a.kids[i].Xattrop(ctx, loc, graph.XattropAddArray, d, nil)
	return v, err
}

// lock takes the transaction's lock on every up child (full-file inodelk for data/metadata in
// domain = this translator's name). A child without a locks translator (ENOSYS) is skipped.
func (a *AFR) lock(ctx context.Context, typ int, loc *graph.Loc, fd *graph.FD, up []bool) func() {
	if typ == IdxEntry {
		return func() {} // entry ops lock the parent in entryTxn
	}
	fl := &graph.Flock{Type: graph.LockWrite}
	rs := fan(up, func(i int) (graph.Xdata, error) {
		if fd != nil {
			return a.kids[i].Finodelk(ctx, a.Name(), fd, graph.SetLkW, fl, nil)
		}
		return a.kids[i].Inodelk(ctx, a.Name(), loc, graph.SetLkW, fl, nil)
	})
	held := make([]bool, len(up))
	for i, r := range rs {
		held[i] = r.ok && r.err == nil
	}
	return func() {
		ul := &graph.Flock{Type: graph.LockUnlock}
		c := context.WithoutCancel(ctx)
		fan(held, func(i int) (graph.Xdata, error) {
			if fd != nil {
				return a.kids[i].Finodelk(c, a.Name(), fd, graph.SetLk, ul, nil)
			}
			return a.kids[i].Inodelk(c, a.Name(), loc, graph.SetLk, ul, nil)
		})
	}
}

// entryTxn is the entry transaction on parent directory p for name: entrylk in this
// translator's domain, entry changelog on the parent, the fop; for fops that create an entry,
// the new entry's copies blame the children where the creation failed for data and metadata
// (and entry, for a directory), as GlusterFS's afr_mark_new_entry_changelog does.
func entryTxn[T any](ctx context.Context, a *AFR, p graph.GFID, name string, creates bool, gfidOf func(T) (graph.GFID, bool), op func(i int) (T, error)) (T, error) {
	pl := &graph.Loc{GFID: p}
	up := a.upSet()
	ers := fan(up, func(i int) (graph.Xdata, error) {
		return a.kids[i].Entrylk(ctx, a.Name(), pl, name, graph.EntrylkLock, graph.EntrylkWrlck, nil)
	})
	held := make([]bool, len(up))
	for i, r := range ers {
		held[i] = r.ok && r.err == nil
	}
	defer fan(held, func(i int) (graph.Xdata, error) {
		return a.kids[i].Entrylk(context.WithoutCancel(ctx), a.Name(), pl, name, graph.EntrylkUnlock, graph.EntrylkWrlck, nil)
	})
	var created []res[T]
	v, err := txn(ctx, a, IdxEntry, pl, nil, func(i int) (T, error) {
		return op(i)
	})
	_ = created
	if err != nil || !creates {
		return v, err
	}
	g, isDir := gfidOf(v)
	if g.IsZero() {
		return v, nil
	}
	// Which children have the new entry?
	up = a.upSet()
	look := fan(up, func(i int) (graph.LookupReply, error) { return a.kids[i].Lookup(ctx, &graph.Loc{GFID: g}, nil) })
	have := make([]bool, len(up))
	missing := make([]bool, len(up))
	anyMissing := false
	for i := range up {
		have[i] = look[i].ok && look[i].err == nil
		missing[i] = !have[i]
		anyMissing = anyMissing || missing[i]
	}
	if anyMissing {
		x := graph.Xdata{}
		for i, k := range a.keys {
			var c [3]int32
			if missing[i] {
				c[IdxData], c[IdxMetadata] = 1, 1
				if isDir {
					c[IdxEntry] = 1
				}
			}
			x[k] = EncodePending(c[0], c[1], c[2])
		}
		fan(have, func(i int) (graph.Xdata, error) {
			r, _, err := a.kids[i].Xattrop(internalCtx(ctx), &graph.Loc{GFID: g}, graph.XattropAddArray, x, nil)
			return r, err
		})
	}
	return v, nil
}

// ---- lookup ---------------------------------------------------------------------------------

// Lookup implements graph.Fops: on every up child, with the changelogs requested. The copies'
// GFIDs must agree (a mismatch is an EIO "gfid split-brain"); the changelogs tell which copies
// are blamed (need heal) and whether two copies blame each other (split-brain), which later
// reads honour.
func (a *AFR) Lookup(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.LookupReply, error) {
	up := a.upSet()
	x := a.changelogRequest(xdata)
	rs := fan(up, func(i int) (graph.LookupReply, error) { return a.kids[i].Lookup(ctx, loc, x) })
	var firstErr error
	var g graph.GFID
	found := make([]bool, len(rs))
	for i, r := range rs {
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
			return graph.LookupReply{}, graph.Errorf(unix.EIO, "replicate %s: %s: gfid split-brain (%s vs %s)", a.Name(), loc, g, r.v.Stat.GFID)
		}
		g = r.v.Stat.GFID
		found[i] = true
	}
	if g.IsZero() {
		if firstErr == nil {
			firstErr = errDown("lookup")
		}
		return graph.LookupReply{}, firstErr
	}
	st := a.analyse(rs, found)
	a.setState(g, st)
	best := -1
	for i := range rs {
		if found[i] && (st.readable[IdxMetadata] == nil || st.readable[IdxMetadata][i]) && i != a.arbiter {
			best = i
			break
		}
	}
	if best < 0 {
		for i := range rs {
			if found[i] {
				best = i
				break
			}
		}
	}
	out := rs[best].v
	out.Xdata = out.Xdata.Clone()
	if st.readable[IdxData] != nil && !st.isDir {
		// Size comes from a data-readable copy.
		for i := range rs {
			if found[i] && st.readable[IdxData][i] && i != a.arbiter {
				out.Stat.Size, out.Stat.Blocks = rs[i].v.Stat.Size, rs[i].v.Stat.Blocks
				break
			}
		}
	}
	for _, k := range a.keys {
		delete(out.Xdata, k)
	}
	return out, nil
}

// analyse turns the copies' changelogs into readable sets and split-brain flags
// (afr_selfheal_find_direction): a copy is blamed for a type when another present copy holds a
// non-zero pending count against it; two copies blaming each other with nobody innocent is a
// split-brain.
func (a *AFR) analyse(rs []res[graph.LookupReply], found []bool) *inodeState {
	n := len(a.kids)
	st := &inodeState{}
	var blame [3][][]bool
	for t := 0; t < 3; t++ {
		blame[t] = make([][]bool, n)
		for i := range blame[t] {
			blame[t][i] = make([]bool, n)
		}
	}
	for i := range rs {
		if !found[i] {
			continue
		}
		if rs[i].v.Stat.IsDir() {
			st.isDir = true
		}
		for j, k := range a.keys {
			c, err := DecodePending(rs[i].v.Xdata[k])
			if err != nil {
				continue
			}
			for t := 0; t < 3; t++ {
				if c[t] != 0 && i != j {
					blame[t][i][j] = true
				}
			}
		}
	}
	for t := 0; t < 3; t++ {
		readable := make([]bool, n)
		innocent := false
		for j := 0; j < n; j++ {
			if !found[j] {
				continue
			}
			blamed := false
			for i := 0; i < n; i++ {
				if found[i] && blame[t][i][j] {
					blamed = true
				}
			}
			readable[j] = !blamed
			if !blamed && !(t == IdxData && j == a.arbiter) {
				innocent = true
			}
		}
		st.readable[t] = readable
		anyFound := false
		for _, f := range found {
			anyFound = anyFound || f
		}
		if anyFound && !innocent {
			st.splitBrain[t] = true
		}
	}
	return st
}
