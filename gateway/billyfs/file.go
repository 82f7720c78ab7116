package billyfs

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// File is an open file of an FS (billy.File, plus WriteAt, Stat and Sync). Its methods are
// safe for concurrent use; Read, Write and Seek share one offset.
type File struct {
	fs    *FS
	name  string
	loc   *graph.Loc
	flags int
	owner []byte // lock owner: unique per open file, like a BSD flock

	mu     sync.Mutex
	fd     *graph.FD
	off    int64
	closed bool
}

func (fs *FS) newFile(name string, loc *graph.Loc, fd *graph.FD, flags int) *File {
	owner := make([]byte, 16)
	copy(owner, fs.vol.id)
	binary.BigEndian.PutUint64(owner[8:], fs.vol.owner.Add(1))
	return &File{fs: fs, name: name, loc: loc, fd: fd, flags: flags, owner: owner}
}

// ctx returns the fop context: the file system's credentials with this file's lock owner.
func (f *File) ctx() context.Context {
	c := *f.fs.creds
	c.LkOwner = f.owner
	if c.ClientID == "" {
		c.ClientID = "billyfs-" + hex16(f.fs.vol.id)
	}
	return graph.WithCreds(f.fs.ctx, &c)
}

func hex16(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

func (f *File) err(op string, err error) error { return pathErr(op, f.name, err) }

// Name implements billy.File: the name the file was opened with.
func (f *File) Name() string { return f.name }

func (f *File) live() (*graph.FD, error) {
	if f.closed {
		return nil, os.ErrClosed
	}
	return f.fd, nil
}

func (f *File) readAt(fd *graph.FD, p []byte, off int64, full bool) (int, error) {
	top := f.fs.vol.top
	ctx := f.ctx()
	n := 0
	for n < len(p) {
		size := min(len(p)-n, ioChunk)
		r, err := top.Readv(ctx, fd, uint32(size), off+int64(n), 0, nil)
		if err != nil {
			r.Done()
			return n, err
		}
		m := copy(p[n:], r.Data)
		r.Done() // copied into the caller's buffer: hand the graph's back
		n += m
		if m == 0 || (r.EOF && n < len(p)) {
			return n, io.EOF
		}
		if !full {
			break
		}
	}
	return n, nil
}

// Read implements io.Reader.
func (f *File) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.live()
	if err != nil {
		return 0, f.err("read", err)
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := f.readAt(fd, p, f.off, false)
	f.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil // report EOF on the next call, as os.File does
	}
	if err != nil && err != io.EOF {
		err = f.err("read", err)
	}
	return n, err
}

// ReadAt implements io.ReaderAt: it reads len(p) bytes unless the file ends first (io.EOF).
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	fd, err := f.live()
	if fd != nil {
		fd.Ref()
		defer fd.Unref()
	}
	f.mu.Unlock()
	if err != nil {
		return 0, f.err("read", err)
	}
	if off < 0 {
		return 0, f.err("readat", unix.EINVAL)
	}
	n, err := f.readAt(fd, p, off, true)
	if err != nil && err != io.EOF {
		err = f.err("read", err)
	}
	return n, err
}

func (f *File) writeAt(fd *graph.FD, p []byte, off int64) (int, graph.Iatt, error) {
	top := f.fs.vol.top
	ctx := f.ctx()
	n := 0
	var post graph.Iatt
	for n < len(p) {
		chunk := p[n:min(len(p), n+ioChunk)]
		r, err := top.Writev(ctx, fd, chunk, off+int64(n), 0, nil)
		if err != nil {
			return n, post, err
		}
		post = r.Post
		n += len(chunk)
	}
	return n, post, nil
}

// Write implements io.Writer. In O_APPEND mode every write goes to the end of the file.
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.live()
	if err != nil {
		return 0, f.err("write", err)
	}
	if f.flags&os.O_APPEND != 0 {
		st, _, err := f.fs.vol.top.Fstat(f.ctx(), fd, nil)
		if err != nil {
			return 0, f.err("write", err)
		}
		f.off = int64(st.Size)
	}
	n, post, err := f.writeAt(fd, p, f.off)
	f.off += int64(n)
	if f.flags&os.O_APPEND != 0 && err == nil && n > 0 && int64(post.Size) > f.off {
		f.off = int64(post.Size) // the graph appended after a concurrent writer
	}
	if err != nil {
		return n, f.err("write", err)
	}
	return n, nil
}

// WriteAt implements io.WriterAt (not allowed in O_APPEND mode, as with os.File).
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if f.flags&os.O_APPEND != 0 {
		return 0, errors.New("billyfs: invalid use of WriteAt on file opened with O_APPEND")
	}
	f.mu.Lock()
	fd, err := f.live()
	if fd != nil {
		fd.Ref()
		defer fd.Unref()
	}
	f.mu.Unlock()
	if err != nil {
		return 0, f.err("write", err)
	}
	if off < 0 {
		return 0, f.err("writeat", unix.EINVAL)
	}
	n, _, err := f.writeAt(fd, p, off)
	if err != nil {
		return n, f.err("write", err)
	}
	return n, nil
}

// Seek implements io.Seeker.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.live()
	if err != nil {
		return 0, f.err("seek", err)
	}
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.off
	case io.SeekEnd:
		st, _, err := f.fs.vol.top.Fstat(f.ctx(), fd, nil)
		if err != nil {
			return 0, f.err("seek", err)
		}
		base = int64(st.Size)
	default:
		return 0, f.err("seek", unix.EINVAL)
	}
	if base+offset < 0 {
		return 0, f.err("seek", unix.EINVAL)
	}
	f.off = base + offset
	return f.off, nil
}

// Truncate implements billy.File.
func (f *File) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.live()
	if err != nil {
		return f.err("truncate", err)
	}
	_, err = f.fs.vol.top.Ftruncate(f.ctx(), fd, size, nil)
	return f.err("truncate", err)
}

// Stat returns the file's attributes.
func (f *File) Stat() (os.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.live()
	if err != nil {
		return nil, f.err("stat", err)
	}
	st, _, err := f.fs.vol.top.Fstat(f.ctx(), fd, nil)
	if err != nil {
		return nil, f.err("stat", err)
	}
	return newInfo(path.Base(f.name), st), nil
}

// Sync commits the file's data to stable storage (fsync).
func (f *File) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := f.live()
	if err != nil {
		return f.err("sync", err)
	}
	_, err = f.fs.vol.top.Fsync(f.ctx(), fd, false, nil)
	return f.err("sync", err)
}

func (f *File) lk(typ int16) error {
	f.mu.Lock()
	fd, err := f.live()
	if fd != nil {
		fd.Ref()
		defer fd.Unref()
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	fl := &graph.Flock{Type: typ, Start: 0, Len: 0, Pid: f.fs.creds.Pid, Owner: f.owner}
	cmd := graph.SetLkW
	if typ == graph.LockUnlock {
		cmd = graph.SetLk
	}
	_, _, err = f.fs.vol.top.Lk(f.ctx(), fd, cmd, fl, nil)
	return err
}

// Lock implements billy.File: an exclusive lock on the whole file, waiting for it (lk with
// F_SETLKW; the graph needs features/locks). The lock belongs to this open file.
func (f *File) Lock() error { return f.err("lock", f.lk(graph.LockWrite)) }

// Unlock implements billy.File.
func (f *File) Unlock() error { return f.err("unlock", f.lk(graph.LockUnlock)) }

// Close implements io.Closer: flush (which releases this file's locks) and release the FD.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return f.err("close", os.ErrClosed)
	}
	f.closed = true
	fd := f.fd
	f.fd = nil
	_, err := f.fs.vol.top.Flush(f.ctx(), fd, nil)
	fd.Unref()
	return f.err("close", err)
}
