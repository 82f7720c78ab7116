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

func (l *elock) lockOwner() owner         { return l.owner }
func (l *elock) grantedAt() time.Time     { return l.granted }
func (l *elock) setGranted(now time.Time) { l.granted = now }

// sameEntry is an entry unlock's match: the same name and type (GlusterFS __find_matching_lock).
func sameEntry(l, req *elock) bool { return l.name == req.name && l.typ == req.typ }
