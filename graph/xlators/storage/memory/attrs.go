package memory

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash/adler32"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

const (
	xattrNameMax  = 255
	xattrValueMax = 64 << 10
	xattrCreate   = 1 // XATTR_CREATE
	xattrReplace  = 2 // XATTR_REPLACE
)

func (m *Memory) setattr(ctx context.Context, n *node, stbuf *graph.Iatt, valid uint32, what string) (graph.WCCReply, error) {
	if stbuf == nil {
		return graph.WCCReply{}, graph.Errorf(unix.EINVAL, "memory: %s: nil attributes", what)
	}
	c := graph.CredsFrom(ctx)
	if valid&graph.SetAttrSize != 0 {
		if _, err := m.doTruncate(ctx, n, int64(stbuf.Size), what, true); err != nil {
			return graph.WCCReply{}, err
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	pre := n.iattLocked()
	root := c.UID == 0
	owner := root || c.UID == n.uid
	if valid&graph.SetAttrMode != 0 && !owner {
		return graph.WCCReply{}, graph.Errorf(unix.EPERM, "memory: %s: chmod by non-owner", what)
	}
	if valid&graph.SetAttrUID != 0 && !root && stbuf.UID != n.uid {
		return graph.WCCReply{}, graph.Errorf(unix.EPERM, "memory: %s: chown", what)
	}
	if valid&graph.SetAttrGID != 0 && !root && (c.UID != n.uid || !c.InGroup(stbuf.GID)) && stbuf.GID != n.gid {
		return graph.WCCReply{}, graph.Errorf(unix.EPERM, "memory: %s: chgrp", what)
	}
	explicit := valid&(graph.SetAttrAtime|graph.SetAttrMtime|graph.SetAttrCtime) != 0
	nowTimes := valid&(graph.SetAttrAtimeNow|graph.SetAttrMtimeNow) != 0
	if explicit && !owner {
		return graph.WCCReply{}, graph.Errorf(unix.EPERM, "memory: %s: set times by non-owner", what)
	}
	if nowTimes && !owner && !permitMode(c, n.mode, n.uid, n.gid, 2) {
		return graph.WCCReply{}, graph.Errorf(unix.EACCES, "memory: %s: touch without write permission", what)
	}
	t := now()
	if valid&graph.SetAttrMode != 0 {
		perm := stbuf.Mode & 0o7777
		if !root && !n.isDir() && !c.InGroup(n.gid) {
			perm &^= unix.S_ISGID
		}
		n.mode = n.mode&unix.S_IFMT | perm
	}
	if valid&(graph.SetAttrUID|graph.SetAttrGID) != 0 {
		if valid&graph.SetAttrUID != 0 {
			n.uid = stbuf.UID
		}
		if valid&graph.SetAttrGID != 0 {
			n.gid = stbuf.GID
		}
		if n.isReg() {
			n.mode &^= unix.S_ISUID
			if n.mode&0o010 != 0 {
				n.mode &^= unix.S_ISGID
			}
		}
	}
	switch {
	case valid&graph.SetAttrAtimeNow != 0:
		n.atime = t
	case valid&graph.SetAttrAtime != 0:
		n.atime = stbuf.Atime
	}
	switch {
	case valid&graph.SetAttrMtimeNow != 0:
		n.mtime = t
	case valid&graph.SetAttrMtime != 0:
		n.mtime = stbuf.Mtime
	}
	if valid&graph.SetAttrCtime != 0 && root {
		n.ctime = stbuf.Ctime
	} else if valid != 0 {
		n.ctime = t
	}
	return graph.WCCReply{Pre: pre, Post: n.iattLocked()}, nil
}

// Setattr implements graph.Fops.
func (m *Memory) Setattr(ctx context.Context, loc *graph.Loc, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	n, err := m.resolve(loc)
	if err != nil {
		return graph.WCCReply{}, err
	}
	return m.setattr(ctx, n, stbuf, valid, "setattr "+loc.String())
}

// Fsetattr implements graph.Fops.
func (m *Memory) Fsetattr(ctx context.Context, fd *graph.FD, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	n, err := m.fdNode(fd)
	if err != nil {
		return graph.WCCReply{}, err
	}
	return m.setattr(ctx, n, stbuf, valid, "fsetattr")
}

// ---- extended attributes -------------------------------------------------------------------

// xattrAllowed checks a name's namespace and whether c may see (write=false) or change it.
func xattrAllowed(c *graph.Creds, n *node, name string, write bool) error {
	if name == "" || len(name) > xattrNameMax {
		return graph.Errorf(unix.ERANGE, "memory: xattr name of %d bytes", len(name))
	}
	switch {
	case strings.HasPrefix(name, "trusted."):
		if c.UID != 0 {
			if write {
				return graph.Errorf(unix.EPERM, "memory: xattr %s: trusted namespace needs root", name)
			}
			return graph.Errorf(unix.ENODATA, "memory: xattr %s", name)
		}
	case strings.HasPrefix(name, "user."), strings.HasPrefix(name, "security."), strings.HasPrefix(name, "system."),
		strings.HasPrefix(name, "glusterfs."):
		if write && c.UID != 0 && c.UID != n.uid && !permitMode(c, n.mode, n.uid, n.gid, 2) {
			return graph.Errorf(unix.EACCES, "memory: xattr %s", name)
		}
	default:
		return graph.Errorf(unix.EOPNOTSUPP, "memory: xattr %s: unknown namespace", name)
	}
	return nil
}

func (m *Memory) setxattr(ctx context.Context, n *node, dict graph.Xdata, flags int) error {
	c := graph.CredsFrom(ctx)
	if len(dict) == 0 {
		return graph.Errorf(unix.EINVAL, "memory: setxattr: empty dictionary")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, v := range dict {
		if k == XattrGFID {
			return graph.Errorf(unix.EPERM, "memory: setxattr: the gfid cannot be changed")
		}
		if err := xattrAllowed(c, n, k, true); err != nil {
			return err
		}
		if len(v) > xattrValueMax {
			return graph.Errorf(unix.E2BIG, "memory: setxattr %s: value of %d bytes", k, len(v))
		}
		_, exists := n.xattrs[k]
		if flags&xattrCreate != 0 && exists {
			return graph.Errorf(unix.EEXIST, "memory: setxattr %s", k)
		}
		if flags&xattrReplace != 0 && !exists {
			return graph.Errorf(unix.ENODATA, "memory: setxattr %s", k)
		}
	}
	if n.xattrs == nil {
		n.xattrs = map[string][]byte{}
	}
	for k, v := range dict {
		n.xattrs[k] = append([]byte(nil), v...)
	}
	n.ctime = now()
	return nil
}

func (m *Memory) getxattr(ctx context.Context, n *node, name string) (graph.Xdata, error) {
	c := graph.CredsFrom(ctx)
	n.mu.Lock()
	defer n.mu.Unlock()
	out := graph.Xdata{}
	if name == "" { // list
		for k, v := range n.xattrs {
			if xattrAllowed(c, n, k, false) == nil {
				out[k] = append([]byte(nil), v...)
			}
		}
		return out, nil
	}
	if name == XattrGFID {
		if c.UID != 0 {
			return nil, graph.Errorf(unix.ENODATA, "memory: getxattr %s", name)
		}
		out[name] = append([]byte(nil), n.gfid[:]...)
		return out, nil
	}
	if err := xattrAllowed(c, n, name, false); err != nil {
		return nil, err
	}
	v, ok := n.xattrs[name]
	if !ok {
		return nil, graph.Errorf(unix.ENODATA, "memory: getxattr %s", name)
	}
	out[name] = append([]byte(nil), v...)
	return out, nil
}

func (m *Memory) removexattr(ctx context.Context, n *node, name string) error {
	c := graph.CredsFrom(ctx)
	n.mu.Lock()
	defer n.mu.Unlock()
	if name == XattrGFID {
		return graph.Errorf(unix.EPERM, "memory: removexattr: the gfid cannot be removed")
	}
	if err := xattrAllowed(c, n, name, true); err != nil {
		return err
	}
	if _, ok := n.xattrs[name]; !ok {
		return graph.Errorf(unix.ENODATA, "memory: removexattr %s", name)
	}
	delete(n.xattrs, name)
	n.ctime = now()
	return nil
}

// Setxattr implements graph.Fops. flags are XATTR_CREATE / XATTR_REPLACE.
func (m *Memory) Setxattr(ctx context.Context, loc *graph.Loc, dict graph.Xdata, flags int, xdata graph.Xdata) (graph.Xdata, error) {
	n, err := m.resolve(loc)
	if err != nil {
		return nil, err
	}
	return nil, m.setxattr(ctx, n, dict, flags)
}

// Getxattr implements graph.Fops. An empty name returns every xattr the caller may see
// (listxattr).
func (m *Memory) Getxattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	n, err := m.resolve(loc)
	if err != nil {
		return nil, nil, err
	}
	d, err := m.getxattr(ctx, n, name)
	return d, nil, err
}

// Fsetxattr implements graph.Fops.
func (m *Memory) Fsetxattr(ctx context.Context, fd *graph.FD, dict graph.Xdata, flags int, xdata graph.Xdata) (graph.Xdata, error) {
	n, err := m.fdNode(fd)
	if err != nil {
		return nil, err
	}
	return nil, m.setxattr(ctx, n, dict, flags)
}

// Fgetxattr implements graph.Fops.
func (m *Memory) Fgetxattr(ctx context.Context, fd *graph.FD, name string, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	n, err := m.fdNode(fd)
	if err != nil {
		return nil, nil, err
	}
	d, err := m.getxattr(ctx, n, name)
	return d, nil, err
}

// Removexattr implements graph.Fops.
func (m *Memory) Removexattr(ctx context.Context, loc *graph.Loc, name string, xdata graph.Xdata) (graph.Xdata, error) {
	n, err := m.resolve(loc)
	if err != nil {
		return nil, err
	}
	return nil, m.removexattr(ctx, n, name)
}

// Fremovexattr implements graph.Fops.
func (m *Memory) Fremovexattr(ctx context.Context, fd *graph.FD, name string, xdata graph.Xdata) (graph.Xdata, error) {
	n, err := m.fdNode(fd)
	if err != nil {
		return nil, err
	}
	return nil, m.removexattr(ctx, n, name)
}

func (m *Memory) xattrop(ctx context.Context, n *node, flag graph.XattropFlag, dict graph.Xdata) (graph.Xdata, error) {
	c := graph.CredsFrom(ctx)
	if len(dict) == 0 {
		return nil, graph.Errorf(unix.EINVAL, "memory: xattrop: empty dictionary")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	keys := dict.Keys()
	stores := make(map[string][]byte, len(keys))
	out := graph.Xdata{}
	for _, k := range keys {
		if k == XattrGFID {
			return nil, graph.Errorf(unix.EPERM, "memory: xattrop on the gfid")
		}
		if err := xattrAllowed(c, n, k, true); err != nil {
			return nil, err
		}
		cur, ok := n.xattrs[k]
		if !ok {
			cur = nil
		}
		st, rep, err := graph.XattropApply(flag, cur, dict[k])
		if err != nil {
			return nil, fmt.Errorf("memory: xattrop %s: %w", k, err)
		}
		if st != nil {
			stores[k] = st
		}
		if rep != nil {
			out[k] = rep
		}
	}
	if n.xattrs == nil {
		n.xattrs = map[string][]byte{}
	}
	for k, v := range stores {
		n.xattrs[k] = v
	}
	if len(stores) > 0 {
		n.ctime = now()
	}
	return out, nil
}

// Xattrop implements graph.Fops: atomic arithmetic on xattrs (AFR's pending counters). The reply
// dictionary holds each key's new value (the old one for GetAndSet).
func (m *Memory) Xattrop(ctx context.Context, loc *graph.Loc, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	n, err := m.resolve(loc)
	if err != nil {
		return nil, nil, err
	}
	d, err := m.xattrop(ctx, n, flag, dict)
	return d, nil, err
}

// Fxattrop implements graph.Fops.
func (m *Memory) Fxattrop(ctx context.Context, fd *graph.FD, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	n, err := m.fdNode(fd)
	if err != nil {
		return nil, nil, err
	}
	d, err := m.xattrop(ctx, n, flag, dict)
	return d, nil, err
}

// ---- space management ----------------------------------------------------------------------

const fallocZeroRange = unix.FALLOC_FL_ZERO_RANGE

func (m *Memory) writableReg(fd *graph.FD, what string) (*node, error) {
	n, err := m.fdNode(fd)
	if err != nil {
		return nil, err
	}
	if accMode(fd.Flags) == unix.O_RDONLY {
		return nil, graph.Errorf(unix.EBADF, "memory: %s on a read-only fd", what)
	}
	n.mu.Lock()
	typ := n.typ
	n.mu.Unlock()
	switch typ {
	case unix.S_IFREG:
		return n, nil
	case unix.S_IFDIR:
		return nil, graph.Errorf(unix.EISDIR, "memory: %s of a directory", what)
	}
	return nil, graph.Errorf(unix.ENODEV, "memory: %s of a special file", what)
}

func rangeOK(offset, length int64, what string) error {
	if offset < 0 || length <= 0 || offset+length < offset {
		return graph.Errorf(unix.EINVAL, "memory: %s offset %d length %d", what, offset, length)
	}
	return nil
}

// Fallocate implements graph.Fops: mode 0 allocates (and extends), FALLOC_FL_KEEP_SIZE
// allocates without extending, FALLOC_FL_PUNCH_HOLE|KEEP_SIZE deallocates, ZERO_RANGE zeroes.
func (m *Memory) Fallocate(ctx context.Context, fd *graph.FD, mode uint32, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	if err := rangeOK(offset, length, "fallocate"); err != nil {
		return graph.WCCReply{}, err
	}
	if mode&^(graph.FallocKeepSize|graph.FallocPunchHole|fallocZeroRange) != 0 {
		return graph.WCCReply{}, graph.Errorf(unix.EOPNOTSUPP, "memory: fallocate mode %#x", mode)
	}
	if mode&graph.FallocPunchHole != 0 && (mode&graph.FallocKeepSize == 0 || mode&fallocZeroRange != 0) {
		return graph.WCCReply{}, graph.Errorf(unix.EOPNOTSUPP, "memory: fallocate: punch hole needs keep-size alone")
	}
	n, err := m.writableReg(fd, "fallocate")
	if err != nil {
		return graph.WCCReply{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	pre := n.iattLocked()
	end := offset + length
	switch {
	case mode&graph.FallocPunchHole != 0:
		if offset < n.size {
			m.punchLocked(n, offset, min(end, n.size)-offset)
		}
	case mode&fallocZeroRange != 0:
		if err := m.writeAtLocked(n, nil, offset, length); err != nil {
			return graph.WCCReply{}, err
		}
	default:
		// Allocate the pages without changing their contents.
		var need int64
		for idx := offset / pageSize; idx*pageSize < end; idx++ {
			if n.pages[idx] == nil {
				need++
			}
		}
		if need > 0 && !n.unlinked {
			if m.usedPages.Add(need) > m.capPages {
				m.usedPages.Add(-need)
				return graph.WCCReply{}, graph.Errorf(unix.ENOSPC, "memory: fallocate of %d pages", need)
			}
		}
		if n.pages == nil {
			n.pages = map[int64]*[pageSize]byte{}
		}
		for idx := offset / pageSize; idx*pageSize < end; idx++ {
			if n.pages[idx] == nil {
				n.pages[idx] = new([pageSize]byte)
			}
		}
	}
	if mode&graph.FallocKeepSize == 0 && end > n.size {
		n.size = end
	}
	t := now()
	n.mtime, n.ctime = t, t
	return graph.WCCReply{Pre: pre, Post: n.iattLocked()}, nil
}

// Discard implements graph.Fops: punch a hole, keeping the size.
func (m *Memory) Discard(ctx context.Context, fd *graph.FD, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	return m.Fallocate(ctx, fd, graph.FallocPunchHole|graph.FallocKeepSize, offset, length, xdata)
}

// Zerofill implements graph.Fops: write zeros (allocated) over the range, extending the file.
func (m *Memory) Zerofill(ctx context.Context, fd *graph.FD, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	return m.Fallocate(ctx, fd, fallocZeroRange, offset, length, xdata)
}

// Seek implements graph.Fops (SEEK_DATA / SEEK_HOLE over 4 KiB pages).
func (m *Memory) Seek(ctx context.Context, fd *graph.FD, offset int64, what graph.SeekWhat, xdata graph.Xdata) (int64, graph.Xdata, error) {
	n, err := m.fdNode(fd)
	if err != nil {
		return 0, nil, err
	}
	if what != graph.SeekData && what != graph.SeekHole {
		return 0, nil, graph.Errorf(unix.EINVAL, "memory: seek whence %d", what)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.isReg() {
		return 0, nil, graph.Errorf(unix.EINVAL, "memory: seek on a non-regular file")
	}
	if offset < 0 || offset >= n.size {
		return 0, nil, graph.Errorf(unix.ENXIO, "memory: seek from %d, size %d", offset, n.size)
	}
	idxs := make([]int64, 0, len(n.pages))
	for idx := range n.pages {
		if idx*pageSize < n.size {
			idxs = append(idxs, idx)
		}
	}
	sort.Slice(idxs, func(i, j int) bool { return idxs[i] < idxs[j] })
	first := offset / pageSize
	i := sort.Search(len(idxs), func(i int) bool { return idxs[i] >= first })
	if what == graph.SeekData {
		if i == len(idxs) {
			return 0, nil, graph.Errorf(unix.ENXIO, "memory: no data after %d", offset)
		}
		return max(offset, idxs[i]*pageSize), nil, nil
	}
	hole := first
	for ; i < len(idxs) && idxs[i] == hole; i++ {
		hole++
	}
	return min(max(offset, hole*pageSize), n.size), nil, nil
}

// Rchecksum implements graph.Fops: Adler-32 (weak) and SHA-256 (strong) of the range.
func (m *Memory) Rchecksum(ctx context.Context, fd *graph.FD, offset int64, length uint32, xdata graph.Xdata) (graph.RchecksumReply, error) {
	n, err := m.fdNode(fd)
	if err != nil {
		return graph.RchecksumReply{}, err
	}
	if offset < 0 || length > maxRead {
		return graph.RchecksumReply{}, graph.Errorf(unix.EINVAL, "memory: rchecksum of %d bytes at %d", length, offset)
	}
	n.mu.Lock()
	if !n.isReg() {
		n.mu.Unlock()
		return graph.RchecksumReply{}, graph.Errorf(unix.EINVAL, "memory: rchecksum of a non-regular file")
	}
	avail := max(n.size-offset, 0)
	buf := make([]byte, min(int64(length), avail))
	got := n.readAtLocked(buf, offset)
	n.mu.Unlock()
	buf = buf[:got]
	sum := sha256.Sum256(buf)
	return graph.RchecksumReply{Weak: adler32.Checksum(buf), Strong: sum[:]}, nil
}
