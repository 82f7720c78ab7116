package locks

import (
	"context"
	"fmt"
	"time"

	"github.com/weftfs/weft/graph"
)

// domainLock is what inodelks (*ilock) and entry locks (*elock) have in common: records of an
// owner that conflict with each other by their own rule, granted at a time. One queue and grant
// mechanism (lockDomain) serves both.
type domainLock[L any] interface {
	comparable
	fmt.Stringer
	lockOwner() owner
	conflicts(o L) bool // overlap and at least one write lock (owners not considered)
	grantedAt() time.Time
	setGranted(now time.Time)
}

// domainWaiter is a blocked request of a domain.
type domainWaiter[L domainLock[L]] struct {
	waiter
	req L
}

// lockDomain is one lock domain of an inode (GlusterFS pl_dom_list_t): granted locks in grant
// order and blocked requests in arrival order.
type lockDomain[L domainLock[L]] struct {
	name    string
	granted []L
	blocked []*domainWaiter[L]
}

func (d *lockDomain[L]) empty() bool { return len(d.granted) == 0 && len(d.blocked) == 0 }

// grantedConflict returns a granted lock of another owner that conflicts with req.
func (d *lockDomain[L]) grantedConflict(req L) (L, bool) {
	for _, l := range d.granted {
		if l.lockOwner() != req.lockOwner() && l.conflicts(req) {
			return l, true
		}
	}
	var zero L
	return zero, false
}

// grantable decides a request against the granted locks and against the requests queued before
// it (queue): a request that would overtake a conflicting queued one waits behind it, unless its
// owner already holds or awaits a lock in the domain (nested locks must not deadlock on their
// own queue position) — GlusterFS's starvation rule in __lock_inodelk and __lock_entrylk.
func (d *lockDomain[L]) grantable(req L, queue []*domainWaiter[L]) (bool, string) {
	if c, ok := d.grantedConflict(req); ok {
		return false, c.String()
	}
	var qc *domainWaiter[L]
	for _, w := range queue {
		if w.req.conflicts(req) {
			qc = w
			break
		}
	}
	if qc == nil {
		return true, ""
	}
	for _, l := range d.granted {
		if l.lockOwner() == req.lockOwner() {
			return true, ""
		}
	}
	for _, w := range queue {
		if w.req.lockOwner() == req.lockOwner() {
			return true, ""
		}
	}
	return false, "queued " + qc.req.String()
}

// grantLocked grants queued requests in arrival order; each is judged against the granted locks
// and the requests still queued before it.
func (d *lockDomain[L]) grantLocked(now time.Time) int {
	granted := 0
	still := make([]*domainWaiter[L], 0, len(d.blocked))
	for _, w := range d.blocked {
		if ok, _ := d.grantable(w.req, still); !ok {
			still = append(still, w)
			continue
		}
		w.req.setGranted(now)
		d.granted = append(d.granted, w.req)
		w.finishLocked(nil)
		granted++
	}
	d.blocked = still
	return granted
}

// unlockLocked removes the newest granted lock of req's owner that same says matches req.
func (d *lockDomain[L]) unlockLocked(req L, same func(l, req L) bool) bool {
	for i := len(d.granted) - 1; i >= 0; i-- {
		l := d.granted[i]
		if l.lockOwner() == req.lockOwner() && same(l, req) {
			d.granted = append(d.granted[:i], d.granted[i+1:]...)
			return true
		}
	}
	return false
}

func (d *lockDomain[L]) dequeueLocked(w *domainWaiter[L]) bool {
	for i, q := range d.blocked {
		if q == w {
			d.blocked = append(d.blocked[:i], d.blocked[i+1:]...)
			return true
		}
	}
	return false
}

// dropLocked removes the granted locks and fails the blocked requests of the owners selected by
// sel, then grants what became grantable. It returns how many granted locks it removed.
func (d *lockDomain[L]) dropLocked(sel func(owner) bool, err error, now time.Time) int {
	n := 0
	kept := d.granted[:0]
	for _, l := range d.granted {
		if sel(l.lockOwner()) {
			n++
			continue
		}
		kept = append(kept, l)
	}
	clear(d.granted[len(kept):])
	d.granted = kept
	q := d.blocked[:0]
	for _, w := range d.blocked {
		if sel(w.req.lockOwner()) {
			w.finishLocked(err)
			continue
		}
		q = append(q, w)
	}
	clear(d.blocked[len(q):])
	d.blocked = q
	d.grantLocked(now)
	return n
}

// revokeLocked implements revocation-secs (GlusterFS __inodelk_prune_stale and
// __entrylk_prune_stale): when req conflicts with a granted lock older than limit, every granted
// lock of the domain is revoked (with clearAll every blocked request fails with err too), then
// the blocked requests are granted in order. It returns the stale lock's age and the counts
// revoked, or ok false when nothing was.
func (d *lockDomain[L]) revokeLocked(req L, now time.Time, limit time.Duration, clearAll bool, err error) (age time.Duration, granted, blocked int, ok bool) {
	if limit <= 0 {
		return 0, 0, 0, false
	}
	for _, l := range d.granted {
		if l.conflicts(req) && now.Sub(l.grantedAt()) > limit {
			age, ok = now.Sub(l.grantedAt()), true
			break
		}
	}
	if !ok {
		return 0, 0, 0, false
	}
	granted = len(d.granted)
	clear(d.granted)
	d.granted = d.granted[:0]
	if clearAll {
		for _, w := range d.blocked {
			w.finishLocked(err)
		}
		blocked = len(d.blocked)
		d.blocked = nil
	}
	d.grantLocked(now)
	return age, granted, blocked, true
}

// domains is the set of lock domains of one kind of an inode, by name.
type domains[L domainLock[L]] map[string]*lockDomain[L]

// get returns the named domain, creating it (the map too).
func (m *domains[L]) get(name string) *lockDomain[L] {
	if *m == nil {
		*m = domains[L]{}
	}
	d := (*m)[name]
	if d == nil {
		d = &lockDomain[L]{name: name}
		(*m)[name] = d
	}
	return d
}

// tidyLocked forgets the domain if it holds nothing.
func (m domains[L]) tidyLocked(d *lockDomain[L]) {
	if d.empty() && m[d.name] == d {
		delete(m, d.name)
	}
}

// domainRequest is one lock or unlock request in a domain of an inode, as inodelk and entrylk
// make them: the shared path from the pinode to the verdict.
type domainRequest[L domainLock[L]] struct {
	gfid     graph.GFID
	doms     func(p *pinode) *domains[L] // the inode's domains of this kind
	domain   string
	req      L
	unlock   bool
	blocking bool
	same     func(l, req L) bool // an unlock's match (besides the owner)
	kind     string              // "inodelk" or "entrylk"
	what     string              // the request in messages ("inodelk write", "entrylk")
	noLock   func() error        // the error of an unlock that matches nothing
}

// run applies the request: unlock, or grant now, or fail with EAGAIN (non-blocking), or queue
// and wait until granted, failed or ctx is done.
func run[L domainLock[L]](ctx context.Context, x *Locks, r domainRequest[L]) error {
	p := x.tab.get(r.gfid)
	defer x.tab.put(p)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errClosed(r.gfid)
	}
	now := x.now()
	doms := r.doms(p)
	if r.unlock {
		d := (*doms)[r.domain]
		if d == nil || !d.unlockLocked(r.req, r.same) {
			p.mu.Unlock()
			return r.noLock()
		}
		d.grantLocked(now)
		doms.tidyLocked(d)
		p.mu.Unlock()
		return nil
	}
	d := doms.get(r.domain)
	revokeLocked(x, p, d, r.req, r.kind, now)
	ok, why := d.grantable(r.req, d.blocked)
	if ok {
		r.req.setGranted(now)
		d.granted = append(d.granted, r.req)
		p.mu.Unlock()
		return nil
	}
	if !r.blocking {
		doms.tidyLocked(d)
		p.mu.Unlock()
		return errAgain(fmt.Sprintf("%s in domain %q", r.what, r.domain), r.gfid, why)
	}
	w := &domainWaiter[L]{waiter: newWaiter(now), req: r.req}
	d.blocked = append(d.blocked, w)
	p.mu.Unlock()
	return block(ctx, p, &w.waiter, fmt.Sprintf("%s in domain %q", r.kind, r.domain), func() bool {
		if !d.dequeueLocked(w) {
			return false
		}
		d.grantLocked(x.now()) // the request may have held back later ones
		doms.tidyLocked(d)
		return true
	})
}
