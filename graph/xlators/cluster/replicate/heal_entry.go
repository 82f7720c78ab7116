package replicate

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// dent is one name of a directory copy.
type dent struct {
	gfid graph.GFID
	mode uint32 // S_IFMT | perm
	rdev uint64
}

// listDir reads directory g on child i (readdirp, so each name comes with its GFID and type).
func (a *AFR) listDir(ctx context.Context, i int, g graph.GFID) (map[string]dent, error) {
	fd := graph.NewFD(nil, g, unix.O_RDONLY|unix.O_DIRECTORY)
	fd.IsDir = true
	defer fd.Unref()
	if _, err := a.kids[i].Opendir(ctx, &graph.Loc{GFID: g}, fd, nil); err != nil {
		return nil, err
	}
	out := map[string]dent{}
	var off uint64
	for {
		ents, _, err := a.kids[i].Readdirp(ctx, fd, 64<<10, off, nil)
		if err != nil {
			return nil, err
		}
		if len(ents) == 0 {
			return out, nil
		}
		for _, e := range ents {
			if e.Name == "." || e.Name == ".." {
				continue
			}
			out[e.Name] = dent{gfid: e.Stat.GFID, mode: e.Stat.Mode, rdev: e.Stat.Rdev}
		}
		if ents[len(ents)-1].Off == off {
			return out, graph.Errorf(unix.EIO, "replicate %s: readdir of %s on child %d does not advance", a.Name(), g, i)
		}
		off = ents[len(ents)-1].Off
	}
}

// healEntries heals the names of directory g (afr-self-heal-entry.c): under an entrylk on the
// whole directory, the sources' names are created on the sinks with the same GFID (a hard link
// when the sink already has that GFID), names the sources do not have are removed from the
// sinks, and a name whose GFID or type differs on a sink is removed and created again. Without
// sinks (only dirty counters) the copies are merged: missing names are created, nothing is
// removed. New entries are marked pending against the copy they were created on, so their
// data and metadata are healed next (they are returned in res.NewEntries).
func (a *AFR) healEntries(ctx context.Context, g graph.GFID, res *HealResult) error {
	ctx = internalCtx(ctx)
	up := a.upSet()
	owner := newOwner()
	dl := &graph.Loc{GFID: g}
	held := a.entrylk(ctx, up, dl, "", owner, true)
	defer a.entrylk(ctx, held, dl, "", owner, false)
	if count(held) < 2 {
		return graph.Errorf(unix.ENOTCONN, "replicate %s: entry heal of %s: locked on fewer than two children", a.Name(), g)
	}
	cs := a.inspect(ctx, held, g)
	v := a.direction(IdxEntry, cs)
	if !v.needHeal {
		return nil
	}
	if v.splitBrain {
		res.SplitBrain = append(res.SplitBrain, "entry")
		return nil
	}
	sources, sinks := v.sources, v.sinks
	merge := count(sinks) == 0
	if merge && !a.allPresent(cs) {
		return nil // blame of a child that is not here, or dirty marks: wait for every child
	}
	present := make([]bool, len(cs))
	for i := range cs {
		present[i] = cs[i].present
	}
	lists := make([]map[string]dent, len(cs))
	for i, r := range fan(present, func(i int) (map[string]dent, error) { return a.listDir(ctx, i, g) }) {
		if r.ok && r.err != nil {
			return r.err
		}
		lists[i] = r.v
	}
	// The names every source agrees on; one source is remembered per name to copy from.
	want := map[string]dent{}
	from := map[string]int{}
	conflict := map[string]bool{}
	for i := range cs {
		if !sources[i] {
			continue
		}
		for name, d := range lists[i] {
			if w, ok := want[name]; ok && (w.gfid != d.gfid || w.mode&unix.S_IFMT != d.mode&unix.S_IFMT) {
				conflict[name] = true
				continue
			}
			if _, ok := want[name]; !ok {
				want[name], from[name] = d, i
			}
		}
	}
	for name := range conflict {
		delete(want, name)
		res.SplitBrain = append(res.SplitBrain, "entry:"+name)
	}
	targets := sinks
	if merge {
		targets = present
	}
	var firstErr error
	for s := range cs {
		if !targets[s] {
			continue
		}
		have := lists[s]
		for name, d := range want {
			h, ok := have[name]
			if ok && h.gfid == d.gfid && h.mode&unix.S_IFMT == d.mode&unix.S_IFMT {
				continue
			}
			if ok {
				if merge {
					// Copies disagree and nobody is blamed: not healed by guessing.
					res.SplitBrain = append(res.SplitBrain, "entry:"+name)
					continue
				}
				if err := a.removeEntry(ctx, s, g, name, h); err != nil {
					firstErr = keep(firstErr, err)
					continue
				}
			}
			if err := a.createEntry(ctx, from[name], s, g, name, d); err != nil {
				firstErr = keep(firstErr, err)
				continue
			}
			res.NewEntries = append(res.NewEntries, d.gfid)
		}
		if merge {
			continue
		}
		for name, h := range have {
			if _, ok := want[name]; ok || conflict[name] {
				continue
			}
			if err := a.removeEntry(ctx, s, g, name, h); err != nil {
				firstErr = keep(firstErr, err)
			}
		}
	}
	if firstErr != nil {
		return firstErr
	}
	if len(res.SplitBrain) > 0 {
		return nil
	}
	if err := a.undoPending(ctx, g, IdxEntry, cs, or(sources, sinks)); err != nil {
		return err
	}
	res.Healed = append(res.Healed, "entry")
	res.Sources, res.Sinks = indices(sources), indices(sinks)
	return nil
}

func keep(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// createEntry creates name in directory p on child s like the copy on child src, with the same
// GFID, and marks the new copy pending on src so its contents are healed.
func (a *AFR) createEntry(ctx context.Context, src, s int, p graph.GFID, name string, d dent) error {
	loc := &graph.Loc{ParentGFID: p, Name: name, Path: fmt.Sprintf("<gfid:%s>/%s", p, name)}
	x := graph.Xdata{"gfid-req": append([]byte(nil), d.gfid[:]...)}
	perm := d.mode & 07777
	var err error
	var pend [3]int32
	switch d.mode & unix.S_IFMT {
	case unix.S_IFDIR:
		_, err = a.kids[s].Mkdir(ctx, loc, unix.S_IFDIR|perm, 0, x)
		pend = [3]int32{0, 1, 1}
	case unix.S_IFLNK:
		var target string
		target, _, _, err = a.kids[src].Readlink(ctx, &graph.Loc{GFID: d.gfid}, 4096, nil)
		if err == nil {
			_, err = a.kids[s].Symlink(ctx, target, loc, 0, x)
		}
		pend = [3]int32{0, 1, 0}
	default:
		// A GFID the sink already has elsewhere is a hard link (afr_selfheal_recreate_entry).
		if _, lerr := a.kids[s].Lookup(ctx, &graph.Loc{GFID: d.gfid}, nil); lerr == nil && d.mode&unix.S_IFMT != unix.S_IFDIR {
			_, err = a.kids[s].Link(ctx, &graph.Loc{GFID: d.gfid}, loc, nil)
			if err == nil {
				return nil
			}
		}
		_, err = a.kids[s].Mknod(ctx, loc, d.mode&unix.S_IFMT|perm, d.rdev, 0, x)
		pend = [3]int32{1, 1, 0}
		if d.mode&unix.S_IFMT != unix.S_IFREG {
			pend[IdxData] = 0
		}
	}
	if err != nil && graph.Errno(err) != unix.EEXIST {
		return graph.Errorf(graph.Errno(err), "replicate %s: entry heal: create %s on child %d: %v", a.Name(), loc, s, err)
	}
	px := graph.Xdata{}
	for j, k := range a.keys {
		var c [3]int32
		if j == s {
			c = pend
		}
		px[k] = EncodePending(c[0], c[1], c[2])
	}
	_, _, err = a.kids[src].Xattrop(ctx, &graph.Loc{GFID: d.gfid}, graph.XattropAddArray, px, nil)
	return err
}

// removeEntry removes name (a whole tree for a directory) from directory p on child s.
func (a *AFR) removeEntry(ctx context.Context, s int, p graph.GFID, name string, h dent) error {
	loc := &graph.Loc{ParentGFID: p, Name: name, GFID: h.gfid}
	if h.mode&unix.S_IFMT == unix.S_IFDIR {
		kids, err := a.listDir(ctx, s, h.gfid)
		if err != nil {
			return err
		}
		for n, k := range kids {
			if err := a.removeEntry(ctx, s, h.gfid, n, k); err != nil {
				return err
			}
		}
		if _, err := a.kids[s].Rmdir(ctx, loc, 0, nil); err != nil && graph.Errno(err) != unix.ENOENT {
			return err
		}
		return nil
	}
	if _, err := a.kids[s].Unlink(ctx, loc, 0, nil); err != nil && graph.Errno(err) != unix.ENOENT {
		return err
	}
	return nil
}
