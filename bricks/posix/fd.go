package posix

import (
	"context"
	"crypto/sha256"
	"errors"
	"hash/adler32"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// pfd is posix's context in a graph.FD: the kernel fd (GlusterFS struct posix_fd).
type pfd struct {
	fd    int
	gfid  graph.GFID
	flags int
	dir   bool

	mu      sync.Mutex // directories: serialises lseek+getdents
	dirBuf  []byte
	closeMu sync.Once
}

// Release implements graph.Releaser: the kernel fd is closed when the FD is destroyed.
func (f *pfd) Release() {
	f.closeMu.Do(func() { unix.Close(f.fd) })
}

func (p *Posix) setPfd(fd *graph.FD, kfd int, g graph.GFID, flags int, dir bool) {
	pf := &pfd{fd: kfd, gfid: g, flags: flags, dir: dir}
	if old, ok := fd.DelCtx(p); ok {
		if r, ok := old.(graph.Releaser); ok {
			r.Release()
		}
	}
	fd.SetCtx(p, pf)
}

// getPfd returns the posix context of fd.
func (p *Posix) getPfd(ctx context.Context, fd *graph.FD) (*pfd, error) {
	if err := p.enter(ctx); err != nil {
		return nil, err
	}
	if fd == nil {
		return nil, graph.Errorf(unix.EBADF, "posix: nil fd")
	}
	v, ok := fd.Ctx(p)
	if !ok {
		return nil, graph.Errorf(unix.EBADF, "posix: fd <gfid:%s> not opened here", fd.GFID)
	}
	return v.(*pfd), nil
}

// Open implements graph.Fops.
func (p *Posix) Open(ctx context.Context, loc *graph.Loc, flags int, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	if err := p.enter(ctx); err != nil {
		return nil, err
	}
	if fd == nil {
		return nil, graph.Errorf(unix.EINVAL, "posix: open %s: nil fd", loc)
	}
	rel, err := p.resolveInode(loc)
	if err != nil {
		return nil, err
	}
	if err := p.needRel(ctx, rel, accessMask(flags), "no permission to open "+loc.String()); err != nil {
		return nil, err
	}
	oflags := openFlags(flags)
	kfd, err := unix.Openat(p.rootFD, rel, oflags, 0)
	if err != nil {
		return nil, wrap(err, "open", rel)
	}
	g, err := getGFIDFd(kfd)
	if err != nil {
		unix.Close(kfd)
		return nil, err
	}
	p.setPfd(fd, kfd, g, oflags, false)
	return nil, nil
}

// Opendir implements graph.Fops.
func (p *Posix) Opendir(ctx context.Context, loc *graph.Loc, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	if err := p.enter(ctx); err != nil {
		return nil, err
	}
	if fd == nil {
		return nil, graph.Errorf(unix.EINVAL, "posix: opendir %s: nil fd", loc)
	}
	rel, err := p.resolveInode(loc)
	if err != nil {
		return nil, err
	}
	if err := p.needRel(ctx, rel, unix.R_OK, "no permission to read directory "+loc.String()); err != nil {
		return nil, err
	}
	kfd, err := unix.Openat(p.rootFD, rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, wrap(err, "opendir", rel)
	}
	g, err := getGFIDFd(kfd)
	if err != nil {
		unix.Close(kfd)
		return nil, err
	}
	p.setPfd(fd, kfd, g, unix.O_RDONLY, true)
	return nil, nil
}

// Fstat implements graph.Fops.
func (p *Posix) Fstat(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Iatt, graph.Xdata, error) {
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return graph.Iatt{}, nil, err
	}
	st, err := statFd(f.fd, f.gfid)
	return st, nil, err
}

// Readv implements graph.Fops: pread(2) into a buffer from the read pool (bufpool.go), which
// the reply's Release hands back; EOF when the read reaches the end.
func (p *Posix) Readv(ctx context.Context, fd *graph.FD, size uint32, offset int64, flags uint32, xdata graph.Xdata) (graph.ReadReply, error) {
	var r graph.ReadReply
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return r, err
	}
	if f.dir {
		return r, graph.Errorf(unix.EISDIR, "posix: readv <gfid:%s>", f.gfid)
	}
	if offset < 0 {
		return r, graph.Errorf(unix.EINVAL, "posix: readv <gfid:%s>: negative offset", f.gfid)
	}
	if size > 32<<20 {
		size = 32 << 20
	}
	buf, release := readBuf(int(size))
	n := 0
	for n < len(buf) {
		m, err := unix.Pread(f.fd, buf[n:], offset+int64(n))
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if release != nil {
				release()
			}
			return r, wrap(err, "pread", "<gfid:"+f.gfid.String()+">")
		}
		if m == 0 {
			break
		}
		n += m
	}
	if r.Stat, err = statFd(f.fd, f.gfid); err != nil {
		if release != nil {
			release()
		}
		return r, err
	}
	r.Data = buf[:n:n] // no capacity beyond the bytes read: the rest is another read's leftovers
	r.Release = release
	r.EOF = offset+int64(n) >= int64(r.Stat.Size)
	return r, nil
}

// Writev implements graph.Fops: pwrite(2) of all of data; flags with O_SYNC add fsync, with
// only O_DSYNC fdatasync (GlusterFS posix_writev).
func (p *Posix) Writev(ctx context.Context, fd *graph.FD, data []byte, offset int64, flags uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	var r graph.WCCReply
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return r, err
	}
	if offset < 0 {
		return r, graph.Errorf(unix.EINVAL, "posix: writev <gfid:%s>: negative offset", f.gfid)
	}
	if err := p.spaceCheck(xdata); err != nil {
		return r, err
	}
	if r.Pre, err = statFd(f.fd, f.gfid); err != nil {
		return r, err
	}
	n := 0
	for n < len(data) || len(data) == 0 {
		m, err := unix.Pwrite(f.fd, data[n:], offset+int64(n))
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return r, wrap(err, "pwrite", "<gfid:"+f.gfid.String()+">")
		}
		n += m
		if len(data) == 0 || m == 0 {
			break
		}
	}
	if n < len(data) {
		return r, graph.Errorf(unix.ENOSPC, "posix: short write on <gfid:%s>", f.gfid)
	}
	switch {
	case flags&unix.O_SYNC == unix.O_SYNC:
		err = unix.Fsync(f.fd)
	case flags&unix.O_DSYNC != 0:
		err = unix.Fdatasync(f.fd)
	}
	if err != nil {
		return r, wrap(err, "fsync", "<gfid:"+f.gfid.String()+">")
	}
	r.Post, err = statFd(f.fd, f.gfid)
	return r, err
}

// Flush implements graph.Fops: nothing is buffered in posix (GlusterFS posix_flush).
func (p *Posix) Flush(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	_, err := p.getPfd(ctx, fd)
	return nil, err
}

// Fsync implements graph.Fops: fdatasync(2) when datasync, fsync(2) otherwise.
func (p *Posix) Fsync(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (graph.WCCReply, error) {
	var r graph.WCCReply
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return r, err
	}
	if r.Pre, err = statFd(f.fd, f.gfid); err != nil {
		return r, err
	}
	if datasync {
		err = unix.Fdatasync(f.fd)
	} else {
		err = unix.Fsync(f.fd)
	}
	if err != nil {
		return r, wrap(err, "fsync", "<gfid:"+f.gfid.String()+">")
	}
	r.Post, err = statFd(f.fd, f.gfid)
	return r, err
}

// Fsyncdir implements graph.Fops.
func (p *Posix) Fsyncdir(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (graph.Xdata, error) {
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return nil, err
	}
	if datasync {
		err = unix.Fdatasync(f.fd)
	} else {
		err = unix.Fsync(f.fd)
	}
	return nil, wrap(err, "fsyncdir", "<gfid:"+f.gfid.String()+">")
}

// Ftruncate implements graph.Fops.
func (p *Posix) Ftruncate(ctx context.Context, fd *graph.FD, offset int64, xdata graph.Xdata) (graph.WCCReply, error) {
	var r graph.WCCReply
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return r, err
	}
	if r.Pre, err = statFd(f.fd, f.gfid); err != nil {
		return r, err
	}
	if err := unix.Ftruncate(f.fd, offset); err != nil {
		return r, wrap(err, "ftruncate", "<gfid:"+f.gfid.String()+">")
	}
	r.Post, err = statFd(f.fd, f.gfid)
	return r, err
}

// fallocateOp runs one fallocate(2) with pre/post attributes.
func (p *Posix) fallocateOp(ctx context.Context, fd *graph.FD, mode uint32, offset, length int64, xdata graph.Xdata, what string) (graph.WCCReply, error) {
	var r graph.WCCReply
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return r, err
	}
	if offset < 0 || length <= 0 {
		return r, graph.Errorf(unix.EINVAL, "posix: %s <gfid:%s>: bad range %d+%d", what, f.gfid, offset, length)
	}
	if r.Pre, err = statFd(f.fd, f.gfid); err != nil {
		return r, err
	}
	if err := unix.Fallocate(f.fd, mode, offset, length); err != nil {
		return r, wrap(err, what, "<gfid:"+f.gfid.String()+">")
	}
	r.Post, err = statFd(f.fd, f.gfid)
	return r, err
}

// Fallocate implements graph.Fops: mode is passed to fallocate(2).
func (p *Posix) Fallocate(ctx context.Context, fd *graph.FD, mode uint32, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	if err := p.enter(ctx); err != nil {
		return graph.WCCReply{}, err
	}
	if mode&unix.FALLOC_FL_PUNCH_HOLE == 0 {
		if err := p.spaceCheck(xdata); err != nil {
			return graph.WCCReply{}, err
		}
	}
	return p.fallocateOp(ctx, fd, mode, offset, length, xdata, "fallocate")
}

// Discard implements graph.Fops: a hole punched, size kept (GlusterFS posix_discard).
func (p *Posix) Discard(ctx context.Context, fd *graph.FD, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	return p.fallocateOp(ctx, fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, offset, length, xdata, "discard")
}

// Zerofill implements graph.Fops: FALLOC_FL_ZERO_RANGE; where the file system lacks it, a hole
// is punched and the range allocated again, and as a last resort zeros are written. A range
// past the end grows the file, as writing zeros would.
func (p *Posix) Zerofill(ctx context.Context, fd *graph.FD, offset, length int64, xdata graph.Xdata) (graph.WCCReply, error) {
	var r graph.WCCReply
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return r, err
	}
	if offset < 0 || length <= 0 {
		return r, graph.Errorf(unix.EINVAL, "posix: zerofill <gfid:%s>: bad range %d+%d", f.gfid, offset, length)
	}
	if r.Pre, err = statFd(f.fd, f.gfid); err != nil {
		return r, err
	}
	err = unix.Fallocate(f.fd, unix.FALLOC_FL_ZERO_RANGE, offset, length)
	if errors.Is(err, unix.EOPNOTSUPP) {
		err = unix.Fallocate(f.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, offset, length)
		if err == nil {
			err = unix.Fallocate(f.fd, 0, offset, length)
		}
	}
	if errors.Is(err, unix.EOPNOTSUPP) {
		err = writeZeros(f.fd, offset, length)
	}
	if err != nil {
		return r, wrap(err, "zerofill", "<gfid:"+f.gfid.String()+">")
	}
	r.Post, err = statFd(f.fd, f.gfid)
	return r, err
}

func writeZeros(fd int, offset, length int64) error {
	zero := make([]byte, 128<<10)
	for length > 0 {
		n := int64(len(zero))
		if n > length {
			n = length
		}
		m, err := unix.Pwrite(fd, zero[:n], offset)
		if err != nil {
			return err
		}
		offset += int64(m)
		length -= int64(m)
	}
	return nil
}

// Seek implements graph.Fops: lseek(2) with SEEK_DATA or SEEK_HOLE (ENXIO past the data).
func (p *Posix) Seek(ctx context.Context, fd *graph.FD, offset int64, what graph.SeekWhat, xdata graph.Xdata) (int64, graph.Xdata, error) {
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return 0, nil, err
	}
	if what != graph.SeekData && what != graph.SeekHole {
		return 0, nil, graph.Errorf(unix.EINVAL, "posix: seek: bad whence %d", what)
	}
	off, err := unix.Seek(f.fd, offset, int(what))
	if err != nil {
		return 0, nil, wrap(err, "seek", "<gfid:"+f.gfid.String()+">")
	}
	return off, nil, nil
}

// Rchecksum implements graph.Fops: Adler-32 (weak) and SHA-256 (strong) of the bytes read at
// offset (GlusterFS posix_rchecksum with gf_rsync_weak_checksum / gf_rsync_strong_checksum).
func (p *Posix) Rchecksum(ctx context.Context, fd *graph.FD, offset int64, length uint32, xdata graph.Xdata) (graph.RchecksumReply, error) {
	var r graph.RchecksumReply
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return r, err
	}
	if offset < 0 || length > 128<<20 {
		return r, graph.Errorf(unix.EINVAL, "posix: rchecksum <gfid:%s>: bad range", f.gfid)
	}
	buf := make([]byte, length)
	n := 0
	for n < len(buf) {
		m, err := unix.Pread(f.fd, buf[n:], offset+int64(n))
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return r, wrap(err, "pread", "<gfid:"+f.gfid.String()+">")
		}
		if m == 0 {
			break
		}
		n += m
	}
	r.Weak = adler32.Checksum(buf[:n])
	s := sha256.Sum256(buf[:n])
	r.Strong = s[:]
	return r, nil
}

// direntCost approximates the wire size of one entry, for readdir's size budget.
func direntCost(name string) int { return (24 + len(name) + 1 + 7) &^ 7 }

// readDir returns entries after cookie offset, up to size bytes (at least one). Cookies are the
// kernel's d_off values (getdents64), so a readdir at any returned cookie continues after it.
func (p *Posix) readDir(f *pfd, size uint32, offset uint64) ([]rawDirent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dirBuf == nil {
		f.dirBuf = make([]byte, 32<<10)
	}
	budget := int(size)
	if budget <= 0 {
		budget = 128 << 10
	}
	if _, err := unix.Seek(f.fd, int64(offset), unix.SEEK_SET); err != nil {
		return nil, wrap(err, "seekdir", "<gfid:"+f.gfid.String()+">")
	}
	var out []rawDirent
	used := 0
	hideHidden := f.gfid.IsRoot()
	for {
		n, err := unix.Getdents(f.fd, f.dirBuf)
		if err != nil {
			return nil, wrap(err, "getdents", "<gfid:"+f.gfid.String()+">")
		}
		if n <= 0 {
			return out, nil
		}
		full := false
		parseDirents(f.dirBuf[:n], func(d rawDirent) bool {
			c := direntCost(d.name)
			if len(out) > 0 && used+c > budget {
				full = true
				return false
			}
			used += c
			if hideHidden && d.name == HiddenDir {
				// Hidden, but its cookie still advances: remember it through the next entry.
				return true
			}
			out = append(out, d)
			return true
		})
		if full || used >= budget {
			return out, nil
		}
	}
}

// toDirents converts raw entries.
func toDirents(raw []rawDirent) []graph.Dirent {
	out := make([]graph.Dirent, len(raw))
	for i, d := range raw {
		out[i] = graph.Dirent{Name: d.name, Ino: d.ino, Off: d.off, Type: d.typ}
	}
	return out
}

// Readdir implements graph.Fops.
func (p *Posix) Readdir(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) ([]graph.Dirent, graph.Xdata, error) {
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return nil, nil, err
	}
	if !f.dir {
		return nil, nil, graph.Errorf(unix.ENOTDIR, "posix: readdir <gfid:%s>", f.gfid)
	}
	raw, err := p.readDir(f, size, offset)
	if err != nil {
		return nil, nil, err
	}
	return toDirents(raw), nil, nil
}

// Readdirp implements graph.Fops: readdir plus each entry's Iatt (with GFID) and the xattrs the
// request asks for, as lookup does.
func (p *Posix) Readdirp(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) ([]graph.Dirent, graph.Xdata, error) {
	f, err := p.getPfd(ctx, fd)
	if err != nil {
		return nil, nil, err
	}
	if !f.dir {
		return nil, nil, graph.Errorf(unix.ENOTDIR, "posix: readdirp <gfid:%s>", f.gfid)
	}
	raw, err := p.readDir(f, size, offset)
	if err != nil {
		return nil, nil, err
	}
	out := toDirents(raw)
	dirProc := "/proc/self/fd/" + strconv.Itoa(f.fd) + "/"
	wantX := false
	for k, v := range xdata {
		if len(v) == 0 && (hasPrefix(k, "trusted.") || hasPrefix(k, "user.")) {
			wantX = true
			break
		}
	}
	for i := range out {
		d := &out[i]
		var st unix.Stat_t
		var path string
		switch {
		case d.Name == ".":
			if unix.Fstat(f.fd, &st) != nil {
				continue
			}
			path = dirProc + "."
			d.Stat = iattOf(&st, f.gfid)
		case d.Name == ".." && f.gfid.IsRoot():
			if unix.Fstat(f.fd, &st) != nil {
				continue
			}
			d.Stat = iattOf(&st, graph.RootGFID)
			continue
		default:
			if unix.Fstatat(f.fd, d.Name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
				continue // removed since getdents
			}
			path = dirProc + d.Name
			var g graph.GFID
			if n, err := unix.Lgetxattr(path, GFIDXattr, g[:]); err != nil || n != 16 {
				g = graph.GFID{}
			}
			d.Stat = iattOf(&st, g)
		}
		if wantX {
			d.Xdata = graph.Xdata{}
			p.fillXattrs(path, xdata, d.Xdata)
		}
	}
	return out, nil, nil
}

// futimens sets the times of an open fd (utimensat(fd, NULL, ts, 0)).
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// Lk implements graph.Fops: ENOSYS, as GlusterFS's posix_lk (features/locks does locking).
func (p *Posix) Lk(ctx context.Context, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Flock, graph.Xdata, error) {
	return graph.Flock{}, nil, graph.Errorf(unix.ENOSYS, "posix: lk: load features/locks above posix")
}

// Inodelk implements graph.Fops: ENOSYS, as GlusterFS's posix_inodelk.
func (p *Posix) Inodelk(ctx context.Context, volume string, loc *graph.Loc, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Xdata, error) {
	return nil, graph.Errorf(unix.ENOSYS, "posix: inodelk: load features/locks above posix")
}

// Finodelk implements graph.Fops: ENOSYS, as GlusterFS's posix_finodelk.
func (p *Posix) Finodelk(ctx context.Context, volume string, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Xdata, error) {
	return nil, graph.Errorf(unix.ENOSYS, "posix: finodelk: load features/locks above posix")
}

// Entrylk implements graph.Fops: ENOSYS, as GlusterFS's posix_entrylk.
func (p *Posix) Entrylk(ctx context.Context, volume string, loc *graph.Loc, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (graph.Xdata, error) {
	return nil, graph.Errorf(unix.ENOSYS, "posix: entrylk: load features/locks above posix")
}

// Fentrylk implements graph.Fops: ENOSYS, as GlusterFS's posix_fentrylk.
func (p *Posix) Fentrylk(ctx context.Context, volume string, fd *graph.FD, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (graph.Xdata, error) {
	return nil, graph.Errorf(unix.ENOSYS, "posix: fentrylk: load features/locks above posix")
}
