package locks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/weftfs/weft/graph"
	"golang.org/x/sys/unix"
)

// owner identifies who holds a lock: the client connection and the lock-owner bytes, compared
// byte for byte (GlusterFS same_owner: is_same_lkowner && same client_t).
type owner struct {
	client string
	lk     string
}

func (o owner) String() string { return fmt.Sprintf("client=%q lk-owner=%x", o.client, o.lk) }

// waiter is one blocked request (SETLKW, blocking inodelk, ENTRYLK_LOCK). It is finished exactly
// once, under the pinode's mutex, by whoever grants it, fails it (client released, translator
// torn down) or cancels it: err is set and done is closed, and the waiter is no longer queued.
type waiter struct {
	done     chan struct{}
	err      error
	finished bool
	since    time.Time
}

func newWaiter(now time.Time) waiter { return waiter{done: make(chan struct{}), since: now} }

// finishLocked completes the waiter with err (nil: granted). The pinode mutex must be held.
func (w *waiter) finishLocked(err error) {
	if w.finished {
		return
	}
	w.finished = true
	w.err = err
	close(w.done)
}

// pinode is the lock state of one inode (GlusterFS pl_inode_t): POSIX locks and their waiters,
// inodelk domains and entrylk domains. It exists only while something is locked or waiting, or
// while an operation holds a reference (refs, protected by table.mu).
type pinode struct {
	gfid graph.GFID
	refs int // protected by table.mu

	mu     sync.Mutex
	posix  []*plock        // granted POSIX locks in grant order; one owner's pieces never overlap
	pwait  []*pwaiter      // blocked SETLKW requests, in arrival order
	idoms  domains[*ilock] // inodelk domains with granted or blocked locks
	edoms  domains[*elock] // entrylk domains with granted or blocked locks
	closed bool            // the translator was torn down: no new locks
}

func (p *pinode) emptyLocked() bool {
	return len(p.posix) == 0 && len(p.pwait) == 0 && len(p.idoms) == 0 && len(p.edoms) == 0
}

// table maps GFIDs to their lock state. Lock order: table.mu before pinode.mu; nothing takes
// table.mu while holding a pinode's mutex.
type table struct {
	mu     sync.Mutex
	inodes map[graph.GFID]*pinode
	closed bool
}

func newTable() *table { return &table{inodes: map[graph.GFID]*pinode{}} }

// get returns the pinode of gfid with a reference, creating it if needed.
func (t *table) get(gfid graph.GFID) *pinode {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.inodes[gfid]
	if p == nil {
		p = &pinode{gfid: gfid, closed: t.closed}
		t.inodes[gfid] = p
	}
	p.refs++
	return p
}

// find returns the pinode of gfid with a reference, or nil when nothing is locked there.
func (t *table) find(gfid graph.GFID) *pinode {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.inodes[gfid]
	if p != nil {
		p.refs++
	}
	return p
}

// put drops a reference taken by get or all; the pinode is forgotten when it holds nothing.
func (t *table) put(p *pinode) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p.refs--
	if p.refs > 0 {
		return
	}
	p.mu.Lock()
	empty := p.emptyLocked()
	p.mu.Unlock()
	if empty && t.inodes[p.gfid] == p {
		delete(t.inodes, p.gfid)
	}
}

// all returns every pinode, each with a reference (the caller puts them).
func (t *table) all() []*pinode {
	t.mu.Lock()
	defer t.mu.Unlock()
	ps := make([]*pinode, 0, len(t.inodes))
	for _, p := range t.inodes {
		p.refs++
		ps = append(ps, p)
	}
	return ps
}

// size returns the number of inodes with lock state.
func (t *table) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.inodes)
}

// close marks the table torn down: pinodes made from now on refuse new locks.
func (t *table) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}

// block waits until w is finished or ctx is done. On cancellation, dequeue (called with the
// pinode mutex held) removes the waiter if it is still queued and reports whether it did; a
// waiter that was granted in the meantime keeps its lock and block reports success, as fcntl
// does when a signal arrives after the lock was granted.
func block(ctx context.Context, p *pinode, w *waiter, what string, dequeue func() bool) error {
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
	}
	p.mu.Lock()
	removed := dequeue()
	if removed {
		w.finishLocked(fmt.Errorf("locks: %s on %s: blocked request cancelled: %w: %w", what, p.gfid, unix.EINTR, ctx.Err()))
	}
	p.mu.Unlock()
	<-w.done
	return w.err
}

// errAgain is the error of a request that conflicts with a granted lock.
func errAgain(what string, gfid graph.GFID, conflict string) error {
	return graph.Errorf(unix.EAGAIN, "locks: %s on %s: conflicts with %s", what, gfid, conflict)
}
