package distribute

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// GlusterFS's d_off transform (libglusterfs gf-dirent.c): 63 significant bits, the top one
// marking a "huge" offset whose low bits were replaced by the subvolume index.
const (
	presentBits = 63
	topBit      = uint64(1) << (presentBits - 1)
	presentMask = ^uint64(0) >> (64 - presentBits)
	shiftBits   = 1
)

func bitsFor(n uint64) uint {
	var bits uint
	for c := uint64(1); c < n; c *= 2 {
		bits++
	}
	return bits
}

// ITransform encodes child offset x of subvolume idx among n (gf_itransform).
func ITransform(x uint64, idx, n int) uint64 {
	if x == ^uint64(0) || x == 0 || n == 1 {
		return x
	}
	mb := bitsFor(uint64(n))
	hiMask := ^(presentMask >> (mb + 1))
	if x&hiMask != 0 {
		return topBit | ((x >> shiftBits) & (^uint64(0) << mb)) | uint64(idx)
	}
	return x*uint64(n) + uint64(idx)
}

// DeITransform decodes a cookie into the subvolume index and the child's offset
// (gf_deitransform, gf_dirent_orig_offset).
func DeITransform(y uint64, n int) (idx int, off uint64) {
	if n == 1 {
		return 0, y
	}
	if y&topBit != 0 {
		mb := bitsFor(uint64(n))
		offMask := ^uint64(0) << mb
		return int(y &^ offMask), ((y &^ topBit) & offMask) << shiftBits
	}
	return int(y % uint64(n)), y / uint64(n)
}

// Opendir implements graph.Fops: the directory is opened on every subvolume (each keeps its own
// state in the shared FD).
func (d *DHT) Opendir(ctx context.Context, loc *graph.Loc, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	if loc == nil || fd == nil {
		return nil, errNilArg
	}
	res := fanout(d.all(), func(i int) (graph.Xdata, error) { return d.subs[i].Opendir(ctx, loc, fd, xdata) })
	var firstErr error
	ok := false
	for _, r := range res {
		if r.err == nil {
			ok = true
		} else if firstErr == nil {
			firstErr = r.err
		}
	}
	if !ok {
		return nil, firstErr
	}
	return nil, nil
}

func (d *DHT) firstUp() int {
	for i := range d.up {
		if d.up[i].Load() {
			return i
		}
	}
	return 0
}

// Readdirp implements graph.Fops: subvolumes are read in order; directories are listed only
// from the first up subvolume, link files never; each entry's d_off carries its subvolume.
func (d *DHT) Readdirp(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) ([]graph.Dirent, graph.Xdata, error) {
	return d.readdir(ctx, fd, size, offset, xdata, true)
}

// Readdir implements graph.Fops (through the children's readdirp, to recognise link files).
func (d *DHT) Readdir(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata) ([]graph.Dirent, graph.Xdata, error) {
	return d.readdir(ctx, fd, size, offset, xdata, false)
}

func (d *DHT) readdir(ctx context.Context, fd *graph.FD, size uint32, offset uint64, xdata graph.Xdata, plus bool) ([]graph.Dirent, graph.Xdata, error) {
	if fd == nil {
		return nil, nil, errNilFD
	}
	n := len(d.subs)
	idx, off := DeITransform(offset, n)
	if idx >= n {
		return nil, nil, graph.Errorf(unix.EINVAL, "distribute: readdir: bad cookie %#x", offset)
	}
	first := 0
	if d.anyUp.Load() {
		first = d.firstUp()
	}
	x := xdata.Clone()
	if x == nil {
		x = graph.Xdata{}
	}
	x[XattrLinkto] = nil
	for idx < n {
		ents, _, err := d.subs[idx].Readdirp(ctx, fd, size, off, x)
		if err != nil {
			e := graph.Errno(err)
			if e == unix.ENOTCONN || e == unix.ENOENT {
				idx, off = idx+1, 0 // a down subvolume's entries are simply absent
				continue
			}
			return nil, nil, err
		}
		var out []graph.Dirent
		for _, e := range ents {
			if reserved(e.Name) {
				continue
			}
			isDir := e.Type == unix.DT_DIR || e.Stat.IsDir()
			if isDir && idx != first {
				continue
			}
			if e.Type == unix.DT_REG || e.Stat.IsReg() {
				if isLinkfile(&e.Stat, e.Xdata) {
					continue
				}
				if !e.Stat.GFID.IsZero() {
					d.setCached(e.Stat.GFID, idx)
				}
			}
			stripPhase(&e.Stat)
			e.Off = ITransform(e.Off, idx, n)
			if e.Xdata != nil {
				stripInternal(e.Xdata)
			}
			if !plus {
				e.Stat = graph.Iatt{}
				e.Xdata = nil
			}
			out = append(out, e)
		}
		if len(out) > 0 {
			return out, nil, nil
		}
		if len(ents) > 0 {
			// Everything filtered: continue on this subvolume after the last entry.
			off = ents[len(ents)-1].Off
			continue
		}
		idx, off = idx+1, 0
	}
	return nil, nil, nil
}

// Fsyncdir implements graph.Fops on every subvolume.
func (d *DHT) Fsyncdir(ctx context.Context, fd *graph.FD, datasync bool, xdata graph.Xdata) (graph.Xdata, error) {
	if fd == nil {
		return nil, errNilFD
	}
	res := fanout(d.all(), func(i int) (graph.Xdata, error) { return d.subs[i].Fsyncdir(ctx, fd, datasync, xdata) })
	for _, r := range res {
		if r.err != nil && graph.Errno(r.err) != unix.ENOTCONN {
			return nil, r.err
		}
	}
	return nil, nil
}

// Statfs implements graph.Fops: the sum over subvolumes, in the first one's fragment size.
func (d *DHT) Statfs(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.Statvfs, graph.Xdata, error) {
	res := fanout(d.all(), func(i int) (graph.Statvfs, error) {
		st, _, err := d.subs[i].Statfs(ctx, loc, xdata)
		return st, err
	})
	var out graph.Statvfs
	var firstErr error
	got := false
	for _, r := range res {
		if r.err != nil {
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		s := r.v
		if !got {
			out = s
			got = true
			continue
		}
		scale := func(v uint64) uint64 {
			if out.Frsize == 0 || s.Frsize == out.Frsize {
				return v
			}
			return v * s.Frsize / out.Frsize
		}
		out.Blocks += scale(s.Blocks)
		out.Bfree += scale(s.Bfree)
		out.Bavail += scale(s.Bavail)
		out.Files += s.Files
		out.Ffree += s.Ffree
		out.Favail += s.Favail
		out.Namemax = min(out.Namemax, s.Namemax)
	}
	if !got {
		return graph.Statvfs{}, nil, firstErr
	}
	return out, nil, nil
}
