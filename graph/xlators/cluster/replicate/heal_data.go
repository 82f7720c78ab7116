package replicate

import (
	"bytes"
	"context"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// HealBlock is the unit of data self-heal: the diff algorithm compares checksums per block and
// copies only the blocks that differ (afr-self-heal-data.c, 128 KiB blocks).
const HealBlock = 128 << 10

// healData copies the data of g from one source to the data sinks (the arbiter holds no data:
// its changelog is reset, nothing is copied). data-self-heal-algorithm full copies every
// non-zero block after truncating the sinks (holes stay holes); diff compares rchecksum per
// block and copies the blocks that differ. self-heal-window-size blocks are handled per round.
// The sinks then get the source's size, atime and mtime and are fsynced before the changelog
// is reset (afr_selfheal_data_fsync, afr_selfheal_data_restore_time).
func (a *AFR) healData(ctx context.Context, g graph.GFID, cs []copyInfo, sources, sinks []bool) error {
	ctx = internalCtx(ctx)
	src := -1
	for i, s := range sources {
		if s && i != a.arbiter {
			src = i
			break
		}
	}
	dsinks := append([]bool(nil), sinks...)
	if a.arbiter >= 0 {
		dsinks[a.arbiter] = false
	}
	if src < 0 {
		return graph.Errorf(unix.EIO, "replicate %s: data heal of %s: no data source", a.Name(), g)
	}
	if count(dsinks) == 0 || !cs[src].st.IsReg() {
		return nil
	}
	loc := &graph.Loc{GFID: g}
	fd := graph.NewFD(nil, g, unix.O_RDWR)
	defer fd.Unref()
	open := append([]bool(nil), dsinks...)
	open[src] = true
	for _, r := range fan(open, func(i int) (graph.Xdata, error) { return a.kids[i].Open(ctx, loc, unix.O_RDWR, fd, nil) }) {
		if r.ok && r.err != nil {
			return graph.Errorf(graph.Errno(r.err), "replicate %s: data heal of %s: open: %v", a.Name(), g, r.err)
		}
	}
	sst, _, err := a.kids[src].Fstat(ctx, fd, nil)
	if err != nil {
		return err
	}
	size := int64(sst.Size)
	diff := a.healAlgo == "diff"
	if !diff {
		if err := fanErr(dsinks, func(i int) error { _, err := a.kids[i].Ftruncate(ctx, fd, 0, nil); return err }); err != nil {
			return err
		}
	}
	window := int64(a.healWindow) * HealBlock
	for off := int64(0); off < size; off += window {
		if err := ctx.Err(); err != nil {
			return graph.Errorf(unix.EINTR, "replicate %s: data heal of %s: %v", a.Name(), g, err)
		}
		for b := off; b < off+window && b < size; b += HealBlock {
			n := int64(HealBlock)
			if b+n > size {
				n = size - b
			}
			if err := a.healBlock(ctx, fd, src, dsinks, b, n, diff); err != nil {
				return graph.Errorf(graph.Errno(err), "replicate %s: data heal of %s at %d: %v", a.Name(), g, b, err)
			}
		}
	}
	return fanErr(dsinks, func(i int) error {
		if _, err := a.kids[i].Ftruncate(ctx, fd, size, nil); err != nil {
			return err
		}
		t := graph.Iatt{Atime: sst.Atime, Mtime: sst.Mtime}
		if _, err := a.kids[i].Fsetattr(ctx, fd, &t, graph.SetAttrAtime|graph.SetAttrMtime, nil); err != nil {
			return err
		}
		_, err := a.kids[i].Fsync(ctx, fd, false, nil)
		return err
	})
}

func (a *AFR) healBlock(ctx context.Context, fd *graph.FD, src int, sinks []bool, off, n int64, diff bool) error {
	targets := sinks
	if diff {
		set := append([]bool(nil), sinks...)
		set[src] = true
		sums := fan(set, func(i int) (graph.RchecksumReply, error) { return a.kids[i].Rchecksum(ctx, fd, off, uint32(n), nil) })
		if sums[src].err != nil {
			return sums[src].err
		}
		targets = make([]bool, len(sinks))
		for i := range sinks {
			if !sinks[i] {
				continue
			}
			s := sums[i]
			targets[i] = s.err != nil || s.v.Weak != sums[src].v.Weak || !bytes.Equal(s.v.Strong, sums[src].v.Strong)
		}
		if count(targets) == 0 {
			return nil
		}
	}
	var data []byte
	for int64(len(data)) < n {
		r, err := a.kids[src].Readv(ctx, fd, uint32(n-int64(len(data))), off+int64(len(data)), 0, nil)
		if err != nil {
			return err
		}
		data = append(data, r.Data...)
		r.Done() // copied: the buffer goes back to the brick side
		if len(r.Data) == 0 || r.EOF {
			break
		}
	}
	if !diff && allZero(data) {
		return nil // the sink was truncated: leave a hole
	}
	return fanErr(targets, func(i int) error { _, err := a.kids[i].Writev(ctx, fd, data, off, 0, nil); return err })
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// fanErr runs f on the children in set and returns the first error.
func fanErr(set []bool, f func(i int) error) error {
	rs := fan(set, func(i int) (struct{}, error) { return struct{}{}, f(i) })
	for _, r := range rs {
		if r.ok && r.err != nil {
			return r.err
		}
	}
	return nil
}
