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

func (l *ilock) lockOwner() owner         { return l.owner }
func (l *ilock) grantedAt() time.Time     { return l.granted }
func (l *ilock) setGranted(now time.Time) { l.granted = now }

// sameRange is an inodelk unlock's match: exactly the same range.
func sameRange(l, req *ilock) bool { return l.start == req.start && l.end == req.end }
