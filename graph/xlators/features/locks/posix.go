package locks

import (
	"fmt"
	"math"

	"github.com/weftfs/weft/graph"
	"golang.org/x/sys/unix"
)

// eof is the inclusive end of a lock that runs to the end of the file (l_len 0).
const eof = math.MaxInt64

// plock is one granted POSIX byte-range lock piece [start, end] (inclusive; end == eof: to the end
// of the file). fd is the FD the piece was taken through, so that releasing the FD drops it.
type plock struct {
	owner owner
	typ   int16
	start int64
	end   int64
	pid   int32
	fd    *graph.FD
}

func overlap(s1, e1, s2, e2 int64) bool { return s1 <= e2 && s2 <= e1 }

// flock converts a lock piece to the wire form.
func (l *plock) flock() graph.Flock {
	f := graph.Flock{Type: l.typ, Start: l.start, Pid: l.pid, Owner: []byte(l.owner.lk)}
	if l.end != eof {
		f.Len = l.end - l.start + 1
	}
	return f
}

func (l *plock) String() string {
	end := "EOF"
	if l.end != eof {
		end = fmt.Sprint(l.end)
	}
	return fmt.Sprintf("%s lock [%d, %s] of %s pid %d", typeName(l.typ), l.start, end, l.owner, l.pid)
}

func typeName(t int16) string {
	switch t {
	case graph.LockRead:
		return "read"
	case graph.LockWrite:
		return "write"
	case graph.LockUnlock:
		return "unlock"
	}
	return fmt.Sprintf("type(%d)", t)
}

// rangeOf validates a Flock's range and returns it as [start, end]. A negative length locks the
// bytes before start, as fcntl(2) specifies; length 0 runs to the end of the file.
func rangeOf(fl *graph.Flock) (int64, int64, error) {
	start, n := fl.Start, fl.Len
	if n < 0 {
		if n == math.MinInt64 {
			return 0, 0, graph.Errorf(unix.EINVAL, "locks: length %d out of range", n)
		}
		start += n
		n = -n
	}
	if start < 0 {
		return 0, 0, graph.Errorf(unix.EINVAL, "locks: range starts before offset 0 (start %d, len %d)", fl.Start, fl.Len)
	}
	if n == 0 {
		return start, eof, nil
	}
	if start > math.MaxInt64-(n-1) {
		return 0, 0, graph.Errorf(unix.EOVERFLOW, "locks: range end overflows (start %d, len %d)", fl.Start, fl.Len)
	}
	return start, start + n - 1, nil
}

// posixConflictLocked returns the first granted lock of another owner that conflicts with req
// (overlapping, and one of the two is a write lock), or nil. Unlock requests never conflict.
func (p *pinode) posixConflictLocked(req *plock) *plock {
	if req.typ == graph.LockUnlock {
		return nil
	}
	for _, l := range p.posix {
		if l.owner != req.owner && overlap(l.start, l.end, req.start, req.end) &&
			(l.typ == graph.LockWrite || req.typ == graph.LockWrite) {
			return l
		}
	}
	return nil
}

// posixApplyLocked sets req (a lock or an unlock) for its owner with fcntl semantics: the owner's
// existing pieces inside [start, end] are replaced (split where they stick out), and the new
// piece is merged with the owner's adjacent pieces of the same type taken through the same FD.
// The caller has checked that req does not conflict with other owners.
func (p *pinode) posixApplyLocked(req *plock) {
	out := make([]*plock, 0, len(p.posix)+2)
	for _, l := range p.posix {
		if l.owner != req.owner || !overlap(l.start, l.end, req.start, req.end) {
			out = append(out, l)
			continue
		}
		if l.start < req.start {
			left := *l
			left.end = req.start - 1
			out = append(out, &left)
		}
		if l.end > req.end {
			right := *l
			right.start = req.end + 1
			out = append(out, &right)
		}
	}
	if req.typ != graph.LockUnlock {
		n := *req
		kept := out[:0]
		for _, l := range out {
			if l.owner == n.owner && l.typ == n.typ && l.fd == n.fd &&
				((l.end != eof && l.end+1 == n.start) || (n.end != eof && n.end+1 == l.start)) {
				n.start = min(n.start, l.start)
				n.end = max(n.end, l.end)
				continue
			}
			kept = append(kept, l)
		}
		out = append(kept, &n)
	}
	p.posix = out
}

// pwaiter is a blocked SETLKW.
type pwaiter struct {
	waiter
	req *plock
}

// posixGrantLocked grants queued SETLKW requests, oldest first, that no longer conflict. Each
// grant can change what conflicts (a downgrade, a merge), so it repeats until nothing changes.
func (p *pinode) posixGrantLocked() int {
	granted := 0
	for {
		progress := false
		for i := 0; i < len(p.pwait); i++ {
			w := p.pwait[i]
			if p.posixConflictLocked(w.req) != nil {
				continue
			}
			p.posixApplyLocked(w.req)
			p.pwait = append(p.pwait[:i], p.pwait[i+1:]...)
			i--
			w.finishLocked(nil)
			granted++
			progress = true
		}
		if !progress {
			return granted
		}
	}
}

// posixDequeueLocked removes w from the queue; it reports whether w was still queued.
func (p *pinode) posixDequeueLocked(w *pwaiter) bool {
	for i, q := range p.pwait {
		if q == w {
			p.pwait = append(p.pwait[:i], p.pwait[i+1:]...)
			return true
		}
	}
	return false
}

// posixDropLocked removes the granted pieces for which drop is true and fails the queued
// requests for which failWaiter is true with err; then it grants what became grantable.
func (p *pinode) posixDropLocked(drop func(*plock) bool, failWaiter func(*pwaiter) bool, err error) (dropped int) {
	kept := p.posix[:0]
	for _, l := range p.posix {
		if drop(l) {
			dropped++
			continue
		}
		kept = append(kept, l)
	}
	clear(p.posix[len(kept):])
	p.posix = kept
	if failWaiter != nil {
		q := p.pwait[:0]
		for _, w := range p.pwait {
			if failWaiter(w) {
				w.finishLocked(err)
				continue
			}
			q = append(q, w)
		}
		clear(p.pwait[len(q):])
		p.pwait = q
	}
	p.posixGrantLocked()
	return dropped
}
