package distribute

import (
	"context"
	"crypto/rand"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// The client side of file migration (GlusterFS dht-helper.c dht_rebalance_in_progress_check and
// dht_rebalance_complete_check, simplified). A file's copies say where the migration is:
//
//   - phase 1, data being copied: the source data file has S_ISVTX|S_ISGID added to its mode and
//     trusted.glusterfs.dht.linkto naming the destination; the destination is a link file
//     (---------T, linkto naming the source) that receives the copy. Every modifying fd fop whose
//     reply shows phase 1 is applied to the destination too, under an inodelk on the written range
//     in MigrateDataDomain on the source subvolume — the copier holds the same lock over each chunk
//     it reads and writes, so a chunk copied before a client's write is overwritten by the
//     client's replay, and one copied after already holds it.
//   - phase 2, done: the source has become a link file (mode exactly S_ISVTX, truncated) and is
//     unlinked; the destination is the data file. A fop whose reply shows phase 2 (or that fails
//     with ENOENT/ESTALE on the source) looks the file up again by GFID, reopens the FD on the
//     destination and is retried there.
//
// The phase bits are stripped from every attribute reply, so clients never see them.

// MigrateDataDomain is the inodelk domain serialising the copier's chunks with clients'
// replayed writes during phase 1.
const MigrateDataDomain = "dht.migrate.data"

const phase1Bits = unix.S_ISVTX | unix.S_ISGID

// inPhase1 reports whether st is a data file being migrated away.
func inPhase1(st *graph.Iatt) bool {
	return st.IsReg() && st.Mode&phase1Bits == phase1Bits && st.Perm() != unix.S_ISVTX
}

// migratedAway reports whether st, the attributes of the copy a fop reached, is a link file: the
// data is elsewhere (phase 2, or a stale cache).
func migratedAway(st *graph.Iatt) bool { return st.IsReg() && st.Perm() == unix.S_ISVTX }

func stripPhase(st *graph.Iatt) {
	if inPhase1(st) {
		st.Mode &^= phase1Bits
	}
}

func stripWCC(r *graph.WCCReply) {
	stripPhase(&r.Pre)
	stripPhase(&r.Post)
}

// internalCreds returns ctx with root's identity and a fresh lock owner: migration bookkeeping is
// distribute's, not the caller's, and its locks must conflict with every other owner.
func internalCreds(ctx context.Context) context.Context {
	c := *graph.CredsFrom(ctx)
	c.UID, c.GID, c.Groups = 0, 0, nil
	owner := make([]byte, 8)
	_, _ = rand.Read(owner)
	c.LkOwner = owner
	return graph.WithCreds(ctx, &c)
}

// reopen finds the file of fd again after it moved away from subvolume old, opens fd there and
// returns the new subvolume.
func (d *DHT) reopen(ctx context.Context, fd *graph.FD, old int) (int, error) {
	g := d.fdGFID(fd)
	d.forget(g)
	s, err := d.cachedSubvol(ctx, &graph.Loc{GFID: g})
	if err != nil {
		return -1, err
	}
	if s == old {
		return s, nil // not moved after all (a user file may have mode 01000)
	}
	flags := fd.Flags &^ (unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC)
	if _, err := d.subs[s].Open(ctx, &graph.Loc{GFID: g}, flags, fd, nil); err != nil {
		return -1, err
	}
	d.bindFD(fd, s, g)
	return s, nil
}

// fdOp runs a fop on the subvolume holding fd's file, following a migration: a reply whose
// attributes (from attrs) show phase 2, or an ENOENT/ESTALE, reopens the FD where the data now
// is and retries; a reply showing phase 1 is passed to replay (when not nil) so the change also
// reaches the destination.
func fdOp[T any](ctx context.Context, d *DHT, fd *graph.FD, attrs func(*T) *graph.Iatt, replay func(src int) error, f func(sub graph.Xlator) (T, error)) (T, error) {
	var zero T
	if fd == nil {
		return zero, errNilFD
	}
	if fd.IsDir || d.isDir(d.fdGFID(fd)) {
		return f(d.subs[d.firstUp()])
	}
	s, err := d.fdSubvol(ctx, fd)
	if err != nil {
		return zero, err
	}
	for attempt := 0; ; attempt++ {
		v, err := f(d.subs[s])
		moved := err != nil && retryable(err)
		if err == nil && attrs != nil {
			moved = migratedAway(attrs(&v))
		}
		if moved && attempt < 3 {
			s2, rerr := d.reopen(ctx, fd, s)
			if rerr != nil {
				if err != nil {
					return v, err
				}
				return zero, rerr
			}
			if s2 != s {
				s = s2
				continue
			}
			attempt = 3 // the same copy: answer with what it said
		}
		if err != nil {
			return v, err
		}
		if attrs != nil {
			st := attrs(&v)
			if inPhase1(st) && replay != nil {
				if rerr := replay(s); rerr != nil {
					return zero, rerr
				}
			}
		}
		return v, nil
	}
}

// replayOnDest applies a change made on the source of a migrating file to its destination, under
// the range lock (start, length; length 0: to the end) in MigrateDataDomain on the source (no
// lock when start is negative: the change does not race with the copy, an fsync).
//
// The change reached the source during phase 1, but the migration may have moved on before the
// replay starts: committed (the source is gone: ENOENT/ESTALE on it), or rolled back (the
// source lost its linkto, or the destination is gone). After a commit the change is applied
// where the data now is — the chunk holding it may have been copied before the change; after a
// rollback the source, which has the change, is the file again and there is nothing to replay.
func (d *DHT) replayOnDest(ctx context.Context, g graph.GFID, src int, start, length int64, op func(ctx context.Context, sub graph.Xlator, dfd *graph.FD) error) error {
	ictx := internalCreds(ctx)
	loc := &graph.Loc{GFID: g}
	v, _, err := d.subs[src].Getxattr(ictx, loc, XattrLinkto, nil)
	switch {
	case err == nil:
	case retryable(err):
		return d.replayAfterCommit(ictx, g, src, op)
	case graph.Errno(err) == unix.ENODATA:
		return nil // rolled back: the source is the file
	default:
		return graph.Errorf(graph.Errno(err), "distribute: gfid %s is migrating but its destination is unknown: %v", g, err)
	}
	t := d.subvolIndex(DecodeLinkto(v[XattrLinkto]))
	if t < 0 || t == src {
		return graph.Errorf(unix.EIO, "distribute: gfid %s: bad migration destination %q", g, v[XattrLinkto])
	}
	fl := &graph.Flock{Type: graph.LockWrite, Start: start, Len: length}
	locked := false
	if start >= 0 {
		_, err := d.subs[src].Inodelk(ictx, MigrateDataDomain, loc, graph.SetLkW, fl, nil)
		switch graph.Errno(err) {
		case 0:
			locked = true
		case unix.ENOENT, unix.ESTALE, unix.ENOSYS:
			// the migration finished (the source is gone) or no locks: replay anyway
		default:
			return err
		}
	}
	if locked {
		defer func() {
			ul := &graph.Flock{Type: graph.LockUnlock, Start: start, Len: length}
			_, _ = d.subs[src].Inodelk(context.WithoutCancel(ictx), MigrateDataDomain, loc, graph.SetLk, ul, nil)
		}()
	}
	dfd := graph.NewFD(nil, g, unix.O_RDWR)
	defer dfd.Unref()
	if _, err := d.subs[t].Open(ictx, loc, unix.O_RDWR, dfd, nil); err != nil {
		if retryable(err) {
			// The destination is gone: the migration was rolled back if the source is still
			// a data file (it has the change).
			if st, _, serr := d.subs[src].Stat(ictx, loc, nil); serr == nil && !migratedAway(&st) {
				return nil
			}
		}
		return err
	}
	return op(ictx, d.subs[t], dfd)
}

// replayAfterCommit applies a change made on the source (subvolume src) of a migration that has
// committed since to the file where its data is now.
func (d *DHT) replayAfterCommit(ictx context.Context, g graph.GFID, src int, op func(ctx context.Context, sub graph.Xlator, dfd *graph.FD) error) error {
	loc := &graph.Loc{GFID: g}
	d.forget(g)
	t, err := d.cachedSubvol(ictx, loc)
	if err != nil {
		return graph.Errorf(graph.Errno(err), "distribute: gfid %s: migrated while a change was being replayed, and not found since: %v", g, err)
	}
	if t == src {
		return graph.Errorf(unix.ESTALE, "distribute: gfid %s: the source of its migration vanished but the file is still there", g)
	}
	dfd := graph.NewFD(nil, g, unix.O_RDWR)
	defer dfd.Unref()
	if _, err := d.subs[t].Open(ictx, loc, unix.O_RDWR, dfd, nil); err != nil {
		return err
	}
	return op(ictx, d.subs[t], dfd)
}

func wccPost(r *graph.WCCReply) *graph.Iatt { return &r.Post }

// fdWrite runs a modifying fd fop with migration handling; the replay repeats it on the
// destination during phase 1.
func (d *DHT) fdWrite(ctx context.Context, fd *graph.FD, start, length int64, f func(ctx context.Context, sub graph.Xlator, fd *graph.FD) (graph.WCCReply, error)) (graph.WCCReply, error) {
	var replay func(src int) error
	if fd != nil {
		replay = func(src int) error {
			return d.replayOnDest(ctx, d.fdGFID(fd), src, start, length, func(ictx context.Context, sub graph.Xlator, dfd *graph.FD) error {
				_, err := f(ictx, sub, dfd)
				return err
			})
		}
	}
	r, err := fdOp(ctx, d, fd, wccPost, replay, func(sub graph.Xlator) (graph.WCCReply, error) { return f(ctx, sub, fd) })
	stripWCC(&r)
	return r, err
}

// replayAttrs makes a setattr (stbuf, valid) that reached the source (subvolume src) of a file
// in phase 1 reach the file's data after the migration. The commit copies the source's mode,
// owner and times to the destination, reading them under the whole-file lock in
// MigrateDataDomain — but a change made after that read would be lost with the source. So the
// same lock is taken (waiting for a commit in progress): a source still in phase 1 then means
// the commit is yet to read the attributes, a source that is gone or a link file means it has
// happened, and the change is applied where the data is now.
func (d *DHT) replayAttrs(ctx context.Context, g graph.GFID, src int, stbuf *graph.Iatt, valid uint32) error {
	if stbuf == nil {
		return nil
	}
	ictx := internalCreds(ctx)
	loc := &graph.Loc{GFID: g}
	_, err := d.subs[src].Inodelk(ictx, MigrateDataDomain, loc, graph.SetLkW, &graph.Flock{Type: graph.LockWrite}, nil)
	switch graph.Errno(err) {
	case 0:
		defer func() {
			_, _ = d.subs[src].Inodelk(context.WithoutCancel(ictx), MigrateDataDomain, loc, graph.SetLk, &graph.Flock{Type: graph.LockUnlock}, nil)
		}()
	case unix.ENOENT, unix.ESTALE, unix.ENOSYS:
	default:
		return err
	}
	st, _, err := d.subs[src].Stat(ictx, loc, nil)
	switch {
	case err == nil && !migratedAway(&st):
		return nil // still in phase 1 (the commit will copy the change) or rolled back
	case err != nil && !retryable(err):
		return err
	}
	return d.replayAfterCommit(ictx, g, src, func(ctx context.Context, sub graph.Xlator, dfd *graph.FD) error {
		_, err := sub.Fsetattr(ctx, dfd, stbuf, valid, nil)
		return err
	})
}

// keepPhaseBits keeps a migrating file's phase bits across a chmod (dht_setattr does the same),
// so a chmod during phase 1 does not silently end the replay of writes.
func keepPhaseBits(cur *graph.Iatt, stbuf *graph.Iatt, valid uint32) *graph.Iatt {
	if stbuf == nil || valid&graph.SetAttrMode == 0 || !inPhase1(cur) {
		return stbuf
	}
	c := *stbuf
	c.Mode |= phase1Bits
	return &c
}
