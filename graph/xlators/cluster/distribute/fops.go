package distribute

import (
	"context"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Lookup implements graph.Fops: the hashed subvolume first; a directory is then looked up
// everywhere and its layout merged (and healed); a link file is followed; a miss is searched on
// every subvolume per lookup-unhashed.
func (d *DHT) Lookup(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.LookupReply, error) {
	if loc == nil {
		return graph.LookupReply{}, errNilLoc
	}
	if loc.Name == "" {
		return d.lookupNameless(ctx, loc, xdata)
	}
	if reserved(loc.Name) {
		return graph.LookupReply{}, graph.Errorf(unix.ENOENT, "distribute: lookup %s: a reserved name", loc)
	}
	h, pl, err := d.hashed(ctx, loc)
	if err != nil {
		return graph.LookupReply{}, err
	}
	lx := lookupXdata(xdata)
	r, err := d.subs[h].Lookup(ctx, loc, lx)
	if err == nil {
		switch {
		case r.Stat.IsDir():
			return d.lookupDirAll(ctx, loc, xdata)
		case isLinkfile(&r.Stat, r.Xdata):
			if rr, ok := d.followLink(ctx, loc, &r, xdata); ok {
				return rr, nil
			}
			return d.lookupEverywhere(ctx, loc, xdata, h)
		default:
			d.setCached(r.Stat.GFID, h)
			stripInternal(r.Xdata)
			stripPhase(&r.Stat)
			return r, nil
		}
	}
	if graph.Errno(err) != unix.ENOENT {
		return r, err
	}
	switch d.unhashed {
	case unhashedOff:
		return r, err
	case unhashedAuto:
		if d.committed(ctx, pl) {
			return r, err
		}
	}
	return d.lookupEverywhere(ctx, loc, xdata, h)
}

// committed reports whether a miss on the hashed subvolume is authoritative in the directory
// whose layout is pl (GlusterFS's lookup-optimize): its layout carries the volume's current
// commit hash, so every name in it is on its hashed subvolume (or has a link file there). A
// layout that fix-layout rewrote (LayoutHashInvalid) is not committed: names may still sit on
// the subvolume that held their hash before. With one subvolume, or lookup-unhashed off, a
// miss is taken as it comes.
func (d *DHT) committed(ctx context.Context, pl *Layout) bool {
	if len(d.subs) == 1 || d.unhashed == unhashedOff {
		return true
	}
	return pl != nil && d.optimize && pl.CommitHash != LayoutHashInvalid && pl.CommitHash == d.volCommitHash(ctx)
}

// findBeforeCreate is the lookup a fop that makes the new name loc (hashed to subvolume h in
// the layout pl) needs first: none in a committed directory (the exclusive create on h decides,
// one fop); elsewhere the name is looked up on every subvolume, since its data may sit off its
// hashed subvolume without a link file (after add-brick and fix-layout, before it is migrated;
// after remove-brick's layout change), where a create on h would make a second file of the
// same name. A name found away from h gets its link file there (lookupEverywhere), so the next
// lookup is fast. found is false when the name exists nowhere (or the check was skipped).
func (d *DHT) findBeforeCreate(ctx context.Context, loc *graph.Loc, h int, pl *Layout) (r graph.LookupReply, found bool, err error) {
	if d.committed(ctx, pl) {
		return r, false, nil
	}
	nl := &graph.Loc{Path: loc.Path, Name: loc.Name, ParentGFID: loc.ParentGFID}
	r, err = d.lookupEverywhere(ctx, nl, nil, h)
	switch {
	case err == nil:
		return r, true, nil
	case graph.Errno(err) == unix.ENOENT:
		return r, false, nil
	default:
		return r, false, err
	}
}

// checkAbsent fails with EEXIST when the new name loc exists anywhere (see findBeforeCreate).
func (d *DHT) checkAbsent(ctx context.Context, op string, loc *graph.Loc, h int, pl *Layout) error {
	_, found, err := d.findBeforeCreate(ctx, loc, h, pl)
	if err != nil {
		return err
	}
	if found {
		return graph.Errorf(unix.EEXIST, "distribute: %s %s: exists on another subvolume", op, loc)
	}
	return nil
}

// Names distribute uses for itself in a directory during a rename: a link file made under
// tmpPrefix+GFID on the new name's hashed subvolume, and a hard link of a replaced destination
// under stashPrefix+GFID on its data's subvolume. Every name starting with reservedPrefix is
// hidden from clients — readdir skips it, lookup answers ENOENT — and cannot be created by them
// (EPERM), as GlusterFS reserves .glusterfs.
const (
	reservedPrefix = ".weft-dht-"
	tmpPrefix      = reservedPrefix + "rename-"
	stashPrefix    = reservedPrefix + "rename-dst-"
)

// reserved reports whether name is one of distribute's own.
func reserved(name string) bool { return strings.HasPrefix(name, reservedPrefix) }

// checkNewName refuses a client's new entry with a reserved name.
func checkNewName(loc *graph.Loc) error {
	if loc != nil && reserved(loc.Name) {
		return graph.Errorf(unix.EPERM, "distribute: %s: names starting with %q are reserved", loc, reservedPrefix)
	}
	return nil
}

func stripInternal(x graph.Xdata) {
	if x != nil {
		delete(x, XattrLinkto)
	}
}

func (d *DHT) followLink(ctx context.Context, loc *graph.Loc, link *graph.LookupReply, xdata graph.Xdata) (graph.LookupReply, bool) {
	t := d.subvolIndex(DecodeLinkto(link.Xdata[XattrLinkto]))
	if t < 0 {
		return graph.LookupReply{}, false
	}
	r, err := d.subs[t].Lookup(ctx, loc, lookupXdata(xdata))
	if err != nil || r.Stat.GFID != link.Stat.GFID || isLinkfile(&r.Stat, r.Xdata) {
		return graph.LookupReply{}, false
	}
	d.setCached(r.Stat.GFID, t)
	stripInternal(r.Xdata)
	stripPhase(&r.Stat)
	return r, true
}

// lookupEverywhere searches every subvolume for loc (dht_lookup_everywhere). A data file found
// away from its hashed subvolume gets a link file there; a directory found is laid out.
func (d *DHT) lookupEverywhere(ctx context.Context, loc *graph.Loc, xdata graph.Xdata, h int) (graph.LookupReply, error) {
	lx := lookupXdata(xdata)
	res := fanout(d.all(), func(i int) (graph.LookupReply, error) { return d.subs[i].Lookup(ctx, loc, lx) })
	data := -1
	for i, r := range res {
		if r.err != nil {
			continue
		}
		if r.v.Stat.IsDir() {
			return d.lookupDirAll(ctx, loc, xdata)
		}
		if !isLinkfile(&r.v.Stat, r.v.Xdata) {
			data = i
			break
		}
	}
	if data < 0 {
		d.removeStaleLinkfile(ctx, loc, res, h)
		return graph.LookupReply{}, graph.Errorf(unix.ENOENT, "distribute: lookup %s", loc)
	}
	r := res[data].v
	d.setCached(r.Stat.GFID, data)
	if h >= 0 && h != data {
		if hr := res[h]; hr.err != nil && graph.Errno(hr.err) == unix.ENOENT {
			_ = d.createLinkfile(ctx, h, data, loc, r.Stat.GFID)
		}
	}
	stripInternal(r.Xdata)
	stripPhase(&r.Stat)
	return r, nil
}

// removeStaleLinkfile removes the link file of loc on its hashed subvolume h when no subvolume
// has the file's data (dht_lookup_everywhere_done unlinking a stale linkto): the data file was
// removed while h was down, or a migration or rename crashed half-way. Such a link file would
// make every create of the name fail with EEXIST. It is removed only when every subvolume
// answered the search (a subvolume down may hold the data) and the subvolume it points at is
// known, and only after checking again, under the name's entry lock in dht.entry.sync (the lock
// rename takes to put a link file in place), that h still has the same link file and its target
// still lacks the name. Our bricks have no conditional unlink (GlusterFS sends
// DHT_SKIP_NON_LINKTO_UNLINK); the lock and the second look stand in for it.
func (d *DHT) removeStaleLinkfile(ctx context.Context, loc *graph.Loc, res []result[graph.LookupReply], h int) {
	if h < 0 || h >= len(res) || res[h].err != nil || !isLinkfile(&res[h].v.Stat, res[h].v.Xdata) {
		return
	}
	for _, r := range res {
		if r.err != nil && graph.Errno(r.err) != unix.ENOENT {
			return
		}
	}
	g := res[h].v.Stat.GFID
	t := d.subvolIndex(DecodeLinkto(res[h].v.Xdata[XattrLinkto]))
	if t < 0 || t == h {
		return
	}
	nl := &graph.Loc{Path: loc.Path, Name: loc.Name, ParentGFID: loc.ParentGFID}
	pl := &graph.Loc{GFID: loc.ParentGFID}
	locked := false
	if _, err := d.subs[h].Entrylk(ctx, EntrySyncDomain, pl, loc.Name, graph.EntrylkLock, graph.EntrylkWrlck, nil); err == nil {
		locked = true
	} else if e := graph.Errno(err); e != unix.ENOSYS && e != unix.EOPNOTSUPP {
		return
	}
	if locked {
		defer func() {
			_, _ = d.subs[h].Entrylk(context.WithoutCancel(ctx), EntrySyncDomain, pl, loc.Name, graph.EntrylkUnlock, graph.EntrylkWrlck, nil)
		}()
	}
	again, err := d.subs[h].Lookup(ctx, nl, graph.Xdata{XattrLinkto: nil})
	if err != nil || again.Stat.GFID != g || !isLinkfile(&again.Stat, again.Xdata) ||
		d.subvolIndex(DecodeLinkto(again.Xdata[XattrLinkto])) != t {
		return
	}
	if _, err := d.subs[t].Lookup(ctx, nl, nil); graph.Errno(err) != unix.ENOENT {
		return
	}
	if _, err := d.subs[h].Unlink(ctx, nl, 0, nil); err == nil {
		d.forget(g)
	}
}

func (d *DHT) lookupDirAll(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.LookupReply, error) {
	res, l := d.lookupDir(ctx, loc, xdata)
	var best *graph.LookupReply
	var firstErr error
	for i := range res {
		if res[i].err == nil && res[i].rep.Stat.IsDir() {
			if best == nil {
				best = &res[i].rep
			}
		} else if firstErr == nil && res[i].err != nil {
			firstErr = res[i].err
		}
	}
	if best == nil {
		if firstErr == nil {
			firstErr = graph.Errorf(unix.ENOENT, "distribute: lookup %s", loc)
		}
		return graph.LookupReply{}, firstErr
	}
	if l.NeedsHeal() {
		d.healLayout(ctx, loc, res, l)
	}
	d.setLayout(best.Stat.GFID, l)
	out := *best
	out.Xdata = out.Xdata.Clone()
	if out.Xdata != nil {
		delete(out.Xdata, XattrLayout)
		stripInternal(out.Xdata)
	}
	return out, nil
}

func (d *DHT) lookupNameless(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.LookupReply, error) {
	if loc.GFID.IsRoot() || d.isDir(loc.GFID) {
		return d.lookupDirAll(ctx, loc, xdata)
	}
	if i, ok := d.getCached(loc.GFID); ok {
		r, err := d.subs[i].Lookup(ctx, loc, lookupXdata(xdata))
		if err == nil && !isLinkfile(&r.Stat, r.Xdata) {
			stripInternal(r.Xdata)
			stripPhase(&r.Stat)
			return r, nil
		}
	}
	lx := lookupXdata(xdata)
	res := fanout(d.all(), func(i int) (graph.LookupReply, error) { return d.subs[i].Lookup(ctx, loc, lx) })
	var firstErr error
	for i, r := range res {
		if r.err != nil {
			if firstErr == nil || graph.Errno(firstErr) == unix.ENOENT {
				firstErr = r.err
			}
			continue
		}
		if r.v.Stat.IsDir() {
			return d.lookupDirAll(ctx, loc, xdata)
		}
		if !isLinkfile(&r.v.Stat, r.v.Xdata) {
			d.setCached(r.v.Stat.GFID, i)
			stripInternal(r.v.Xdata)
			stripPhase(&r.v.Stat)
			return r.v, nil
		}
	}
	if firstErr == nil {
		firstErr = graph.Errorf(unix.ENOENT, "distribute: lookup %s", loc)
	}
	return graph.LookupReply{}, firstErr
}

// createLinkfile makes on subvolume at a link file for loc pointing at subvolume to.
func (d *DHT) createLinkfile(ctx context.Context, at, to int, loc *graph.Loc, g graph.GFID) error {
	x := withGFIDReq(nil, g)
	x[XattrLinkto] = EncodeLinkto(d.names[to])
	ll := &graph.Loc{Path: loc.Path, Name: loc.Name, ParentGFID: loc.ParentGFID}
	if _, err := d.subs[at].Mknod(ctx, ll, unix.S_IFREG|unix.S_ISVTX, 0, 0, x); err != nil {
		if graph.Errno(err) != unix.EEXIST {
			return err
		}
		// The GFID may already have a link file there under another name (a hard link of a
		// file whose names hash to the same subvolume): the new name is a hard link of it.
		if _, nerr := d.subs[at].Lookup(ctx, ll, nil); nerr == nil {
			return err // the name itself exists
		}
		gl := &graph.Loc{GFID: g}
		r, lerr := d.subs[at].Lookup(ctx, gl, graph.Xdata{XattrLinkto: nil})
		if lerr != nil || !isLinkfile(&r.Stat, r.Xdata) {
			return err
		}
		_, err = d.subs[at].Link(ctx, gl, ll, nil)
		return err
	}
	ll.GFID = g
	_, err := d.subs[at].Setxattr(ctx, ll, graph.Xdata{XattrLinkto: EncodeLinkto(d.names[to])}, 0, nil)
	return err
}

// ---- entry creation -------------------------------------------------------------------------

// Create implements graph.Fops: a new file is made on the hashed subvolume, always exclusively
// there. Without O_EXCL an existing name is opened as Open does, where its data is (dht_create
// only ever makes new files: GlusterFS's clients look the name up first, and gfapi's glfs_creat
// opens a file it found). The hashed subvolume's entry of an existing name may be a link file —
// after a rename, or the destination of a migration in progress — and opening, truncating or
// writing that would put data where the migration's copy overwrites it and no reader looks.
// In a directory whose layout is not committed the name is first looked up everywhere
// (findBeforeCreate): its data may be off its hashed subvolume with no link file there, and an
// exclusive create on the hashed subvolume would succeed and make a second file of that name.
func (d *DHT) Create(ctx context.Context, loc *graph.Loc, flags int, mode uint32, umask uint32, fd *graph.FD, xdata graph.Xdata) (graph.EntryReply, error) {
	if loc == nil || fd == nil {
		return graph.EntryReply{}, errNilArg
	}
	if err := checkNewName(loc); err != nil {
		return graph.EntryReply{}, err
	}
	for attempt := 0; ; attempt++ {
		h, pl, err := d.hashed(ctx, loc)
		if err != nil {
			return graph.EntryReply{}, err
		}
		lr, found, err := d.findBeforeCreate(ctx, loc, h, pl)
		if err != nil {
			return graph.EntryReply{}, err
		}
		if found {
			if flags&unix.O_EXCL != 0 {
				return graph.EntryReply{}, graph.Errorf(unix.EEXIST, "distribute: create %s: exists", loc)
			}
			r, err := d.openFound(ctx, loc, lr, flags, fd, xdata)
			if graph.Errno(err) == unix.ENOENT && attempt < 2 {
				continue // removed since: create it after all
			}
			return r, err
		}
		_, x := gfidReq(xdata)
		r, err := d.subs[h].Create(ctx, loc, flags|unix.O_EXCL, mode, umask, fd, x)
		if err == nil {
			d.setCached(r.Stat.GFID, h)
			d.bindFD(fd, h, r.Stat.GFID)
			return r, nil
		}
		if graph.Errno(err) != unix.EEXIST {
			return r, err
		}
		if flags&unix.O_EXCL != 0 {
			if attempt < 2 && d.onlyStaleLink(ctx, loc) {
				continue // the name was a stale link file, now removed
			}
			return r, err
		}
		r, err = d.openExisting(ctx, loc, flags, fd, xdata)
		if graph.Errno(err) == unix.ENOENT && attempt < 2 {
			continue // removed since: create it after all
		}
		return r, err
	}
}

// onlyStaleLink reports, after an exclusive create of loc failed with EEXIST, whether the name
// does not exist after all: the entry was a stale link file, which the lookup removed.
func (d *DHT) onlyStaleLink(ctx context.Context, loc *graph.Loc) bool {
	_, err := d.Lookup(ctx, &graph.Loc{Path: loc.Path, Name: loc.Name, ParentGFID: loc.ParentGFID}, nil)
	return graph.Errno(err) == unix.ENOENT
}

// openExisting opens the existing file at loc for a create without O_EXCL.
func (d *DHT) openExisting(ctx context.Context, loc *graph.Loc, flags int, fd *graph.FD, xdata graph.Xdata) (graph.EntryReply, error) {
	nl := &graph.Loc{Path: loc.Path, Name: loc.Name, ParentGFID: loc.ParentGFID}
	lr, err := d.Lookup(ctx, nl, nil)
	if err != nil {
		return graph.EntryReply{}, err
	}
	return d.openFound(ctx, loc, lr, flags, fd, xdata)
}

// openFound opens, for a create without O_EXCL, the existing file at loc that a lookup answered
// with lr: where its data is, following a migration as Open does.
func (d *DHT) openFound(ctx context.Context, loc *graph.Loc, lr graph.LookupReply, flags int, fd *graph.FD, xdata graph.Xdata) (graph.EntryReply, error) {
	nl := &graph.Loc{Path: loc.Path, Name: loc.Name, ParentGFID: loc.ParentGFID}
	switch {
	case lr.Stat.IsDir():
		return graph.EntryReply{}, graph.Errorf(unix.EISDIR, "distribute: create %s: a directory", loc)
	case !lr.Stat.IsReg():
		return graph.EntryReply{}, graph.Errorf(unix.EEXIST, "distribute: create %s: exists and is not a regular file", loc)
	}
	nl.GFID = lr.Stat.GFID
	_, post, err := d.open(ctx, nl, flags&^(unix.O_CREAT|unix.O_EXCL), fd, xdata)
	if err != nil {
		return graph.EntryReply{}, err
	}
	st := lr.Stat
	if post != nil {
		st = *post
	}
	return graph.EntryReply{Stat: st, PreParent: lr.PostParent, PostParent: lr.PostParent}, nil
}

// Mknod implements graph.Fops on the hashed subvolume.
func (d *DHT) Mknod(ctx context.Context, loc *graph.Loc, mode uint32, rdev uint64, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	if loc == nil {
		return graph.EntryReply{}, errNilLoc
	}
	if err := checkNewName(loc); err != nil {
		return graph.EntryReply{}, err
	}
	h, pl, err := d.hashed(ctx, loc)
	if err != nil {
		return graph.EntryReply{}, err
	}
	if err := d.checkAbsent(ctx, "mknod", loc, h, pl); err != nil {
		return graph.EntryReply{}, err
	}
	_, x := gfidReq(xdata)
	r, err := d.subs[h].Mknod(ctx, loc, mode, rdev, umask, x)
	if graph.Errno(err) == unix.EEXIST && d.onlyStaleLink(ctx, loc) {
		r, err = d.subs[h].Mknod(ctx, loc, mode, rdev, umask, x)
	}
	if err == nil {
		d.setCached(r.Stat.GFID, h)
	}
	return r, err
}

// Symlink implements graph.Fops on the hashed subvolume.
func (d *DHT) Symlink(ctx context.Context, target string, loc *graph.Loc, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	if loc == nil {
		return graph.EntryReply{}, errNilLoc
	}
	if err := checkNewName(loc); err != nil {
		return graph.EntryReply{}, err
	}
	h, pl, err := d.hashed(ctx, loc)
	if err != nil {
		return graph.EntryReply{}, err
	}
	if err := d.checkAbsent(ctx, "symlink", loc, h, pl); err != nil {
		return graph.EntryReply{}, err
	}
	_, x := gfidReq(xdata)
	r, err := d.subs[h].Symlink(ctx, target, loc, umask, x)
	if graph.Errno(err) == unix.EEXIST && d.onlyStaleLink(ctx, loc) {
		r, err = d.subs[h].Symlink(ctx, target, loc, umask, x)
	}
	if err == nil {
		d.setCached(r.Stat.GFID, h)
	}
	return r, err
}

// Link implements graph.Fops: the hard link is made next to the data; a link file is added on
// the new name's hashed subvolume when that differs (dht_link).
func (d *DHT) Link(ctx context.Context, oldLoc, newLoc *graph.Loc, xdata graph.Xdata) (graph.EntryReply, error) {
	if oldLoc == nil || newLoc == nil {
		return graph.EntryReply{}, errNilLoc
	}
	if err := checkNewName(newLoc); err != nil {
		return graph.EntryReply{}, err
	}
	if dir, _, err := d.resolve(ctx, oldLoc); err != nil {
		return graph.EntryReply{}, err
	} else if dir {
		return graph.EntryReply{}, graph.Errorf(unix.EPERM, "distribute: link %s: a directory", oldLoc)
	}
	s, err := d.cachedSubvol(ctx, oldLoc)
	if err != nil {
		return graph.EntryReply{}, err
	}
	h, pl, err := d.hashed(ctx, newLoc)
	if err != nil {
		return graph.EntryReply{}, err
	}
	if err := d.checkAbsent(ctx, "link", newLoc, h, pl); err != nil {
		return graph.EntryReply{}, err
	}
	r, err := d.subs[s].Link(ctx, oldLoc, newLoc, xdata)
	if err != nil {
		return r, err
	}
	if h != s {
		if lerr := d.createLinkfile(ctx, h, s, newLoc, r.Stat.GFID); lerr != nil {
			_, _ = d.subs[s].Unlink(ctx, newLoc, 0, nil)
			return graph.EntryReply{}, lerr
		}
	}
	return r, nil
}

// Mkdir implements graph.Fops: on the hashed subvolume first, then on the others, then the new
// layout is written to every copy (dht_mkdir).
func (d *DHT) Mkdir(ctx context.Context, loc *graph.Loc, mode uint32, umask uint32, xdata graph.Xdata) (graph.EntryReply, error) {
	if loc == nil {
		return graph.EntryReply{}, errNilLoc
	}
	if err := checkNewName(loc); err != nil {
		return graph.EntryReply{}, err
	}
	h, pl, err := d.hashed(ctx, loc)
	if err != nil {
		return graph.EntryReply{}, err
	}
	if err := d.checkAbsent(ctx, "mkdir", loc, h, pl); err != nil {
		return graph.EntryReply{}, err
	}
	g, x := gfidReq(xdata)
	r, err := d.subs[h].Mkdir(ctx, loc, mode, umask, x)
	if graph.Errno(err) == unix.EEXIST && d.onlyStaleLink(ctx, loc) {
		r, err = d.subs[h].Mkdir(ctx, loc, mode, umask, x)
	}
	if err != nil {
		return r, err
	}
	var rest []int
	for i := range d.subs {
		if i != h {
			rest = append(rest, i)
		}
	}
	res := fanout(rest, func(i int) (graph.EntryReply, error) { return d.subs[i].Mkdir(ctx, loc, mode, umask, x) })
	l := &Layout{Type: HashTypeDM, CommitHash: LayoutHashInvalid}
	if d.optimize {
		l.CommitHash = d.volCommitHash(ctx)
	}
	for i := range d.subs {
		rg := Range{Subvol: i, Name: d.names[i], Err: -1}
		for k, j := range rest {
			if j == i && res[k].err != nil {
				rg.Err = int(graph.Errno(res[k].err))
			}
		}
		l.Ranges = append(l.Ranges, rg)
	}
	l.AssignNew(d.assignParams(ctx, locPath(loc), g))
	d.writeLayout(ctx, g, loc.Path, l)
	d.setLayout(g, l)
	return r, nil
}

// Rmdir implements graph.Fops: the directory must be empty on every subvolume (stale link files
// aside); it is removed from the others first and from the hashed one last.
func (d *DHT) Rmdir(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (graph.ParentReply, error) {
	if loc == nil {
		return graph.ParentReply{}, errNilLoc
	}
	h, _, err := d.hashed(ctx, loc)
	if err != nil {
		return graph.ParentReply{}, err
	}
	lr, err := d.Lookup(ctx, loc, nil)
	if err != nil {
		return graph.ParentReply{}, err
	}
	if !lr.Stat.IsDir() {
		return graph.ParentReply{}, graph.Errorf(unix.ENOTDIR, "distribute: rmdir %s", loc)
	}
	dl := &graph.Loc{GFID: lr.Stat.GFID, Path: loc.Path}
	// Emptiness check across subvolumes: link files alone do not keep a directory alive.
	chk := fanout(d.all(), func(i int) ([]graph.Dirent, error) { return d.listAll(ctx, i, dl) })
	var links [][2]int // subvol, index into chk
	for i, c := range chk {
		if c.err != nil {
			if e := graph.Errno(c.err); e == unix.ENOENT || e == unix.ENOTCONN {
				continue
			}
			return graph.ParentReply{}, c.err
		}
		for k, e := range c.v {
			if e.Name == "." || e.Name == ".." {
				continue
			}
			if isLinkfile(&e.Stat, nil) {
				links = append(links, [2]int{i, k})
				continue
			}
			return graph.ParentReply{}, graph.Errorf(unix.ENOTEMPTY, "distribute: rmdir %s", loc)
		}
	}
	for _, lk := range links {
		e := chk[lk[0]].v[lk[1]]
		_, _ = d.subs[lk[0]].Unlink(ctx, &graph.Loc{Name: e.Name, ParentGFID: lr.Stat.GFID}, 0, nil)
	}
	var rest []int
	for i := range d.subs {
		if i != h {
			rest = append(rest, i)
		}
	}
	res := fanout(rest, func(i int) (graph.ParentReply, error) { return d.subs[i].Rmdir(ctx, loc, flags, xdata) })
	for _, r := range res {
		if r.err != nil && graph.Errno(r.err) != unix.ENOENT {
			return graph.ParentReply{}, r.err
		}
	}
	r, err := d.subs[h].Rmdir(ctx, loc, flags, xdata)
	if err == nil || graph.Errno(err) == unix.ENOENT {
		d.forget(lr.Stat.GFID)
	}
	return r, err
}

// listAll reads a whole directory on one subvolume (readdirp, for emptiness checks).
func (d *DHT) listAll(ctx context.Context, i int, dl *graph.Loc) ([]graph.Dirent, error) {
	fd := graph.NewFD(nil, dl.GFID, unix.O_RDONLY)
	defer fd.Unref()
	fd.IsDir = true
	if _, err := d.subs[i].Opendir(ctx, dl, fd, nil); err != nil {
		return nil, err
	}
	var out []graph.Dirent
	var off uint64
	for n := 0; n < 1<<16; n++ {
		ents, _, err := d.subs[i].Readdirp(ctx, fd, 64<<10, off, graph.Xdata{XattrLinkto: nil})
		if err != nil {
			return nil, err
		}
		if len(ents) == 0 {
			break
		}
		out = append(out, ents...)
		off = ents[len(ents)-1].Off
	}
	return out, nil
}

// Unlink implements graph.Fops: the data file on its subvolume, then the link file on the
// hashed one.
func (d *DHT) Unlink(ctx context.Context, loc *graph.Loc, flags int, xdata graph.Xdata) (graph.ParentReply, error) {
	if loc == nil {
		return graph.ParentReply{}, errNilLoc
	}
	h, _, err := d.hashed(ctx, loc)
	if err != nil {
		return graph.ParentReply{}, err
	}
	lr, err := d.Lookup(ctx, loc, nil)
	if err != nil {
		return graph.ParentReply{}, err
	}
	if lr.Stat.IsDir() {
		return graph.ParentReply{}, graph.Errorf(unix.EISDIR, "distribute: unlink %s", loc)
	}
	s, ok := d.getCached(lr.Stat.GFID)
	if !ok {
		s = h
	}
	r, err := d.subs[s].Unlink(ctx, loc, flags, xdata)
	if err != nil {
		return r, err
	}
	if h != s {
		_, _ = d.subs[h].Unlink(ctx, loc, 0, nil)
	}
	if lr.Stat.Nlink <= 1 {
		d.forget(lr.Stat.GFID)
	}
	return r, nil
}
