package replicate

import (
	"context"
	"encoding/binary"
	"math"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Lock ranges (afr-transaction.c): data transactions lock the whole file; metadata
// transactions lock [LLONG_MAX-1, EOF], which features/locks moves to "<domain>:metadata", so
// data and metadata transactions on one file do not serialise against each other.
const metaLockStart = math.MaxInt64 - 1

var ownerSeq atomic.Uint64

// newOwner returns a lock owner unique to one transaction (or one eager-lock epoch, or one
// heal) of this process: two transactions of the same client must conflict on the bricks,
// and features/locks never makes one owner's requests conflict with each other.
func newOwner() []byte {
	b := make([]byte, 16)
	g := procID
	copy(b, g[:8])
	binary.BigEndian.PutUint64(b[8:], ownerSeq.Add(1))
	return b
}

var procID = graph.NewGFID()

// withOwner returns ctx whose credentials carry owner as the lock owner (entrylk takes the owner
// from the credentials) and root's uid/gid (locks and changelogs are AFR's bookkeeping).
func withOwner(ctx context.Context, owner []byte) context.Context {
	c := *graph.CredsFrom(ctx)
	c.UID, c.GID, c.Groups = 0, 0, nil
	c.LkOwner = owner
	return graph.WithCreds(ctx, &c)
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

func lockFlock(typ int, lt int16, owner []byte) *graph.Flock {
	fl := &graph.Flock{Type: lt, Owner: owner}
	if typ == IdxMetadata {
		fl.Start = metaLockStart
	}
	return fl
}

// inodelk takes (or with lt LockUnlock releases) the transaction lock of type typ on the
// children in set; it returns where it is held. A child without a locks translator answers
// ENOSYS: it counts as locked (nothing to serialise there), as the other fops still reach it.
// Taking is afr's two-phase scheme (afr_nonblocking_inodelk, then afr_blocking_lock): a
// non-blocking attempt on every child at once; if one is busy, the locks won are dropped and
// the children are locked one by one in index order, so two transactions can never hold
// halves of each other's locks.
func (a *AFR) inodelk(ctx context.Context, set []bool, typ int, loc *graph.Loc, fd *graph.FD, owner []byte, lt int16) []bool {
	held, _ := a.inodelkErr(ctx, set, typ, loc, fd, owner, lt)
	return held
}

// inodelkErr is inodelk that also returns the first error other than ENOTCONN.
func (a *AFR) inodelkErr(ctx context.Context, set []bool, typ int, loc *graph.Loc, fd *graph.FD, owner []byte, lt int16) ([]bool, error) {
	ctx = withOwner(ctx, owner)
	fl := lockFlock(typ, lt, owner)
	call := func(ctx context.Context, i int, cmd graph.LkCmd) error {
		var err error
		if fd != nil {
			_, err = a.kids[i].Finodelk(ctx, a.Name(), fd, cmd, fl, nil)
		} else {
			_, err = a.kids[i].Inodelk(ctx, a.Name(), loc, cmd, fl, nil)
		}
		if graph.Errno(err) == unix.ENOSYS {
			err = nil
		}
		return err
	}
	return a.twoPhase(ctx, set, lt == graph.LockUnlock, func(ctx context.Context, i int, blocking bool) error {
		if lt == graph.LockUnlock {
			return call(ctx, i, graph.SetLk)
		}
		if blocking {
			return call(ctx, i, graph.SetLkW)
		}
		return call(ctx, i, graph.SetLk)
	}, func(i int) {
		ul := *fl
		ul.Type = graph.LockUnlock
		c := context.WithoutCancel(ctx)
		if fd != nil {
			_, _ = a.kids[i].Finodelk(c, a.Name(), fd, graph.SetLk, &ul, nil)
		} else {
			_, _ = a.kids[i].Inodelk(c, a.Name(), loc, graph.SetLk, &ul, nil)
		}
	})
}

// twoPhase runs lock attempts: unlock (release) on every child at once; otherwise non-blocking
// on every child at once, falling back to blocking in index order when one was busy.
func (a *AFR) twoPhase(ctx context.Context, set []bool, release bool, try func(ctx context.Context, i int, blocking bool) error, undo func(i int)) ([]bool, error) {
	held := make([]bool, len(set))
	var firstErr error
	note := func(err error) {
		if err != nil && graph.Errno(err) != unix.ENOTCONN && firstErr == nil {
			firstErr = err
		}
	}
	if release {
		c := context.WithoutCancel(ctx)
		for i, r := range fan(set, func(i int) (struct{}, error) { return struct{}{}, try(c, i, false) }) {
			held[i] = r.ok && r.err == nil
		}
		return held, nil
	}
	busy := false
	for i, r := range fan(set, func(i int) (struct{}, error) { return struct{}{}, try(ctx, i, false) }) {
		held[i] = r.ok && r.err == nil
		if r.ok && r.err != nil && (graph.Errno(r.err) == unix.EAGAIN || graph.Errno(r.err) == unix.EWOULDBLOCK) {
			busy = true
		} else if r.ok {
			note(r.err)
		}
	}
	if !busy {
		return held, firstErr
	}
	fan(held, func(i int) (struct{}, error) { undo(i); return struct{}{}, nil })
	held = make([]bool, len(set))
	for i, b := range set {
		if !b {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		err := try(ctx, i, true)
		held[i] = err == nil
		note(err)
	}
	return held, firstErr
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

// changelogDict is one pre-op/post-op xattrop: dirty[typ] += dirty, and pending[typ] += 1 for
// every child in blame. Every pending key is present (zero when unchanged), so the reply tells
// the current values, as GlusterFS's pre-op does.
func (a *AFR) changelogDict(typ int, dirty int32, blame []bool) graph.Xdata {
	x := graph.Xdata{}
	for i, k := range a.keys {
		var c [3]int32
		if blame != nil && blame[i] {
			c[typ] = 1
		}
		x[k] = EncodePending(c[0], c[1], c[2])
	}
	var d [3]int32
	d[typ] = dirty
	x[XattrDirty] = EncodePending(d[0], d[1], d[2])
	return x
}

func count(set []bool) int {
	n := 0
	for _, b := range set {
		if b {
			n++
		}
	}
	return n
}

func not(set []bool) []bool {
	out := make([]bool, len(set))
	for i, b := range set {
		out[i] = !b
	}
	return out
}

func and(x, y []bool) []bool {
	out := make([]bool, len(x))
	for i := range x {
		out[i] = x[i] && y[i]
	}
	return out
}

// txn runs one AFR transaction (afr-transaction.c), GlusterFS ≥ 3.7 changelog scheme: quorum
// check; inodelk with an owner of its own (data: whole file; metadata: the metadata range) in
// this translator's domain — entry transactions are locked by entryTxn; pre-op — on every
// locked child trusted.afr.dirty[typ] += 1 (afr_changelog_pre_op); the fop on every pre-op'd
// child (the arbiter skipped for data); post-op — on each child where the fop succeeded,
// dirty[typ] -= 1 and pending[typ] += 1 for every child where it did not (failed, down, not
// locked), so the survivors blame exactly the copies that missed the change
// (afr_changelog_post_op_do); unlock.
func txn[T any](ctx context.Context, a *AFR, typ int, loc *graph.Loc, fd *graph.FD, op func(i int) (T, error)) (T, error) {
	return txnOn(ctx, a, typ, loc, nil, fd, op)
}

// txnOn is txn with a second changelog target (rename's destination directory).
func txnOn[T any](ctx context.Context, a *AFR, typ int, loc, loc2 *graph.Loc, fd *graph.FD, op func(i int) (T, error)) (T, error) {
	v, _, err := txnRun(ctx, a, typ, loc, loc2, fd, op)
	return v, err
}

// txnRun is txnOn that also tells where the fop succeeded.
func txnRun[T any](ctx context.Context, a *AFR, typ int, loc, loc2 *graph.Loc, fd *graph.FD, op func(i int) (T, error)) (T, []bool, error) {
	var zero T
	if loc == nil && fd == nil {
		return zero, nil, errNilArg
	}
	up := a.upSet()
	if a.qType != "none" && !a.quorumMet(up) {
		return zero, nil, graph.Errorf(unix.EROFS, "replicate %s: quorum not met", a.Name())
	}
	if count(up) == 0 {
		return zero, nil, errDown("transaction")
	}
	if typ == IdxData {
		// Our own eager lock on the file would make this transaction wait for its timer.
		g := locGFID(loc)
		if fd != nil {
			g = fd.GFID
		}
		if err := a.eagerFlushCtx(ctx, g); err != nil {
			return zero, nil, err
		}
	}
	if fd != nil {
		a.fixOpen(ctx, fd)
	}
	locked := up
	if typ != IdxEntry {
		owner := newOwner()
		var lerr error
		locked, lerr = a.inodelkErr(ctx, up, typ, loc, fd, owner, graph.LockWrite)
		defer a.inodelk(ctx, locked, typ, loc, fd, owner, graph.LockUnlock)
		if ctx.Err() != nil {
			return zero, nil, graph.Errorf(unix.EINTR, "replicate %s: lock: %v", a.Name(), ctx.Err())
		}
		if lerr != nil && count(locked) == 0 {
			return zero, nil, lerr // ENOENT, ESTALE...: the fop's answer
		}
		if a.qType != "none" && !a.quorumMet(locked) {
			return zero, nil, graph.Errorf(unix.EROFS, "replicate %s: quorum not met on locked children", a.Name())
		}
	}
	xop := func(ctx context.Context, i int, d graph.Xdata) (graph.Xdata, error) {
		v, err := a.xattrop(ctx, i, loc, fd, d)
		if err == nil && loc2 != nil {
			_, err = a.xattrop(ctx, i, loc2, nil, d)
		}
		return v, err
	}
	pre := fan(locked, func(i int) (graph.Xdata, error) { return xop(ctx, i, a.changelogDict(typ, 1, nil)) })
	staged := make([]bool, len(up))
	var preErr error
	for i, r := range pre {
		staged[i] = r.ok && r.err == nil
		if r.ok && r.err != nil && (preErr == nil || graph.Errno(preErr) == unix.ENOTCONN) {
			preErr = r.err
		}
	}
	if count(staged) == 0 {
		// The pre-op failed everywhere (the file does not exist, ...): that is the fop's answer.
		if preErr == nil {
			preErr = errDown("transaction")
		}
		return zero, nil, preErr
	}
	if fd != nil {
		staged = and(staged, a.fdOpenSet(fd)) // not open there: left out, and so blamed
	}
	v, success, err := runOp(a, typ, staged, op)
	if count(success) == 0 {
		// Nothing changed anywhere: take the pre-op back.
		fan(staged, func(i int) (graph.Xdata, error) {
			return xop(context.WithoutCancel(ctx), i, a.changelogDict(typ, -1, nil))
		})
		return zero, success, err
	}
	fan(success, func(i int) (graph.Xdata, error) {
		return xop(context.WithoutCancel(ctx), i, a.changelogDict(typ, -1, not(success)))
	})
	if count(and(up, not(success))) > 0 {
		// A copy that was up missed the change: reads must not trust the cached readable set.
		a.invalidateState(locGFID(loc))
		a.invalidateState(locGFID(loc2))
		a.invalidateState(fdGFID(fd))
	}
	// Children that were staged but failed keep their dirty mark: they accuse themselves.
	if a.qType != "none" && !a.quorumMet(success) {
		return v, success, graph.Errorf(unix.EROFS, "replicate %s: succeeded on too few children for quorum", a.Name())
	}
	return v, success, nil
}

// runOp runs op on the staged children (the arbiter skipped for data, and counted as
// successful when a data child succeeded: it holds no data, so it is in sync by definition).
// It returns the first successful result, where op succeeded, and the first error.
func runOp[T any](a *AFR, typ int, staged []bool, op func(i int) (T, error)) (T, []bool, error) {
	var zero T
	doOp := append([]bool(nil), staged...)
	if typ == IdxData && a.arbiter >= 0 {
		doOp[a.arbiter] = false
	}
	rs := fan(doOp, op)
	success := make([]bool, len(staged))
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
		} else if firstErr == nil || graph.Errno(firstErr) == unix.ENOTCONN {
			firstErr = r.err
		}
	}
	if typ == IdxData && a.arbiter >= 0 && staged[a.arbiter] && best >= 0 {
		success[a.arbiter] = true
	}
	if best < 0 {
		if firstErr == nil {
			firstErr = errDown("transaction")
		}
		return zero, success, firstErr
	}
	return rs[best].v, success, nil
}

// entryTxn is the entry transaction on parent directory p for name: entrylk in this
// translator's domain (with an owner of its own), the entry changelog on the parent, the fop;
// for fops that create an entry, the new entry's copies blame the children where the creation
// failed for data and metadata (and entry, for a directory), as GlusterFS's
// afr_mark_new_entry_changelog does.
func entryTxn[T any](ctx context.Context, a *AFR, p graph.GFID, name string, creates bool, gfidOf func(T) (graph.GFID, bool), op func(i int) (T, error)) (T, error) {
	return entryTxn2(ctx, a, p, graph.GFID{}, name, creates, gfidOf, op)
}

// entryTxn2 is entryTxn with the changelog also on a second directory p2 (rename).
func entryTxn2[T any](ctx context.Context, a *AFR, p, p2 graph.GFID, name string, creates bool, gfidOf func(T) (graph.GFID, bool), op func(i int) (T, error)) (T, error) {
	pl := &graph.Loc{GFID: p}
	var pl2 *graph.Loc
	if !p2.IsZero() && p2 != p {
		pl2 = &graph.Loc{GFID: p2}
	}
	up := a.upSet()
	owner := newOwner()
	held := a.entrylk(ctx, up, pl, name, owner, true)
	defer a.entrylk(ctx, held, pl, name, owner, false)
	v, success, err := txnRun(ctx, a, IdxEntry, pl, pl2, nil, func(i int) (T, error) {
		if !held[i] {
			return *new(T), graph.Errorf(unix.ENOTCONN, "replicate %s: entry lock not held on child %d", a.Name(), i)
		}
		return op(i)
	})
	if err != nil || !creates {
		return v, err
	}
	g, isDir := gfidOf(v)
	if g.IsZero() || count(success) == len(success) {
		return v, nil // created everywhere: nothing to mark
	}
	a.markNewEntry(ctx, g, isDir)
	return v, nil
}

// markNewEntry makes the copies of a new entry blame the children that do not have it.
func (a *AFR) markNewEntry(ctx context.Context, g graph.GFID, isDir bool) {
	up := a.upSet()
	look := fan(up, func(i int) (graph.LookupReply, error) { return a.kids[i].Lookup(ctx, &graph.Loc{GFID: g}, nil) })
	have := make([]bool, len(up))
	for i := range up {
		have[i] = look[i].ok && look[i].err == nil
	}
	if count(have) == len(have) || count(have) == 0 {
		return
	}
	x := graph.Xdata{}
	for i, k := range a.keys {
		var c [3]int32
		if !have[i] {
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

// entrylk locks (or unlocks) name in directory pl on the children in set with owner (two
// phases, as inodelk).
func (a *AFR) entrylk(ctx context.Context, set []bool, pl *graph.Loc, name string, owner []byte, lock bool) []bool {
	held, _ := a.entrylkErr(ctx, set, pl, name, owner, lock)
	return held
}

// entrylkErr is entrylk that also returns the first error other than ENOTCONN.
func (a *AFR) entrylkErr(ctx context.Context, set []bool, pl *graph.Loc, name string, owner []byte, lock bool) ([]bool, error) {
	ctx = withOwner(ctx, owner)
	call := func(ctx context.Context, i int, cmd graph.EntrylkCmd) error {
		_, err := a.kids[i].Entrylk(ctx, a.Name(), pl, name, cmd, graph.EntrylkWrlck, nil)
		if graph.Errno(err) == unix.ENOSYS {
			err = nil
		}
		return err
	}
	return a.twoPhase(ctx, set, !lock, func(ctx context.Context, i int, blocking bool) error {
		switch {
		case !lock:
			return call(ctx, i, graph.EntrylkUnlock)
		case blocking:
			return call(ctx, i, graph.EntrylkLock)
		}
		return call(ctx, i, graph.EntrylkLockNB)
	}, func(i int) { _ = call(context.WithoutCancel(ctx), i, graph.EntrylkUnlock) })
}
