package nfsstat

import (
	"fmt"
	"testing"

	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/graph"
	"golang.org/x/sys/unix"
)

func TestV3(t *testing.T) {
	cases := []struct {
		err  error
		want Status3
	}{
		{nil, NFS3_OK},
		{unix.ENOENT, NFS3ERR_NOENT},
		{graph.Errorf(unix.ENOENT, "lookup %s", "x"), NFS3ERR_NOENT},
		{fmt.Errorf("outer: %w", graph.Errorf(unix.ESTALE, "inner")), NFS3ERR_STALE},
		{unix.EACCES, NFS3ERR_ACCES},
		{unix.ENOTEMPTY, NFS3ERR_NOTEMPTY},
		{unix.ENAMETOOLONG, NFS3ERR_NAMETOOLONG},
		{unix.EOPNOTSUPP, NFS3ERR_NOTSUPP}, // EOPNOTSUPP == ENOTSUP on Linux
		{unix.ENOTCONN, NFS3ERR_JUKEBOX},
		{unix.EDQUOT, NFS3ERR_DQUOT},
		{fmt.Errorf("%w: x", handle.ErrBadHandle), NFS3ERR_BADHANDLE},
		{fmt.Errorf("no errno"), NFS3ERR_IO},
		{unix.Errno(4000), NFS3ERR_IO},
	}
	for _, c := range cases {
		if got := V3(c.err); got != c.want {
			t.Errorf("V3(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if NFS3ERR_NOT_SYNC.String() != "NFS3ERR_NOT_SYNC" || Status3(9999).String() != "NFS3ERR_9999" {
		t.Fatal("String")
	}
}

func TestV4(t *testing.T) {
	if V4(nil) != NFS4_OK || V4(unix.EACCES) != NFS4ERR_ACCESS || V4(unix.ELOOP) != NFS4ERR_SYMLINK ||
		V4(unix.EAGAIN) != NFS4ERR_DELAY || V4(fmt.Errorf("x")) != NFS4ERR_IO {
		t.Fatal("V4 mapping wrong")
	}
}

// Every row must be a status the RFC defines (no typo'd numbers).
func TestTableValues(t *testing.T) {
	for errno, e := range table {
		if _, ok := names3[e.v3]; !ok {
			t.Errorf("%v maps to undefined nfsstat3 %d", errno, e.v3)
		}
	}
}
