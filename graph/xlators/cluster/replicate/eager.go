package replicate

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// eagerLock is one epoch of eager locking on a file (afr_lock_t, afr-transaction.c): one
// whole-file inodelk and one pre-op (dirty += 1) cover every write of the epoch; the post-op
// (dirty -= 1) is delayed by post-op-delay-secs after the last write and batched. A write that
// fails on a child blames it on the good copies before the write is answered, once per epoch,
// so the changelog never under-reports; the dirty mark covers writes in flight if this client
// dies. The epoch ends (post-op, unlock) when the delay expires, on flush, fsync and the release
// of an FD of the file, before any other data transaction of this client on the file, before a
// heal, and at the latest max(1s, 2×delay) after it began, so that another client waiting for
// the lock gets it: the graph has no lock-contention upcall (GlusterFS's trigger), so a
// streaming writer yields the lock at bounded intervals instead.
type eagerLock struct {
	g       graph.GFID
	fd      *graph.FD // the FD of the write that began the epoch (a reference is held)
	owner   []byte
	ready   chan struct{} // closed when acquisition finished (err says how)
	done    chan struct{} // closed when released
	err     error
	started time.Time

	// protected by AFR.emu
	locked    []bool // inodelk held
	dirtied   []bool // pre-op done: the write set of the epoch
	blamed    []bool // pending += 1 already recorded on the good copies
	failed    []bool // a write failed here: no undirty at the post-op
	inflight  int
	release   bool // end the epoch when inflight reaches zero
	releasing bool
	timer     *time.Timer
	ranges    []*wrange
}

type wrange struct {
	off, end int64
	done     chan struct{}
}

func (a *AFR) eagerMaxHold() time.Duration {
	d := 2 * a.postOpDelay
	if d < time.Second {
		d = time.Second
	}
	return d
}

// eagerEnter joins (or starts) the epoch of g and returns it with inflight counted.
func (a *AFR) eagerEnter(ctx context.Context, fd *graph.FD) (*eagerLock, error) {
	g := fd.GFID
	for {
		a.emu.Lock()
		el := a.eager[g]
		if el == nil {
			el = &eagerLock{g: g, fd: fd.Ref(), owner: newOwner(), ready: make(chan struct{}), done: make(chan struct{}), inflight: 1, started: time.Now()}
			a.eager[g] = el
			a.emu.Unlock()
			if err := a.eagerAcquire(ctx, el); err != nil {
				a.emu.Lock()
				el.err = err
				delete(a.eager, g)
				a.emu.Unlock()
				close(el.ready)
				close(el.done)
				el.fd.Unref()
				return nil, err
			}
			close(el.ready)
			return el, nil
		}
		if el.releasing || el.release {
			done := el.done
			a.emu.Unlock()
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return nil, graph.Errorf(unix.EINTR, "replicate %s: waiting for eager lock: %v", a.Name(), ctx.Err())
			}
		}
		el.inflight++
		if el.timer != nil {
			el.timer.Stop()
			el.timer = nil
		}
		a.emu.Unlock()
		select {
		case <-el.ready:
		case <-ctx.Done():
			a.eagerExit(el)
			return nil, graph.Errorf(unix.EINTR, "replicate %s: waiting for eager lock: %v", a.Name(), ctx.Err())
		}
		if el.err != nil {
			return nil, el.err
		}
		return el, nil
	}
}

// eagerAcquire takes the lock and does the pre-op of a new epoch.
func (a *AFR) eagerAcquire(ctx context.Context, el *eagerLock) error {
	up := a.upSet()
	if a.qType != "none" && !a.quorumMet(up) {
		return graph.Errorf(unix.EROFS, "replicate %s: quorum not met", a.Name())
	}
	if count(up) == 0 {
		return errDown("write")
	}
	locked, lerr := a.inodelkErr(ctx, up, IdxData, nil, el.fd, el.owner, graph.LockWrite)
	if ctx.Err() != nil || (a.qType != "none" && !a.quorumMet(locked)) || count(locked) == 0 {
		a.inodelk(ctx, locked, IdxData, nil, el.fd, el.owner, graph.LockUnlock)
		if ctx.Err() != nil {
			return graph.Errorf(unix.EINTR, "replicate %s: lock: %v", a.Name(), ctx.Err())
		}
		if lerr != nil && count(locked) == 0 {
			return lerr
		}
		return graph.Errorf(unix.EROFS, "replicate %s: quorum not met on locked children", a.Name())
	}
	pre := fan(locked, func(i int) (graph.Xdata, error) {
		return a.xattrop(ctx, i, nil, el.fd, a.changelogDict(IdxData, 1, nil))
	})
	dirtied := make([]bool, len(up))
	var preErr error
	for i, r := range pre {
		dirtied[i] = r.ok && r.err == nil
		if r.ok && r.err != nil && (preErr == nil || graph.Errno(preErr) == unix.ENOTCONN) {
			preErr = r.err
		}
	}
	if count(dirtied) == 0 {
		a.inodelk(ctx, locked, IdxData, nil, el.fd, el.owner, graph.LockUnlock)
		if preErr == nil {
			preErr = errDown("write")
		}
		return preErr
	}
	a.emu.Lock()
	el.locked, el.dirtied = locked, dirtied
	el.blamed = make([]bool, len(up))
	el.failed = make([]bool, len(up))
	a.emu.Unlock()
	return nil
}

// eagerExit leaves the epoch; the last one out arms the delayed post-op or ends the epoch.
func (a *AFR) eagerExit(el *eagerLock) {
	a.emu.Lock()
	el.inflight--
	if time.Since(el.started) > a.eagerMaxHold() {
		el.release = true
	}
	if el.inflight > 0 || el.releasing {
		a.emu.Unlock()
		return
	}
	if el.release || a.postOpDelay <= 0 || el.err != nil {
		el.releasing = true
		a.emu.Unlock()
		if el.err == nil {
			a.eagerRelease(el)
		}
		return
	}
	el.timer = time.AfterFunc(a.postOpDelay, func() {
		a.emu.Lock()
		if el.inflight > 0 || el.releasing || a.eager[el.g] != el {
			a.emu.Unlock()
			return
		}
		el.releasing = true
		el.timer = nil
		a.emu.Unlock()
		a.eagerRelease(el)
	})
	a.emu.Unlock()
}

// eagerRelease is the delayed post-op and the unlock of an epoch.
func (a *AFR) eagerRelease(el *eagerLock) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a.emu.Lock()
	undirty := and(el.dirtied, not(el.failed))
	locked := el.locked
	a.emu.Unlock()
	for i, r := range fan(undirty, func(i int) (graph.Xdata, error) {
		return a.xattrop(ctx, i, nil, el.fd, a.changelogDict(IdxData, -1, nil))
	}) {
		if r.ok && r.err != nil && graph.Errno(r.err) != unix.ENOENT && graph.Errno(r.err) != unix.ENOTCONN {
			a.Logger().Warn("delayed post-op", zap.String("gfid", el.g.String()), zap.Int("child", i), zap.Error(r.err))
		}
	}
	a.inodelk(ctx, locked, IdxData, nil, el.fd, el.owner, graph.LockUnlock)
	a.emu.Lock()
	if a.eager[el.g] == el {
		delete(a.eager, el.g)
	}
	a.emu.Unlock()
	el.fd.Unref()
	close(el.done)
}

// eagerFlush ends g's epoch (post-op now) and waits for it; a no-op without one.
func (a *AFR) eagerFlush(g graph.GFID) {
	_ = a.eagerFlushCtx(context.Background(), g)
}

// eagerFlushCtx is eagerFlush that stops waiting when ctx is done (EINTR or ETIMEDOUT): the
// epoch still ends, in the background.
func (a *AFR) eagerFlushCtx(ctx context.Context, g graph.GFID) error {
	if g.IsZero() {
		return nil
	}
	a.emu.Lock()
	el := a.eager[g]
	if el == nil {
		a.emu.Unlock()
		return nil
	}
	el.release = true
	start := false
	if el.inflight == 0 && !el.releasing {
		if el.timer != nil {
			el.timer.Stop()
			el.timer = nil
		}
		el.releasing = true
		start = true
	}
	a.emu.Unlock()
	if start {
		go a.eagerRelease(el)
	}
	select {
	case <-el.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("replicate %s: waiting for the eager-lock epoch of %s to end: %w", a.Name(), g, ctx.Err())
	}
}

// eagerChildDown is CHILD_DOWN for the epochs: the child's locks went with its connection (a
// brick releases a disconnected client's locks), so no epoch holds anything there any more and
// none may write there again; every epoch ends as soon as its writes in flight are done, so the
// next write takes its locks and pre-op afresh on the children that are up then (GlusterFS
// likewise ends an eager-lock epoch when a fop of it failed on a child: afr_txn_nothing_failed).
func (a *AFR) eagerChildDown(i int) {
	var start []*eagerLock
	a.emu.Lock()
	for _, el := range a.eager {
		if el.locked == nil {
			// Still acquiring: it ends as soon as its first write is done.
			el.release = true
			continue
		}
		// Copies: a release in progress reads the slices it took under emu without it.
		if el.locked[i] {
			el.locked = append([]bool(nil), el.locked...)
			el.locked[i] = false
		}
		if el.dirtied[i] {
			el.dirtied = append([]bool(nil), el.dirtied...)
			el.dirtied[i] = false
			el.failed[i] = true
		}
		el.release = true
		if el.inflight == 0 && !el.releasing {
			if el.timer != nil {
				el.timer.Stop()
				el.timer = nil
			}
			el.releasing = true
			start = append(start, el)
		}
	}
	a.emu.Unlock()
	for _, el := range start {
		go a.eagerRelease(el)
	}
}

// eagerFlushAll ends every epoch (Fini).
func (a *AFR) eagerFlushAll() {
	a.emu.Lock()
	gs := make([]graph.GFID, 0, len(a.eager))
	for g := range a.eager {
		gs = append(gs, g)
	}
	a.emu.Unlock()
	for _, g := range gs {
		a.eagerFlush(g)
	}
}

// gate waits until no write of the epoch overlapping [off, off+n) is in flight and registers
// this one: overlapping writes reach every copy in the same order.
func (a *AFR) gate(ctx context.Context, el *eagerLock, off int64, n int) (func(), error) {
	w := &wrange{off: off, end: off + int64(n), done: make(chan struct{})}
	for {
		a.emu.Lock()
		var wait chan struct{}
		for _, r := range el.ranges {
			if r.off < w.end && w.off < r.end {
				wait = r.done
				break
			}
		}
		if wait == nil {
			el.ranges = append(el.ranges, w)
			a.emu.Unlock()
			return func() {
				a.emu.Lock()
				for k, r := range el.ranges {
					if r == w {
						el.ranges = append(el.ranges[:k], el.ranges[k+1:]...)
						break
					}
				}
				a.emu.Unlock()
				close(w.done)
			}, nil
		}
		a.emu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, graph.Errorf(unix.EINTR, "replicate %s: write waiting for an overlapping one: %v", a.Name(), ctx.Err())
		}
	}
}

// eagerWrite is Writev under the file's eager lock.
func (a *AFR) eagerWrite(ctx context.Context, fd *graph.FD, data []byte, offset int64, flags uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	up := a.upSet()
	if a.qType != "none" && !a.quorumMet(up) {
		return graph.WCCReply{}, graph.Errorf(unix.EROFS, "replicate %s: quorum not met", a.Name())
	}
	a.fixOpen(ctx, fd)
	el, err := a.eagerEnter(ctx, fd)
	if err != nil {
		return graph.WCCReply{}, err
	}
	defer a.eagerExit(el)
	a.trackFD(fd)
	ungate, err := a.gate(ctx, el, offset, len(data))
	if err != nil {
		return graph.WCCReply{}, err
	}
	defer ungate()
	a.emu.Lock()
	staged := and(and(el.dirtied, a.upSet()), a.fdOpenSet(fd))
	a.emu.Unlock()
	v, success, err := runOp(a, IdxData, staged, func(i int) (graph.WCCReply, error) {
		return a.kids[i].Writev(ctx, fd, data, offset, flags, xdata)
	})
	if count(success) == 0 {
		return v, err
	}
	// Blame the children that missed this write on the good copies, before answering.
	a.emu.Lock()
	blame := make([]bool, len(success))
	need := false
	for i := range success {
		if !success[i] {
			if el.dirtied[i] {
				el.failed[i] = true
				// A write of the epoch failed here: the epoch ends after this write
				// (afr_txn_nothing_failed), and the next one starts over on the children up then.
				el.release = true
			}
			if !el.blamed[i] {
				blame[i], need = true, true
			}
		}
	}
	a.emu.Unlock()
	if need {
		rs := fan(success, func(i int) (graph.Xdata, error) {
			return a.xattrop(context.WithoutCancel(ctx), i, nil, fd, a.changelogDict(IdxData, 0, blame))
		})
		recorded := false
		for _, r := range rs {
			recorded = recorded || (r.ok && r.err == nil)
		}
		if !recorded {
			return graph.WCCReply{}, graph.Errorf(unix.EIO, "replicate %s: write succeeded but its changelog could not be recorded", a.Name())
		}
		a.emu.Lock()
		for i, b := range blame {
			if b {
				el.blamed[i] = true
			}
		}
		a.emu.Unlock()
		a.invalidateState(fd.GFID)
	}
	if a.qType != "none" && !a.quorumMet(success) {
		return v, graph.Errorf(unix.EROFS, "replicate %s: succeeded on too few children for quorum", a.Name())
	}
	return v, nil
}

// fdWatch ends the file's epoch when the last reference of an FD that wrote goes (release).
type fdWatch struct {
	a *AFR
	g graph.GFID
}

func (w *fdWatch) Release() { go w.a.eagerFlush(w.g) }

type fdWatchKey struct{ a *AFR }

func (a *AFR) trackFD(fd *graph.FD) {
	fd.CtxOrSet(fdWatchKey{a}, func() any { return &fdWatch{a: a, g: fd.GFID} })
}
