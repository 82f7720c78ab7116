package graphtest_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// mutant is a pass-through translator with one deliberate defect, selected by kind, used to
// prove the conformance suite notices it.
type mutant struct {
	graph.Passthrough
	kind string
	osf  *int
}

func (m *mutant) Init(ctx context.Context) error {
	if m.kind == "leak-osfd" {
		fd, err := unix.Open("/proc/self/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		m.osf = &fd // never closed
	}
	return nil
}

func (m *mutant) Open(ctx context.Context, loc *graph.Loc, flags int, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	if m.kind == "leak-fd" {
		fd.Ref()
	}
	return m.Passthrough.Open(ctx, loc, flags, fd, xdata)
}

func (m *mutant) Rename(ctx context.Context, oldLoc, newLoc *graph.Loc, xdata graph.Xdata) (graph.RenameReply, error) {
	if m.kind == "rename-no-replace" {
		if _, err := m.FirstChild().Lookup(ctx, newLoc, nil); err == nil {
			return graph.RenameReply{}, graph.Errorf(unix.EEXIST, "mutant: target exists")
		}
	}
	return m.Passthrough.Rename(ctx, oldLoc, newLoc, xdata)
}

func (m *mutant) Readdir(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) ([]graph.Dirent, graph.Xdata, error) {
	if m.kind == "readdir-ignores-cookie" && offset > 2 {
		offset--
	}
	return m.Passthrough.Readdir(ctx, fd, size, offset, xdata)
}

func (m *mutant) racyAdd(ctx context.Context, get func() (graph.Xdata, error), set func(graph.Xdata) error, dict graph.Xdata) (graph.Xdata, error) {
	out := graph.Xdata{}
	for k, v := range dict {
		cur, err := get()
		old := cur[k]
		if err != nil || len(old) != len(v) {
			old = make([]byte, len(v))
		}
		time.Sleep(50 * time.Microsecond)
		n := make([]byte, len(v))
		for i := 0; i+4 <= len(v); i += 4 {
			binary.BigEndian.PutUint32(n[i:], binary.BigEndian.Uint32(old[i:])+binary.BigEndian.Uint32(v[i:]))
		}
		if err := set(graph.Xdata{k: n}); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, nil
}

func (m *mutant) Xattrop(ctx context.Context, loc *graph.Loc, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	if m.kind != "xattrop-not-atomic" {
		return m.Passthrough.Xattrop(ctx, loc, flag, dict, xdata)
	}
	c := m.FirstChild()
	var key string
	for k := range dict {
		key = k
	}
	d, err := m.racyAdd(ctx,
		func() (graph.Xdata, error) { d, _, err := c.Getxattr(ctx, loc, key, nil); return d, err },
		func(d graph.Xdata) error { _, err := c.Setxattr(ctx, loc, d, 0, nil); return err }, dict)
	return d, nil, err
}

func (m *mutant) Fxattrop(ctx context.Context, fd *graph.FD, flag graph.XattropFlag, dict graph.Xdata, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	if m.kind != "xattrop-not-atomic" {
		return m.Passthrough.Fxattrop(ctx, fd, flag, dict, xdata)
	}
	c := m.FirstChild()
	var key string
	for k := range dict {
		key = k
	}
	d, err := m.racyAdd(ctx,
		func() (graph.Xdata, error) { d, _, err := c.Fgetxattr(ctx, fd, key, nil); return d, err },
		func(d graph.Xdata) error { _, err := c.Fsetxattr(ctx, fd, d, 0, nil); return err }, dict)
	return d, nil, err
}

func (m *mutant) Mkdir(ctx context.Context, loc *graph.Loc, mode uint32, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	if m.kind == "no-gfid-req" {
		xdata = nil
	}
	return m.Passthrough.Mkdir(ctx, loc, mode, umask, xdata)
}

func (m *mutant) Setattr(ctx context.Context, loc *graph.Loc, stbuf *graph.Iatt, valid uint32, xdata graph.Xdata) (graph.WCCReply, error) {
	if m.kind == "times-lose-ns" {
		st := *stbuf
		st.Atime.Nsec, st.Mtime.Nsec = 0, 0
		stbuf = &st
	}
	return m.Passthrough.Setattr(ctx, loc, stbuf, valid, xdata)
}

func (m *mutant) Ftruncate(ctx context.Context, fd *graph.FD, offset int64, xdata graph.Xdata) (graph.WCCReply, error) {
	if m.kind == "hole-reads-garbage" {
		st, _, err := m.FirstChild().Fstat(ctx, fd, nil)
		if err == nil && offset > int64(st.Size) {
			return m.FirstChild().Writev(ctx, fd, bytes.Repeat([]byte{0x55}, int(offset-int64(st.Size))), int64(st.Size), 0, nil)
		}
	}
	return m.Passthrough.Ftruncate(ctx, fd, offset, xdata)
}

func (m *mutant) Access(ctx context.Context, loc *graph.Loc, mask uint32, xdata graph.Xdata) (graph.Xdata, error) {
	if m.kind == "no-perm-checks" {
		ctx = graph.WithCreds(ctx, &graph.Creds{})
	}
	return m.Passthrough.Access(ctx, loc, mask, xdata)
}
