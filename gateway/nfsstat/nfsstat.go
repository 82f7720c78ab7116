package nfsstat

import (
	"errors"

	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/graph"
	"golang.org/x/sys/unix"
)

// Status3 is an NFSv3 status (RFC 1813 §2.6 nfsstat3).
type Status3 uint32

// NFSv3 status values (RFC 1813 §2.6).
const (
	NFS3_OK             Status3 = 0
	NFS3ERR_PERM        Status3 = 1
	NFS3ERR_NOENT       Status3 = 2
	NFS3ERR_IO          Status3 = 5
	NFS3ERR_NXIO        Status3 = 6
	NFS3ERR_ACCES       Status3 = 13
	NFS3ERR_EXIST       Status3 = 17
	NFS3ERR_XDEV        Status3 = 18
	NFS3ERR_NODEV       Status3 = 19
	NFS3ERR_NOTDIR      Status3 = 20
	NFS3ERR_ISDIR       Status3 = 21
	NFS3ERR_INVAL       Status3 = 22
	NFS3ERR_FBIG        Status3 = 27
	NFS3ERR_NOSPC       Status3 = 28
	NFS3ERR_ROFS        Status3 = 30
	NFS3ERR_MLINK       Status3 = 31
	NFS3ERR_NAMETOOLONG Status3 = 63
	NFS3ERR_NOTEMPTY    Status3 = 66
	NFS3ERR_DQUOT       Status3 = 69
	NFS3ERR_STALE       Status3 = 70
	NFS3ERR_REMOTE      Status3 = 71
	NFS3ERR_BADHANDLE   Status3 = 10001
	NFS3ERR_NOT_SYNC    Status3 = 10002
	NFS3ERR_BAD_COOKIE  Status3 = 10003
	NFS3ERR_NOTSUPP     Status3 = 10004
	NFS3ERR_TOOSMALL    Status3 = 10005
	NFS3ERR_SERVERFAULT Status3 = 10006
	NFS3ERR_BADTYPE     Status3 = 10007
	NFS3ERR_JUKEBOX     Status3 = 10008
)

// Status4 is an NFSv4 status (RFC 7530 §13.1, RFC 8881 §15.1).
type Status4 uint32

// The NFSv4 status values the table produces.
const (
	NFS4_OK                Status4 = 0
	NFS4ERR_PERM           Status4 = 1
	NFS4ERR_NOENT          Status4 = 2
	NFS4ERR_IO             Status4 = 5
	NFS4ERR_NXIO           Status4 = 6
	NFS4ERR_ACCESS         Status4 = 13
	NFS4ERR_EXIST          Status4 = 17
	NFS4ERR_XDEV           Status4 = 18
	NFS4ERR_NOTDIR         Status4 = 20
	NFS4ERR_ISDIR          Status4 = 21
	NFS4ERR_INVAL          Status4 = 22
	NFS4ERR_FBIG           Status4 = 27
	NFS4ERR_NOSPC          Status4 = 28
	NFS4ERR_ROFS           Status4 = 30
	NFS4ERR_MLINK          Status4 = 31
	NFS4ERR_NAMETOOLONG    Status4 = 63
	NFS4ERR_NOTEMPTY       Status4 = 66
	NFS4ERR_DQUOT          Status4 = 69
	NFS4ERR_STALE          Status4 = 70
	NFS4ERR_BADHANDLE      Status4 = 10001
	NFS4ERR_NOTSUPP        Status4 = 10004
	NFS4ERR_SERVERFAULT    Status4 = 10006
	NFS4ERR_DELAY          Status4 = 10008
	NFS4ERR_LOCKED         Status4 = 10012
	NFS4ERR_SYMLINK        Status4 = 10029
	NFS4ERR_ATTRNOTSUPP    Status4 = 10032
	NFS4ERR_DEADLOCK       Status4 = 10045
	NFS4ERR_FILE_OPEN      Status4 = 10046
	NFS4ERR_NOXATTR        Status4 = 10095
	NFS4ERR_XATTR2BIG      Status4 = 10096
	NFS4ERR_WRONG_TYPE     Status4 = 10083
	NFS4ERR_BADNAME        Status4 = 10041
	NFS4ERR_NOT_SAME       Status4 = 10027
	NFS4ERR_OPENMODE       Status4 = 10038
	NFS4ERR_ADMIN_REVOKED  Status4 = 10047
	NFS4ERR_LOCK_RANGE     Status4 = 10028
	NFS4ERR_DENIED         Status4 = 10010
	NFS4ERR_BAD_COOKIE     Status4 = 10003
	NFS4ERR_TOOSMALL       Status4 = 10005
	NFS4ERR_RESOURCE       Status4 = 10018
	NFS4ERR_MOVED          Status4 = 10019
	NFS4ERR_WRONGSEC       Status4 = 10016
	NFS4ERR_NOFILEHANDLE   Status4 = 10020
	NFS4ERR_LOCK_NOTSUPP   Status4 = 10043
	NFS4ERR_BAD_RANGE      Status4 = 10042
	NFS4ERR_BADTYPE        Status4 = 10007
	NFS4ERR_NOT_SYNC       Status4 = 10002
	NFS4ERR_GRACE          Status4 = 10013
	NFS4ERR_EXPIRED        Status4 = 10011
	NFS4ERR_OLD_STATEID    Status4 = 10024
	NFS4ERR_BAD_STATEID    Status4 = 10025
	NFS4ERR_STALE_CLIENTID Status4 = 10022
)

// entry is one row of the table.
type entry struct {
	v3 Status3
	v4 Status4
}

// table is THE errno → NFS status table. Errnos absent from it map to NFS3ERR_IO / NFS4ERR_IO.
var table = map[unix.Errno]entry{
	unix.EPERM:        {NFS3ERR_PERM, NFS4ERR_PERM},
	unix.ENOENT:       {NFS3ERR_NOENT, NFS4ERR_NOENT},
	unix.EIO:          {NFS3ERR_IO, NFS4ERR_IO},
	unix.ENXIO:        {NFS3ERR_NXIO, NFS4ERR_NXIO},
	unix.ENODEV:       {NFS3ERR_NODEV, NFS4ERR_NXIO},
	unix.EACCES:       {NFS3ERR_ACCES, NFS4ERR_ACCESS},
	unix.EEXIST:       {NFS3ERR_EXIST, NFS4ERR_EXIST},
	unix.EXDEV:        {NFS3ERR_XDEV, NFS4ERR_XDEV},
	unix.ENOTDIR:      {NFS3ERR_NOTDIR, NFS4ERR_NOTDIR},
	unix.EISDIR:       {NFS3ERR_ISDIR, NFS4ERR_ISDIR},
	unix.EINVAL:       {NFS3ERR_INVAL, NFS4ERR_INVAL},
	unix.EFBIG:        {NFS3ERR_FBIG, NFS4ERR_FBIG},
	unix.EOVERFLOW:    {NFS3ERR_FBIG, NFS4ERR_FBIG},
	unix.ENOSPC:       {NFS3ERR_NOSPC, NFS4ERR_NOSPC},
	unix.EROFS:        {NFS3ERR_ROFS, NFS4ERR_ROFS},
	unix.EMLINK:       {NFS3ERR_MLINK, NFS4ERR_MLINK},
	unix.ENAMETOOLONG: {NFS3ERR_NAMETOOLONG, NFS4ERR_NAMETOOLONG},
	unix.ENOTEMPTY:    {NFS3ERR_NOTEMPTY, NFS4ERR_NOTEMPTY},
	unix.EDQUOT:       {NFS3ERR_DQUOT, NFS4ERR_DQUOT},
	unix.ESTALE:       {NFS3ERR_STALE, NFS4ERR_STALE},
	unix.EREMOTE:      {NFS3ERR_REMOTE, NFS4ERR_MOVED},
	unix.EBADF:        {NFS3ERR_BADHANDLE, NFS4ERR_BADHANDLE},
	unix.EBADR:        {NFS3ERR_BADHANDLE, NFS4ERR_BADHANDLE},
	unix.ENOTSUP:      {NFS3ERR_NOTSUPP, NFS4ERR_NOTSUPP},
	unix.ENOSYS:       {NFS3ERR_NOTSUPP, NFS4ERR_NOTSUPP},
	unix.ENOTTY:       {NFS3ERR_NOTSUPP, NFS4ERR_NOTSUPP},
	unix.ELOOP:        {NFS3ERR_ACCES, NFS4ERR_SYMLINK},
	unix.ETXTBSY:      {NFS3ERR_ACCES, NFS4ERR_FILE_OPEN},
	unix.EBUSY:        {NFS3ERR_JUKEBOX, NFS4ERR_DELAY},
	unix.EAGAIN:       {NFS3ERR_JUKEBOX, NFS4ERR_DELAY},
	unix.EINTR:        {NFS3ERR_JUKEBOX, NFS4ERR_DELAY},
	unix.ETIMEDOUT:    {NFS3ERR_JUKEBOX, NFS4ERR_DELAY},
	unix.ENOTCONN:     {NFS3ERR_JUKEBOX, NFS4ERR_DELAY},
	unix.ENOMEM:       {NFS3ERR_JUKEBOX, NFS4ERR_DELAY},
	unix.EDEADLK:      {NFS3ERR_JUKEBOX, NFS4ERR_DEADLOCK},
	unix.ENODATA:      {NFS3ERR_IO, NFS4ERR_NOXATTR},
	unix.E2BIG:        {NFS3ERR_FBIG, NFS4ERR_XATTR2BIG},
	unix.ERANGE:       {NFS3ERR_INVAL, NFS4ERR_INVAL},
	unix.ESPIPE:       {NFS3ERR_INVAL, NFS4ERR_INVAL},
	unix.EFAULT:       {NFS3ERR_SERVERFAULT, NFS4ERR_SERVERFAULT},
}

// V3 returns the NFSv3 status for err: NFS3_OK for nil, NFS3ERR_BADHANDLE for a handle error,
// the table's row for the wrapped errno, NFS3ERR_IO for errnos the table does not know.
func V3(err error) Status3 {
	if err == nil {
		return NFS3_OK
	}
	if errors.Is(err, handle.ErrBadHandle) {
		return NFS3ERR_BADHANDLE
	}
	if e, ok := table[graph.Errno(err)]; ok {
		return e.v3
	}
	return NFS3ERR_IO
}

// V4 returns the NFSv4 status for err, as V3 does for NFSv3.
func V4(err error) Status4 {
	if err == nil {
		return NFS4_OK
	}
	if errors.Is(err, handle.ErrBadHandle) {
		return NFS4ERR_BADHANDLE
	}
	if e, ok := table[graph.Errno(err)]; ok {
		return e.v4
	}
	return NFS4ERR_IO
}

// String returns the RFC name of s.
func (s Status3) String() string {
	if n, ok := names3[s]; ok {
		return n
	}
	return "NFS3ERR_" + itoa(uint32(s))
}

func itoa(v uint32) string {
	if v == 0 {
		return "0"
	}
	var b [10]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

var names3 = map[Status3]string{
	NFS3_OK: "NFS3_OK", NFS3ERR_PERM: "NFS3ERR_PERM", NFS3ERR_NOENT: "NFS3ERR_NOENT",
	NFS3ERR_IO: "NFS3ERR_IO", NFS3ERR_NXIO: "NFS3ERR_NXIO", NFS3ERR_ACCES: "NFS3ERR_ACCES",
	NFS3ERR_EXIST: "NFS3ERR_EXIST", NFS3ERR_XDEV: "NFS3ERR_XDEV", NFS3ERR_NODEV: "NFS3ERR_NODEV",
	NFS3ERR_NOTDIR: "NFS3ERR_NOTDIR", NFS3ERR_ISDIR: "NFS3ERR_ISDIR", NFS3ERR_INVAL: "NFS3ERR_INVAL",
	NFS3ERR_FBIG: "NFS3ERR_FBIG", NFS3ERR_NOSPC: "NFS3ERR_NOSPC", NFS3ERR_ROFS: "NFS3ERR_ROFS",
	NFS3ERR_MLINK: "NFS3ERR_MLINK", NFS3ERR_NAMETOOLONG: "NFS3ERR_NAMETOOLONG",
	NFS3ERR_NOTEMPTY: "NFS3ERR_NOTEMPTY", NFS3ERR_DQUOT: "NFS3ERR_DQUOT", NFS3ERR_STALE: "NFS3ERR_STALE",
	NFS3ERR_REMOTE: "NFS3ERR_REMOTE", NFS3ERR_BADHANDLE: "NFS3ERR_BADHANDLE",
	NFS3ERR_NOT_SYNC: "NFS3ERR_NOT_SYNC", NFS3ERR_BAD_COOKIE: "NFS3ERR_BAD_COOKIE",
	NFS3ERR_NOTSUPP: "NFS3ERR_NOTSUPP", NFS3ERR_TOOSMALL: "NFS3ERR_TOOSMALL",
	NFS3ERR_SERVERFAULT: "NFS3ERR_SERVERFAULT", NFS3ERR_BADTYPE: "NFS3ERR_BADTYPE",
	NFS3ERR_JUKEBOX: "NFS3ERR_JUKEBOX",
}
