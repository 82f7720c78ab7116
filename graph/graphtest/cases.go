package graphtest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

const (
	gib = int64(1) << 30
	// ENOTEMPTY may legally be EEXIST (POSIX rmdir/rename).
	xattrCreate  = 1
	xattrReplace = 2
)

func (s *suite) cases() []testCase {
	return []testCase{
		{"root", (*env).testRoot},
		{"create_write_read", (*env).testCreateWriteRead},
		{"enoent", (*env).testENOENT},
		{"eexist", (*env).testEEXIST},
		{"dir_errors", (*env).testDirErrors},
		{"dir_nlink", (*env).testDirNlink},
		{"rename_file", (*env).testRenameFile},
		{"rename_dirs", (*env).testRenameDirs},
		{"hard_links", (*env).testHardLinks},
		{"symlinks", (*env).testSymlinks},
		{"mknod", (*env).testMknod},
		{"gfid_req", (*env).testGFIDReq},
		{"nameless_lookup", (*env).testNameless},
		{"unlink_open_file", (*env).testUnlinkOpen},
		{"sparse", (*env).testSparse},
		{"large_offsets", (*env).testLargeOffsets},
		{"truncate", (*env).testTruncate},
		{"setattr", (*env).testSetattr},
		{"xattrs", (*env).testXattrs},
		{"xattrop", (*env).testXattrop},
		{"readdir_paging", (*env).testReaddirPaging},
		{"readdirp", (*env).testReaddirp},
		{"statfs", (*env).testStatfs},
		{"access", (*env).testAccess},
		{"fallocate_discard_zerofill", (*env).testFallocate},
		{"rchecksum", (*env).testRchecksum},
		{"locks", (*env).testLocks},
		{"concurrency", (*env).testConcurrency},
		{"zero_arguments", (*env).testZeroArguments},
	}
}

func (e *env) testRoot() {
	st := e.lookup(e.root)
	if !st.IsDir() || st.GFID != graph.RootGFID || st.Nlink < 2 {
		e.t.Errorf("root: dir=%v gfid=%s nlink=%d", st.IsDir(), st.GFID, st.Nlink)
	}
	a, _, err := e.x.Stat(e.ctx, e.root, nil)
	e.ok(err, "stat root")
	e.eq("stat root gfid", a.GFID, graph.RootGFID)
	_, err = e.x.Access(e.ctx, e.root, 0, nil)
	e.ok(err, "access root F_OK")
	fd, err := OpenDir(e.ctx, e.x, e.root)
	e.ok(err, "opendir root")
	defer fd.Unref()
	_, err = e.x.Fsyncdir(e.ctx, fd, false, nil)
	e.ok(err, "fsyncdir root")
	ents, err := ReadDirAll(e.ctx, e.x, e.root, false, 4096)
	e.ok(err, "readdir empty root")
	for _, d := range ents {
		// A brick may keep private entries (.weft); nothing else.
		if d.Name != ".weft" && d.Name != ".glusterfs" {
			e.t.Errorf("fresh root lists %q", d.Name)
		}
	}
}

func (e *env) testCreateWriteRead() {
	fd, loc := e.create(e.root, "f")
	st := e.fstat(fd)
	if !st.IsReg() || st.Size != 0 || st.Nlink != 1 || st.Perm() != 0o644 || st.GFID.IsZero() {
		e.t.Errorf("new file: reg=%v size=%d nlink=%d perm=%#o gfid=%s", st.IsReg(), st.Size, st.Nlink, st.Perm(), st.GFID)
	}
	w := e.write(fd, []byte("hello world"), 0)
	if w.Pre.Size != 0 || w.Post.Size != 11 {
		e.t.Errorf("write wcc: pre %d post %d, want 0 11", w.Pre.Size, w.Post.Size)
	}
	r := e.read(fd, 5, 6)
	e.eq("read 5@6", string(r.Data), "world")
	if !r.EOF {
		e.t.Errorf("read to the end: EOF not set")
	}
	r = e.read(fd, 100, 1000)
	if len(r.Data) != 0 || !r.EOF {
		e.t.Errorf("read past end: %d bytes eof=%v", len(r.Data), r.EOF)
	}
	_, err := e.x.Flush(e.ctx, fd, nil)
	e.ok(err, "flush")
	fs, err := e.x.Fsync(e.ctx, fd, false, nil)
	e.ok(err, "fsync")
	e.eq("fsync post size", fs.Post.Size, 11)
	_, err = e.x.Fsync(e.ctx, fd, true, nil)
	e.ok(err, "fdatasync")
	e.eq("lookup gfid", e.lookup(e.root.Child("f")).GFID, loc.GFID)
	e.eq("read back", string(e.readFile(loc)), "hello world")
	ro := e.open(loc, unix.O_RDONLY)
	_, err = e.x.Writev(e.ctx, ro, []byte("x"), 0, 0, nil)
	e.fails(err, "write on O_RDONLY fd", unix.EBADF)
	// Overwrite in the middle, then append past the end with a gap.
	e.write(fd, []byte("W"), 6)
	e.write(fd, []byte("!"), 20)
	got := e.readFile(loc)
	want := append([]byte("hello World"), make([]byte, 9)...)
	want = append(want, '!')
	if !bytes.Equal(got, want) {
		e.t.Errorf("content %q, want %q", got, want)
	}
	// A larger, multi-page write with an unaligned offset.
	big := pattern(300_000, 7)
	e.write(fd, big, 12345)
	got, err = ReadAll(e.ctx, e.x, ro, 12345)
	e.ok(err, "read big")
	if !bytes.Equal(got, big) {
		e.t.Errorf("multi-page write/read mismatch (%d bytes read)", len(got))
	}
	// O_TRUNC on open empties the file.
	tr := e.open(loc, unix.O_WRONLY|unix.O_TRUNC)
	e.eq("size after O_TRUNC open", e.fstat(tr).Size, 0)
}

func (e *env) testENOENT() {
	missing := e.root.Child("missing")
	_, err := e.x.Lookup(e.ctx, missing, nil)
	e.fails(err, "lookup missing", unix.ENOENT)
	_, _, err = e.x.Stat(e.ctx, missing, nil)
	e.fails(err, "stat missing", unix.ENOENT)
	_, err = e.x.Unlink(e.ctx, missing, 0, nil)
	e.fails(err, "unlink missing", unix.ENOENT)
	_, err = e.x.Rmdir(e.ctx, missing, 0, nil)
	e.fails(err, "rmdir missing", unix.ENOENT)
	_, err = Open(e.ctx, e.x, missing, unix.O_RDONLY)
	e.fails(err, "open missing", unix.ENOENT)
	_, err = e.x.Rename(e.ctx, missing, e.root.Child("other"), nil)
	e.fails(err, "rename missing", unix.ENOENT)
	_, _, _, err = e.x.Readlink(e.ctx, missing, 0, nil)
	e.fails(err, "readlink missing", unix.ENOENT)
	_, err = e.x.Access(e.ctx, missing, 0, nil)
	e.fails(err, "access missing", unix.ENOENT)
	_, err = e.x.Truncate(e.ctx, missing, 0, nil)
	e.fails(err, "truncate missing", unix.ENOENT)
	_, err = e.x.Setattr(e.ctx, missing, &graph.Iatt{Mode: 0o600}, graph.SetAttrMode, nil)
	e.fails(err, "setattr missing", unix.ENOENT)
	_, _, err = e.x.Getxattr(e.ctx, missing, "user.x", nil)
	e.fails(err, "getxattr missing", unix.ENOENT)
	_, err = e.x.Link(e.ctx, missing, e.root.Child("l"), nil)
	e.fails(err, "link missing", unix.ENOENT)
	// A parent that does not exist (unknown GFID).
	ghost := &graph.Loc{Path: "/ghost", GFID: graph.NewGFID()}
	_, err = e.x.Mkdir(e.ctx, ghost.Child("d"), 0o755, 0, nil)
	e.fails(err, "mkdir in unknown parent", unix.ENOENT, unix.ESTALE)
	_, err = e.x.Lookup(e.ctx, &graph.Loc{GFID: graph.NewGFID()}, nil)
	e.fails(err, "nameless lookup of unknown gfid", unix.ENOENT, unix.ESTALE)
	// A removed directory cannot get new entries.
	d := e.mkdir(e.root, "d")
	_, err = e.x.Rmdir(e.ctx, d, 0, nil)
	e.ok(err, "rmdir d")
	_, err = e.x.Mkdir(e.ctx, d.Child("x"), 0o755, 0, nil)
	e.fails(err, "mkdir in removed dir", unix.ENOENT, unix.ESTALE)
}

func (e *env) testEEXIST() {
	e.mkdir(e.root, "d")
	f := e.writeFile(e.root, "f", []byte("x"))
	for _, name := range []string{"d", "f"} {
		loc := e.root.Child(name)
		_, err := e.x.Mkdir(e.ctx, loc, 0o755, 0, nil)
		e.fails(err, "mkdir over "+name, unix.EEXIST)
		_, _, err = CreateMode(e.ctx, e.x, e.root, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o644)
		e.fails(err, "create O_EXCL over "+name, unix.EEXIST)
		_, err = e.x.Symlink(e.ctx, "t", loc, 0, nil)
		e.fails(err, "symlink over "+name, unix.EEXIST)
		_, err = e.x.Mknod(e.ctx, loc, unix.S_IFREG|0o644, 0, 0, nil)
		e.fails(err, "mknod over "+name, unix.EEXIST)
		_, err = e.x.Link(e.ctx, f, loc, nil)
		e.fails(err, "link over "+name, unix.EEXIST)
	}
}

func (e *env) testDirErrors() {
	d := e.mkdir(e.root, "d")
	f := e.writeFile(d, "f", []byte("data"))
	_, err := e.x.Rmdir(e.ctx, d, 0, nil)
	e.fails(err, "rmdir non-empty", unix.ENOTEMPTY, unix.EEXIST)
	_, err = e.x.Unlink(e.ctx, d, 0, nil)
	e.fails(err, "unlink dir", unix.EISDIR, unix.EPERM)
	_, err = e.x.Rmdir(e.ctx, f, 0, nil)
	e.fails(err, "rmdir file", unix.ENOTDIR)
	_, err = e.x.Lookup(e.ctx, f.Child("x"), nil)
	e.fails(err, "lookup under file", unix.ENOTDIR, unix.ENOENT)
	_, err = OpenDir(e.ctx, e.x, f)
	e.fails(err, "opendir file", unix.ENOTDIR)
	_, err = Open(e.ctx, e.x, d, unix.O_WRONLY)
	e.fails(err, "open dir for writing", unix.EISDIR)
	_, err = e.x.Mkdir(e.ctx, f.Child("x"), 0o755, 0, nil)
	e.fails(err, "mkdir under file", unix.ENOTDIR, unix.ENOENT)
	_, err = e.x.Truncate(e.ctx, d, 0, nil)
	e.fails(err, "truncate dir", unix.EISDIR)
	_, err = e.x.Unlink(e.ctx, f, 0, nil)
	e.ok(err, "unlink f")
	_, err = e.x.Rmdir(e.ctx, d, 0, nil)
	e.ok(err, "rmdir emptied dir")
	_, err = e.x.Lookup(e.ctx, e.root.Child("d"), nil)
	e.fails(err, "lookup removed dir", unix.ENOENT)
}

func (e *env) testDirNlink() {
	base := e.lookup(e.root).Nlink
	r, err := e.x.Mkdir(e.ctx, e.root.Child("a"), 0o750, 0, nil)
	e.ok(err, "mkdir a")
	if r.Stat.Nlink != 2 || !r.Stat.IsDir() || r.Stat.Perm() != 0o750 {
		e.t.Errorf("mkdir a: nlink %d dir %v perm %#o", r.Stat.Nlink, r.Stat.IsDir(), r.Stat.Perm())
	}
	if r.PostParent.Nlink != r.PreParent.Nlink+1 || r.PostParent.GFID != graph.RootGFID {
		e.t.Errorf("mkdir a: parent nlink pre %d post %d", r.PreParent.Nlink, r.PostParent.Nlink)
	}
	if r.PostParent.Mtime.Time().Before(r.PreParent.Mtime.Time()) {
		e.t.Errorf("mkdir a: parent mtime went backwards")
	}
	e.mkdir(e.root, "b")
	e.eq("root nlink after two mkdirs", e.lookup(e.root).Nlink, base+2)
	e.writeFile(e.root, "file", nil)
	e.eq("root nlink after a file", e.lookup(e.root).Nlink, base+2)
	a := e.root.Child("a")
	_, err = e.x.Rmdir(e.ctx, a, 0, nil)
	e.ok(err, "rmdir a")
	e.eq("root nlink after rmdir", e.lookup(e.root).Nlink, base+1)
}

func (e *env) testRenameFile() {
	a := e.writeFile(e.root, "a", []byte("AAA"))
	rr, err := e.x.Rename(e.ctx, a, e.root.Child("b"), nil)
	e.ok(err, "rename a b")
	e.eq("renamed gfid in reply", rr.Stat.GFID, a.GFID)
	_, err = e.x.Lookup(e.ctx, e.root.Child("a"), nil)
	e.fails(err, "lookup old name", unix.ENOENT)
	b, st := e.lookupPath("/b")
	e.eq("gfid kept across rename", st.GFID, a.GFID)
	e.eq("content kept", string(e.readFile(b)), "AAA")

	// Rename over an existing file: the victim goes away, an open fd on it keeps working.
	c := e.writeFile(e.root, "c", []byte("CCC"))
	cfd := e.open(c, unix.O_RDONLY)
	_, err = e.x.Rename(e.ctx, b, e.root.Child("c"), nil)
	e.ok(err, "rename b over c")
	_, st = e.lookupPath("/c")
	e.eq("c is now the old a", st.GFID, a.GFID)
	_, err = e.x.Lookup(e.ctx, e.root.Child("b"), nil)
	e.fails(err, "lookup b after rename", unix.ENOENT)
	e.eq("victim readable through open fd", string(e.read(cfd, 10, 0).Data), "CCC")
	_, err = e.x.Lookup(e.ctx, &graph.Loc{GFID: c.GFID}, nil)
	e.fails(err, "nameless lookup of the replaced file", unix.ENOENT, unix.ESTALE)
	entries, err := ReadDirAll(e.ctx, e.x, e.root, false, 4096)
	e.ok(err, "readdir")
	e.eq("root entries", names(visible(entries)), []string{"c"})

	// Across directories, with parent attributes.
	d := e.mkdir(e.root, "d")
	cl, _ := e.lookupPath("/c")
	rr, err = e.x.Rename(e.ctx, cl, d.Child("moved"), nil)
	e.ok(err, "rename c d/moved")
	if rr.PostNewParent.GFID != d.GFID || rr.PostOldParent.GFID != graph.RootGFID {
		e.t.Errorf("rename reply parents: old %s new %s", rr.PostOldParent.GFID, rr.PostNewParent.GFID)
	}
	m, st := e.lookupPath("/d/moved")
	e.eq("moved gfid", st.GFID, a.GFID)
	e.eq("moved content", string(e.readFile(m)), "AAA")
}

// visible drops brick-private entries.
func visible(ents []graph.Dirent) []graph.Dirent {
	out := ents[:0:0]
	for _, d := range ents {
		if d.Name != ".weft" && d.Name != ".glusterfs" {
			out = append(out, d)
		}
	}
	return out
}

func (e *env) testRenameDirs() {
	x := e.mkdir(e.root, "x")
	e.mkdir(x, "sub")
	e.mkdir(e.root, "y")
	_, err := e.x.Rename(e.ctx, x, e.root.Child("y"), nil)
	e.ok(err, "rename dir over empty dir")
	y, st := e.lookupPath("/y")
	e.eq("y is the old x", st.GFID, x.GFID)
	e.lookupPath("/y/sub")
	_, err = e.x.Lookup(e.ctx, e.root.Child("x"), nil)
	e.fails(err, "old dir name", unix.ENOENT)

	full := e.mkdir(e.root, "full")
	e.writeFile(full, "f", nil)
	_, err = e.x.Rename(e.ctx, y, e.root.Child("full"), nil)
	e.fails(err, "rename dir over non-empty dir", unix.ENOTEMPTY, unix.EEXIST)
	file := e.writeFile(e.root, "file", []byte("1"))
	_, err = e.x.Rename(e.ctx, file, e.root.Child("full"), nil)
	e.fails(err, "rename file over dir", unix.EISDIR)
	_, err = e.x.Rename(e.ctx, y, e.root.Child("file"), nil)
	e.fails(err, "rename dir over file", unix.ENOTDIR)
	sub, _ := e.lookupPath("/y/sub")
	_, err = e.x.Rename(e.ctx, y, sub.Child("inside"), nil)
	e.fails(err, "rename dir into its own subtree", unix.EINVAL)
	_, err = e.x.Rename(e.ctx, y, y.Child("self"), nil)
	e.fails(err, "rename dir into itself", unix.EINVAL)

	// Moving a directory between parents moves a link count.
	p := e.mkdir(e.root, "p")
	q := e.mkdir(e.root, "q")
	c := e.mkdir(p, "c")
	e.eq("p nlink with child dir", e.lookup(p).Nlink, 3)
	_, err = e.x.Rename(e.ctx, c, q.Child("c"), nil)
	e.ok(err, "rename p/c q/c")
	e.eq("p nlink after move", e.lookup(p).Nlink, 2)
	e.eq("q nlink after move", e.lookup(q).Nlink, 3)
	_, st = e.lookupPath("/q/c")
	e.eq("moved dir gfid", st.GFID, c.GFID)
}

func (e *env) testHardLinks() {
	f := e.writeFile(e.root, "f", []byte("shared"))
	d := e.mkdir(e.root, "d")
	r, err := e.x.Link(e.ctx, f, d.Child("g"), nil)
	e.ok(err, "link f d/g")
	if r.Stat.GFID != f.GFID || r.Stat.Nlink != 2 {
		e.t.Errorf("link reply: gfid %s nlink %d", r.Stat.GFID, r.Stat.Nlink)
	}
	if r.PostParent.GFID != d.GFID {
		e.t.Errorf("link reply post-parent %s, want %s", r.PostParent.GFID, d.GFID)
	}
	g, st := e.lookupPath("/d/g")
	if st.GFID != f.GFID || st.Nlink != 2 {
		e.t.Errorf("lookup link: gfid %s nlink %d", st.GFID, st.Nlink)
	}
	e.eq("nlink seen through f", e.lookup(e.root.Child("f")).Nlink, 2)
	fd := e.open(g, unix.O_WRONLY)
	e.write(fd, []byte("SH"), 0)
	e.eq("write through one name, read through the other", string(e.readFile(f)), "SHared")
	_, err = e.x.Link(e.ctx, d, e.root.Child("dirlink"), nil)
	e.fails(err, "hard link to a directory", unix.EPERM)
	// rename of one link onto another of the same file does nothing.
	_, err = e.x.Rename(e.ctx, f, d.Child("g"), nil)
	e.ok(err, "rename f onto its own link")
	e.lookupPath("/f")
	e.lookupPath("/d/g")
	_, err = e.x.Unlink(e.ctx, e.root.Child("f"), 0, nil)
	e.ok(err, "unlink f")
	_, st = e.lookupPath("/d/g")
	e.eq("nlink after unlinking one name", st.Nlink, 1)
	e.eq("content survives", string(e.readFile(g)), "SHared")
}

func (e *env) testSymlinks() {
	const target = "some/where/else"
	r, err := e.x.Symlink(e.ctx, target, e.root.Child("l"), 0, nil)
	e.ok(err, "symlink")
	if !r.Stat.IsLnk() || r.Stat.Size != uint64(len(target)) {
		e.t.Errorf("symlink reply: lnk %v size %d", r.Stat.IsLnk(), r.Stat.Size)
	}
	l, st := e.lookupPath("/l")
	if !st.IsLnk() || st.GFID != r.Stat.GFID {
		e.t.Errorf("lookup symlink: lnk %v gfid %s", st.IsLnk(), st.GFID)
	}
	got, lst, _, err := e.x.Readlink(e.ctx, l, 4096, nil)
	e.ok(err, "readlink")
	e.eq("readlink", got, target)
	e.eq("readlink attrs gfid", lst.GFID, st.GFID)
	f := e.writeFile(e.root, "f", nil)
	_, _, _, err = e.x.Readlink(e.ctx, f, 4096, nil)
	e.fails(err, "readlink of a regular file", unix.EINVAL)
	// Dangling and absolute targets are fine; unlink removes the link only.
	_, err = e.x.Symlink(e.ctx, "/abs/path", e.root.Child("abs"), 0, nil)
	e.ok(err, "symlink absolute")
	_, err = e.x.Unlink(e.ctx, l, 0, nil)
	e.ok(err, "unlink symlink")
	_, err = e.x.Lookup(e.ctx, e.root.Child("l"), nil)
	e.fails(err, "lookup unlinked symlink", unix.ENOENT)
}

func (e *env) testMknod() {
	r, err := e.x.Mknod(e.ctx, e.root.Child("fifo"), unix.S_IFIFO|0o640, 0, 0, nil)
	e.ok(err, "mknod fifo")
	if r.Stat.Type() != unix.S_IFIFO || r.Stat.Perm() != 0o640 {
		e.t.Errorf("fifo: type %#o perm %#o", r.Stat.Type(), r.Stat.Perm())
	}
	_, st := e.lookupPath("/fifo")
	e.eq("fifo type", st.Type(), uint32(unix.S_IFIFO))
	r, err = e.x.Mknod(e.ctx, e.root.Child("reg"), unix.S_IFREG|0o600, 0, 0o022, nil)
	e.ok(err, "mknod regular")
	if !r.Stat.IsReg() || r.Stat.Size != 0 || r.Stat.Perm() != 0o600 {
		e.t.Errorf("mknod reg: reg %v size %d perm %#o", r.Stat.IsReg(), r.Stat.Size, r.Stat.Perm())
	}
	_, err = e.x.Mkdir(e.ctx, e.root.Child("um"), 0o777, 0o027, nil)
	e.ok(err, "mkdir with umask")
	_, st = e.lookupPath("/um")
	e.eq("umask applied", fmt.Sprintf("%#o", st.Perm()), "0750")
}

func (e *env) testGFIDReq() {
	mk := func() graph.Xdata {
		g := graph.NewGFID()
		return graph.Xdata{"gfid-req": g[:]}
	}
	want := func(x graph.Xdata) graph.GFID { var g graph.GFID; copy(g[:], x["gfid-req"]); return g }
	x := mk()
	r, err := e.x.Mkdir(e.ctx, e.root.Child("d"), 0o755, 0, x)
	e.ok(err, "mkdir with gfid-req")
	e.eq("mkdir gfid", r.Stat.GFID, want(x))
	x = mk()
	fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL)
	r, err = e.x.Create(e.ctx, e.root.Child("f"), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o644, 0, fd, x)
	fd.GFID = r.Stat.GFID
	fd.Unref()
	e.ok(err, "create with gfid-req")
	e.eq("create gfid", r.Stat.GFID, want(x))
	x = mk()
	r, err = e.x.Mknod(e.ctx, e.root.Child("n"), unix.S_IFREG|0o644, 0, 0, x)
	e.ok(err, "mknod with gfid-req")
	e.eq("mknod gfid", r.Stat.GFID, want(x))
	x = mk()
	r, err = e.x.Symlink(e.ctx, "t", e.root.Child("s"), 0, x)
	e.ok(err, "symlink with gfid-req")
	e.eq("symlink gfid", r.Stat.GFID, want(x))
	_, st := e.lookupPath("/s")
	e.eq("lookup sees requested gfid", st.GFID, want(x))
}

func (e *env) testNameless() {
	f := e.writeFile(e.root, "f", []byte("abc"))
	r, err := e.x.Lookup(e.ctx, &graph.Loc{GFID: f.GFID}, nil)
	e.ok(err, "nameless lookup")
	e.eq("nameless lookup gfid", r.Stat.GFID, f.GFID)
	e.eq("nameless lookup size", r.Stat.Size, 3)
	a, _, err := e.x.Stat(e.ctx, &graph.Loc{GFID: f.GFID}, nil)
	e.ok(err, "stat by gfid")
	e.eq("stat by gfid size", a.Size, 3)
	e.eq("read by gfid", string(e.readFile(&graph.Loc{GFID: f.GFID})), "abc")
}

func (e *env) testUnlinkOpen() {
	fd, loc := e.create(e.root, "f")
	e.write(fd, []byte("keep"), 0)
	ro := e.open(loc, unix.O_RDONLY)
	pr, err := e.x.Unlink(e.ctx, loc, 0, nil)
	e.ok(err, "unlink open file")
	if pr.PostParent.GFID != graph.RootGFID {
		e.t.Errorf("unlink post-parent %s", pr.PostParent.GFID)
	}
	e.eq("read after unlink", string(e.read(ro, 100, 0).Data), "keep")
	e.write(fd, []byte("KEEP!"), 0)
	e.eq("write+read after unlink", string(e.read(ro, 100, 0).Data), "KEEP!")
	e.eq("nlink of unlinked open file", e.fstat(fd).Nlink, 0)
	_, err = e.x.Lookup(e.ctx, e.root.Child("f"), nil)
	e.fails(err, "lookup unlinked", unix.ENOENT)
}

func (e *env) testSparse() {
	fd, _ := e.create(e.root, "sparse")
	e.write(fd, []byte("x"), gib)
	st := e.fstat(fd)
	e.eq("size", st.Size, gib+1)
	r := e.read(fd, 4096, gib/2)
	if len(r.Data) != 4096 || !zeros(r.Data) {
		e.t.Errorf("hole read: %d bytes, zero=%v", len(r.Data), zeros(r.Data))
	}
	r = e.read(fd, 4096, gib)
	if string(r.Data) != "x" || !r.EOF {
		e.t.Errorf("read at 1GiB: %q eof=%v", r.Data, r.EOF)
	}
	_, _, err := e.x.Seek(e.ctx, fd, gib+10, graph.SeekData, nil)
	e.fails(err, "seek data past EOF", unix.ENXIO)
	data, _, err := e.x.Seek(e.ctx, fd, 0, graph.SeekData, nil)
	e.ok(err, "seek data")
	hole, _, err := e.x.Seek(e.ctx, fd, 0, graph.SeekHole, nil)
	e.ok(err, "seek hole")
	if data < 0 || data > gib || hole < 0 || hole > gib+1 {
		e.t.Errorf("seek out of range: data %d hole %d", data, hole)
	}
	if !e.s.caps.Sparse {
		e.t.Skip("Caps.Sparse is false: block counts and hole positions not checked")
	}
	if st.Blocks > 64 {
		e.t.Errorf("1-byte write at 1GiB allocated %d blocks", st.Blocks)
	}
	e.eq("seek data from 0", data, gib)
	e.eq("seek hole from 0", hole, 0)
	h2, _, err := e.x.Seek(e.ctx, fd, gib, graph.SeekHole, nil)
	e.ok(err, "seek hole from the data")
	e.eq("hole after the last data is EOF", h2, gib+1)
}

func (e *env) testLargeOffsets() {
	fd, loc := e.create(e.root, "big")
	off := int64(5)<<30 + 3
	e.write(fd, []byte("big"), off)
	e.eq("size beyond 4GiB", e.fstat(fd).Size, off+3)
	e.eq("read beyond 4GiB", string(e.read(fd, 16, off).Data), "big")
	_, err := e.x.Truncate(e.ctx, loc, int64(4)<<30+1, nil)
	e.ok(err, "truncate to 4GiB+1")
	e.eq("size after truncate", e.fstat(fd).Size, int64(4)<<30+1)
	r := e.read(fd, 16, off)
	if len(r.Data) != 0 || !r.EOF {
		e.t.Errorf("read past truncated end: %d bytes eof=%v", len(r.Data), r.EOF)
	}
}

func (e *env) testTruncate() {
	fd, loc := e.create(e.root, "t")
	e.write(fd, []byte("0123456789"), 0)
	w, err := e.x.Truncate(e.ctx, loc, 4, nil)
	e.ok(err, "truncate shrink")
	if w.Pre.Size != 10 || w.Post.Size != 4 {
		e.t.Errorf("truncate wcc: pre %d post %d", w.Pre.Size, w.Post.Size)
	}
	e.eq("after shrink", string(e.readFile(loc)), "0123")
	w, err = e.x.Ftruncate(e.ctx, fd, 8192, nil)
	e.ok(err, "ftruncate grow")
	e.eq("ftruncate post size", w.Post.Size, 8192)
	got := e.readFile(loc)
	if len(got) != 8192 || string(got[:4]) != "0123" || !zeros(got[4:]) {
		e.t.Errorf("grown file: %d bytes, head %q, tail zero %v", len(got), got[:min(4, len(got))], zeros(got[4:]))
	}
	// Shrinking then growing must not resurrect old bytes.
	e.write(fd, []byte("abcdefgh"), 0)
	_, err = e.x.Ftruncate(e.ctx, fd, 2, nil)
	e.ok(err, "ftruncate 2")
	_, err = e.x.Ftruncate(e.ctx, fd, 8, nil)
	e.ok(err, "ftruncate 8")
	e.eq("shrink+grow", fmt.Sprintf("%q", e.readFile(loc)), fmt.Sprintf("%q", "ab\x00\x00\x00\x00\x00\x00"))
	_, err = e.x.Truncate(e.ctx, loc, 0, nil)
	e.ok(err, "truncate 0")
	e.eq("size 0", e.fstat(fd).Size, 0)
	_, err = e.x.Truncate(e.ctx, loc, -1, nil)
	e.fails(err, "truncate negative", unix.EINVAL)
	ro := e.open(loc, unix.O_RDONLY)
	_, err = e.x.Ftruncate(e.ctx, ro, 0, nil)
	e.fails(err, "ftruncate read-only fd", unix.EBADF, unix.EINVAL)
}

func (e *env) testSetattr() {
	fd, loc := e.create(e.root, "f")
	w, err := e.x.Setattr(e.ctx, loc, &graph.Iatt{Mode: 0o600}, graph.SetAttrMode, nil)
	e.ok(err, "chmod")
	if w.Pre.Perm() != 0o644 || w.Post.Perm() != 0o600 || !w.Post.IsReg() {
		e.t.Errorf("chmod wcc: pre %#o post %#o reg %v", w.Pre.Perm(), w.Post.Perm(), w.Post.IsReg())
	}
	at := graph.Timespec{Sec: 1234567890, Nsec: 123456789}
	mt := graph.Timespec{Sec: 1234567891, Nsec: 987654321}
	w, err = e.x.Setattr(e.ctx, loc, &graph.Iatt{Atime: at, Mtime: mt}, graph.SetAttrAtime|graph.SetAttrMtime, nil)
	e.ok(err, "set times")
	e.eq("post atime", w.Post.Atime, at)
	e.eq("post mtime", w.Post.Mtime, mt)
	st := e.lookup(loc)
	e.eq("stored atime (ns)", st.Atime, at)
	e.eq("stored mtime (ns)", st.Mtime, mt)
	if st.Ctime.Time().Before(time.Now().Add(-time.Hour)) {
		e.t.Errorf("ctime not updated by setattr: %v", st.Ctime.Time())
	}
	w, err = e.x.Fsetattr(e.ctx, fd, &graph.Iatt{Mode: 0o640}, graph.SetAttrMode, nil)
	e.ok(err, "fchmod")
	e.eq("fchmod post", fmt.Sprintf("%#o", w.Post.Perm()), "0640")
	before := time.Now().Add(-time.Minute)
	w, err = e.x.Fsetattr(e.ctx, fd, &graph.Iatt{}, graph.SetAttrAtimeNow|graph.SetAttrMtimeNow, nil)
	e.ok(err, "touch now")
	if w.Post.Mtime.Time().Before(before) || w.Post.Atime.Time().Before(before) {
		e.t.Errorf("times-now not applied: atime %v mtime %v", w.Post.Atime.Time(), w.Post.Mtime.Time())
	}
	d := e.mkdir(e.root, "d")
	w, err = e.x.Setattr(e.ctx, d, &graph.Iatt{Mode: 0o711}, graph.SetAttrMode, nil)
	e.ok(err, "chmod dir")
	if !w.Post.IsDir() || w.Post.Perm() != 0o711 {
		e.t.Errorf("chmod dir: dir %v perm %#o", w.Post.IsDir(), w.Post.Perm())
	}
	w, err = e.x.Setattr(e.ctx, loc, &graph.Iatt{Size: 3}, graph.SetAttrSize, nil)
	e.ok(err, "setattr size")
	e.eq("setattr size post", w.Post.Size, 3)
	e.t.Run("chown", func(t *testing.T) {
		if !e.s.caps.Ownership {
			t.Skip("Caps.Ownership is false: chown not checked")
		}
		w, err := e.x.Setattr(e.ctx, loc, &graph.Iatt{UID: 1234, GID: 5678}, graph.SetAttrUID|graph.SetAttrGID, nil)
		if err != nil {
			t.Fatalf("chown: %v", err)
		}
		if w.Post.UID != 1234 || w.Post.GID != 5678 || w.Pre.UID != 0 {
			t.Errorf("chown wcc: pre %d:%d post %d:%d", w.Pre.UID, w.Pre.GID, w.Post.UID, w.Post.GID)
		}
		w, err = e.x.Fsetattr(e.ctx, fd, &graph.Iatt{GID: 42}, graph.SetAttrGID, nil)
		if err != nil || w.Post.GID != 42 || w.Post.UID != 1234 {
			t.Errorf("fchgrp: %v post %d:%d", err, w.Post.UID, w.Post.GID)
		}
	})
}

func (e *env) testXattrs() {
	fd, loc := e.create(e.root, "f")
	bin := []byte{0, 1, 2, 0, 255}
	_, err := e.x.Setxattr(e.ctx, loc, graph.Xdata{"user.a": []byte("1"), "user.bin": bin}, 0, nil)
	e.ok(err, "setxattr")
	d, _, err := e.x.Getxattr(e.ctx, loc, "user.a", nil)
	e.ok(err, "getxattr")
	e.eq("user.a", string(d["user.a"]), "1")
	d, _, err = e.x.Getxattr(e.ctx, loc, "user.bin", nil)
	e.ok(err, "getxattr binary")
	if !bytes.Equal(d["user.bin"], bin) {
		e.t.Errorf("binary xattr %x, want %x", d["user.bin"], bin)
	}
	d, _, err = e.x.Getxattr(e.ctx, loc, "", nil)
	e.ok(err, "list xattrs")
	if !d.Has("user.a") || !d.Has("user.bin") {
		e.t.Errorf("list lacks keys: %v", d.Keys())
	}
	_, _, err = e.x.Getxattr(e.ctx, loc, "user.none", nil)
	e.fails(err, "getxattr missing", unix.ENODATA)
	_, err = e.x.Setxattr(e.ctx, loc, graph.Xdata{"user.a": []byte("2")}, xattrCreate, nil)
	e.fails(err, "XATTR_CREATE existing", unix.EEXIST)
	_, err = e.x.Setxattr(e.ctx, loc, graph.Xdata{"user.new": []byte("2")}, xattrReplace, nil)
	e.fails(err, "XATTR_REPLACE missing", unix.ENODATA)
	_, err = e.x.Setxattr(e.ctx, loc, graph.Xdata{"user.a": []byte("22")}, xattrReplace, nil)
	e.ok(err, "XATTR_REPLACE existing")
	_, err = e.x.Removexattr(e.ctx, loc, "user.a", nil)
	e.ok(err, "removexattr")
	_, _, err = e.x.Getxattr(e.ctx, loc, "user.a", nil)
	e.fails(err, "getxattr removed", unix.ENODATA)
	_, err = e.x.Removexattr(e.ctx, loc, "user.a", nil)
	e.fails(err, "removexattr missing", unix.ENODATA)

	_, err = e.x.Fsetxattr(e.ctx, fd, graph.Xdata{"user.f": []byte("via-fd")}, 0, nil)
	e.ok(err, "fsetxattr")
	d, _, err = e.x.Fgetxattr(e.ctx, fd, "user.f", nil)
	e.ok(err, "fgetxattr")
	e.eq("user.f", string(d["user.f"]), "via-fd")
	d, _, err = e.x.Getxattr(e.ctx, loc, "user.f", nil)
	e.ok(err, "getxattr of fsetxattr value")
	e.eq("user.f by loc", string(d["user.f"]), "via-fd")
	_, err = e.x.Fremovexattr(e.ctx, fd, "user.f", nil)
	e.ok(err, "fremovexattr")
	_, _, err = e.x.Fgetxattr(e.ctx, fd, "user.f", nil)
	e.fails(err, "fgetxattr removed", unix.ENODATA)
	_, err = e.x.Fremovexattr(e.ctx, fd, "user.f", nil)
	e.fails(err, "fremovexattr missing", unix.ENODATA)

	dir := e.mkdir(e.root, "d")
	_, err = e.x.Setxattr(e.ctx, dir, graph.Xdata{"user.dir": []byte("yes")}, 0, nil)
	e.ok(err, "setxattr on dir")
	d, _, err = e.x.Getxattr(e.ctx, dir, "user.dir", nil)
	e.ok(err, "getxattr on dir")
	e.eq("dir xattr", string(d["user.dir"]), "yes")
}

func int32s(vs ...int32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint32(b[4*i:], uint32(v))
	}
	return b
}

func (e *env) testXattrop() {
	const key = "user.weft.pending"
	fd, loc := e.create(e.root, "f")
	d, _, err := e.x.Xattrop(e.ctx, loc, graph.XattropAddArray, graph.Xdata{key: int32s(1, 2, -3)}, nil)
	e.ok(err, "xattrop on absent key")
	e.eq("first add", fmt.Sprintf("%x", d[key]), fmt.Sprintf("%x", int32s(1, 2, -3)))
	d, _, err = e.x.Xattrop(e.ctx, loc, graph.XattropAddArray, graph.Xdata{key: int32s(1, 1, 1)}, nil)
	e.ok(err, "xattrop add")
	e.eq("second add", fmt.Sprintf("%x", d[key]), fmt.Sprintf("%x", int32s(2, 3, -2)))
	g, _, err := e.x.Getxattr(e.ctx, loc, key, nil)
	e.ok(err, "getxattr after xattrop")
	e.eq("stored value", fmt.Sprintf("%x", g[key]), fmt.Sprintf("%x", int32s(2, 3, -2)))
	d, _, err = e.x.Fxattrop(e.ctx, fd, graph.XattropAddArray, graph.Xdata{key: int32s(-2, -3, 2)}, nil)
	e.ok(err, "fxattrop")
	e.eq("back to zero", fmt.Sprintf("%x", d[key]), fmt.Sprintf("%x", int32s(0, 0, 0)))

	// An all-zero addend reads the counters without creating them (AFR's pending check).
	d, _, err = e.x.Xattrop(e.ctx, loc, graph.XattropAddArray, graph.Xdata{"user.weft.fresh": int32s(0, 0)}, nil)
	e.ok(err, "zero xattrop on absent key")
	e.eq("zero xattrop reply", fmt.Sprintf("%x", d["user.weft.fresh"]), fmt.Sprintf("%x", int32s(0, 0)))
	_, _, err = e.x.Getxattr(e.ctx, loc, "user.weft.fresh", nil)
	e.fails(err, "zero xattrop must not create the key", unix.ENODATA)

	// Concurrent adds are atomic.
	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				var err error
				if (w+i)%2 == 0 {
					_, _, err = e.x.Xattrop(e.ctx, loc, graph.XattropAddArray, graph.Xdata{key: int32s(1, 0, 2)}, nil)
				} else {
					_, _, err = e.x.Fxattrop(e.ctx, fd, graph.XattropAddArray, graph.Xdata{key: int32s(1, 0, 2)}, nil)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.t.Fatalf("concurrent xattrop: %v", err)
	}
	g, _, err = e.x.Getxattr(e.ctx, loc, key, nil)
	e.ok(err, "getxattr after concurrent xattrops")
	e.eq("concurrent sum", fmt.Sprintf("%x", g[key]), fmt.Sprintf("%x", int32s(workers*rounds, 0, 2*workers*rounds)))
}

func (e *env) testReaddirPaging() {
	d := e.mkdir(e.root, "d")
	const n = 60
	orig := map[string]bool{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("f%03d", i)
		_, err := e.x.Mknod(e.ctx, d.Child(name), unix.S_IFREG|0o644, 0, 0, nil)
		e.ok(err, "mknod %s", name)
		orig[name] = true
	}
	fd, err := OpenDir(e.ctx, e.x, d)
	e.ok(err, "opendir")
	defer fd.Unref()
	seen := map[string]int{}
	cookies := map[uint64]string{}
	var off uint64
	removed := ""
	for page := 0; page < 10000; page++ {
		ents, _, err := e.x.Readdir(e.ctx, fd, 256, off, nil)
		e.ok(err, "readdir page %d at cookie %d", page, off)
		if len(ents) == 0 {
			break
		}
		for _, de := range ents {
			if prev, dup := cookies[de.Off]; dup && de.Name != prev {
				e.t.Errorf("cookie %d given to %q and %q", de.Off, prev, de.Name)
			}
			cookies[de.Off] = de.Name
			if de.Name == "." || de.Name == ".." {
				continue
			}
			seen[de.Name]++
			if seen[de.Name] == 2 {
				e.t.Errorf("entry %s seen 2 times", de.Name)
			}
			if orig[de.Name] && de.Type != unix.DT_REG && de.Type != unix.DT_UNKNOWN {
				e.t.Errorf("%s: d_type %d", de.Name, de.Type)
			}
		}
		if next := ents[len(ents)-1].Off; next == off {
			e.t.Fatalf("readdir does not advance past cookie %d (returned %q again)", off, ents[len(ents)-1].Name)
		}
		off = ents[len(ents)-1].Off
		switch page {
		case 1:
			// New entries appear while the listing is under way.
			for i := 0; i < 20; i++ {
				_, err := e.x.Mknod(e.ctx, d.Child(fmt.Sprintf("g%03d", i)), unix.S_IFREG|0o644, 0, 0, nil)
				e.ok(err, "mknod while listing")
			}
		case 2:
			// The entry whose cookie we continue from goes away.
			last := ents[len(ents)-1].Name
			if last != "." && last != ".." {
				_, err := e.x.Unlink(e.ctx, d.Child(last), 0, nil)
				e.ok(err, "unlink %s while listing", last)
				removed = last
			}
		}
	}
	for name := range orig {
		if seen[name] == 0 {
			e.t.Errorf("entry %s never listed", name)
		}
	}
	for name := range seen {
		if !orig[name] && !bytes.HasPrefix([]byte(name), []byte("g")) {
			e.t.Errorf("unknown entry %q", name)
		}
	}
	// A fresh listing shows exactly the current entries.
	all, err := ReadDirAll(e.ctx, e.x, d, false, 300)
	e.ok(err, "readdir all")
	want := n + 20
	if removed != "" {
		want--
	}
	e.eq("entries after changes", len(all), want)
	// Restarting from cookie 0 on the same fd lists from the start.
	ents, _, err := e.x.Readdir(e.ctx, fd, 4096, 0, nil)
	e.ok(err, "readdir rewind")
	if len(ents) == 0 {
		e.t.Errorf("rewound readdir returned nothing")
	}
	// An empty directory lists nothing but . and ..
	empty := e.mkdir(e.root, "empty")
	ents2, err := ReadDirAll(e.ctx, e.x, empty, false, 4096)
	e.ok(err, "readdir empty")
	e.eq("empty dir entries", len(ents2), 0)
}

func (e *env) testReaddirp() {
	d := e.mkdir(e.root, "d")
	want := map[string]graph.GFID{}
	for i := 0; i < 25; i++ {
		name := fmt.Sprintf("e%02d", i)
		if i%5 == 0 {
			l := e.mkdir(d, name)
			want[name] = l.GFID
			continue
		}
		l := e.writeFile(d, name, bytes.Repeat([]byte{'z'}, i))
		want[name] = l.GFID
	}
	for _, size := range []uint32{200, 1024, 65536} {
		ents, err := ReadDirAll(e.ctx, e.x, d, true, size)
		e.ok(err, "readdirp size %d", size)
		e.eq(fmt.Sprintf("readdirp size %d count", size), len(ents), len(want))
		for _, de := range ents {
			g, ok := want[de.Name]
			if !ok {
				e.t.Errorf("readdirp: unexpected %q", de.Name)
				continue
			}
			if de.Stat.GFID != g {
				e.t.Errorf("readdirp %s: gfid %s want %s", de.Name, de.Stat.GFID, g)
			}
			isDir := de.Name[1:] == "00" || de.Name[1:] == "05" || de.Name[1:] == "10" || de.Name[1:] == "15" || de.Name[1:] == "20"
			if de.Stat.IsDir() != isDir {
				e.t.Errorf("readdirp %s: dir %v", de.Name, de.Stat.IsDir())
			}
			if !isDir {
				var i int
				fmt.Sscanf(de.Name[1:], "%d", &i)
				if de.Stat.Size != uint64(i) {
					e.t.Errorf("readdirp %s: size %d want %d", de.Name, de.Stat.Size, i)
				}
			}
		}
	}
}

func (e *env) testStatfs() {
	s, _, err := e.x.Statfs(e.ctx, e.root, nil)
	e.ok(err, "statfs")
	if s.Bsize == 0 || s.Blocks == 0 || s.Bfree > s.Blocks || s.Bavail > s.Blocks || s.Ffree > s.Files || s.Namemax == 0 {
		e.t.Errorf("implausible statfs %+v", s)
	}
	f := e.writeFile(e.root, "f", []byte("x"))
	_, _, err = e.x.Statfs(e.ctx, f, nil)
	e.ok(err, "statfs of a file")
}

func (e *env) testAccess() {
	_, err := e.x.Access(e.ctx, e.root, unix.R_OK|unix.X_OK, nil)
	e.ok(err, "root access to /")
	if !e.s.caps.Permissions {
		e.t.Skip("Caps.Permissions is false: non-root access checks not run")
	}
	priv := e.writeFile(e.root, "priv", []byte("secret"))
	_, err = e.x.Setattr(e.ctx, priv, &graph.Iatt{Mode: 0o600}, graph.SetAttrMode, nil)
	e.ok(err, "chmod priv")
	pub := e.writeFile(e.root, "pub", []byte("public"))
	_, err = e.x.Access(e.ctx, pub, unix.X_OK, nil)
	e.fails(err, "root X_OK on a non-executable file", unix.EACCES)
	closed := e.mkdir(e.root, "closed")
	_, err = e.x.Setattr(e.ctx, closed, &graph.Iatt{Mode: 0o700}, graph.SetAttrMode, nil)
	e.ok(err, "chmod closed")
	e.writeFile(closed, "inside", nil)
	open := e.mkdir(e.root, "open")
	_, err = e.x.Setattr(e.ctx, open, &graph.Iatt{Mode: 0o777}, graph.SetAttrMode, nil)
	e.ok(err, "chmod open")

	u := user(e.ctx, 1000, 1000)
	_, err = e.x.Access(u, priv, unix.R_OK, nil)
	e.fails(err, "user R_OK on 0600 root file", unix.EACCES)
	_, err = e.x.Access(u, pub, unix.R_OK, nil)
	e.ok(err, "user R_OK on 0644 file")
	_, err = e.x.Access(u, pub, unix.W_OK, nil)
	e.fails(err, "user W_OK on 0644 root file", unix.EACCES)
	_, err = e.x.Access(u, pub, 0, nil)
	e.ok(err, "user F_OK")
	_, err = Open(u, e.x, priv, unix.O_RDONLY)
	e.fails(err, "user open 0600 root file", unix.EACCES)
	fd, err := Open(u, e.x, pub, unix.O_RDONLY)
	e.ok(err, "user open 0644 read-only")
	fd.Unref()
	_, err = Open(u, e.x, pub, unix.O_WRONLY)
	e.fails(err, "user open 0644 root file for writing", unix.EACCES)
	_, _, err = CreateMode(u, e.x, e.root, "nope", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o644)
	e.fails(err, "user create in 0755 root dir", unix.EACCES)
	_, err = e.x.Mkdir(u, e.root.Child("nope"), 0o755, 0, nil)
	e.fails(err, "user mkdir in 0755 root dir", unix.EACCES)
	_, err = e.x.Unlink(u, e.root.Child("pub"), 0, nil)
	e.fails(err, "user unlink in 0755 root dir", unix.EACCES)
	_, err = e.x.Lookup(u, closed.Child("inside"), nil)
	e.fails(err, "user lookup in 0700 root dir", unix.EACCES)
	_, err = e.x.Setattr(u, pub, &graph.Iatt{Mode: 0o666}, graph.SetAttrMode, nil)
	e.fails(err, "user chmod of root's file", unix.EPERM)
	_, err = e.x.Setattr(u, pub, &graph.Iatt{UID: 1000}, graph.SetAttrUID, nil)
	e.fails(err, "user chown to self", unix.EPERM)

	fd, loc, err := CreateMode(u, e.x, open, "mine", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600)
	e.ok(err, "user create in 0777 dir")
	defer fd.Unref()
	_, err = e.x.Writev(u, fd, []byte("mine"), 0, 0, nil)
	e.ok(err, "user write own file")
	_, err = e.x.Setattr(u, loc, &graph.Iatt{Mode: 0o644}, graph.SetAttrMode, nil)
	e.ok(err, "user chmod own file")
	if e.s.caps.Ownership {
		e.eq("owner of user's file", e.fstat(fd).UID, 1000)
	}
	_, err = Open(user(e.ctx, 2000, 2000), e.x, loc, unix.O_WRONLY)
	e.fails(err, "other user writes 0644 file", unix.EACCES)
}

func (e *env) testFallocate() {
	fd, loc := e.create(e.root, "f")
	w, err := e.x.Fallocate(e.ctx, fd, 0, 0, 64<<10, nil)
	e.ok(err, "fallocate")
	e.eq("size after fallocate", w.Post.Size, 64<<10)
	if e.s.caps.Sparse && w.Post.Blocks < (64<<10)/512 {
		e.t.Errorf("fallocate allocated only %d blocks", w.Post.Blocks)
	}
	got := e.readFile(loc)
	if len(got) != 64<<10 || !zeros(got) {
		e.t.Errorf("fallocated range: %d bytes, zero %v", len(got), zeros(got))
	}
	w, err = e.x.Fallocate(e.ctx, fd, graph.FallocKeepSize, 64<<10, 64<<10, nil)
	e.ok(err, "fallocate keep-size")
	e.eq("keep-size keeps size", w.Post.Size, 64<<10)
	e.write(fd, []byte("abc"), 100)
	e.write(fd, []byte("Z"), 8192)
	w, err = e.x.Discard(e.ctx, fd, 0, 4096, nil)
	e.ok(err, "discard")
	e.eq("discard keeps size", w.Post.Size, 64<<10)
	got = e.readFile(loc)
	if !zeros(got[:4096]) || got[8192] != 'Z' {
		e.t.Errorf("after discard: head zero %v, byte 8192 %q", zeros(got[:4096]), got[8192])
	}
	w, err = e.x.Zerofill(e.ctx, fd, 8190, 10, nil)
	e.ok(err, "zerofill")
	got = e.readFile(loc)
	if got[8192] != 0 {
		e.t.Errorf("zerofill left %q", got[8192])
	}
	w, err = e.x.Zerofill(e.ctx, fd, 64<<10, 100, nil)
	e.ok(err, "zerofill past end")
	e.eq("zerofill extends", w.Post.Size, 64<<10+100)
	_, err = e.x.Fallocate(e.ctx, fd, graph.FallocPunchHole|graph.FallocKeepSize, 0, 64<<10, nil)
	e.ok(err, "punch hole")
	got = e.readFile(loc)
	if len(got) != 64<<10+100 || !zeros(got) {
		e.t.Errorf("after punch: %d bytes zero %v", len(got), zeros(got))
	}
	_, err = e.x.Fallocate(e.ctx, fd, 0, -1, 10, nil)
	e.fails(err, "fallocate negative offset", unix.EINVAL)
	ro := e.open(loc, unix.O_RDONLY)
	_, err = e.x.Fallocate(e.ctx, ro, 0, 0, 10, nil)
	e.fails(err, "fallocate on read-only fd", unix.EBADF)
}

func (e *env) testRchecksum() {
	data := pattern(100_000, 3)
	other := append([]byte(nil), data...)
	other[50_000] ^= 1
	a := e.writeFile(e.root, "a", data)
	b := e.writeFile(e.root, "b", data)
	c := e.writeFile(e.root, "c", other)
	sum := func(loc *graph.Loc, off int64, n uint32) graph.RchecksumReply {
		fd := e.open(loc, unix.O_RDONLY)
		r, err := e.x.Rchecksum(e.ctx, fd, off, n, nil)
		e.ok(err, "rchecksum %s", loc)
		return r
	}
	ra, rb, rc := sum(a, 0, 100_000), sum(b, 0, 100_000), sum(c, 0, 100_000)
	if ra.Weak != rb.Weak || !bytes.Equal(ra.Strong, rb.Strong) || len(ra.Strong) == 0 {
		e.t.Errorf("equal data, different checksums: %x/%x %x/%x", ra.Weak, rb.Weak, ra.Strong, rb.Strong)
	}
	if bytes.Equal(ra.Strong, rc.Strong) {
		e.t.Errorf("different data, equal strong checksums")
	}
	h1, h2 := sum(a, 0, 4096), sum(c, 0, 4096)
	if h1.Weak != h2.Weak || !bytes.Equal(h1.Strong, h2.Strong) {
		e.t.Errorf("equal prefixes, different checksums")
	}
}

func (e *env) testLocks() {
	fd, loc := e.create(e.root, "f")
	ownerA := graph.WithCreds(e.ctx, &graph.Creds{Pid: 1, LkOwner: []byte{0xa}, ClientID: "client-a"})
	ownerB := graph.WithCreds(e.ctx, &graph.Creds{Pid: 2, LkOwner: []byte{0xb}, ClientID: "client-b"})
	wr := func(owner byte) *graph.Flock {
		return &graph.Flock{Type: graph.LockWrite, Start: 0, Len: 100, Pid: int32(owner), Owner: []byte{owner}}
	}
	un := func(owner byte) *graph.Flock {
		return &graph.Flock{Type: graph.LockUnlock, Start: 0, Len: 100, Pid: int32(owner), Owner: []byte{owner}}
	}
	if !e.s.caps.Locks {
		_, _, err := e.x.Lk(ownerA, fd, graph.SetLk, wr(0xa), nil)
		e.fails(err, "lk without locks", unix.ENOSYS, unix.EOPNOTSUPP)
		_, err = e.x.Inodelk(ownerA, "vol", loc, graph.SetLk, wr(0xa), nil)
		e.fails(err, "inodelk without locks", unix.ENOSYS, unix.EOPNOTSUPP)
		_, err = e.x.Finodelk(ownerA, "vol", fd, graph.SetLk, wr(0xa), nil)
		e.fails(err, "finodelk without locks", unix.ENOSYS, unix.EOPNOTSUPP)
		_, err = e.x.Entrylk(ownerA, "vol", e.root, "f", graph.EntrylkLockNB, graph.EntrylkWrlck, nil)
		e.fails(err, "entrylk without locks", unix.ENOSYS, unix.EOPNOTSUPP)
		_, err = e.x.Fentrylk(ownerA, "vol", fd, "x", graph.EntrylkLockNB, graph.EntrylkWrlck, nil)
		e.fails(err, "fentrylk without locks", unix.ENOSYS, unix.EOPNOTSUPP)
		e.t.Skip("Caps.Locks is false: lock fops must fail cleanly (checked), semantics not checked")
	}
	// POSIX locks.
	_, _, err := e.x.Lk(ownerA, fd, graph.SetLk, wr(0xa), nil)
	e.ok(err, "lk A write")
	got, _, err := e.x.Lk(ownerB, fd, graph.GetLk, wr(0xb), nil)
	e.ok(err, "lk B getlk")
	if got.Type != graph.LockWrite {
		e.t.Errorf("getlk under A's lock: type %d, want write", got.Type)
	}
	_, _, err = e.x.Lk(ownerB, fd, graph.SetLk, wr(0xb), nil)
	e.fails(err, "lk B conflicting", unix.EAGAIN, unix.EACCES)
	_, _, err = e.x.Lk(ownerA, fd, graph.SetLk, un(0xa), nil)
	e.ok(err, "lk A unlock")
	_, _, err = e.x.Lk(ownerB, fd, graph.SetLk, wr(0xb), nil)
	e.ok(err, "lk B after unlock")
	_, _, err = e.x.Lk(ownerB, fd, graph.SetLk, un(0xb), nil)
	e.ok(err, "lk B unlock")
	// Inode locks (per domain).
	_, err = e.x.Inodelk(ownerA, "vol", loc, graph.SetLk, wr(0xa), nil)
	e.ok(err, "inodelk A")
	_, err = e.x.Finodelk(ownerB, "vol", fd, graph.SetLk, wr(0xb), nil)
	e.fails(err, "finodelk B conflicting", unix.EAGAIN, unix.EBUSY)
	_, err = e.x.Inodelk(ownerB, "other-domain", loc, graph.SetLk, wr(0xb), nil)
	e.ok(err, "inodelk B in another domain")
	_, err = e.x.Inodelk(ownerB, "other-domain", loc, graph.SetLk, un(0xb), nil)
	e.ok(err, "inodelk B unlock other domain")
	_, err = e.x.Finodelk(ownerA, "vol", fd, graph.SetLk, un(0xa), nil)
	e.ok(err, "finodelk A unlock")
	_, err = e.x.Inodelk(ownerB, "vol", loc, graph.SetLk, wr(0xb), nil)
	e.ok(err, "inodelk B after unlock")
	_, err = e.x.Inodelk(ownerB, "vol", loc, graph.SetLk, un(0xb), nil)
	e.ok(err, "inodelk B unlock")
	// Entry locks.
	_, err = e.x.Entrylk(ownerA, "vol", e.root, "f", graph.EntrylkLockNB, graph.EntrylkWrlck, nil)
	e.ok(err, "entrylk A")
	_, err = e.x.Entrylk(ownerB, "vol", e.root, "f", graph.EntrylkLockNB, graph.EntrylkWrlck, nil)
	e.fails(err, "entrylk B conflicting", unix.EAGAIN, unix.EBUSY)
	_, err = e.x.Entrylk(ownerB, "vol", e.root, "other", graph.EntrylkLockNB, graph.EntrylkWrlck, nil)
	e.ok(err, "entrylk B on another name")
	_, err = e.x.Entrylk(ownerB, "vol", e.root, "other", graph.EntrylkUnlock, graph.EntrylkWrlck, nil)
	e.ok(err, "entrylk B unlock")
	_, err = e.x.Entrylk(ownerA, "vol", e.root, "f", graph.EntrylkUnlock, graph.EntrylkWrlck, nil)
	e.ok(err, "entrylk A unlock")
	dfd, err := OpenDir(e.ctx, e.x, e.root)
	e.ok(err, "opendir root")
	defer dfd.Unref()
	_, err = e.x.Fentrylk(ownerB, "vol", dfd, "f", graph.EntrylkLockNB, graph.EntrylkWrlck, nil)
	e.ok(err, "fentrylk B after unlock")
	_, err = e.x.Fentrylk(ownerB, "vol", dfd, "f", graph.EntrylkUnlock, graph.EntrylkWrlck, nil)
	e.ok(err, "fentrylk B unlock")
}

func (e *env) testConcurrency() {
	d := e.mkdir(e.root, "c")
	workers, per := 8, 25
	if testing.Short() {
		per = 10
	}
	shared, sloc := e.create(e.root, "shared")
	var wg sync.WaitGroup
	errs := make(chan error, workers*2)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				name := fmt.Sprintf("w%d-%03d", w, i)
				if _, err := WriteFile(e.ctx, e.x, d, name, []byte(name+"-content")); err != nil {
					errs <- fmt.Errorf("%s: %w", name, err)
					return
				}
			}
			chunk := bytes.Repeat([]byte{byte('A' + w)}, 4096)
			if _, err := e.x.Writev(e.ctx, shared, chunk, int64(w)*4096, 0, nil); err != nil {
				errs <- err
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.t.Fatalf("concurrent writer: %v", err)
	}
	ents, err := ReadDirAll(e.ctx, e.x, d, true, 4096)
	e.ok(err, "readdirp")
	e.eq("files created in parallel", len(ents), workers*per)
	var rg sync.WaitGroup
	bad := make(chan string, len(ents))
	for _, de := range ents {
		rg.Add(1)
		go func(name string) {
			defer rg.Done()
			b, err := ReadFile(e.ctx, e.x, d.Child(name))
			if err != nil || string(b) != name+"-content" {
				bad <- fmt.Sprintf("%s: %q %v", name, b, err)
			}
		}(de.Name)
	}
	rg.Wait()
	close(bad)
	for s := range bad {
		e.t.Errorf("parallel read back: %s", s)
	}
	got := e.readFile(sloc)
	for w := 0; w < workers; w++ {
		if !bytes.Equal(got[w*4096:(w+1)*4096], bytes.Repeat([]byte{byte('A' + w)}, 4096)) {
			e.t.Errorf("shared file chunk %d corrupted", w)
		}
	}
}

// testZeroArguments calls every fop with zero values (nil loc, nil fd, nil lock, nil attributes,
// empty names): none may panic, and each but Statfs must return an error.
func (e *env) testZeroArguments() {
	it := reflect.TypeOf((*graph.Fops)(nil)).Elem()
	v := reflect.ValueOf(e.x)
	for i := 0; i < it.NumMethod(); i++ {
		name := it.Method(i).Name
		fn := v.MethodByName(name)
		args := make([]reflect.Value, fn.Type().NumIn())
		args[0] = reflect.ValueOf(e.ctx)
		for j := 1; j < len(args); j++ {
			args[j] = reflect.Zero(fn.Type().In(j))
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					e.t.Errorf("%s with zero arguments panicked: %v", name, r)
				}
			}()
			out := fn.Call(args)
			// Statfs answers for the whole volume, so a leaf may ignore a missing loc.
			if last := out[len(out)-1]; last.IsNil() && name != "Statfs" {
				e.t.Errorf("%s with zero arguments (nil loc/fd) succeeded", name)
			}
		}()
	}
}
