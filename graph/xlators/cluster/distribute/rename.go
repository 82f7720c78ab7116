package distribute

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Rename implements graph.Fops (dht-rename.c). A file's data stays where it is: the name moves
// on the data's subvolume; if the new name hashes elsewhere, a link file is created there first;
// the old name's link file (if any) is removed afterwards. A replaced destination whose data is
// on a third subvolume is moved aside there first (so a subvolume that cannot change fails the
// rename before anything changed) and removed afterwards; its link file is replaced by the new
// name's. A directory is renamed on every subvolume, the new name's hashed one first, under
// entry locks on both names in dht.entry.sync (taken when a locks translator is present).
func (d *DHT) Rename(ctx context.Context, oldLoc, newLoc *graph.Loc, xdata graph.Xdata) (graph.RenameReply, error) {
	if oldLoc == nil || newLoc == nil {
		return graph.RenameReply{}, errNilLoc
	}
	if err := checkNewName(newLoc); err != nil {
		return graph.RenameReply{}, err
	}
	src, err := d.Lookup(ctx, oldLoc, nil)
	if err != nil {
		return graph.RenameReply{}, err
	}
	dh, _, err := d.hashed(ctx, newLoc)
	if err != nil {
		return graph.RenameReply{}, err
	}
	if src.Stat.IsDir() {
		return d.renameDir(ctx, oldLoc, newLoc, src.Stat.GFID, dh, xdata)
	}
	s, ok := d.getCached(src.Stat.GFID)
	if !ok {
		return graph.RenameReply{}, graph.Errorf(unix.EIO, "distribute: rename %s: location unknown", oldLoc)
	}
	sh, _, err := d.hashed(ctx, oldLoc)
	if err != nil {
		return graph.RenameReply{}, err
	}
	// The destination, if it exists.
	dst, derr := d.Lookup(ctx, newLoc, nil)
	dc := -1
	if derr == nil {
		if dst.Stat.GFID == src.Stat.GFID {
			return graph.RenameReply{Stat: src.Stat}, nil // same file: nothing to do
		}
		if dst.Stat.IsDir() {
			return graph.RenameReply{}, graph.Errorf(unix.EISDIR, "distribute: rename %s → %s", oldLoc, newLoc)
		}
		if c, ok := d.getCached(dst.Stat.GFID); ok {
			dc = c
		}
	} else if graph.Errno(derr) != unix.ENOENT {
		return graph.RenameReply{}, derr
	}
	unlock := d.entryLocks(ctx, oldLoc, newLoc)
	defer unlock()
	// A replaced destination whose data lives on a third subvolume (neither the source's nor the
	// new name's hashed one: typically a hard link made elsewhere) is not replaced by either
	// rename below. Its data first gets a second name there (a hard link under a reserved
	// temporary name, hidden from clients), so a subvolume that cannot change now (a brick down,
	// quorum lost: EROFS) fails the whole rename before anything changed, instead of leaving the
	// old destination behind as a second entry of the same name. The old name stays in place,
	// so the destination never disappears from lookups during the rename (as rename(2)
	// promises); it and the temporary name are removed once the rename succeeded.
	var stash *graph.Loc
	if derr == nil && dc >= 0 && dc != s && dc != dh {
		stash = &graph.Loc{Name: stashPrefix + dst.Stat.GFID.String(), ParentGFID: newLoc.ParentGFID}
		stash.Path = newLoc.Path + stashPrefix
		_, _ = d.subs[dc].Unlink(ctx, stash, 0, nil) // a leftover of an interrupted rename
		oldDst := &graph.Loc{GFID: dst.Stat.GFID, Path: newLoc.Path, Name: newLoc.Name, ParentGFID: newLoc.ParentGFID}
		if _, err := d.subs[dc].Link(ctx, oldDst, stash, nil); err != nil {
			return graph.RenameReply{}, graph.Errorf(graph.Errno(err), "distribute: rename %s → %s: replaced file on %s: %v", oldLoc, newLoc, d.names[dc], err)
		}
	}
	restore := func() {
		if stash != nil {
			_, _ = d.subs[dc].Unlink(context.WithoutCancel(ctx), stash, 0, nil)
		}
	}
	var tmp *graph.Loc
	if dh != s {
		// The destination's hashed subvolume gets a link file pointing at the data, made under a
		// temporary name first and renamed over the new name only once the rename of the data
		// succeeded: a failed rename (EROFS, ENOSPC, a brick down) leaves the replaced
		// destination intact.
		tmp = &graph.Loc{Name: tmpPrefix + src.Stat.GFID.String(), ParentGFID: newLoc.ParentGFID}
		tmp.Path = newLoc.Path + tmpPrefix
		_, _ = d.subs[dh].Unlink(ctx, tmp, 0, nil) // a leftover of an interrupted rename
		if err := d.createLinkfile(ctx, dh, s, tmp, src.Stat.GFID); err != nil {
			restore()
			return graph.RenameReply{}, err
		}
	}
	r, err := d.subs[s].Rename(ctx, oldLoc, newLoc, xdata)
	if err != nil {
		if tmp != nil {
			_, _ = d.subs[dh].Unlink(ctx, tmp, 0, nil)
		}
		restore()
		return r, err
	}
	var lerr error
	if tmp != nil {
		if _, err := d.subs[dh].Rename(ctx, tmp, newLoc, nil); err != nil {
			lerr = graph.Errorf(graph.Errno(err), "distribute: rename %s → %s: link file on %s: %v", oldLoc, newLoc, d.names[dh], err)
		}
	}
	if stash != nil {
		// The replaced file's names on its own subvolume: the old one, then the temporary one.
		_, _ = d.subs[dc].Unlink(ctx, newLoc, 0, nil)
		_, _ = d.subs[dc].Unlink(ctx, stash, 0, nil)
	}
	if lerr != nil {
		return r, lerr
	}
	if sh != s {
		_, _ = d.subs[sh].Unlink(ctx, oldLoc, 0, nil) // the old name's link file
	}
	if derr == nil && dst.Stat.Nlink <= 1 {
		d.forget(dst.Stat.GFID)
	}
	d.setCached(src.Stat.GFID, s)
	return r, nil
}

func (d *DHT) entryLocks(ctx context.Context, a, b *graph.Loc) func() {
	var held []func()
	for _, l := range []*graph.Loc{a, b} {
		h, _, err := d.hashed(ctx, l)
		if err != nil {
			continue
		}
		pl := &graph.Loc{GFID: l.ParentGFID}
		if _, err := d.subs[h].Entrylk(ctx, EntrySyncDomain, pl, l.Name, graph.EntrylkLock, graph.EntrylkWrlck, nil); err != nil {
			continue // ENOSYS without a locks translator
		}
		sub, name := d.subs[h], l.Name
		held = append(held, func() {
			_, _ = sub.Entrylk(context.WithoutCancel(ctx), EntrySyncDomain, pl, name, graph.EntrylkUnlock, graph.EntrylkWrlck, nil)
		})
	}
	return func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i]()
		}
	}
}

func (d *DHT) renameDir(ctx context.Context, oldLoc, newLoc *graph.Loc, srcGFID graph.GFID, dh int, xdata graph.Xdata) (graph.RenameReply, error) {
	unlock := d.entryLocks(ctx, oldLoc, newLoc)
	defer unlock()
	if k, err := d.nonEmptyTargetCopy(ctx, newLoc, srcGFID); err != nil {
		return graph.RenameReply{}, err
	} else if k >= 0 {
		dh = k // that subvolume refuses first (ENOTEMPTY, or EINVAL into its own subtree)
	}
	r, err := d.subs[dh].Rename(ctx, oldLoc, newLoc, xdata)
	if err != nil {
		return r, err
	}
	var rest []int
	for i := range d.subs {
		if i != dh {
			rest = append(rest, i)
		}
	}
	res := fanout(rest, func(i int) (graph.RenameReply, error) { return d.subs[i].Rename(ctx, oldLoc, newLoc, xdata) })
	for k, x := range res {
		if x.err != nil && graph.Errno(x.err) != unix.ENOENT && graph.Errno(x.err) != unix.ENOTCONN {
			// Undo on the subvolumes already renamed so the namespace stays consistent.
			_, _ = d.subs[dh].Rename(ctx, newLoc, oldLoc, nil)
			for k2, y := range res {
				if y.err == nil {
					_, _ = d.subs[rest[k2]].Rename(ctx, newLoc, oldLoc, nil)
				}
			}
			_ = k
			return graph.RenameReply{}, x.err
		}
	}
	return r, nil
}

// nonEmptyTargetCopy returns a subvolume on which the destination of a directory rename is a
// directory with entries (link files included), or -1 (dht_rename_readdir_cbk). A subvolume's
// copy holds only the entries hashed or cached there: renaming on a subvolume whose copy looks
// empty first would replace that copy before another refused with ENOTEMPTY, and undoing it
// could not bring the replaced copy back. Renaming on the non-empty one first lets it refuse
// with the errno a local file system gives (EINVAL before ENOTEMPTY for a move into the
// source's own subtree) before anything changed.
func (d *DHT) nonEmptyTargetCopy(ctx context.Context, newLoc *graph.Loc, srcGFID graph.GFID) (int, error) {
	dst, err := d.Lookup(ctx, newLoc, nil)
	if err != nil {
		if graph.Errno(err) == unix.ENOENT {
			return -1, nil
		}
		return -1, err
	}
	if dst.Stat.GFID == srcGFID || !dst.Stat.IsDir() {
		return -1, nil // the same directory, or a file: the subvolumes answer alike
	}
	dl := &graph.Loc{GFID: dst.Stat.GFID, Path: newLoc.Path}
	chk := fanout(d.all(), func(i int) ([]graph.Dirent, error) { return d.listAll(ctx, i, dl) })
	for i, c := range chk {
		if c.err != nil {
			if e := graph.Errno(c.err); e == unix.ENOENT || e == unix.ENOTCONN {
				continue
			}
			return -1, c.err
		}
		for _, e := range c.v {
			if e.Name != "." && e.Name != ".." {
				return i, nil
			}
		}
	}
	return -1, nil
}
