package locks

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/weftfs/weft/graph"
)

// metadataSuffix is appended to the domain of an inodelk on the special range
// [LLONG_MAX-1, EOF]: AFR takes its metadata locks there, and GlusterFS moves them into their own
// domain so that they never contend with data locks (_pl_convert_volume_for_special_range).
const metadataSuffix = ":metadata"

// inodelkDomain returns the domain an inodelk request uses.
func inodelkDomain(volume string, fl *graph.Flock) string {
	if fl.Start == math.MaxInt64-1 && fl.Len == 0 && !strings.HasSuffix(volume, metadataSuffix) {
		return volume + metadataSuffix
	}
	return volume
}

// ilock is a granted or requested inodelk. Unlike POSIX locks, inodelks are never merged or
// split: each lock is its own record and an unlock names exactly the range it releases.
type ilock struct {
	owner   owner
	typ     int16
	start   int64
	end     int64
	pid     int32
	granted time.Time
}

func (l *ilock) String() string {
	end := "EOF"
	if l.end != eof {
		end = fmt.Sprint(l.end)
	}
	return fmt.Sprintf("inodelk %s [%d, %s] of %s pid %d", typeName(l.typ), l.start, end, l.owner, l.pid)
}

// conflicts reports whether two inodelks overlap and one is a write lock (owners not considered).
func (l *ilock) conflicts(o *ilock) bool {
	return overlap(l.start, l.end, o.start, o.end) && (l.typ == graph.LockWrite || o.typ == graph.LockWrite)
}

// iwaiter is a blocked inodelk request.
type iwaiter struct {
	waiter
	req *ilock
}

// idom is one inodelk domain of an inode (GlusterFS pl_dom_list_t, inodelk half).
type idom struct {
	name    string
	granted []*ilock   // in grant order
	blocked []*iwaiter // in arrival order
}

func (d *idom) empty() bool { return len(d.granted) == 0 && len(d.blocked) == 0 }

// grantedConflict returns a granted lock of another owner that conflicts with req.
func (d *idom) grantedConflict(req *ilock) *ilock {
	for _, l := range d.granted {
		if l.owner != req.owner && l.conflicts(req) {
			return l
		}
	}
	return nil
}

// grantable decides a request against the granted locks and against the requests queued before
// it (queue): a request that would overtake a conflicting queued one waits behind it, unless its
// owner already holds or awaits a lock in the domain (nested locks must not deadlock on their
// own queue position) — GlusterFS's starvation rule in __lock_inodelk.
func (d *idom) grantable(req *ilock, queue []*iwaiter) (bool, string) {
	if c := d.grantedConflict(req); c != nil {
		return false, c.String()
	}
	var qc *ilock
	for _, w := range queue {
		if w.req.conflicts(req) {
			qc = w.req
			break
		}
	}
	if qc == nil {
		return true, ""
	}
	for _, l := range d.granted {
		if l.owner == req.owner {
			return true, ""
		}
	}
	for _, w := range queue {
		if w.req.owner == req.owner {
			return true, ""
		}
	}
	return false, "queued " + qc.String()
}

// grantLocked grants queued requests in arrival order; each is judged against the granted locks
// and the requests still queued before it.
func (d *idom) grantLocked(now time.Time) int {
	granted := 0
	still := make([]*iwaiter, 0, len(d.blocked))
	for _, w := range d.blocked {
		if ok, _ := d.grantable(w.req, still); !ok {
			still = append(still, w)
			continue
		}
		w.req.granted = now
		d.granted = append(d.granted, w.req)
		w.finishLocked(nil)
		granted++
	}
	d.blocked = still
	return granted
}

// unlockLocked removes the newest granted lock of req's owner with exactly req's range.
func (d *idom) unlockLocked(req *ilock) bool {
	for i := len(d.granted) - 1; i >= 0; i-- {
		l := d.granted[i]
		if l.owner == req.owner && l.start == req.start && l.end == req.end {
			d.granted = append(d.granted[:i], d.granted[i+1:]...)
			return true
		}
	}
	return false
}

func (d *idom) dequeueLocked(w *iwaiter) bool {
	for i, q := range d.blocked {
		if q == w {
			d.blocked = append(d.blocked[:i], d.blocked[i+1:]...)
			return true
		}
	}
	return false
}

// idomain returns the named domain, creating it.
func (p *pinode) idomain(name string) *idom {
	if p.idoms == nil {
		p.idoms = map[string]*idom{}
	}
	d := p.idoms[name]
	if d == nil {
		d = &idom{name: name}
		p.idoms[name] = d
	}
	return d
}

// itidyLocked forgets the domain if it holds nothing.
func (p *pinode) itidyLocked(d *idom) {
	if d.empty() && p.idoms[d.name] == d {
		delete(p.idoms, d.name)
	}
}
