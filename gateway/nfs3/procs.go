package nfs3

import (
	"bytes"
	"context"
	"time"

	"github.com/weftfs/weft/gateway/nfsstat"
	"github.com/weftfs/weft/graph"
	"golang.org/x/sys/unix"
)

const (
	statOK = nfsstat.NFS3_OK
)

var procs [NumProcs]func(*req) error

func init() {
	procs = [NumProcs]func(*req) error{
		nil, (*req).getattr, (*req).setattr, (*req).lookup, (*req).access, (*req).readlink,
		(*req).read, (*req).write, (*req).create, (*req).mkdir, (*req).symlink, (*req).mknod,
		(*req).remove, (*req).rmdir, (*req).rename, (*req).link, (*req).readdir,
		(*req).readdirplus, (*req).fsstat, (*req).fsinfo, (*req).pathconf, (*req).commit,
	}
}

func (r *req) status(st nfsstat.Status3) { r.w.Uint32(uint32(st)) }

func (r *req) postOp(a *graph.Iatt) { putPostOp(r.w, a, r.fsid()) }

func (r *req) wcc(pre, post *graph.Iatt) { putWcc(r.w, pre, post, r.fsid()) }

// pick returns a when it carries attributes, else b.
func pick(a, b *graph.Iatt) *graph.Iatt {
	if a != nil && !a.GFID.IsZero() {
		return a
	}
	return b
}

// statusAttr writes a status followed by post_op_attr (the failure body of many procedures).
func (r *req) statusAttr(st nfsstat.Status3, a *graph.Iatt) error {
	r.status(st)
	r.postOp(a)
	return nil
}

// statusWcc writes a status followed by wcc_data.
func (r *req) statusWcc(st nfsstat.Status3, pre, post *graph.Iatt) error {
	r.status(st)
	r.wcc(pre, post)
	return nil
}

// GETATTR, RFC 1813 §3.3.1.
func (r *req) getattr() error {
	fh := readFH(r.in)
	if err := r.garbage(); err != nil {
		return err
	}
	o, st := r.resolve(fh)
	if st != statOK {
		r.status(st)
		return nil
	}
	a, err := r.stat(o.gfid)
	if err != nil {
		r.status(nfsstat.V3(err))
		return nil
	}
	r.status(statOK)
	putFattr(r.w, &a, r.fsid())
	return nil
}

// SETATTR, RFC 1813 §3.3.2.
func (r *req) setattr() error {
	fh := readFH(r.in)
	sa := readSattr(r.in)
	check := r.in.Bool()
	var guard graph.Timespec
	if check {
		guard = readTime(r.in)
	}
	if err := r.garbage(); err != nil {
		return err
	}
	o, st := r.resolve(fh)
	if st != statOK {
		return r.statusWcc(st, nil, nil)
	}
	pre, err := r.stat(o.gfid)
	if err != nil {
		return r.statusWcc(nfsstat.V3(err), nil, nil)
	}
	if check && (uint32(pre.Ctime.Sec) != uint32(guard.Sec) || pre.Ctime.Nsec != guard.Nsec) {
		return r.statusWcc(nfsstat.NFS3ERR_NOT_SYNC, &pre, &pre)
	}
	if r.opts.ReadOnly {
		return r.statusWcc(nfsstat.NFS3ERR_ROFS, &pre, &pre)
	}
	if st := r.checkSetattr(&pre, &sa); st != statOK {
		return r.statusWcc(st, &pre, &pre)
	}
	post, err := r.applySattr(o.gfid, &pre, &sa, true)
	if err != nil {
		return r.statusWcc(nfsstat.V3(err), &pre, nil)
	}
	return r.statusWcc(statOK, &pre, &post)
}

// checkSetattr applies the permission rules of chmod, chown, truncate and utimes.
func (r *req) checkSetattr(a *graph.Iatt, sa *sattr) nfsstat.Status3 {
	c := r.creds
	root := c.UID == 0
	owner := root || c.UID == a.UID
	if sa.setSize {
		if a.IsDir() {
			return nfsstat.NFS3ERR_ISDIR
		}
		if !a.IsReg() {
			return nfsstat.NFS3ERR_INVAL
		}
		if !mayDataAccess(a, c, permW) {
			return nfsstat.NFS3ERR_ACCES
		}
	}
	if sa.setMode && !owner {
		return nfsstat.NFS3ERR_PERM
	}
	if sa.setUID && sa.uid != a.UID && !root {
		return nfsstat.NFS3ERR_PERM
	}
	if sa.setGID && sa.gid != a.GID && !(root || (c.UID == a.UID && c.InGroup(sa.gid))) {
		return nfsstat.NFS3ERR_PERM
	}
	if (sa.atime == SetToClientTime || sa.mtime == SetToClientTime) && !owner {
		return nfsstat.NFS3ERR_PERM
	}
	if (sa.atime == SetToServerTime || sa.mtime == SetToServerTime) && !owner && !mayAccess(a, c, permW) {
		return nfsstat.NFS3ERR_ACCES
	}
	return statOK
}

// applySattr applies sattr3 to an object: size through Truncate, the rest through Setattr. It
// returns the attributes after the last change (pre when nothing changed).
func (r *req) applySattr(g graph.GFID, pre *graph.Iatt, sa *sattr, withMode bool) (graph.Iatt, error) {
	post := *pre
	loc := &graph.Loc{GFID: g}
	if sa.setSize {
		rep, err := r.v.top.Truncate(r.ctx, loc, int64(sa.size), nil)
		if err != nil {
			return post, staleErr(err)
		}
		post = *pick(&rep.Post, &post)
	}
	var st graph.Iatt
	var valid uint32
	if withMode && sa.setMode {
		valid |= graph.SetAttrMode
		st.Mode = sa.mode & 07777
	}
	if sa.setUID && sa.uid != pre.UID {
		valid |= graph.SetAttrUID
		st.UID = sa.uid
	}
	if sa.setGID && sa.gid != pre.GID {
		valid |= graph.SetAttrGID
		st.GID = sa.gid
	}
	now := graph.TimespecOf(time.Now())
	switch sa.atime {
	case SetToServerTime:
		valid |= graph.SetAttrAtime | graph.SetAttrAtimeNow
		st.Atime = now
	case SetToClientTime:
		valid |= graph.SetAttrAtime
		st.Atime = sa.atimeV
	}
	switch sa.mtime {
	case SetToServerTime:
		valid |= graph.SetAttrMtime | graph.SetAttrMtimeNow
		st.Mtime = now
	case SetToClientTime:
		valid |= graph.SetAttrMtime
		st.Mtime = sa.mtimeV
	}
	if valid == 0 {
		return post, nil
	}
	ctx := r.ctx
	if valid&(graph.SetAttrUID|graph.SetAttrGID) != 0 {
		// Permission was checked by checkSetattr (chown to a group the owner is in).
		ctx = rootCtx(ctx)
	}
	rep, err := r.v.top.Setattr(ctx, loc, &st, valid, nil)
	if err != nil {
		return post, staleErr(err)
	}
	return *pick(&rep.Post, &post), nil
}

// LOOKUP, RFC 1813 §3.3.3.
func (r *req) lookup() error {
	d := readDirop(r.in)
	if err := r.garbage(); err != nil {
		return err
	}
	o, st := r.resolve(d.dir)
	if st != statOK {
		return r.statusAttr(st, nil)
	}
	dir, err := r.stat(o.gfid)
	if err != nil {
		return r.statusAttr(nfsstat.V3(err), nil)
	}
	if !dir.IsDir() {
		return r.statusAttr(nfsstat.NFS3ERR_NOTDIR, &dir)
	}
	if st := checkName(d.name); st != statOK {
		return r.statusAttr(st, &dir)
	}
	if !mayAccess(&dir, r.creds, permX) {
		return r.statusAttr(nfsstat.NFS3ERR_ACCES, &dir)
	}
	var obj graph.Iatt
	switch d.name {
	case ".":
		obj = dir
	case "..":
		obj, err = r.parentOf(o, &dir)
	default:
		var rep graph.LookupReply
		rep, err = r.v.top.Lookup(r.ctx, &graph.Loc{ParentGFID: o.gfid, Name: d.name}, nil)
		obj = rep.Stat
		dir = *pick(&rep.PostParent, &dir)
	}
	if err != nil {
		return r.statusAttr(nfsstat.V3(err), &dir)
	}
	r.status(statOK)
	r.w.Opaque(r.fh(obj.GFID))
	r.postOp(&obj)
	r.postOp(&dir)
	return nil
}

// parentOf returns the attributes of the parent of directory o: the export root is its own
// parent (a client never walks out of its export), else the ".." entry of the directory.
func (r *req) parentOf(o object, dir *graph.Iatt) (graph.Iatt, error) {
	root, err := o.exp.Root(r.ctx, r.v.top)
	if err != nil {
		return graph.Iatt{}, err
	}
	if o.gfid == root {
		return *dir, nil
	}
	fd := graph.NewFD(nil, o.gfid, unix.O_RDONLY|unix.O_DIRECTORY)
	fd.IsDir = true
	defer fd.Unref()
	ctx := rootCtx(r.ctx)
	if _, err := r.v.top.Opendir(ctx, &graph.Loc{GFID: o.gfid}, fd, nil); err != nil {
		return graph.Iatt{}, staleErr(err)
	}
	var off uint64
	for {
		ents, _, err := r.v.top.Readdirp(ctx, fd, 4096, off, nil)
		if err != nil {
			return graph.Iatt{}, err
		}
		if len(ents) == 0 {
			return graph.Iatt{}, graph.Errorf(unix.ENOENT, "nfs3: no .. entry in <gfid:%s>", o.gfid)
		}
		for _, e := range ents {
			if e.Name == ".." {
				if e.Stat.GFID.IsZero() {
					return graph.Iatt{}, graph.Errorf(unix.EIO, "nfs3: .. of <gfid:%s> without gfid", o.gfid)
				}
				return e.Stat, nil
			}
			off = e.Off
		}
	}
}

// ACCESS, RFC 1813 §3.3.4.
func (r *req) access() error {
	fh := readFH(r.in)
	want := r.in.Uint32()
	if err := r.garbage(); err != nil {
		return err
	}
	o, st := r.resolve(fh)
	if st != statOK {
		return r.statusAttr(st, nil)
	}
	a, err := r.stat(o.gfid)
	if err != nil {
		return r.statusAttr(nfsstat.V3(err), nil)
	}
	r.status(statOK)
	r.postOp(&a)
	r.w.Uint32(accessBits(&a, r.creds, want, r.opts.ReadOnly))
	return nil
}

// READLINK, RFC 1813 §3.3.5.
func (r *req) readlink() error {
	fh := readFH(r.in)
	if err := r.garbage(); err != nil {
		return err
	}
	o, st := r.resolve(fh)
	if st != statOK {
		return r.statusAttr(st, nil)
	}
	a, err := r.stat(o.gfid)
	if err != nil {
		return r.statusAttr(nfsstat.V3(err), nil)
	}
	if !a.IsLnk() {
		return r.statusAttr(nfsstat.NFS3ERR_INVAL, &a)
	}
	target, la, _, err := r.v.top.Readlink(r.ctx, &graph.Loc{GFID: o.gfid}, MaxPath+1, nil)
	if err != nil {
		return r.statusAttr(nfsstat.V3(staleErr(err)), &a)
	}
	r.status(statOK)
	r.postOp(pick(&la, &a))
	r.w.String(target)
	return nil
}

// READ, RFC 1813 §3.3.6. Permission is checked on the attributes the read returns (no extra
// round trip); data is never sent to a caller who may not read it.
func (r *req) read() error {
	fh := readFH(r.in)
	off := r.in.Uint64()
	count := r.in.Uint32()
	if err := r.garbage(); err != nil {
		return err
	}
	o, st := r.resolve(fh)
	if st != statOK {
		return r.statusAttr(st, nil)
	}
	if count > MaxRead {
		count = MaxRead
	}
	if off > 1<<63-1 {
		return r.statusAttr(nfsstat.NFS3ERR_INVAL, nil)
	}
	fd, err := r.v.fds.get(r.ctx, o.gfid, false)
	if err != nil {
		a, _ := r.stat(o.gfid)
		return r.statusAttr(nfsstat.V3(err), pick(&a, nil))
	}
	defer fd.Unref()
	rep, err := r.v.top.Readv(rootCtx(r.ctx), fd, count, int64(off), 0, nil)
	if err != nil {
		rep.Done()
		return r.statusAttr(nfsstat.V3(err), nil)
	}
	handed := false
	defer func() {
		if !handed {
			rep.Done() // the data is not sent: hand the buffer back now
		}
	}()
	a := rep.Stat
	if a.GFID.IsZero() || a.Mode == 0 {
		if a, _, err = r.v.top.Fstat(r.ctx, fd, nil); err != nil {
			return r.statusAttr(nfsstat.V3(err), nil)
		}
	}
	if a.IsDir() {
		return r.statusAttr(nfsstat.NFS3ERR_ISDIR, &a)
	}
	if !a.IsReg() {
		return r.statusAttr(nfsstat.NFS3ERR_INVAL, &a)
	}
	if !mayDataAccess(&a, r.creds, permR) {
		return r.statusAttr(nfsstat.NFS3ERR_ACCES, &a)
	}
	data := rep.Data
	if uint32(len(data)) > count {
		data = data[:count]
	}
	eof := off+uint64(len(data)) >= a.Size
	r.status(statOK)
	r.postOp(&a)
	r.w.Uint32(uint32(len(data)))
	r.w.Bool(eof)
	// By reference: the graph's buffer goes to the socket with writev, not copied, and is
	// handed back (ReadReply.Release) once written.
	r.w.OpaquePayload(data, rep.Release)
	handed = true
	return nil
}

// WRITE, RFC 1813 §3.3.7. UNSTABLE writes are not synced; DATA_SYNC and FILE_SYNC writes are
// fdatasync'ed / fsync'ed through the graph before the reply, which never claims more stability
// than was reached.
func (r *req) write() error {
	fh := readFH(r.in)
	off := r.in.Uint64()
	count := r.in.Uint32()
	stable := r.in.Uint32()
	data := r.in.Opaque(1 << 26)
	if stable > FileSync {
		r.in.Fail(errBadEnum)
	}
	if err := r.garbage(); err != nil {
		return err
	}
	o, st := r.resolve(fh)
	if st != statOK {
		return r.statusWcc(st, nil, nil)
	}
	if uint32(len(data)) < count {
		return r.statusWcc(nfsstat.NFS3ERR_INVAL, nil, nil)
	}
	data = data[:count]
	if r.opts.ReadOnly {
		return r.statusWcc(nfsstat.NFS3ERR_ROFS, nil, nil)
	}
	if off > 1<<63-1 || off+uint64(count) > 1<<63-1 {
		return r.statusWcc(nfsstat.NFS3ERR_FBIG, nil, nil)
	}
	fd, err := r.v.fds.get(r.ctx, o.gfid, true)
	if err != nil {
		return r.statusWcc(nfsstat.V3(err), nil, nil)
	}
	defer fd.Unref()
	ctx := rootCtx(r.ctx)
	pre, _, err := r.v.top.Fstat(ctx, fd, nil)
	if err != nil {
		return r.statusWcc(nfsstat.V3(err), nil, nil)
	}
	if pre.IsDir() {
		return r.statusWcc(nfsstat.NFS3ERR_ISDIR, &pre, &pre)
	}
	if !pre.IsReg() {
		return r.statusWcc(nfsstat.NFS3ERR_INVAL, &pre, &pre)
	}
	if !mayDataAccess(&pre, r.creds, permW) {
		return r.statusWcc(nfsstat.NFS3ERR_ACCES, &pre, &pre)
	}
	rep, err := r.v.top.Writev(ctx, fd, data, int64(off), 0, nil)
	if err != nil {
		return r.statusWcc(nfsstat.V3(err), &pre, nil)
	}
	post := *pick(&rep.Post, nil)
	committed := uint32(Unstable)
	if stable != Unstable {
		srep, err := r.v.top.Fsync(ctx, fd, stable == DataSync, nil)
		if err != nil {
			return r.statusWcc(nfsstat.V3(err), pick(&rep.Pre, &pre), &post)
		}
		committed = stable
		post = *pick(&srep.Post, &post)
	}
	r.status(statOK)
	r.wcc(pick(&rep.Pre, &pre), &post)
	r.w.Uint32(count)
	r.w.Uint32(committed)
	r.w.Fixed(r.s.verf[:])
	return nil
}

// dirForCreate resolves the directory of a create-like call and applies the common checks:
// the name, the export being writable, the object being a directory the caller may write.
func (r *req) dirForCreate(d diropargs) (object, graph.Iatt, nfsstat.Status3) {
	o, st := r.resolve(d.dir)
	if st != statOK {
		return o, graph.Iatt{}, st
	}
	dir, err := r.stat(o.gfid)
	if err != nil {
		return o, graph.Iatt{}, nfsstat.V3(err)
	}
	if st := checkName(d.name); st != statOK {
		return o, dir, st
	}
	if isDot(d.name) {
		return o, dir, nfsstat.NFS3ERR_EXIST
	}
	if r.opts.ReadOnly {
		return o, dir, nfsstat.NFS3ERR_ROFS
	}
	if !dir.IsDir() {
		return o, dir, nfsstat.NFS3ERR_NOTDIR
	}
	if !mayAccess(&dir, r.creds, permW|permX) {
		return o, dir, nfsstat.NFS3ERR_ACCES
	}
	return o, dir, statOK
}

// fixOwner makes a new object belong to the caller (and to the directory's group when the
// directory is setgid), for leaves that create as the server's own user.
func (r *req) fixOwner(dir, obj *graph.Iatt) graph.Iatt {
	gid := r.creds.GID
	if dir.Mode&unix.S_ISGID != 0 {
		gid = dir.GID
	}
	if obj.UID == r.creds.UID && obj.GID == gid {
		return *obj
	}
	st := graph.Iatt{UID: r.creds.UID, GID: gid}
	rep, err := r.v.top.Setattr(rootCtx(r.ctx), &graph.Loc{GFID: obj.GFID}, &st, graph.SetAttrUID|graph.SetAttrGID, nil)
	if err != nil {
		r.s.log.Debug("nfs3: chown of a new object failed")
		return *obj
	}
	return *pick(&rep.Post, obj)
}

// created writes the success body of CREATE, MKDIR, SYMLINK and MKNOD.
func (r *req) created(obj *graph.Iatt, dirPre, dirPost *graph.Iatt) error {
	r.status(statOK)
	putPostFH(r.w, r.fh(obj.GFID))
	r.postOp(obj)
	r.wcc(dirPre, dirPost)
	return nil
}

// CREATE, RFC 1813 §3.3.8.
func (r *req) create() error {
	d := readDirop(r.in)
	mode := r.in.Uint32()
	var sa sattr
	var verf []byte
	switch mode {
	case Unchecked, Guarded:
		sa = readSattr(r.in)
	case Exclusive:
		verf = r.in.Fixed(8)
	default:
		r.in.Fail(errBadEnum)
	}
	if err := r.garbage(); err != nil {
		return err
	}
	o, dir, st := r.dirForCreate(d)
	if st != statOK {
		return r.statusWcc(st, pick(&dir, nil), pick(&dir, nil))
	}
	loc := &graph.Loc{ParentGFID: o.gfid, Name: d.name}
	if mode == Exclusive {
		return r.createExclusive(loc, &dir, verf)
	}
	perm := uint32(0o644)
	if sa.setMode {
		perm = sa.mode & 07777
	}
	// Create exclusively; UNCHECKED on an existing name (EEXIST) then looks the file up and
	// opens it. Linux sends UNCHECKED for every open(O_CREAT) without O_EXCL, almost always for
	// a new name (its VFS looked the name up first), so creating first saves a lookup per file.
	existed := false
	var obj graph.Iatt
	var rep graph.EntryReply
	{
		flags := unix.O_CREAT | unix.O_EXCL | unix.O_RDWR
		fd := graph.NewFD(nil, graph.GFID{}, flags)
		var err error
		rep, err = r.v.top.Create(r.ctx, loc, flags, unix.S_IFREG|perm, 0, fd, nil)
		r.v.fds.release(fd)
		obj = rep.Stat
		if err != nil {
			if mode == Guarded || graph.Errno(err) != unix.EEXIST {
				return r.statusWcc(nfsstat.V3(err), &dir, nil)
			}
			lrep, lerr := r.v.top.Lookup(r.ctx, loc, nil)
			if lerr != nil {
				return r.statusWcc(nfsstat.V3(lerr), &dir, nil)
			}
			obj, existed = lrep.Stat, true
		}
	}
	var err error
	if existed {
		if obj.IsDir() {
			return r.statusWcc(nfsstat.NFS3ERR_ISDIR, &dir, nil)
		}
		if !obj.IsReg() {
			// A symlink, device or FIFO of that name: not a file to open (Linux nfsd: EXIST).
			return r.statusWcc(nfsstat.NFS3ERR_EXIST, &dir, &dir)
		}
		// An existing file only gets its size set (Linux nfsd does the same).
		if sa.setSize {
			if !mayDataAccess(&obj, r.creds, permW) {
				return r.statusWcc(nfsstat.NFS3ERR_ACCES, &dir, nil)
			}
			sz := sattr{setSize: true, size: sa.size}
			if obj, err = r.applySattr(obj.GFID, &obj, &sz, false); err != nil {
				return r.statusWcc(nfsstat.V3(err), &dir, nil)
			}
			r.v.fds.drop(obj.GFID)
		}
		return r.created(&obj, &dir, &dir)
	}
	obj = r.fixOwner(&dir, &obj)
	rest := sa
	rest.setMode = false
	if !rest.empty() {
		if obj, err = r.applySattr(obj.GFID, &obj, &rest, false); err != nil {
			return r.statusWcc(nfsstat.V3(err), &dir, nil)
		}
	}
	return r.created(&obj, pick(&rep.PreParent, &dir), pick(&rep.PostParent, nil))
}

// createExclusive implements EXCLUSIVE CREATE: the verifier is stored with the file and a
// retransmission with the same verifier succeeds with the same file (RFC 1813 §3.3.8).
func (r *req) createExclusive(loc *graph.Loc, dir *graph.Iatt, verf []byte) error {
	for attempt := 0; attempt < 2; attempt++ {
		lrep, err := r.v.top.Lookup(r.ctx, loc, nil)
		if err == nil {
			got, _, gerr := r.v.top.Getxattr(rootCtx(r.ctx), &graph.Loc{GFID: lrep.Stat.GFID}, CreateVerfXattr, nil)
			if gerr == nil && bytes.Equal(got[CreateVerfXattr], verf) {
				return r.created(&lrep.Stat, dir, pick(&lrep.PostParent, dir))
			}
			return r.statusWcc(nfsstat.NFS3ERR_EXIST, dir, dir)
		}
		if graph.Errno(err) != unix.ENOENT {
			return r.statusWcc(nfsstat.V3(err), dir, nil)
		}
		flags := unix.O_CREAT | unix.O_EXCL | unix.O_RDWR
		fd := graph.NewFD(nil, graph.GFID{}, flags)
		xd := graph.Xdata{CreateVerfXattr: append([]byte(nil), verf...)}
		rep, err := r.v.top.Create(r.ctx, loc, flags, unix.S_IFREG|0o600, 0, fd, xd)
		r.v.fds.release(fd)
		if graph.Errno(err) == unix.EEXIST {
			continue // raced with another create: decide by the stored verifier
		}
		if err != nil {
			return r.statusWcc(nfsstat.V3(err), dir, nil)
		}
		if _, err := r.v.top.Setxattr(rootCtx(r.ctx), &graph.Loc{GFID: rep.Stat.GFID}, graph.Xdata{CreateVerfXattr: append([]byte(nil), verf...)}, 0, nil); err != nil {
			return r.statusWcc(nfsstat.V3(err), dir, nil)
		}
		obj := r.fixOwner(dir, &rep.Stat)
		return r.created(&obj, pick(&rep.PreParent, dir), pick(&rep.PostParent, nil))
	}
	return r.statusWcc(nfsstat.NFS3ERR_EXIST, dir, dir)
}

// MKDIR, RFC 1813 §3.3.9.
func (r *req) mkdir() error {
	d := readDirop(r.in)
	sa := readSattr(r.in)
	if err := r.garbage(); err != nil {
		return err
	}
	o, dir, st := r.dirForCreate(d)
	if st != statOK {
		return r.statusWcc(st, pick(&dir, nil), pick(&dir, nil))
	}
	perm := uint32(0o755)
	if sa.setMode {
		perm = sa.mode & 07777
	}
	rep, err := r.v.top.Mkdir(r.ctx, &graph.Loc{ParentGFID: o.gfid, Name: d.name}, unix.S_IFDIR|perm, 0, nil)
	if err != nil {
		return r.statusWcc(nfsstat.V3(err), &dir, nil)
	}
	return r.finishCreate(&dir, &rep, sa)
}

func (r *req) finishCreate(dir *graph.Iatt, rep *graph.EntryReply, sa sattr) error {
	obj := r.fixOwner(dir, &rep.Stat)
	rest := sa
	rest.setMode = false
	rest.setSize = false
	if !rest.empty() {
		var err error
		if obj, err = r.applySattr(obj.GFID, &obj, &rest, false); err != nil {
			return r.statusWcc(nfsstat.V3(err), dir, nil)
		}
	}
	return r.created(&obj, pick(&rep.PreParent, dir), pick(&rep.PostParent, nil))
}

// SYMLINK, RFC 1813 §3.3.10.
func (r *req) symlink() error {
	d := readDirop(r.in)
	sa := readSattr(r.in)
	target := r.in.String(1 << 16)
	if err := r.garbage(); err != nil {
		return err
	}
	o, dir, st := r.dirForCreate(d)
	if st == statOK && len(target) > MaxPath {
		st = nfsstat.NFS3ERR_NAMETOOLONG
	}
	if st != statOK {
		return r.statusWcc(st, pick(&dir, nil), pick(&dir, nil))
	}
	rep, err := r.v.top.Symlink(r.ctx, target, &graph.Loc{ParentGFID: o.gfid, Name: d.name}, 0, nil)
	if err != nil {
		return r.statusWcc(nfsstat.V3(err), &dir, nil)
	}
	sa.setMode = false // symlink modes are meaningless
	return r.finishCreate(&dir, &rep, sa)
}

// MKNOD, RFC 1813 §3.3.11.
func (r *req) mknod() error {
	d := readDirop(r.in)
	typ := r.in.Uint32()
	var sa sattr
	var major, minor uint32
	switch typ {
	case NF3CHR, NF3BLK:
		sa = readSattr(r.in)
		major, minor = r.in.Uint32(), r.in.Uint32()
	case NF3SOCK, NF3FIFO:
		sa = readSattr(r.in)
	case NF3REG, NF3DIR, NF3LNK:
	default:
		r.in.Fail(errBadEnum)
	}
	if err := r.garbage(); err != nil {
		return err
	}
	o, dir, st := r.dirForCreate(d)
	if st == statOK && (typ == NF3REG || typ == NF3DIR || typ == NF3LNK) {
		st = nfsstat.NFS3ERR_BADTYPE
	}
	if st == statOK && (typ == NF3CHR || typ == NF3BLK) && r.creds.UID != 0 {
		st = nfsstat.NFS3ERR_PERM
	}
	if st != statOK {
		return r.statusWcc(st, pick(&dir, nil), pick(&dir, nil))
	}
	perm := uint32(0o644)
	if sa.setMode {
		perm = sa.mode & 07777
	}
	var ifmt uint32
	var rdev uint64
	switch typ {
	case NF3CHR:
		ifmt, rdev = unix.S_IFCHR, unix.Mkdev(major, minor)
	case NF3BLK:
		ifmt, rdev = unix.S_IFBLK, unix.Mkdev(major, minor)
	case NF3SOCK:
		ifmt = unix.S_IFSOCK
	default:
		ifmt = unix.S_IFIFO
	}
	rep, err := r.v.top.Mknod(r.ctx, &graph.Loc{ParentGFID: o.gfid, Name: d.name}, ifmt|perm, rdev, 0, nil)
	if err != nil {
		return r.statusWcc(nfsstat.V3(err), &dir, nil)
	}
	return r.finishCreate(&dir, &rep, sa)
}

// dirForRemove resolves the directory of REMOVE/RMDIR and looks the entry up.
func (r *req) dirForRemove(d diropargs) (object, graph.Iatt, graph.Iatt, nfsstat.Status3) {
	o, st := r.resolve(d.dir)
	if st != statOK {
		return o, graph.Iatt{}, graph.Iatt{}, st
	}
	dir, err := r.stat(o.gfid)
	if err != nil {
		return o, graph.Iatt{}, graph.Iatt{}, nfsstat.V3(err)
	}
	if st := checkName(d.name); st != statOK {
		return o, dir, graph.Iatt{}, st
	}
	if !dir.IsDir() {
		return o, dir, graph.Iatt{}, nfsstat.NFS3ERR_NOTDIR
	}
	if r.opts.ReadOnly {
		return o, dir, graph.Iatt{}, nfsstat.NFS3ERR_ROFS
	}
	if !mayAccess(&dir, r.creds, permX) {
		return o, dir, graph.Iatt{}, nfsstat.NFS3ERR_ACCES
	}
	rep, err := r.v.top.Lookup(r.ctx, &graph.Loc{ParentGFID: o.gfid, Name: d.name}, nil)
	if err != nil {
		return o, dir, graph.Iatt{}, nfsstat.V3(err)
	}
	if !mayDelete(&dir, &rep.Stat, r.creds) {
		return o, dir, rep.Stat, nfsstat.NFS3ERR_ACCES
	}
	return o, dir, rep.Stat, statOK
}

// REMOVE, RFC 1813 §3.3.12.
func (r *req) remove() error {
	d := readDirop(r.in)
	if err := r.garbage(); err != nil {
		return err
	}
	if isDot(d.name) {
		return r.removeDot(d, nfsstat.NFS3ERR_ACCES)
	}
	o, dir, child, st := r.dirForRemove(d)
	if st == statOK && child.IsDir() {
		st = nfsstat.NFS3ERR_ISDIR
	}
	if st != statOK {
		return r.statusWcc(st, pick(&dir, nil), pick(&dir, nil))
	}
	rep, err := r.v.top.Unlink(r.ctx, &graph.Loc{ParentGFID: o.gfid, Name: d.name}, 0, nil)
	if err != nil {
		return r.statusWcc(nfsstat.V3(err), &dir, nil)
	}
	r.v.fds.drop(child.GFID)
	return r.statusWcc(statOK, pick(&rep.PreParent, &dir), pick(&rep.PostParent, nil))
}

// removeDot answers REMOVE/RMDIR of "." or "..".
func (r *req) removeDot(d diropargs, st nfsstat.Status3) error {
	o, rst := r.resolve(d.dir)
	if rst != statOK {
		return r.statusWcc(rst, nil, nil)
	}
	dir, err := r.stat(o.gfid)
	if err != nil {
		return r.statusWcc(nfsstat.V3(err), nil, nil)
	}
	return r.statusWcc(st, &dir, &dir)
}

// RMDIR, RFC 1813 §3.3.13. "." is INVAL and ".." NOTEMPTY, as rmdir(2) answers.
func (r *req) rmdir() error {
	d := readDirop(r.in)
	if err := r.garbage(); err != nil {
		return err
	}
	switch d.name {
	case ".":
		return r.removeDot(d, nfsstat.NFS3ERR_INVAL)
	case "..":
		return r.removeDot(d, nfsstat.NFS3ERR_NOTEMPTY)
	}
	o, dir, child, st := r.dirForRemove(d)
	if st == statOK && !child.IsDir() {
		st = nfsstat.NFS3ERR_NOTDIR
	}
	if st != statOK {
		return r.statusWcc(st, pick(&dir, nil), pick(&dir, nil))
	}
	rep, err := r.v.top.Rmdir(r.ctx, &graph.Loc{ParentGFID: o.gfid, Name: d.name}, 0, nil)
	if err != nil {
		return r.statusWcc(nfsstat.V3(err), &dir, nil)
	}
	return r.statusWcc(statOK, pick(&rep.PreParent, &dir), pick(&rep.PostParent, nil))
}

// RENAME, RFC 1813 §3.3.14.
func (r *req) rename() error {
	from := readDirop(r.in)
	to := readDirop(r.in)
	if err := r.garbage(); err != nil {
		return err
	}
	var fdir, tdir graph.Iatt
	fail := func(st nfsstat.Status3) error {
		r.status(st)
		r.wcc(pick(&fdir, nil), pick(&fdir, nil))
		r.wcc(pick(&tdir, nil), pick(&tdir, nil))
		return nil
	}
	fo, st := r.resolve(from.dir)
	if st != statOK {
		return fail(st)
	}
	to2, st := r.resolve(to.dir)
	if st != statOK {
		return fail(st)
	}
	var err error
	if fdir, err = r.stat(fo.gfid); err != nil {
		return fail(nfsstat.V3(err))
	}
	if tdir, err = r.stat(to2.gfid); err != nil {
		return fail(nfsstat.V3(err))
	}
	for _, n := range []string{from.name, to.name} {
		if st := checkName(n); st != statOK {
			return fail(st)
		}
		if isDot(n) {
			return fail(nfsstat.NFS3ERR_INVAL)
		}
	}
	if !fdir.IsDir() || !tdir.IsDir() {
		return fail(nfsstat.NFS3ERR_NOTDIR)
	}
	if r.opts.ReadOnly {
		return fail(nfsstat.NFS3ERR_ROFS)
	}
	oldLoc := &graph.Loc{ParentGFID: fo.gfid, Name: from.name}
	newLoc := &graph.Loc{ParentGFID: to2.gfid, Name: to.name}
	if !mayAccess(&fdir, r.creds, permX) {
		return fail(nfsstat.NFS3ERR_ACCES)
	}
	src, err := r.v.top.Lookup(r.ctx, oldLoc, nil)
	if err != nil {
		return fail(nfsstat.V3(err))
	}
	oldLoc.GFID = src.Stat.GFID
	if !mayDelete(&fdir, &src.Stat, r.creds) || !mayAccess(&tdir, r.creds, permW|permX) {
		return fail(nfsstat.NFS3ERR_ACCES)
	}
	var replaced graph.GFID
	if dst, err := r.v.top.Lookup(r.ctx, newLoc, nil); err == nil {
		if !mayDelete(&tdir, &dst.Stat, r.creds) {
			return fail(nfsstat.NFS3ERR_ACCES)
		}
		if dst.Stat.GFID != src.Stat.GFID {
			replaced = dst.Stat.GFID
		}
	}
	rep, err := r.v.top.Rename(r.ctx, oldLoc, newLoc, nil)
	if err != nil {
		return fail(nfsstat.V3(err))
	}
	if !replaced.IsZero() {
		r.v.fds.drop(replaced)
	}
	r.status(statOK)
	r.wcc(pick(&rep.PreOldParent, &fdir), pick(&rep.PostOldParent, nil))
	r.wcc(pick(&rep.PreNewParent, &tdir), pick(&rep.PostNewParent, nil))
	return nil
}

// LINK, RFC 1813 §3.3.15.
func (r *req) link() error {
	fh := readFH(r.in)
	d := readDirop(r.in)
	if err := r.garbage(); err != nil {
		return err
	}
	var file, dir graph.Iatt
	fail := func(st nfsstat.Status3) error {
		r.status(st)
		r.postOp(pick(&file, nil))
		r.wcc(pick(&dir, nil), pick(&dir, nil))
		return nil
	}
	fo, st := r.resolve(fh)
	if st != statOK {
		return fail(st)
	}
	var err error
	if file, err = r.stat(fo.gfid); err != nil {
		return fail(nfsstat.V3(err))
	}
	do, dir, st := r.dirForCreate(d)
	if st != statOK {
		return fail(st)
	}
	if file.IsDir() {
		return fail(nfsstat.NFS3ERR_ISDIR)
	}
	rep, err := r.v.top.Link(r.ctx, &graph.Loc{GFID: fo.gfid}, &graph.Loc{ParentGFID: do.gfid, Name: d.name}, nil)
	if err != nil {
		return fail(nfsstat.V3(err))
	}
	r.status(statOK)
	r.postOp(pick(&rep.Stat, &file))
	r.wcc(pick(&rep.PreParent, &dir), pick(&rep.PostParent, nil))
	return nil
}

// READDIR, RFC 1813 §3.3.16.
func (r *req) readdir() error {
	fh := readFH(r.in)
	cookie := r.in.Uint64()
	verf := r.in.Fixed(8)
	count := r.in.Uint32()
	if err := r.garbage(); err != nil {
		return err
	}
	return r.readdirCommon(fh, cookie, verf, count, count, false)
}

// READDIRPLUS, RFC 1813 §3.3.17.
func (r *req) readdirplus() error {
	fh := readFH(r.in)
	cookie := r.in.Uint64()
	verf := r.in.Fixed(8)
	dircount := r.in.Uint32()
	maxcount := r.in.Uint32()
	if err := r.garbage(); err != nil {
		return err
	}
	return r.readdirCommon(fh, cookie, verf, dircount, maxcount, true)
}

func (r *req) readdirCommon(fh []byte, cookie uint64, verfB []byte, dircount, maxcount uint32, plus bool) error {
	o, st := r.resolve(fh)
	if st != statOK {
		return r.statusAttr(st, nil)
	}
	dir, err := r.stat(o.gfid)
	if err != nil {
		return r.statusAttr(nfsstat.V3(err), nil)
	}
	if !dir.IsDir() {
		return r.statusAttr(nfsstat.NFS3ERR_NOTDIR, &dir)
	}
	if !mayAccess(&dir, r.creds, permR) {
		return r.statusAttr(nfsstat.NFS3ERR_ACCES, &dir)
	}
	root, err := o.exp.Root(r.ctx, r.v.top)
	if err != nil {
		return r.statusAttr(nfsstat.V3(err), &dir)
	}
	if maxcount > 1<<20 {
		maxcount = 1 << 20
	}
	if dircount == 0 || dircount > maxcount {
		dircount = maxcount
	}
	verf := uint64(verfB[0])<<56 | uint64(verfB[1])<<48 | uint64(verfB[2])<<40 | uint64(verfB[3])<<32 |
		uint64(verfB[4])<<24 | uint64(verfB[5])<<16 | uint64(verfB[6])<<8 | uint64(verfB[7])
	e, err := r.v.dirs.acquire(r.ctx, o.gfid, cookie, verf)
	if err != nil {
		return r.statusAttr(nfsstat.V3(err), &dir)
	}
	defer r.v.dirs.releaseEntry(e)

	start := r.w.Len()
	r.status(statOK)
	r.postOp(&dir)
	v := e.key.verf
	r.w.Fixed([]byte{byte(v >> 56), byte(v >> 48), byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	used := uint32(r.w.Len()-start) + 8 // + the final value_follows and eof
	var dirUsed uint32
	pos := cookie
	n := 0
	eof := false
	ctx := rootCtx(r.ctx)
	batchSize := maxcount
	if batchSize < 4096 {
		batchSize = 4096
	}
fill:
	for {
		var batch []graph.Dirent
		if len(e.pending) > 0 && e.pendAt == pos {
			batch = e.pending
		} else if e.eof && e.pendAt == pos {
			eof = true
			break
		} else {
			batch, _, err = r.v.top.Readdirp(ctx, e.fd, batchSize, pos, nil)
			if err != nil {
				r.w.Truncate(start)
				return r.statusAttr(nfsstat.V3(err), &dir)
			}
		}
		e.pending, e.eof = nil, false
		if len(batch) == 0 {
			eof = true
			e.eof, e.pendAt = true, pos
			break
		}
		for i := range batch {
			d := &batch[i]
			name := d.Name
			a := &d.Stat
			switch {
			case name == ".":
				a = &dir
			case name == ".." && o.gfid == root:
				a = &dir
			}
			fileid := d.Ino
			if !a.GFID.IsZero() {
				fileid = graph.InoFromGFID(a.GFID)
			}
			esz := uint32(24 + len(name) + (4-len(name)%4)%4)
			full := esz
			if plus {
				full += 4 + 84 + 4 + 4 + 60
			}
			if used+full > maxcount || dirUsed+esz > dircount {
				e.pending, e.pendAt = batch[i:], pos
				break fill
			}
			used += full
			dirUsed += esz
			r.w.Bool(true)
			r.w.Uint64(fileid)
			r.w.String(name)
			r.w.Uint64(d.Off)
			if plus {
				if a.GFID.IsZero() {
					r.w.Bool(false)
					r.w.Bool(false)
				} else {
					r.postOp(a)
					putPostFH(r.w, r.fh(a.GFID))
				}
			}
			pos = d.Off
			n++
		}
	}
	if n == 0 && !eof {
		r.w.Truncate(start)
		return r.statusAttr(nfsstat.NFS3ERR_TOOSMALL, &dir)
	}
	r.w.Bool(false)
	r.w.Bool(eof)
	return nil
}

// statfs returns the volume's statvfs as seen from an object.
func (r *req) statfs(g graph.GFID) (graph.Statvfs, error) {
	sv, _, err := r.v.top.Statfs(r.ctx, &graph.Loc{GFID: g}, nil)
	return sv, staleErr(err)
}

// FSSTAT, RFC 1813 §3.3.18.
func (r *req) fsstat() error {
	fh := readFH(r.in)
	if err := r.garbage(); err != nil {
		return err
	}
	o, st := r.resolve(fh)
	if st != statOK {
		return r.statusAttr(st, nil)
	}
	a, err := r.stat(o.gfid)
	if err != nil {
		return r.statusAttr(nfsstat.V3(err), nil)
	}
	sv, err := r.statfs(o.gfid)
	if err != nil {
		return r.statusAttr(nfsstat.V3(err), &a)
	}
	bs := sv.Frsize
	if bs == 0 {
		bs = sv.Bsize
	}
	r.status(statOK)
	r.postOp(&a)
	r.w.Uint64(sv.Blocks * bs)
	r.w.Uint64(sv.Bfree * bs)
	r.w.Uint64(sv.Bavail * bs)
	r.w.Uint64(sv.Files)
	r.w.Uint64(sv.Ffree)
	r.w.Uint64(sv.Favail)
	r.w.Uint32(0) // invarsec: the volume changes at any time
	return nil
}

// FSINFO, RFC 1813 §3.3.19.
func (r *req) fsinfo() error {
	fh := readFH(r.in)
	if err := r.garbage(); err != nil {
		return err
	}
	o, st := r.resolve(fh)
	if st != statOK {
		return r.statusAttr(st, nil)
	}
	a, err := r.stat(o.gfid)
	if err != nil {
		return r.statusAttr(nfsstat.V3(err), nil)
	}
	r.status(statOK)
	r.postOp(&a)
	r.w.Uint32(MaxRead)  // rtmax
	r.w.Uint32(MaxRead)  // rtpref
	r.w.Uint32(4096)     // rtmult
	r.w.Uint32(MaxWrite) // wtmax
	r.w.Uint32(MaxWrite) // wtpref
	r.w.Uint32(4096)     // wtmult
	r.w.Uint32(PrefDir)  // dtpref
	r.w.Uint64(1<<63 - 1)
	r.w.Uint32(0) // time_delta: nanoseconds
	r.w.Uint32(1)
	r.w.Uint32(FSFLink | FSFSymlink | FSFHomogeneous | FSFCanSetTime)
	return nil
}

// PATHCONF, RFC 1813 §3.3.20.
func (r *req) pathconf() error {
	fh := readFH(r.in)
	if err := r.garbage(); err != nil {
		return err
	}
	o, st := r.resolve(fh)
	if st != statOK {
		return r.statusAttr(st, nil)
	}
	a, err := r.stat(o.gfid)
	if err != nil {
		return r.statusAttr(nfsstat.V3(err), nil)
	}
	sv, err := r.statfs(o.gfid)
	if err != nil {
		return r.statusAttr(nfsstat.V3(err), &a)
	}
	nameMax := uint32(sv.Namemax)
	if nameMax == 0 || nameMax > MaxName {
		nameMax = MaxName
	}
	r.status(statOK)
	r.postOp(&a)
	r.w.Uint32(32000) // linkmax: the smallest of the usual brick file systems (ext4 65000, xfs 2^31)
	r.w.Uint32(nameMax)
	r.w.Bool(true)  // no_trunc
	r.w.Bool(true)  // chown_restricted
	r.w.Bool(false) // case_insensitive
	r.w.Bool(true)  // case_preserving
	return nil
}

// COMMIT, RFC 1813 §3.3.21: fsync through the graph, then the write verifier.
func (r *req) commit() error {
	fh := readFH(r.in)
	_ = r.in.Uint64() // offset
	_ = r.in.Uint32() // count: the whole file is synced
	if err := r.garbage(); err != nil {
		return err
	}
	o, st := r.resolve(fh)
	if st != statOK {
		return r.statusWcc(st, nil, nil)
	}
	fd, err := r.v.fds.get(r.ctx, o.gfid, false)
	if err != nil {
		return r.statusWcc(nfsstat.V3(err), nil, nil)
	}
	defer fd.Unref()
	ctx := rootCtx(r.ctx)
	pre, _, err := r.v.top.Fstat(ctx, fd, nil)
	if err != nil {
		return r.statusWcc(nfsstat.V3(err), nil, nil)
	}
	rep, err := r.v.top.Fsync(ctx, fd, false, nil)
	if err != nil {
		return r.statusWcc(nfsstat.V3(err), &pre, nil)
	}
	r.status(statOK)
	r.wcc(pick(&rep.Pre, &pre), pick(&rep.Post, &pre))
	r.w.Fixed(r.s.verf[:])
	return nil
}

var _ = context.Background
