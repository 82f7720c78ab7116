package locks

import (
	"fmt"
	"time"

	"github.com/weftfs/weft/graph"
)

// elock is a granted or requested entry lock on a name in a directory; name "" stands for every
// name in the directory (GlusterFS's NULL basename).
type elock struct {
	owner   owner
	name    string
	typ     graph.EntrylkType
	pid     int32
	granted time.Time
}

func (l *elock) String() string {
	n := fmt.Sprintf("%q", l.name)
	if l.name == "" {
		n = "the whole directory"
	}
	t := "read"
	if l.typ == graph.EntrylkWrlck {
		t = "write"
	}
	return fmt.Sprintf("entrylk %s on %s of %s pid %d", t, n, l.owner, l.pid)
}

func namesConflict(a, b string) bool { return a == "" || b == "" || a == b }

// conflicts reports whether two entry locks cover a common name and one of them is a write lock
// (owners not considered). Upstream GlusterFS ignores the type and treats every entrylk as
// exclusive; Weft lets read locks share (see doc.go).
func (l *elock) conflicts(o *elock) bool {
	return namesConflict(l.name, o.name) && (l.typ == graph.EntrylkWrlck || o.typ == graph.EntrylkWrlck)
}

// ewaiter is a blocked ENTRYLK_LOCK.
type ewaiter struct {
	waiter
	req *elock
}

// edom is one entrylk domain of a directory inode.
type edom struct {
	name    string
	granted []*elock
	blocked []*ewaiter
}

func (d *edom) empty() bool { return len(d.granted) == 0 && len(d.blocked) == 0 }

// grantable applies the same rules as idom.grantable: conflicts with granted locks of other
// owners block; conflicts with earlier queued requests block unless the owner already holds or
// awaits an entry lock in the domain.
func (d *edom) grantable(req *elock, queue []*ewaiter) (bool, string) {
	for _, l := range d.granted {
		if l.owner != req.owner && l.conflicts(req) {
			return false, l.String()
		}
	}
	var qc *elock
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

func (d *edom) grantLocked(now time.Time) int {
	granted := 0
	still := make([]*ewaiter, 0, len(d.blocked))
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

// unlockLocked removes the newest granted lock of req's owner on the same name with the same
// type (GlusterFS __find_matching_lock).
func (d *edom) unlockLocked(req *elock) bool {
	for i := len(d.granted) - 1; i >= 0; i-- {
		l := d.granted[i]
		if l.owner == req.owner && l.name == req.name && l.typ == req.typ {
			d.granted = append(d.granted[:i], d.granted[i+1:]...)
			return true
		}
	}
	return false
}

func (d *edom) dequeueLocked(w *ewaiter) bool {
	for i, q := range d.blocked {
		if q == w {
			d.blocked = append(d.blocked[:i], d.blocked[i+1:]...)
			return true
		}
	}
	return false
}

func (p *pinode) edomain(name string) *edom {
	if p.edoms == nil {
		p.edoms = map[string]*edom{}
	}
	d := p.edoms[name]
	if d == nil {
		d = &edom{name: name}
		p.edoms[name] = d
	}
	return d
}

func (p *pinode) etidyLocked(d *edom) {
	if d.empty() && p.edoms[d.name] == d {
		delete(p.edoms, d.name)
	}
}
