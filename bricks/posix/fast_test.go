package posix

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// checkNewFile asserts the on-brick state of a freshly created regular file: the name carries
// trusted.gfid, the handle is a hard link to the same inode, the staging directory is empty.
func checkNewFile(t *testing.T, b *brick, rel string, g graph.GFID) {
	t.Helper()
	path := b.dir + "/" + rel
	if got := getx(t, path, GFIDXattr); graph.GFID(got) != g {
		t.Fatalf("%s: trusted.gfid %x, want %s", rel, got, g)
	}
	st, hs := lstat(t, path), lstat(t, b.dir+"/"+handleRel(g))
	if st.Ino != hs.Ino || st.Nlink != 2 {
		t.Fatalf("%s: handle ino %d nlink %d, file ino %d", rel, hs.Ino, hs.Nlink, st.Ino)
	}
	if names, _ := os.ReadDir(b.dir + "/" + stagingDir); len(names) != 0 {
		t.Fatalf("staging not empty: %v", names)
	}
}

// TestCreatePaths: the O_TMPFILE path, the staging path (file systems without O_TMPFILE, and
// read-only creates) and the reply of both agree, and both leave the same on-brick layout.
func TestCreatePaths(t *testing.T) {
	for _, mode := range []string{"tmpfile", "staged", "rdonly"} {
		t.Run(mode, func(t *testing.T) {
			b := newBrick(t, nil)
			if mode == "staged" {
				b.p.noTmpfile.Store(true)
			}
			flags := unix.O_RDWR | unix.O_CREAT | unix.O_EXCL
			if mode == "rdonly" {
				flags = unix.O_RDONLY | unix.O_CREAT | unix.O_EXCL
			}
			sub := b.mkdir(graph.RootLoc(), "sub")
			g := graph.NewGFID()
			fd := graph.NewFD(nil, graph.GFID{}, flags)
			defer fd.Unref()
			r, err := b.p.Create(b.ctx, sub.Child("f"), flags, 0640, 0, fd, gfidReqX(g))
			if err != nil {
				t.Fatal(err)
			}
			if r.Stat.GFID != g || r.Stat.Nlink != 1 || r.Stat.Perm() != 0640&^uint32(umask()) || !r.Stat.IsReg() {
				t.Fatalf("reply stat %+v", r.Stat)
			}
			if r.PreParent.GFID != sub.GFID || r.PostParent.GFID != sub.GFID || r.PostParent.Mtime.Time().Before(r.PreParent.Mtime.Time()) {
				t.Fatalf("parent attributes %+v / %+v", r.PreParent, r.PostParent)
			}
			checkNewFile(t, b, "sub/f", g)
			_, err = b.p.Writev(b.ctx, fd, []byte("x"), 0, 0, nil)
			if mode == "rdonly" {
				wantErrno(t, err, unix.EBADF, "write through a read-only create")
			} else if err != nil {
				t.Fatal(err)
			}
			if mode == "tmpfile" && b.p.noTmpfile.Load() {
				t.Fatal("O_TMPFILE refused on the test file system: the fast path was not tested")
			}
		})
	}
}

func umask() int {
	m := unix.Umask(0)
	unix.Umask(m)
	return m
}

// TestCreateConflicts: a GFID already used by another file and a name already taken are both
// refused with EEXIST without leaving a name, a handle or an open fd behind.
func TestCreateConflicts(t *testing.T) {
	b := newBrick(t, nil)
	g := graph.NewGFID()
	fd, _ := b.create(graph.RootLoc(), "a", g)
	fd.Unref()
	fds := countFDs(t)

	// gfid-req in use: nothing named "b" may appear, "a" keeps its handle.
	fd = graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	_, err := b.p.Create(b.ctx, graph.RootLoc().Child("b"), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0644, 0, fd, gfidReqX(g))
	fd.Unref()
	wantErrno(t, err, unix.EEXIST, "create with a gfid in use")
	if exists(b.dir + "/b") {
		t.Fatal("a name was made for a conflicting gfid")
	}
	checkNewFile(t, b, "a", g)

	// Name taken (O_EXCL): the new GFID's handle must not stay.
	g2 := graph.NewGFID()
	fd = graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	_, err = b.p.Create(b.ctx, graph.RootLoc().Child("a"), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0644, 0, fd, gfidReqX(g2))
	fd.Unref()
	wantErrno(t, err, unix.EEXIST, "exclusive create of an existing name")
	if exists(b.dir + "/" + handleRel(g2)) {
		t.Fatal("handle of a create that failed on its name was left behind")
	}
	checkNewFile(t, b, "a", g)
	if n := countFDs(t); n != fds {
		t.Fatalf("%d fds open after failed creates, %d before", n, fds)
	}
}

// TestUnlinkSymlinkAndHandles: unlink (which no longer lstat's the name for root) removes the
// handle of a symlink with its last name and never touches a directory's handle.
func TestUnlinkSymlinkAndHandles(t *testing.T) {
	b := newBrick(t, nil)
	r, err := b.p.Symlink(b.ctx, "target", graph.RootLoc().Child("s"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := b.dir + "/" + handleRel(r.Stat.GFID)
	if !exists(h) {
		t.Fatal("symlink handle missing")
	}
	if _, err := b.p.Unlink(b.ctx, graph.RootLoc().Child("s"), 0, nil); err != nil {
		t.Fatal(err)
	}
	if exists(h) || exists(b.dir+"/s") {
		t.Fatal("symlink or its handle left after unlink")
	}
	d := b.mkdir(graph.RootLoc(), "d")
	_, err = b.p.Unlink(b.ctx, graph.RootLoc().Child("d"), 0, nil)
	wantErrno(t, err, unix.EISDIR, "unlink of a directory")
	if !exists(b.dir + "/" + handleRel(d.GFID)) {
		t.Fatal("directory handle removed by a failed unlink")
	}
	_, err = b.p.Unlink(b.ctx, graph.RootLoc().Child("none"), 0, nil)
	wantErrno(t, err, unix.ENOENT, "unlink of a missing name")
}

// TestStatByGFID: a nameless stat answers from the handle for files and from the path for
// directories, with the right GFID, and ESTALE once the file is gone.
func TestStatByGFID(t *testing.T) {
	b := newBrick(t, nil)
	d := b.mkdir(graph.RootLoc(), "d")
	fd, f := b.create(d, "f", graph.GFID{})
	fd.Unref()
	for _, l := range []*graph.Loc{d, f, graph.RootLoc()} {
		st, _, err := b.p.Stat(b.ctx, &graph.Loc{GFID: l.GFID}, nil)
		if err != nil || st.GFID != l.GFID {
			t.Fatalf("stat <gfid:%s>: %v, gfid %s", l.GFID, err, st.GFID)
		}
	}
	st, _, _ := b.p.Stat(b.ctx, &graph.Loc{GFID: f.GFID}, nil)
	want := lstat(t, b.dir+"/d/f")
	if st.Ino != want.Ino || st.Nlink != 1 || st.Size != 0 || !st.IsReg() {
		t.Fatalf("stat %+v, file ino %d", st, want.Ino)
	}
	if _, err := b.p.Unlink(b.ctx, d.Child("f"), 0, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := b.p.Stat(b.ctx, &graph.Loc{GFID: f.GFID}, nil)
	wantErrno(t, err, unix.ESTALE, "stat of an unlinked gfid")
}

// TestGetxattrFallback: without getxattrat(2) the absolute-path calls give the same answers.
func TestGetxattrFallback(t *testing.T) {
	b := newBrick(t, nil)
	noXattrAt.Store(true)
	defer noXattrAt.Store(false)
	fd, f := b.create(graph.RootLoc(), "f", graph.GFID{})
	fd.Unref()
	r, err := b.p.Lookup(b.ctx, graph.RootLoc().Child("f"), nil)
	if err != nil || r.Stat.GFID != f.GFID {
		t.Fatalf("lookup: %v, gfid %s want %s", err, r.Stat.GFID, f.GFID)
	}
	if _, err := b.p.Unlink(b.ctx, graph.RootLoc().Child("f"), 0, nil); err != nil {
		t.Fatal(err)
	}
	if exists(b.dir + "/" + handleRel(f.GFID)) {
		t.Fatal("handle left")
	}
}
