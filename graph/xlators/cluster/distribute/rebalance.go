package distribute

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Rebalance as a library (GlusterFS dht-rebalance.c, simplified): FixLayout rewrites directory
// layouts over the current subvolumes, Migrate moves one file to the subvolume its name hashes
// to while clients keep using it, Rebalance does both over the whole volume.
//
// Migrate's protocol, on the file's data subvolume S and hashed subvolume H (see migrate.go for
// the client side):
//
//  1. inodelk (write, whole file, non-blocking) in FileMigrateDomain on S: one migrator per file;
//     a file already locked is skipped.
//  2. H gets the destination: a link file (---------T, the file's GFID, linkto = S) — the link
//     file already on H for this GFID is reused, anything else with the name fails the migration.
//  3. Phase 1: S's copy gets linkto = H, then S_ISVTX|S_ISGID added to its mode. From here every
//     client write on S is replayed on H.
//  4. Copy: chunk by chunk (ChunkSize) up to S's current size, each chunk read from S and written
//     to H (all-zero chunks skipped: the destination stays sparse) under an inodelk on the chunk's
//     range in MigrateDataDomain on S — the lock clients take to replay their writes.
//  5. Commit, under an inodelk on the whole file in MigrateDataDomain: copy what grew since, set
//     H's size to S's, copy user xattrs, give H S's mode (without the phase bits), owner and
//     times, fsync H, remove its linkto (H is now the data file); then phase 2 on S: mode
//     exactly S_ISVTX, truncate to 0, unlink (clients holding FDs on S see a link file and move
//     to H).
//
// The GFID is preserved (H's copy was created with it). Not handled (GlusterFS has the same
// limits or more): files with hard links are skipped; a non-root write that clears S_ISGID on S
// (posix does for group-executable files) ends the replay early; rename or unlink of the file
// during its migration make the migration fail (the file is left where it was, consistent); two
// clients writing the same bytes concurrently during phase 1 may leave H with the other order.

// ChunkSize is the copy unit of Migrate.
const ChunkSize = 128 << 10

// Status is the progress of a Rebalance.
type Status struct {
	Dirs     int    // directories whose layout was fixed
	Scanned  int    // regular files looked at
	Migrated int    // files moved
	Skipped  int    // files not moved: busy, hard links
	Failed   int    // files whose migration failed (they stay where they were)
	Bytes    uint64 // data copied
	// Leftovers counts the temporary names of interrupted renames removed by the crawl.
	Leftovers int
	// Committed counts the directories whose layout got the rebalance's new commit hash (their
	// files all on their hashed subvolumes); CommitHash is the volume commit hash settled on the
	// root when the whole rebalance completed with no failure (0: none settled).
	Committed  int
	CommitHash uint32
	Current    string // the path being processed
	LastErr    string // the last migration failure, for the log
}

// ErrMigrationSkipped is wrapped by Migrate for a file it leaves in place on purpose (busy,
// hard-linked).
var ErrMigrationSkipped = errors.New("distribute: migration skipped")

// FixLayout gives dir and every directory below it a layout over all current subvolumes
// (dht_fix_layout_of_directory, Layout.Fix): directories missing on a subvolume are created, the
// new layout is written under the layout-heal inodelk, ranges staying where they overlap most.
// The layouts get the "invalid" commit hash, so misses search every subvolume until files are
// migrated. A subvolume down fails the fix (the layout of a down subvolume is unknown). The
// crawl also removes the temporary names an interrupted rename left (see cleanLeftovers).
func FixLayout(ctx context.Context, d *DHT, dir *graph.Loc) error {
	var st Status
	return fixLayout(ctx, d, dir, &st, nil)
}

// fixLayout fixes dir and the directories below it; fixed, if not nil, gets the layout written
// on each directory (by GFID), which Rebalance commits once the directory's files are in place.
func fixLayout(ctx context.Context, d *DHT, dir *graph.Loc, st *Status, fixed map[graph.GFID]*Layout) error {
	if dir == nil {
		return errNilLoc
	}
	ictx := internalCreds(ctx)
	r, err := d.Lookup(ictx, dir, nil)
	if err != nil {
		return err
	}
	if !r.Stat.IsDir() {
		return graph.Errorf(unix.ENOTDIR, "distribute: fix-layout %s", dir)
	}
	g := r.Stat.GFID
	path := locPath(dir)
	dl := &graph.Loc{GFID: g, Path: dir.Path}
	n, err := d.fixOne(ictx, dir, dl, path, r.Stat)
	if err != nil {
		return err
	}
	if fixed != nil && n != nil {
		fixed[g] = n.Clone()
	}
	st.Dirs++
	st.Leftovers += d.cleanLeftovers(ictx, dl)
	if len(d.subs) == 1 {
		return nil
	}
	ents, err := d.list(ictx, dl)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name == "." || e.Name == ".." || !(e.Type == unix.DT_DIR || e.Stat.IsDir()) {
			continue
		}
		c := dl.Child(e.Name)
		c.GFID = e.Stat.GFID
		if err := fixLayout(ctx, d, c, st, fixed); err != nil {
			return err
		}
	}
	return nil
}

// cleanLeftovers removes from directory dl, on every subvolume, the temporary names of renames
// (tmpPrefix: a link file made for the new name, or a hard link of a replaced destination)
// whose ctime is older than the rename-leftover-age option: a rename removes them within its
// own run, so older ones were left by a client that crashed or lost its connection mid-rename.
// Each is a second name of a file that still has its real name, a link file, or the last name
// of a file the rename replaced: removing the name is right in every case. A name is looked up
// again just before it is removed and kept if it changed since it was listed. It returns the
// number of names removed; failures are logged and left for the next crawl.
func (d *DHT) cleanLeftovers(ctx context.Context, dl *graph.Loc) int {
	lists := fanout(d.all(), func(i int) ([]graph.Dirent, error) { return d.listAll(ctx, i, dl) })
	now := time.Now()
	old := func(st *graph.Iatt) bool {
		return st.Ctime.Sec != 0 && now.Sub(st.Ctime.Time()) >= d.leftoverAge
	}
	n := 0
	for i, l := range lists {
		if l.err != nil {
			continue // a subvolume down: its leftovers wait for the next crawl
		}
		for _, e := range l.v {
			if !strings.HasPrefix(e.Name, tmpPrefix) {
				continue
			}
			loc := &graph.Loc{Name: e.Name, ParentGFID: dl.GFID, Path: strings.TrimSuffix(dl.Path, "/") + "/" + e.Name}
			cur, err := d.subs[i].Lookup(ctx, loc, nil)
			if err != nil || cur.Stat.IsDir() || !old(&cur.Stat) || (!e.Stat.GFID.IsZero() && cur.Stat.GFID != e.Stat.GFID) {
				continue
			}
			if _, err := d.subs[i].Unlink(ctx, loc, 0, nil); err != nil {
				if graph.Errno(err) != unix.ENOENT {
					d.Logger().Warn("removing a rename leftover failed", zap.String("subvolume", d.names[i]), zap.String("path", loc.Path), zap.Error(err))
				}
				continue
			}
			d.Logger().Info("removed a rename leftover", zap.String("subvolume", d.names[i]), zap.String("path", loc.Path),
				zap.Stringer("gfid", cur.Stat.GFID), zap.Time("ctime", cur.Stat.Ctime.Time()))
			n++
		}
	}
	return n
}

func (d *DHT) fixOne(ctx context.Context, dir, dl *graph.Loc, path string, st graph.Iatt) (*Layout, error) {
	if len(d.subs) == 1 {
		return nil, nil
	}
	d.dropVolCommitHash() // a layout change: a rebalance may commit a new hash
	unlock, err := d.lock(ctx, d.subs[d.firstUp()], dl, graph.LockWrite)
	if err != nil {
		return nil, err
	}
	defer unlock()
	res, l := d.lookupDir(ctx, dl, nil)
	var missing []int
	for i, r := range res {
		switch {
		case r.err == nil && r.rep.Stat.IsDir():
		case graph.Errno(r.err) == unix.ENOENT:
			missing = append(missing, i)
		case r.err != nil:
			return nil, graph.Errorf(graph.Errno(r.err), "distribute: fix-layout %s on %s: %v", path, d.names[i], r.err)
		default:
			return nil, graph.Errorf(unix.ENOTDIR, "distribute: fix-layout %s: not a directory on %s", path, d.names[i])
		}
	}
	if len(missing) > 0 && dir.Name == "" && !st.GFID.IsRoot() {
		return nil, graph.Errorf(unix.EINVAL, "distribute: fix-layout %s: directory missing on a subvolume and no name to create it", path)
	}
	mk := fanout(missing, func(i int) (graph.EntryReply, error) {
		ml := &graph.Loc{Path: dir.Path, Name: dir.Name, ParentGFID: dir.ParentGFID}
		return d.subs[i].Mkdir(ctx, ml, st.Mode&07777, 0, withGFIDReq(nil, st.GFID))
	})
	for k, i := range missing {
		if mk[k].err != nil && graph.Errno(mk[k].err) != unix.EEXIST {
			return nil, graph.Errorf(graph.Errno(mk[k].err), "distribute: fix-layout %s: mkdir on %s: %v", path, d.names[i], mk[k].err)
		}
	}
	for i := range l.Ranges {
		r := &l.Ranges[i]
		switch {
		case r.Err == int(unix.ENOENT) || r.Err == -1 || (r.Start == 0 && r.Stop == 0):
			r.Err, r.Start, r.Stop = -1, 0, 0
		}
	}
	l.CommitHash = LayoutHashInvalid
	n := Fix(l, d.assignParams(ctx, path, st.GFID))
	if n == nil {
		return nil, nil // a user-set layout is left alone, as GlusterFS does
	}
	for i := range n.Ranges {
		n.Ranges[i].Err = -1
		n.Ranges[i].CommitHash = LayoutHashInvalid
	}
	for i, err := range d.writeLayout(ctx, st.GFID, dl.Path, n) {
		if err != nil {
			return nil, graph.Errorf(graph.Errno(err), "distribute: fix-layout %s: write layout on %s: %v", path, d.names[i], err)
		}
	}
	d.setLayout(st.GFID, n)
	return n, nil
}

// list reads a whole directory through distribute (readdirp).
func (d *DHT) list(ctx context.Context, dl *graph.Loc) ([]graph.Dirent, error) {
	fd := graph.NewFD(nil, dl.GFID, unix.O_RDONLY|unix.O_DIRECTORY)
	fd.IsDir = true
	defer fd.Unref()
	if _, err := d.Opendir(ctx, dl, fd, nil); err != nil {
		return nil, err
	}
	var out []graph.Dirent
	var off uint64
	for n := 0; n < 1<<20; n++ {
		ents, _, err := d.Readdirp(ctx, fd, 64<<10, off, nil)
		if err != nil {
			return out, err
		}
		if len(ents) == 0 {
			return out, nil
		}
		out = append(out, ents...)
		off = ents[len(ents)-1].Off
	}
	return out, graph.Errorf(unix.EIO, "distribute: listing %s does not end", dl)
}

// Migrate moves the regular file at loc (ParentGFID + Name) to the subvolume its name hashes to,
// if it is elsewhere, while clients keep reading and writing it (see the protocol above). It
// reports whether the file moved and the bytes copied. A file left in place on purpose gives an
// error wrapping ErrMigrationSkipped.
func Migrate(ctx context.Context, d *DHT, loc *graph.Loc) (moved bool, copied uint64, err error) {
	if loc == nil || loc.Name == "" || loc.ParentGFID.IsZero() {
		return false, 0, graph.Errorf(unix.EINVAL, "distribute: migrate needs a parent and a name")
	}
	return migrate(ctx, d, loc)
}

func migrate(ctx context.Context, d *DHT, loc *graph.Loc) (bool, uint64, error) {
	ictx := internalCreds(ctx)
	if !loc.GFID.IsZero() {
		d.forget(loc.GFID)
	}
	r, err := d.Lookup(ictx, loc, nil)
	if err != nil {
		return false, 0, err
	}
	if !r.Stat.IsReg() {
		return false, 0, nil
	}
	g := r.Stat.GFID
	s, ok := d.getCached(g)
	if !ok {
		return false, 0, graph.Errorf(unix.EIO, "distribute: migrate %s: location unknown", loc)
	}
	h, _, err := d.hashed(ictx, loc)
	if err != nil {
		return false, 0, err
	}
	if s == h {
		return false, 0, nil
	}
	if r.Stat.Nlink > 1 {
		return false, 0, fmt.Errorf("%s has %d hard links: %w", loc, r.Stat.Nlink, ErrMigrationSkipped)
	}
	gl := &graph.Loc{GFID: g, Path: loc.Path}
	src, dst := d.subs[s], d.subs[h]
	// 1. One migrator per file.
	whole := &graph.Flock{Type: graph.LockWrite}
	if _, err := src.Inodelk(ictx, FileMigrateDomain, gl, graph.SetLk, whole, nil); err != nil {
		switch graph.Errno(err) {
		case unix.EAGAIN, unix.EACCES:
			return false, 0, fmt.Errorf("%s is being migrated by someone else: %w", loc, ErrMigrationSkipped)
		case unix.ENOSYS:
		default:
			return false, 0, err
		}
	} else {
		defer func() {
			_, _ = src.Inodelk(context.WithoutCancel(ictx), FileMigrateDomain, gl, graph.SetLk, &graph.Flock{Type: graph.LockUnlock}, nil)
		}()
	}
	m := &migration{d: d, ctx: ictx, loc: loc, gl: gl, g: g, s: s, h: h, src: src, dst: dst, st: r.Stat}
	n, err := m.run()
	if err != nil {
		m.rollback()
		return false, n, fmt.Errorf("distribute: migrate %s from %s to %s: %w", loc, d.names[s], d.names[h], err)
	}
	d.setCached(g, h)
	return true, n, nil
}

type migration struct {
	d      *DHT
	ctx    context.Context
	loc    *graph.Loc
	gl     *graph.Loc
	g      graph.GFID
	s, h   int
	src    graph.Xlator
	dst    graph.Xlator
	st     graph.Iatt
	made   bool // the destination link file was created by us
	reused bool // a link file on the destination was reused
	phase1 bool
	commit bool // the destination became the data file
}

func (m *migration) run() (uint64, error) {
	ctx, d := m.ctx, m.d
	// 2. The destination link file.
	lr, err := m.dst.Lookup(ctx, &graph.Loc{Path: m.loc.Path, Name: m.loc.Name, ParentGFID: m.loc.ParentGFID}, graph.Xdata{XattrLinkto: nil})
	switch {
	case err == nil && lr.Stat.GFID == m.g && isLinkfile(&lr.Stat, lr.Xdata):
		m.reused = true
		if _, err := m.dst.Truncate(ctx, m.gl, 0, nil); err != nil {
			return 0, err
		}
		if _, err := m.dst.Setxattr(ctx, m.gl, graph.Xdata{XattrLinkto: EncodeLinkto(d.names[m.s])}, 0, nil); err != nil {
			return 0, err
		}
	case err == nil:
		return 0, graph.Errorf(unix.EEXIST, "the name exists on %s as another file", d.names[m.h])
	case graph.Errno(err) == unix.ENOENT:
		if err := d.createLinkfile(ctx, m.h, m.s, m.loc, m.g); err != nil {
			return 0, err
		}
		m.made = true
	default:
		return 0, err
	}
	// 3. Phase 1 on the source.
	if _, err := m.src.Setxattr(ctx, m.gl, graph.Xdata{XattrLinkto: EncodeLinkto(d.names[m.h])}, 0, nil); err != nil {
		return 0, err
	}
	m.phase1 = true
	mode := m.st
	mode.Mode = m.st.Mode | phase1Bits
	if _, err := m.src.Setattr(ctx, m.gl, &mode, graph.SetAttrMode, nil); err != nil {
		return 0, err
	}
	sfd := graph.NewFD(nil, m.g, unix.O_RDWR)
	defer sfd.Unref()
	if _, err := m.src.Open(ctx, m.gl, unix.O_RDWR, sfd, nil); err != nil {
		return 0, err
	}
	dfd := graph.NewFD(nil, m.g, unix.O_RDWR)
	defer dfd.Unref()
	if _, err := m.dst.Open(ctx, m.gl, unix.O_RDWR, dfd, nil); err != nil {
		return 0, err
	}
	// 4. Copy chunk by chunk under range locks.
	var copied uint64
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return copied, err
		}
		cur, _, err := m.src.Fstat(ctx, sfd, nil)
		if err != nil {
			return copied, err
		}
		if off >= int64(cur.Size) {
			break
		}
		n, err := m.copyChunk(sfd, dfd, off, true)
		copied += n
		if err != nil {
			return copied, err
		}
		off += ChunkSize
		if m.d.pause > 0 {
			select {
			case <-time.After(m.d.pause):
			case <-ctx.Done():
				return copied, ctx.Err()
			}
		}
	}
	// 5. Commit under the whole-file data lock.
	fl := &graph.Flock{Type: graph.LockWrite}
	if _, err := m.src.Inodelk(ctx, MigrateDataDomain, m.gl, graph.SetLkW, fl, nil); err != nil && graph.Errno(err) != unix.ENOSYS {
		return copied, err
	}
	defer func() {
		_, _ = m.src.Inodelk(context.WithoutCancel(ctx), MigrateDataDomain, m.gl, graph.SetLk, &graph.Flock{Type: graph.LockUnlock}, nil)
	}()
	fin, _, err := m.src.Fstat(ctx, sfd, nil)
	if err != nil {
		return copied, err
	}
	for ; off < int64(fin.Size); off += ChunkSize {
		n, err := m.copyChunk(sfd, dfd, off, false)
		copied += n
		if err != nil {
			return copied, err
		}
	}
	if _, err := m.dst.Ftruncate(ctx, dfd, int64(fin.Size), nil); err != nil {
		return copied, err
	}
	if err := m.copyXattrs(sfd, dfd); err != nil {
		return copied, err
	}
	attrs := fin
	attrs.Mode = fin.Mode &^ phase1Bits
	valid := graph.SetAttrMode | graph.SetAttrUID | graph.SetAttrGID | graph.SetAttrAtime | graph.SetAttrMtime
	if _, err := m.dst.Fsetattr(ctx, dfd, &attrs, valid, nil); err != nil {
		return copied, err
	}
	// The destination is made durable before the source is given up: the source may hold data
	// clients were told is on stable storage (GlusterFS's ensure-durability, on by default).
	if _, err := m.dst.Fsync(ctx, dfd, false, nil); err != nil {
		return copied, err
	}
	if _, err := m.dst.Fremovexattr(ctx, dfd, XattrLinkto, nil); err != nil {
		return copied, err
	}
	m.commit = true
	// Phase 2: the source becomes a link file, empty, and goes away.
	link := fin
	link.Mode = unix.S_IFREG | unix.S_ISVTX
	if _, err := m.src.Fsetattr(ctx, sfd, &link, graph.SetAttrMode, nil); err != nil {
		return copied, err
	}
	if _, err := m.src.Ftruncate(ctx, sfd, 0, nil); err != nil {
		return copied, err
	}
	ul := &graph.Loc{Path: m.loc.Path, Name: m.loc.Name, ParentGFID: m.loc.ParentGFID}
	if _, err := m.src.Unlink(ctx, ul, 0, nil); err != nil && graph.Errno(err) != unix.ENOENT {
		return copied, err
	}
	return copied, nil
}

// copyChunk copies [off, off+ChunkSize) from the source to the destination, under a range lock
// in MigrateDataDomain when lock is set.
func (m *migration) copyChunk(sfd, dfd *graph.FD, off int64, lock bool) (uint64, error) {
	ctx := m.ctx
	if lock {
		fl := &graph.Flock{Type: graph.LockWrite, Start: off, Len: ChunkSize}
		if _, err := m.src.Inodelk(ctx, MigrateDataDomain, m.gl, graph.SetLkW, fl, nil); err != nil && graph.Errno(err) != unix.ENOSYS {
			return 0, err
		}
		defer func() {
			ul := &graph.Flock{Type: graph.LockUnlock, Start: off, Len: ChunkSize}
			_, _ = m.src.Inodelk(context.WithoutCancel(ctx), MigrateDataDomain, m.gl, graph.SetLk, ul, nil)
		}()
	}
	rr, err := m.src.Readv(ctx, sfd, ChunkSize, off, 0, nil)
	defer rr.Done() // after the write below: the buffer goes back to the source
	if err != nil {
		return 0, err
	}
	if len(rr.Data) == 0 {
		return 0, nil
	}
	if allZero(rr.Data) {
		// Keep the destination sparse; but a replayed client write may have put data there
		// that the source no longer has — only possible if the source was overwritten with
		// zeros, which was replayed too. Writing zeros is the safe choice when the
		// destination already extends here.
		dst, _, err := m.dst.Fstat(ctx, dfd, nil)
		if err != nil {
			return 0, err
		}
		if int64(dst.Size) <= off {
			return 0, nil
		}
	}
	if _, err := m.dst.Writev(ctx, dfd, rr.Data, off, 0, nil); err != nil {
		return 0, err
	}
	return uint64(len(rr.Data)), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// copyXattrs copies the source's xattrs but distribute's, replicate's and the GFID to the
// destination.
func (m *migration) copyXattrs(sfd, dfd *graph.FD) error {
	all, _, err := m.src.Fgetxattr(m.ctx, sfd, "", nil)
	if err != nil {
		if e := graph.Errno(err); e == unix.ENODATA || e == unix.ENOTSUP || e == unix.EOPNOTSUPP {
			return nil
		}
		return err
	}
	out := graph.Xdata{}
	for k, v := range all {
		if strings.HasPrefix(k, "trusted.glusterfs.") || strings.HasPrefix(k, "trusted.afr.") || k == "trusted.gfid" || strings.HasPrefix(k, "trusted.weft.") {
			continue
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	_, err = m.dst.Fsetxattr(m.ctx, dfd, out, 0, nil)
	return err
}

// rollback undoes a failed migration before its commit: the source loses its phase-1 marks, the
// destination link file goes (or, reused, points at the source again).
func (m *migration) rollback() {
	if m.commit {
		return // past the point of no return: the destination holds the data
	}
	ctx := context.WithoutCancel(m.ctx)
	if m.phase1 {
		st, _, err := m.src.Stat(ctx, m.gl, nil)
		if err == nil && inPhase1(&st) {
			st.Mode &^= phase1Bits
			_, _ = m.src.Setattr(ctx, m.gl, &st, graph.SetAttrMode, nil)
		}
		_, _ = m.src.Removexattr(ctx, m.gl, XattrLinkto, nil)
	}
	switch {
	case m.made:
		_, _ = m.dst.Unlink(ctx, &graph.Loc{Path: m.loc.Path, Name: m.loc.Name, ParentGFID: m.loc.ParentGFID}, 0, nil)
	case m.reused:
		_, _ = m.dst.Truncate(ctx, m.gl, 0, nil)
		_, _ = m.dst.Setxattr(ctx, m.gl, graph.Xdata{XattrLinkto: EncodeLinkto(m.d.names[m.s])}, 0, nil)
	}
}

// Rebalance fixes the layout of every directory, then migrates every regular file that is not on
// its hashed subvolume (GlusterFS `volume rebalance start`). progress, if not nil, is called after
// each directory and file. Files that cannot be moved are counted and left in place; the first
// error that stops the walk (a directory that cannot be listed) is returned.
//
// Lookup-optimize (GlusterFS's commit hash, gf_defrag_settle_hash): the rebalance picks a new
// volume commit hash. Once a directory's entries have all been handled with none failed or left
// off their hashed subvolume, its layout — unchanged since this rebalance's fix-layout — is
// rewritten with the new hash. When the whole rebalance completed (not stopped, no error, no
// failed file), the new hash is settled on the root (trusted.glusterfs.dht.commithash), and
// every directory carrying it counts as committed: a miss on the hashed subvolume is final and
// a create is one fop. Until then — and for good if the rebalance failed or was stopped — the
// directories keep a hash that is not the volume's and stay uncommitted; the next rebalance
// picks another hash. FixLayout alone never commits (files are not yet where the layout says).
func Rebalance(ctx context.Context, d *DHT, progress func(Status)) (Status, error) {
	var st Status
	report := func() {
		if progress != nil {
			progress(st)
		}
	}
	fixed := map[graph.GFID]*Layout{}
	err := fixLayout(ctx, d, graph.RootLoc(), &st, fixed)
	report()
	if err != nil {
		return st, err
	}
	rb := &rebalancer{d: d, st: &st, report: report, fixed: fixed, hash: d.newCommitHash(internalCreds(ctx))}
	_, err = rb.migrateTree(ctx, graph.RootLoc())
	st.Current = ""
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && st.Failed == 0 && len(d.subs) > 1 {
		if serr := d.settleCommitHash(internalCreds(ctx), rb.hash); serr != nil {
			err = serr
		} else {
			st.CommitHash = rb.hash
		}
	}
	report()
	return st, err
}

// rebalancer is the state of one Rebalance's migration walk.
type rebalancer struct {
	d      *DHT
	st     *Status
	report func()
	fixed  map[graph.GFID]*Layout // the layouts fix-layout wrote, by directory
	hash   uint32                 // the new volume commit hash
}

// migrateTree migrates the files of dir and below; it reports whether every entry of dir itself
// is now on its hashed subvolume (and commits dir's layout when so).
func (rb *rebalancer) migrateTree(ctx context.Context, dir *graph.Loc) (bool, error) {
	d, st := rb.d, rb.st
	ictx := internalCreds(ctx)
	ents, err := d.list(ictx, dir)
	if err != nil {
		return false, err
	}
	inPlace := true
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if e.Name == "." || e.Name == ".." {
			continue
		}
		c := dir.Child(e.Name)
		c.GFID = e.Stat.GFID
		switch {
		case e.Type == unix.DT_DIR || e.Stat.IsDir():
			if _, err := rb.migrateTree(ctx, c); err != nil {
				return false, err
			}
		case e.Type == unix.DT_REG || e.Stat.IsReg():
			st.Scanned++
			st.Current = c.Path
			moved, n, err := Migrate(ctx, d, c)
			st.Bytes += n
			switch {
			case err == nil && moved:
				st.Migrated++
			case err == nil:
			case errors.Is(err, ErrMigrationSkipped):
				st.Skipped++
				// A skipped file stays where it is: the directory is committed only if the
				// name is reachable from its hashed subvolume (a link file there).
				if !d.onHashed(ictx, c) {
					inPlace = false
				}
			default:
				st.Failed++
				st.LastErr = err.Error()
				inPlace = false
			}
			rb.report()
		default:
			// Symlinks, devices, fifos are not migrated: a lookup gives a name found off its
			// hashed subvolume a link file there; the directory is committed only if it did.
			if _, err := d.Lookup(ictx, c, nil); err != nil && graph.Errno(err) != unix.ENOENT {
				inPlace = false
			} else if err == nil && !d.onHashed(ictx, c) {
				inPlace = false
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if inPlace {
		g := dir.GFID
		if ok := d.commitLayout(ictx, &graph.Loc{GFID: g, Path: dir.Path}, rb.fixed[g], rb.hash); ok {
			st.Committed++
		}
	}
	return inPlace, nil
}

// onHashed reports whether the name at loc is present (its data or a link file with its GFID)
// on the subvolume it hashes to.
func (d *DHT) onHashed(ctx context.Context, loc *graph.Loc) bool {
	h, _, err := d.hashed(ctx, loc)
	if err != nil {
		return false
	}
	r, err := d.subs[h].Lookup(ctx, &graph.Loc{Path: loc.Path, Name: loc.Name, ParentGFID: loc.ParentGFID}, nil)
	return err == nil && (loc.GFID.IsZero() || r.Stat.GFID == loc.GFID)
}

// newCommitHash picks a volume commit hash for a rebalance (glusterd derives it from the time):
// never 0 (no hash), LayoutHashInvalid, nor the current one.
func (d *DHT) newCommitHash(ctx context.Context) uint32 {
	cur := d.volCommitHash(ctx)
	seed := time.Now().UnixNano()
	for {
		h := DMHash([]byte(fmt.Sprintf("%s-%d", d.Name(), seed)))
		if h != 0 && h != LayoutHashInvalid && h != cur {
			return h
		}
		seed++
	}
}

// commitLayout rewrites the layout of directory dl with commit hash hash (dht_update_commit_hash_
// for_layout), under the layout-heal lock, if it is still want — the layout fix-layout wrote in
// this rebalance, every subvolume's copy present with its range. It reports whether it did; a
// failure leaves the directory uncommitted (a partly written hash makes the merged layout's
// invalid), and is logged.
func (d *DHT) commitLayout(ctx context.Context, dl *graph.Loc, want *Layout, hash uint32) bool {
	if want == nil || len(d.subs) == 1 {
		return false
	}
	unlock, err := d.lock(ctx, d.subs[d.firstUp()], dl, graph.LockWrite)
	if err != nil {
		d.Logger().Warn("commit hash: layout lock failed", zap.String("path", dl.Path), zap.Error(err))
		return false
	}
	defer unlock()
	_, l := d.lookupDir(ctx, dl, nil)
	for i := range l.Ranges {
		r := &l.Ranges[i]
		w := want.For(r.Subvol)
		if r.Err != 0 || w == nil || r.Start != w.Start || r.Stop != w.Stop || (r.CommitHash != LayoutHashInvalid && r.CommitHash != hash) {
			d.Logger().Info("commit hash: layout changed since fix-layout, directory left uncommitted", zap.String("path", dl.Path))
			return false
		}
		r.CommitHash = hash
	}
	l.CommitHash = hash
	for i, err := range d.writeLayout(ctx, dl.GFID, dl.Path, l) {
		if err != nil {
			d.Logger().Warn("commit hash: writing the layout failed", zap.String("path", dl.Path), zap.String("subvolume", d.names[i]), zap.Error(err))
			d.forget(dl.GFID)
			return false
		}
	}
	l.at = time.Now()
	d.setLayout(dl.GFID, l)
	return true
}

// settleCommitHash stores hash as the volume commit hash on the root of every subvolume
// (gf_defrag_settle_hash on the root) and takes it as this client's; other clients read it on
// their next root lookup or when they find a directory not committed (see hashed).
func (d *DHT) settleCommitHash(ctx context.Context, hash uint32) error {
	v := append([]byte(strconv.FormatUint(uint64(hash), 10)), 0)
	res := fanout(d.all(), func(i int) (graph.Xdata, error) {
		return d.subs[i].Setxattr(ctx, graph.RootLoc(), graph.Xdata{XattrCommitHash: v}, 0, nil)
	})
	for i, r := range res {
		if r.err != nil {
			d.dropVolCommitHash()
			return graph.Errorf(graph.Errno(r.err), "distribute: settling commit hash %d on %s: %v", hash, d.names[i], r.err)
		}
	}
	d.volCommit.Store(volCommitKnown | uint64(hash))
	return nil
}
