package posix

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// brick is one posix translator on a temporary directory, activated in a graph whose top
// events are recorded.
type brick struct {
	t    *testing.T
	p    *Posix
	g    *graph.Graph
	dir  string
	ctx  context.Context
	mu   sync.Mutex
	evts []graph.Event
}

// requireTrustedXattrs fails the test loudly when the temp file system or the process cannot
// store trusted.* xattrs: the on-brick format depends on them.
func requireTrustedXattrs(t testing.TB, dir string) {
	t.Helper()
	if err := unix.Setxattr(dir, "trusted.weft-test", []byte("x"), 0); err != nil {
		t.Fatalf("trusted.* xattrs do not work on %s (run as root on an xattr-capable fs): %v", dir, err)
	}
	_ = unix.Removexattr(dir, "trusted.weft-test")
}

func newBrickOpts(t *testing.T, dir string, opts map[string]string) (*brick, error) {
	t.Helper()
	raw := map[string]string{"directory": dir, "health-check-interval": "0"}
	for k, v := range opts {
		raw[k] = v
	}
	p, err := New("brick0", raw, nil)
	if err != nil {
		return nil, err
	}
	g, err := graph.NewGraph(p)
	if err != nil {
		return nil, err
	}
	b := &brick{t: t, p: p, g: g, dir: dir, ctx: context.Background()}
	g.SetEventHandler(func(ctx context.Context, ev graph.Event, from graph.Xlator) {
		b.mu.Lock()
		b.evts = append(b.evts, ev)
		b.mu.Unlock()
	})
	if err := g.Activate(context.Background()); err != nil {
		return nil, err
	}
	t.Cleanup(g.Fini)
	return b, nil
}

func newBrick(t *testing.T, opts map[string]string) *brick {
	t.Helper()
	dir := t.TempDir()
	requireTrustedXattrs(t, dir)
	b, err := newBrickOpts(t, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *brick) events() []graph.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]graph.Event(nil), b.evts...)
}

func gfidReqX(g graph.GFID) graph.Xdata { return graph.Xdata{GFIDReqKey: g[:]} }

func wantErrno(t *testing.T, err error, want unix.Errno, what string) {
	t.Helper()
	if got := graph.Errno(err); got != want {
		t.Fatalf("%s: errno %v (%v), want %v", what, got, err, want)
	}
}

func (b *brick) create(parent *graph.Loc, name string, g graph.GFID) (*graph.FD, *graph.Loc) {
	b.t.Helper()
	loc := parent.Child(name)
	fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	x := graph.Xdata(nil)
	if !g.IsZero() {
		x = gfidReqX(g)
	}
	r, err := b.p.Create(b.ctx, loc, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0644, 0022, fd, x)
	if err != nil {
		fd.Unref()
		b.t.Fatalf("create %s: %v", name, err)
	}
	fd.GFID = r.Stat.GFID
	loc.GFID = r.Stat.GFID
	return fd, loc
}

func (b *brick) mkdir(parent *graph.Loc, name string) *graph.Loc {
	b.t.Helper()
	loc := parent.Child(name)
	r, err := b.p.Mkdir(b.ctx, loc, 0755, 0022, nil)
	if err != nil {
		b.t.Fatalf("mkdir %s: %v", name, err)
	}
	loc.GFID = r.Stat.GFID
	return loc
}

func getx(t *testing.T, path, name string) []byte {
	t.Helper()
	v, err := lgetxattr(path, name)
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", path, name, err)
	}
	return v
}

func lstat(t *testing.T, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatalf("lstat %s: %v", path, err)
	}
	return st
}

func exists(path string) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil
}

// TestOnBrickLayout checks the format GlusterFS uses (posix-handle.c, posix-helpers.c,
// posix-common.c): raw 16-byte xattrs, hard-link handles for files, relative symlink handles
// for directories, "../../.." for the root.
func TestOnBrickLayout(t *testing.T) {
	vol := "9a3c4a41-0d53-4a4e-a9e5-3b1c2d3e4f50"
	b := newBrick(t, map[string]string{"volume-id": vol})
	d := b.dir

	if v := getx(t, d, "trusted.gfid"); !bytes.Equal(v, graph.RootGFID[:]) {
		t.Fatalf("root trusted.gfid = %x", v)
	}
	wantVol, _ := graph.ParseGFID(vol)
	if v := getx(t, d, "trusted.glusterfs.volume-id"); !bytes.Equal(v, wantVol[:]) {
		t.Fatalf("volume-id = %x, want %x", v, wantVol[:])
	}
	if st := lstat(t, d+"/.glusterfs"); st.Mode != unix.S_IFDIR|0600 {
		t.Fatalf(".glusterfs mode %o, want dir 0600 (posix_handle_init)", st.Mode)
	}
	rootH := d + "/.glusterfs/00/00/00000000-0000-0000-0000-000000000001"
	if tgt, err := os.Readlink(rootH); err != nil || tgt != "../../.." {
		t.Fatalf("root handle: %q %v", tgt, err)
	}
	if st := lstat(t, d+"/.glusterfs/00"); st.Mode&0777 != 0700 {
		t.Fatalf("hash dir mode %o", st.Mode&0777)
	}

	// A file: trusted.gfid = gfid-req, handle is a hard link (nlink 2).
	fg, _ := graph.ParseGFID("0bad1dea-0000-4000-8000-00000000f11e")
	fd, _ := b.create(graph.RootLoc(), "f", fg)
	fd.Unref()
	if v := getx(t, d+"/f", "trusted.gfid"); !bytes.Equal(v, fg[:]) {
		t.Fatalf("file gfid %x", v)
	}
	h := d + "/.glusterfs/0b/ad/0bad1dea-0000-4000-8000-00000000f11e"
	fs, hs := lstat(t, d+"/f"), lstat(t, h)
	if fs.Ino != hs.Ino || hs.Mode&unix.S_IFMT != unix.S_IFREG || fs.Nlink != 2 {
		t.Fatalf("file handle: ino %d/%d mode %o nlink %d", fs.Ino, hs.Ino, hs.Mode, fs.Nlink)
	}

	// A directory: the handle is a symlink ../../00/00/<root gfid>/dir.
	dl := b.mkdir(graph.RootLoc(), "dir")
	dh := d + "/" + handleRel(dl.GFID)
	tgt, err := os.Readlink(dh)
	if err != nil || tgt != "../../00/00/00000000-0000-0000-0000-000000000001/dir" {
		t.Fatalf("dir handle target %q %v", tgt, err)
	}
	if st, err := os.Stat(dh); err != nil || !st.IsDir() {
		t.Fatalf("dir handle does not resolve to a directory: %v", err)
	}
	if v := getx(t, d+"/dir", "trusted.gfid"); !bytes.Equal(v, dl.GFID[:]) {
		t.Fatalf("dir gfid %x", v)
	}
	// Nested: the handle names the parent's gfid.
	sub := b.mkdir(dl, "sub")
	tgt, _ = os.Readlink(d + "/" + handleRel(sub.GFID))
	want := "../../" + dl.GFID.String()[0:2] + "/" + dl.GFID.String()[2:4] + "/" + dl.GFID.String() + "/sub"
	if tgt != want {
		t.Fatalf("nested dir handle %q, want %q", tgt, want)
	}
	// Symlinks, fifos: hard-link handles too.
	sr, err := b.p.Symlink(b.ctx, "f", dl.Child("ln"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := lstat(t, d+"/"+handleRel(sr.Stat.GFID)); st.Mode&unix.S_IFMT != unix.S_IFLNK || st.Ino != sr.Stat.Ino || st.Nlink != 2 {
		t.Fatalf("symlink handle %+v", st)
	}
	nr, err := b.p.Mknod(b.ctx, dl.Child("fifo"), unix.S_IFIFO|0600, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := lstat(t, d+"/"+handleRel(nr.Stat.GFID)); st.Mode&unix.S_IFMT != unix.S_IFIFO || st.Ino != nr.Stat.Ino {
		t.Fatalf("fifo handle %+v", st)
	}
	// Nothing left in staging.
	if names, _ := os.ReadDir(d + "/" + stagingDir); len(names) != 0 {
		t.Fatalf("staging not empty: %v", names)
	}
}

func TestRefusesForeignVolume(t *testing.T) {
	dir := t.TempDir()
	requireTrustedXattrs(t, dir)
	b, err := newBrickOpts(t, dir, map[string]string{"volume-id": "11111111-1111-4111-8111-111111111111"})
	if err != nil {
		t.Fatal(err)
	}
	b.g.Fini()
	_, err = newBrickOpts(t, dir, map[string]string{"volume-id": "22222222-2222-4222-8222-222222222222"})
	if err == nil || !strings.Contains(err.Error(), "11111111-1111-4111-8111-111111111111") {
		t.Fatalf("foreign volume-id accepted or unclear error: %v", err)
	}
	// The same id starts again; a bad uuid is a clear error.
	if _, err := newBrickOpts(t, dir, map[string]string{"volume-id": "11111111-1111-4111-8111-111111111111"}); err != nil {
		t.Fatal(err)
	}
	if _, err := newBrickOpts(t, dir, map[string]string{"volume-id": "nonsense"}); err == nil {
		t.Fatal("bad volume-id accepted")
	}
	// A root with a non-root gfid is refused.
	d2 := t.TempDir()
	g := graph.NewGFID()
	if err := unix.Setxattr(d2, GFIDXattr, g[:], 0); err != nil {
		t.Fatal(err)
	}
	if _, err := newBrickOpts(t, d2, nil); err == nil {
		t.Fatal("brick root with a foreign gfid accepted")
	}
	// Missing directory option, missing directory.
	if _, err := newBrickOpts(t, "", nil); err == nil {
		t.Fatal("no directory accepted")
	}
	if _, err := newBrickOpts(t, filepath.Join(dir, "absent"), nil); err == nil {
		t.Fatal("absent directory accepted")
	}
}

func TestLookup(t *testing.T) {
	b := newBrick(t, nil)
	dl := b.mkdir(graph.RootLoc(), "a")
	sub := b.mkdir(dl, "b")
	fd, fl := b.create(sub, "c", graph.GFID{})
	fd.Unref()

	r, err := b.p.Lookup(b.ctx, graph.RootLoc(), nil)
	if err != nil || r.Stat.GFID != graph.RootGFID || !r.Stat.IsDir() {
		t.Fatalf("root lookup %+v %v", r.Stat, err)
	}
	r, err = b.p.Lookup(b.ctx, sub.Child("c"), nil)
	if err != nil || r.Stat.GFID != fl.GFID || !r.Stat.IsReg() || r.PostParent.GFID != sub.GFID {
		t.Fatalf("named lookup %+v %v", r, err)
	}
	// Nameless, by gfid, for a file and a nested directory.
	r, err = b.p.Lookup(b.ctx, &graph.Loc{GFID: fl.GFID}, nil)
	if err != nil || r.Stat.GFID != fl.GFID || r.Stat.Ino != lstat(t, b.dir+"/a/b/c").Ino {
		t.Fatalf("nameless file lookup %+v %v", r.Stat, err)
	}
	r, err = b.p.Lookup(b.ctx, &graph.Loc{GFID: sub.GFID}, nil)
	if err != nil || r.Stat.GFID != sub.GFID || !r.Stat.IsDir() || r.Stat.Ino != lstat(t, b.dir+"/a/b").Ino {
		t.Fatalf("nameless dir lookup %+v %v", r.Stat, err)
	}
	_, err = b.p.Lookup(b.ctx, &graph.Loc{GFID: graph.NewGFID()}, nil)
	wantErrno(t, err, unix.ESTALE, "unknown gfid")
	_, err = b.p.Lookup(b.ctx, graph.RootLoc().Child("nope"), nil)
	wantErrno(t, err, unix.ENOENT, "missing name")
	_, err = b.p.Lookup(b.ctx, graph.RootLoc().Child(".glusterfs"), nil)
	wantErrno(t, err, unix.EPERM, ".glusterfs at root")
	_, err = b.p.Mkdir(b.ctx, graph.RootLoc().Child(".glusterfs"), 0755, 0, nil)
	wantErrno(t, err, unix.EPERM, "mkdir .glusterfs")
	for _, bad := range []string{"..", ".", "a/b", strings.Repeat("x", 256)} {
		if _, err := b.p.Lookup(b.ctx, graph.RootLoc().Child(bad), nil); err == nil {
			t.Fatalf("lookup of %q accepted", bad)
		}
	}
	_, err = b.p.Lookup(b.ctx, &graph.Loc{Name: "x"}, nil)
	wantErrno(t, err, unix.EINVAL, "no parent")

	// Xattrs requested with empty values come back in the reply.
	if err := unix.Setxattr(b.dir+"/a/b/c", "trusted.afr.vol-client-1", []byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, 0); err != nil {
		t.Fatal(err)
	}
	r, err = b.p.Lookup(b.ctx, sub.Child("c"), graph.Xdata{"trusted.afr.vol-client-1": nil, "trusted.afr.vol-client-0": nil, "other": nil})
	if err != nil {
		t.Fatal(err)
	}
	if v := r.Xdata["trusted.afr.vol-client-1"]; len(v) != 12 || v[3] != 1 {
		t.Fatalf("requested xattr not returned: %v", r.Xdata)
	}
	if r.Xdata.Has("trusted.afr.vol-client-0") || r.Xdata.Has("other") {
		t.Fatalf("unexpected xattrs: %v", r.Xdata)
	}

	// An entry made behind posix's back gets the gfid-req on lookup, and its handle.
	if err := os.WriteFile(b.dir+"/outside", []byte("x"), 0644); err != nil {
		t.Fatal(err)
	}
	g := graph.NewGFID()
	r, err = b.p.Lookup(b.ctx, graph.RootLoc().Child("outside"), gfidReqX(g))
	if err != nil || r.Stat.GFID != g {
		t.Fatalf("heal lookup %v %v", r.Stat.GFID, err)
	}
	if lstat(t, b.dir+"/"+handleRel(g)).Ino != r.Stat.Ino {
		t.Fatal("healed entry has no handle")
	}
}

func TestCreateSemantics(t *testing.T) {
	b := newBrick(t, nil)
	g := graph.NewGFID()
	fd, loc := b.create(graph.RootLoc(), "f", g)
	fd.Unref()

	// O_EXCL on an existing name.
	fd2 := graph.NewFD(nil, graph.GFID{}, 0)
	defer fd2.Unref()
	_, err := b.p.Create(b.ctx, graph.RootLoc().Child("f"), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0644, 0, fd2, gfidReqX(graph.NewGFID()))
	wantErrno(t, err, unix.EEXIST, "exclusive create")
	// Without O_EXCL, another gfid-req: EEXIST.
	_, err = b.p.Create(b.ctx, graph.RootLoc().Child("f"), unix.O_RDWR|unix.O_CREAT, 0644, 0, fd2, gfidReqX(graph.NewGFID()))
	wantErrno(t, err, unix.EEXIST, "create with mismatching gfid-req")
	// Same gfid-req: the existing file is opened.
	r, err := b.p.Create(b.ctx, graph.RootLoc().Child("f"), unix.O_RDWR|unix.O_CREAT, 0644, 0, fd2, gfidReqX(g))
	if err != nil || r.Stat.GFID != loc.GFID {
		t.Fatalf("non-exclusive create of existing: %v %v", r.Stat.GFID, err)
	}
	// A directory name is not a file.
	b.mkdir(graph.RootLoc(), "d")
	fd3 := graph.NewFD(nil, graph.GFID{}, 0)
	defer fd3.Unref()
	_, err = b.p.Create(b.ctx, graph.RootLoc().Child("d"), unix.O_RDWR|unix.O_CREAT, 0644, 0, fd3, nil)
	if err == nil {
		t.Fatal("create over a directory accepted")
	}
	// Bad gfid-req.
	_, err = b.p.Mkdir(b.ctx, graph.RootLoc().Child("x"), 0755, 0, graph.Xdata{GFIDReqKey: []byte{1, 2}})
	wantErrno(t, err, unix.EINVAL, "short gfid-req")
	_, err = b.p.Mkdir(b.ctx, graph.RootLoc().Child("x"), 0755, 0, graph.Xdata{GFIDReqKey: make([]byte, 16)})
	wantErrno(t, err, unix.EINVAL, "null gfid-req")
	// Same gfid for a second file: refused, nothing left behind.
	fd4 := graph.NewFD(nil, graph.GFID{}, 0)
	defer fd4.Unref()
	_, err = b.p.Create(b.ctx, graph.RootLoc().Child("g"), unix.O_RDWR|unix.O_CREAT, 0644, 0, fd4, gfidReqX(g))
	wantErrno(t, err, unix.EEXIST, "reused gfid")
	if exists(b.dir + "/g") {
		t.Fatal("entry left behind after gfid conflict")
	}
	if st := lstat(t, b.dir+"/f"); st.Nlink != 2 {
		t.Fatalf("original file nlink %d after conflict", st.Nlink)
	}
	// nil fd.
	_, err = b.p.Create(b.ctx, graph.RootLoc().Child("h"), unix.O_RDWR|unix.O_CREAT, 0644, 0, nil, nil)
	wantErrno(t, err, unix.EINVAL, "nil fd")
	// Mkdir on an existing name.
	_, err = b.p.Mkdir(b.ctx, graph.RootLoc().Child("d"), 0755, 0, nil)
	wantErrno(t, err, unix.EEXIST, "mkdir existing")
	_, err = b.p.Mknod(b.ctx, graph.RootLoc().Child("n"), unix.S_IFDIR|0755, 0, 0, nil)
	wantErrno(t, err, unix.EINVAL, "mknod of a directory")
	_, err = b.p.Symlink(b.ctx, "", graph.RootLoc().Child("s"), 0, nil)
	wantErrno(t, err, unix.ENOENT, "empty symlink")
}

func TestOwnershipModeUmask(t *testing.T) {
	b := newBrick(t, nil)
	if err := os.Chmod(b.dir, 0777); err != nil {
		t.Fatal(err)
	}
	ctx := graph.WithCreds(b.ctx, &graph.Creds{UID: 1234, GID: 5678, Groups: []uint32{4242}})
	loc := graph.RootLoc().Child("f")
	fd := graph.NewFD(nil, graph.GFID{}, 0)
	defer fd.Unref()
	r, err := b.p.Create(ctx, loc, unix.O_RDWR|unix.O_CREAT, 0666, 0027, fd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Stat.UID != 1234 || r.Stat.GID != 5678 || r.Stat.Perm() != 0640 {
		t.Fatalf("owner %d:%d perm %o", r.Stat.UID, r.Stat.GID, r.Stat.Perm())
	}
	// A set-gid parent gives its group and passes S_ISGID to subdirectories.
	dr, err := b.p.Mkdir(b.ctx, graph.RootLoc().Child("sg"), 02775, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dr.Stat.Mode&unix.S_ISGID == 0 {
		t.Fatalf("mkdir dropped S_ISGID: %o", dr.Stat.Mode)
	}
	if err := unix.Chown(b.dir+"/sg", 0, 4242); err != nil {
		t.Fatal(err)
	}
	// A user may not create in a directory without write permission.
	_, err = b.p.Mkdir(ctx, graph.RootLoc().Child("sg").Child("x"), 0755, 0, nil)
	wantErrno(t, err, unix.EINVAL, "child of a loc without gfid")
	sgl := graph.RootLoc().Child("sg")
	sgl.GFID = dr.Stat.GFID
	sr, err := b.p.Mkdir(ctx, sgl.Child("in"), 0755, 0022, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sr.Stat.GID != 4242 || sr.Stat.UID != 1234 || sr.Stat.Mode&unix.S_ISGID == 0 {
		t.Fatalf("under set-gid parent: %d:%d mode %o", sr.Stat.UID, sr.Stat.GID, sr.Stat.Mode)
	}
	// Permission rules for a non-root caller (GlusterFS gets them from the kernel via SET_FS_ID).
	other := graph.WithCreds(b.ctx, &graph.Creds{UID: 999, GID: 999})
	inl := sgl.Child("in")
	inl.GFID = sr.Stat.GFID
	_, err = b.p.Mkdir(other, inl.Child("x"), 0755, 0, nil)
	wantErrno(t, err, unix.EACCES, "mkdir in another user's 0755 dir")
	_, err = b.p.Setxattr(ctx, loc, graph.Xdata{"trusted.x": []byte("1")}, 0, nil)
	wantErrno(t, err, unix.EPERM, "user sets trusted.*")
	_, err = b.p.Fsetxattr(ctx, fd, graph.Xdata{"trusted.x": []byte("1")}, 0, nil)
	wantErrno(t, err, unix.EPERM, "user fsets trusted.*")
	if _, err := b.p.Setxattr(ctx, &graph.Loc{GFID: r.Stat.GFID}, graph.Xdata{"user.x": []byte("1")}, 0, nil); err != nil {
		t.Fatal(err)
	}
	_, err = b.p.Setattr(other, &graph.Loc{GFID: r.Stat.GFID}, &graph.Iatt{Mtime: graph.Timespec{Sec: 1}}, graph.SetAttrMtime, nil)
	wantErrno(t, err, unix.EPERM, "other sets explicit mtime")
	_, err = b.p.Setattr(ctx, &graph.Loc{GFID: r.Stat.GFID}, &graph.Iatt{GID: 1}, graph.SetAttrGID, nil)
	wantErrno(t, err, unix.EPERM, "chgrp to a foreign group")
	if _, err := b.p.Setattr(ctx, &graph.Loc{GFID: r.Stat.GFID}, &graph.Iatt{Mtime: graph.Timespec{Sec: 1}}, graph.SetAttrMtime, nil); err != nil {
		t.Fatal(err)
	}
	// Sticky directory: others may not remove the owner's file.
	if err := unix.Chmod(b.dir, 01777); err != nil {
		t.Fatal(err)
	}
	_, err = b.p.Unlink(other, graph.RootLoc().Child("f"), 0, nil)
	wantErrno(t, err, unix.EPERM, "unlink in sticky dir")
	if _, err := b.p.Unlink(ctx, graph.RootLoc().Child("f"), 0, nil); err != nil {
		t.Fatal(err)
	}
}

func TestUnlinkLinkRmdirHandles(t *testing.T) {
	b := newBrick(t, nil)
	fd, fl := b.create(graph.RootLoc(), "f", graph.GFID{})
	fd.Unref()
	h := b.dir + "/" + handleRel(fl.GFID)

	lr, err := b.p.Link(b.ctx, &graph.Loc{GFID: fl.GFID}, graph.RootLoc().Child("f2"), nil)
	if err != nil || lr.Stat.GFID != fl.GFID || lr.Stat.Nlink != 2 { // the handle is not counted
		t.Fatalf("link %+v %v", lr.Stat, err)
	}
	if _, err := b.p.Unlink(b.ctx, graph.RootLoc().Child("f"), 0, nil); err != nil {
		t.Fatal(err)
	}
	if !exists(h) {
		t.Fatal("handle removed while a name remains")
	}
	if _, err := b.p.Unlink(b.ctx, graph.RootLoc().Child("f2"), 0, nil); err != nil {
		t.Fatal(err)
	}
	if exists(h) {
		t.Fatal("handle left after the last name went")
	}
	_, _, err = b.p.Stat(b.ctx, &graph.Loc{GFID: fl.GFID}, nil)
	wantErrno(t, err, unix.ESTALE, "stat of removed gfid")
	_, err = b.p.Unlink(b.ctx, graph.RootLoc().Child("f"), 0, nil)
	wantErrno(t, err, unix.ENOENT, "unlink missing")

	dl := b.mkdir(graph.RootLoc(), "d")
	_, err = b.p.Unlink(b.ctx, graph.RootLoc().Child("d"), 0, nil)
	wantErrno(t, err, unix.EISDIR, "unlink dir")
	_, err = b.p.Link(b.ctx, dl, graph.RootLoc().Child("dl"), nil)
	wantErrno(t, err, unix.EPERM, "link dir")
	fd, _ = b.create(dl, "x", graph.GFID{})
	fd.Unref()
	_, err = b.p.Rmdir(b.ctx, graph.RootLoc().Child("d"), 0, nil)
	wantErrno(t, err, unix.ENOTEMPTY, "rmdir non-empty")
	if _, err := b.p.Unlink(b.ctx, dl.Child("x"), 0, nil); err != nil {
		t.Fatal(err)
	}
	dh := b.dir + "/" + handleRel(dl.GFID)
	if !exists(dh) {
		t.Fatal("dir handle missing")
	}
	if _, err := b.p.Rmdir(b.ctx, graph.RootLoc().Child("d"), 0, nil); err != nil {
		t.Fatal(err)
	}
	if exists(dh) {
		t.Fatal("dir handle left after rmdir")
	}
	fd, _ = b.create(graph.RootLoc(), "file", graph.GFID{})
	fd.Unref()
	_, err = b.p.Rmdir(b.ctx, graph.RootLoc().Child("file"), 0, nil)
	wantErrno(t, err, unix.ENOTDIR, "rmdir of a file")
}

func TestRenameHandles(t *testing.T) {
	b := newBrick(t, nil)
	a := b.mkdir(graph.RootLoc(), "a")
	bb := b.mkdir(graph.RootLoc(), "b")
	sub := b.mkdir(a, "sub")
	deep := b.mkdir(sub, "deep")
	fd, fl := b.create(deep, "f", graph.GFID{})
	fd.Unref()

	// Move a directory: its handle follows; its descendants resolve by gfid at the new place.
	r, err := b.p.Rename(b.ctx, a.Child("sub"), bb.Child("moved"), nil)
	if err != nil || r.Stat.GFID != sub.GFID {
		t.Fatalf("rename dir %v %v", r.Stat.GFID, err)
	}
	tgt, _ := os.Readlink(b.dir + "/" + handleRel(sub.GFID))
	if tgt != dirHandleTarget(bb.GFID, "moved") {
		t.Fatalf("handle after rename %q", tgt)
	}
	if rel, err := b.p.dirPath(deep.GFID); err != nil || rel != "b/moved/deep" {
		t.Fatalf("deep path after rename %q %v", rel, err)
	}
	if st, _, err := b.p.Stat(b.ctx, &graph.Loc{GFID: fl.GFID}, nil); err != nil || st.GFID != fl.GFID {
		t.Fatalf("file under moved dir %v", err)
	}
	// Into its own subtree.
	_, err = b.p.Rename(b.ctx, bb.Child("moved"), deep.Child("x"), nil)
	wantErrno(t, err, unix.EINVAL, "rename into own subtree")

	// Over an existing file: the replaced file's handle goes.
	fd, f1 := b.create(graph.RootLoc(), "f1", graph.GFID{})
	fd.Unref()
	fd, f2 := b.create(graph.RootLoc(), "f2", graph.GFID{})
	fd.Unref()
	if _, err := b.p.Rename(b.ctx, graph.RootLoc().Child("f1"), graph.RootLoc().Child("f2"), nil); err != nil {
		t.Fatal(err)
	}
	if exists(b.dir + "/" + handleRel(f2.GFID)) {
		t.Fatal("replaced file's handle left behind")
	}
	if g, _ := b.p.getGFIDPath("f2"); g != f1.GFID {
		t.Fatal("f2 does not carry f1's gfid")
	}
	// Over an empty directory: that directory's handle goes, the mover's handle points here.
	e1 := b.mkdir(graph.RootLoc(), "e1")
	e2 := b.mkdir(graph.RootLoc(), "e2")
	if _, err := b.p.Rename(b.ctx, graph.RootLoc().Child("e1"), graph.RootLoc().Child("e2"), nil); err != nil {
		t.Fatal(err)
	}
	if exists(b.dir + "/" + handleRel(e2.GFID)) {
		t.Fatal("replaced dir's handle left")
	}
	if tgt, _ := os.Readlink(b.dir + "/" + handleRel(e1.GFID)); tgt != dirHandleTarget(graph.RootGFID, "e2") {
		t.Fatalf("mover's handle %q", tgt)
	}
	// Over a non-empty directory.
	b.mkdir(graph.RootLoc(), "e3")
	_, err = b.p.Rename(b.ctx, graph.RootLoc().Child("e3"), bb.Child("moved"), nil)
	wantErrno(t, err, unix.ENOTEMPTY, "rename over non-empty dir")
	// Hard links to the same file: a no-op that keeps the handle.
	if _, err := b.p.Link(b.ctx, &graph.Loc{GFID: f1.GFID}, graph.RootLoc().Child("f3"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.p.Rename(b.ctx, graph.RootLoc().Child("f3"), graph.RootLoc().Child("f2"), nil); err != nil {
		t.Fatal(err)
	}
	if !exists(b.dir + "/" + handleRel(f1.GFID)) {
		t.Fatal("handle lost on rename between hard links")
	}
	_, err = b.p.Rename(b.ctx, graph.RootLoc().Child("f2"), graph.RootLoc().Child(".glusterfs"), nil)
	wantErrno(t, err, unix.EPERM, "rename onto .glusterfs")
}

func TestXattrFops(t *testing.T) {
	b := newBrick(t, nil)
	fd, fl := b.create(graph.RootLoc(), "f", graph.GFID{})
	defer fd.Unref()
	_, err := b.p.Setxattr(b.ctx, fl, graph.Xdata{"trusted.gfid": make([]byte, 16)}, 0, nil)
	wantErrno(t, err, unix.EPERM, "set trusted.gfid")
	_, err = b.p.Fsetxattr(b.ctx, fd, graph.Xdata{"trusted.glusterfs.volume-id": make([]byte, 16)}, 0, nil)
	wantErrno(t, err, unix.EPERM, "set volume-id")
	_, err = b.p.Removexattr(b.ctx, fl, "trusted.gfid", nil)
	wantErrno(t, err, unix.EPERM, "remove trusted.gfid")
	if _, err := b.p.Setxattr(b.ctx, fl, graph.Xdata{"user.a": []byte("1"), "trusted.b": []byte{0, 2}}, 0, nil); err != nil {
		t.Fatal(err)
	}
	_, err = b.p.Setxattr(b.ctx, fl, graph.Xdata{"user.a": []byte("x")}, unix.XATTR_CREATE, nil)
	wantErrno(t, err, unix.EEXIST, "XATTR_CREATE on existing")
	all, _, err := b.p.Getxattr(b.ctx, fl, "", nil)
	if err != nil || string(all["user.a"]) != "1" || !bytes.Equal(all["trusted.b"], []byte{0, 2}) || !bytes.Equal(all["trusted.gfid"], fl.GFID[:]) {
		t.Fatalf("list all %v %v", all, err)
	}
	one, _, err := b.p.Fgetxattr(b.ctx, fd, "user.a", nil)
	if err != nil || string(one["user.a"]) != "1" || len(one) != 1 {
		t.Fatalf("fgetxattr %v %v", one, err)
	}
	fall, _, err := b.p.Fgetxattr(b.ctx, fd, "", nil)
	if err != nil || len(fall) != len(all) {
		t.Fatalf("flist %v %v", fall, err)
	}
	if _, err := b.p.Fremovexattr(b.ctx, fd, "user.a", nil); err != nil {
		t.Fatal(err)
	}
	_, _, err = b.p.Getxattr(b.ctx, fl, "user.a", nil)
	wantErrno(t, err, unix.ENODATA, "removed xattr")
	_, err = b.p.Removexattr(b.ctx, fl, "user.a", nil)
	wantErrno(t, err, unix.ENODATA, "remove missing")
	_, err = b.p.Setxattr(b.ctx, fl, graph.Xdata{}, 0, nil)
	wantErrno(t, err, unix.EINVAL, "empty dict")
}

func be32(vs ...int32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint32(b[4*i:], uint32(v))
	}
	return b
}

func TestXattropConcurrentAndTypes(t *testing.T) {
	b := newBrick(t, nil)
	fd, fl := b.create(graph.RootLoc(), "f", graph.GFID{})
	defer fd.Unref()
	const workers, rounds = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				var err error
				if (w+i)%2 == 0 {
					_, _, err = b.p.Xattrop(b.ctx, fl, graph.XattropAddArray, graph.Xdata{"trusted.afr.v-client-0": be32(1, 2, -1)}, nil)
				} else {
					_, _, err = b.p.Fxattrop(b.ctx, fd, graph.XattropAddArray, graph.Xdata{"trusted.afr.v-client-0": be32(1, 2, -1)}, nil)
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
		t.Fatal(err)
	}
	n := int32(workers * rounds)
	if v := getx(t, b.dir+"/f", "trusted.afr.v-client-0"); !bytes.Equal(v, be32(n, 2*n, -n)) {
		t.Fatalf("sum %x, want %x", v, be32(n, 2*n, -n))
	}
	// Zero add: answered, not written.
	out, _, err := b.p.Xattrop(b.ctx, fl, graph.XattropAddArray, graph.Xdata{"trusted.afr.v-client-1": be32(0, 0, 0)}, nil)
	if err != nil || !bytes.Equal(out["trusted.afr.v-client-1"], be32(0, 0, 0)) {
		t.Fatalf("zero add %v %v", out, err)
	}
	if _, err := lgetxattr(b.dir+"/f", "trusted.afr.v-client-1"); !errors.Is(err, unix.ENODATA) {
		t.Fatalf("zero add wrote the xattr: %v", err)
	}
	// 64-bit.
	v64 := make([]byte, 8)
	binary.BigEndian.PutUint64(v64, 1<<40)
	b.p.Xattrop(b.ctx, fl, graph.XattropAddArray64, graph.Xdata{"trusted.q": v64}, nil)
	out, _, err = b.p.Xattrop(b.ctx, fl, graph.XattropAddArray64, graph.Xdata{"trusted.q": v64}, nil)
	if err != nil || binary.BigEndian.Uint64(out["trusted.q"]) != 2<<40 {
		t.Fatalf("add64 %x %v", out["trusted.q"], err)
	}
	// With default: missing → add+default; present → add.
	out, _, _ = b.p.Xattrop(b.ctx, fl, graph.XattropAddArrayWithDefault, graph.Xdata{"trusted.d": be32(1, 5, 100, 200)}, nil)
	if !bytes.Equal(out["trusted.d"], be32(101, 205)) {
		t.Fatalf("with default %x", out["trusted.d"])
	}
	out, _, _ = b.p.Xattrop(b.ctx, fl, graph.XattropAddArrayWithDefault, graph.Xdata{"trusted.d": be32(1, 5, 100, 200)}, nil)
	if !bytes.Equal(out["trusted.d"], be32(102, 210)) {
		t.Fatalf("with default, present %x", out["trusted.d"])
	}
	d64 := make([]byte, 16)
	binary.BigEndian.PutUint64(d64, 3)
	binary.BigEndian.PutUint64(d64[8:], 7)
	out, _, _ = b.p.Xattrop(b.ctx, fl, graph.XattropAddArray64WithDefault, graph.Xdata{"trusted.d64": d64}, nil)
	if binary.BigEndian.Uint64(out["trusted.d64"]) != 10 {
		t.Fatalf("64 with default %x", out["trusted.d64"])
	}
	// Get and set returns the old value.
	out, _, _ = b.p.Xattrop(b.ctx, fl, graph.XattropGetAndSet, graph.Xdata{"trusted.gs": []byte("new1")}, nil)
	if out.Has("trusted.gs") {
		t.Fatalf("get-and-set of missing returned %v", out)
	}
	out, _, _ = b.p.Xattrop(b.ctx, fl, graph.XattropGetAndSet, graph.Xdata{"trusted.gs": []byte("new2")}, nil)
	if string(out["trusted.gs"]) != "new1" || string(getx(t, b.dir+"/f", "trusted.gs")) != "new2" {
		t.Fatalf("get-and-set %v", out)
	}
	// Or / And.
	b.p.Xattrop(b.ctx, fl, graph.XattropOrArray, graph.Xdata{"trusted.bits": []byte{0x0f, 0x01}}, nil)
	out, _, _ = b.p.Xattrop(b.ctx, fl, graph.XattropOrArray, graph.Xdata{"trusted.bits": []byte{0xf0, 0x02}}, nil)
	if !bytes.Equal(out["trusted.bits"], []byte{0xff, 0x03}) {
		t.Fatalf("or %x", out["trusted.bits"])
	}
	out, _, _ = b.p.Fxattrop(b.ctx, fd, graph.XattropAndArray, graph.Xdata{"trusted.bits": []byte{0x3c, 0x01}}, nil)
	if !bytes.Equal(out["trusted.bits"], []byte{0x3c, 0x01}) {
		t.Fatalf("and %x", out["trusted.bits"])
	}
	// Bad input.
	_, _, err = b.p.Xattrop(b.ctx, fl, graph.XattropAddArray, graph.Xdata{"trusted.x": []byte{1, 2, 3}}, nil)
	wantErrno(t, err, unix.EINVAL, "unaligned array")
	_, _, err = b.p.Xattrop(b.ctx, fl, graph.XattropFlag(99), graph.Xdata{"trusted.x": be32(1)}, nil)
	wantErrno(t, err, unix.EINVAL, "unknown type")
	_, _, err = b.p.Xattrop(b.ctx, fl, graph.XattropGetAndSet, graph.Xdata{"trusted.gfid": make([]byte, 16)}, nil)
	wantErrno(t, err, unix.EPERM, "xattrop on trusted.gfid")
	// A longer value on disk than the request: ERANGE, as GlusterFS.
	_, _, err = b.p.Xattrop(b.ctx, fl, graph.XattropAddArray, graph.Xdata{"trusted.afr.v-client-0": be32(1)}, nil)
	wantErrno(t, err, unix.ERANGE, "shorter request")
}

func TestDataFops(t *testing.T) {
	b := newBrick(t, nil)
	fd, fl := b.create(graph.RootLoc(), "f", graph.GFID{})
	defer fd.Unref()
	data := bytes.Repeat([]byte("weft"), 2048)
	w, err := b.p.Writev(b.ctx, fd, data, 0, 0, nil)
	if err != nil || w.Pre.Size != 0 || w.Post.Size != uint64(len(data)) || w.Post.GFID != fl.GFID {
		t.Fatalf("writev %+v %v", w, err)
	}
	if _, err := b.p.Writev(b.ctx, fd, []byte("SYNC"), 4, unix.O_SYNC, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.p.Writev(b.ctx, fd, []byte("DSYN"), 8, unix.O_DSYNC, nil); err != nil {
		t.Fatal(err)
	}
	r, err := b.p.Readv(b.ctx, fd, 16, 0, 0, nil)
	if err != nil || string(r.Data) != "weftSYNCDSYNweft" || r.EOF {
		t.Fatalf("readv %q eof=%v %v", r.Data, r.EOF, err)
	}
	r, err = b.p.Readv(b.ctx, fd, 100, int64(len(data))-4, 0, nil)
	if err != nil || string(r.Data) != "weft" || !r.EOF {
		t.Fatalf("readv at end %q %v %v", r.Data, r.EOF, err)
	}
	_, err = b.p.Readv(b.ctx, fd, 1, -1, 0, nil)
	wantErrno(t, err, unix.EINVAL, "negative offset")

	// O_APPEND on the fd: writes go to the end whatever the offset.
	afd := graph.NewFD(nil, fl.GFID, unix.O_WRONLY|unix.O_APPEND)
	defer afd.Unref()
	if _, err := b.p.Open(b.ctx, &graph.Loc{GFID: fl.GFID}, unix.O_WRONLY|unix.O_APPEND, afd, nil); err != nil {
		t.Fatal(err)
	}
	w, err = b.p.Writev(b.ctx, afd, []byte("END"), 0, 0, nil)
	if err != nil || w.Post.Size != uint64(len(data))+3 {
		t.Fatalf("append write %+v %v", w.Post.Size, err)
	}
	if _, err := b.p.Flush(b.ctx, afd, nil); err != nil {
		t.Fatal(err)
	}
	for _, ds := range []bool{false, true} {
		if _, err := b.p.Fsync(b.ctx, fd, ds, nil); err != nil {
			t.Fatal(err)
		}
	}

	// Sparse file: blocks reflect allocation; seek finds data and holes; discard punches.
	tr, err := b.p.Ftruncate(b.ctx, fd, 0, nil)
	if err != nil || tr.Post.Size != 0 {
		t.Fatal(err)
	}
	const mb = 1 << 20
	if _, err := b.p.Writev(b.ctx, fd, bytes.Repeat([]byte{1}, 4096), 4*mb, 0, nil); err != nil {
		t.Fatal(err)
	}
	st, _, _ := b.p.Fstat(b.ctx, fd, nil)
	if st.Size != 4*mb+4096 || st.Blocks*512 > 64<<10 {
		t.Fatalf("sparse: size %d blocks %d", st.Size, st.Blocks)
	}
	off, _, err := b.p.Seek(b.ctx, fd, 0, graph.SeekData, nil)
	if err != nil || off != 4*mb {
		t.Fatalf("SEEK_DATA %d %v", off, err)
	}
	off, _, err = b.p.Seek(b.ctx, fd, 4*mb, graph.SeekHole, nil)
	if err != nil || off != 4*mb+4096 {
		t.Fatalf("SEEK_HOLE %d %v", off, err)
	}
	_, _, err = b.p.Seek(b.ctx, fd, 4*mb+4096, graph.SeekData, nil)
	wantErrno(t, err, unix.ENXIO, "SEEK_DATA at EOF")
	_, _, err = b.p.Seek(b.ctx, fd, 0, graph.SeekWhat(0), nil)
	wantErrno(t, err, unix.EINVAL, "bad whence")
	fa, err := b.p.Fallocate(b.ctx, fd, 0, 0, mb, nil)
	if err != nil || fa.Post.Blocks*512 < mb {
		t.Fatalf("fallocate %+v %v", fa.Post.Blocks, err)
	}
	fa, err = b.p.Fallocate(b.ctx, fd, graph.FallocKeepSize, 8*mb, mb, nil)
	if err != nil || fa.Post.Size != 4*mb+4096 {
		t.Fatalf("fallocate keep size: %d %v", fa.Post.Size, err)
	}
	dc, err := b.p.Discard(b.ctx, fd, 4*mb, 4096, nil)
	if err != nil || dc.Post.Size != 4*mb+4096 || dc.Post.Blocks >= dc.Pre.Blocks {
		t.Fatalf("discard %+v -> %+v %v", dc.Pre.Blocks, dc.Post.Blocks, err)
	}
	r, _ = b.p.Readv(b.ctx, fd, 4096, 4*mb, 0, nil)
	if !bytes.Equal(r.Data, make([]byte, 4096)) {
		t.Fatal("discarded range not zero")
	}
	if _, err := b.p.Writev(b.ctx, fd, []byte("abcdefgh"), 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	zf, err := b.p.Zerofill(b.ctx, fd, 2, 4, nil)
	if err != nil || zf.Post.Size != 4*mb+4096 {
		t.Fatal(err)
	}
	r, _ = b.p.Readv(b.ctx, fd, 8, 0, 0, nil)
	if string(r.Data) != "ab\x00\x00\x00\x00gh" {
		t.Fatalf("zerofill %q", r.Data)
	}
	zf, err = b.p.Zerofill(b.ctx, fd, 10*mb, 10, nil)
	if err != nil || zf.Post.Size != 10*mb+10 {
		t.Fatalf("zerofill past EOF grows the file: %v %v", zf.Post.Size, err)
	}
	_, err = b.p.Zerofill(b.ctx, fd, 0, 0, nil)
	wantErrno(t, err, unix.EINVAL, "zero-length zerofill")
	// Rchecksum: Adler-32 and SHA-256 of the range.
	rc, err := b.p.Rchecksum(b.ctx, fd, 0, 8, nil)
	// Adler-32 of "ab\0\0\0\0gh" by hand: a = 1+97+98+103+104 = 403, b = 98+196*5+299+403 = 1780.
	wantStrong := sha256.Sum256([]byte("ab\x00\x00\x00\x00gh"))
	if err != nil || rc.Weak != 1780<<16|403 || !bytes.Equal(rc.Strong, wantStrong[:]) {
		t.Fatalf("rchecksum %#x %x %v", rc.Weak, rc.Strong, err)
	}
	// Truncate by loc.
	tr, err = b.p.Truncate(b.ctx, fl, 3, nil)
	if err != nil || tr.Post.Size != 3 || tr.Post.GFID != fl.GFID {
		t.Fatalf("truncate %+v %v", tr.Post, err)
	}
	dl := b.mkdir(graph.RootLoc(), "d")
	_, err = b.p.Truncate(b.ctx, dl, 0, nil)
	wantErrno(t, err, unix.EISDIR, "truncate dir")
	// Readlink.
	sr, err := b.p.Symlink(b.ctx, "../target/x", graph.RootLoc().Child("ln"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	tgt, st2, _, err := b.p.Readlink(b.ctx, &graph.Loc{GFID: sr.Stat.GFID}, 0, nil)
	if err != nil || tgt != "../target/x" || !st2.IsLnk() {
		t.Fatalf("readlink %q %v", tgt, err)
	}
	_, _, _, err = b.p.Readlink(b.ctx, fl, 0, nil)
	wantErrno(t, err, unix.EINVAL, "readlink of a file")
	_, err = b.p.Truncate(b.ctx, &graph.Loc{GFID: sr.Stat.GFID}, 0, nil)
	wantErrno(t, err, unix.EINVAL, "truncate symlink")
	// Statfs.
	sf, _, err := b.p.Statfs(b.ctx, graph.RootLoc(), nil)
	if err != nil || sf.Blocks == 0 || sf.Bavail > sf.Blocks || sf.Namemax != 255 {
		t.Fatalf("statfs %+v %v", sf, err)
	}
	// Locks are features/locks' job.
	_, _, err = b.p.Lk(b.ctx, fd, graph.SetLk, &graph.Flock{Type: graph.LockWrite}, nil)
	wantErrno(t, err, unix.ENOSYS, "lk")
	_, err = b.p.Inodelk(b.ctx, "v", fl, graph.SetLk, &graph.Flock{}, nil)
	wantErrno(t, err, unix.ENOSYS, "inodelk")
	_, err = b.p.Finodelk(b.ctx, "v", fd, graph.SetLk, &graph.Flock{}, nil)
	wantErrno(t, err, unix.ENOSYS, "finodelk")
	_, err = b.p.Entrylk(b.ctx, "v", graph.RootLoc(), "x", graph.EntrylkLock, graph.EntrylkWrlck, nil)
	wantErrno(t, err, unix.ENOSYS, "entrylk")
	_, err = b.p.Fentrylk(b.ctx, "v", fd, "x", graph.EntrylkLock, graph.EntrylkWrlck, nil)
	wantErrno(t, err, unix.ENOSYS, "fentrylk")
	// An FD this posix never opened.
	stray := graph.NewFD(nil, fl.GFID, 0)
	defer stray.Unref()
	_, err = b.p.Readv(b.ctx, stray, 1, 0, 0, nil)
	wantErrno(t, err, unix.EBADF, "unopened fd")
	_, _, err = b.p.Fstat(b.ctx, nil, nil)
	wantErrno(t, err, unix.EBADF, "nil fd")
	// Cancelled context.
	cctx, cancel := context.WithCancel(b.ctx)
	cancel()
	_, _, err = b.p.Stat(cctx, fl, nil)
	wantErrno(t, err, unix.EINTR, "cancelled ctx")
}

func TestSetattrAccess(t *testing.T) {
	b := newBrick(t, nil)
	fd, fl := b.create(graph.RootLoc(), "f", graph.GFID{})
	defer fd.Unref()
	in := &graph.Iatt{Mode: 0751, UID: 11, GID: 22, Size: 100,
		Atime: graph.Timespec{Sec: 1000, Nsec: 123456789}, Mtime: graph.Timespec{Sec: 2000, Nsec: 987654321}}
	r, err := b.p.Setattr(b.ctx, fl, in, graph.SetAttrMode|graph.SetAttrUID|graph.SetAttrGID|graph.SetAttrSize|graph.SetAttrAtime|graph.SetAttrMtime, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := r.Post
	if p.Perm() != 0751 || p.UID != 11 || p.GID != 22 || p.Size != 100 || p.Atime != in.Atime || p.Mtime != in.Mtime || r.Pre.Size != 0 {
		t.Fatalf("setattr post %+v", p)
	}
	before := time.Now().Add(-time.Second).Unix()
	r, err = b.p.Fsetattr(b.ctx, fd, &graph.Iatt{Mode: 0600, Size: 7}, graph.SetAttrMode|graph.SetAttrSize|graph.SetAttrMtimeNow, nil)
	if err != nil || r.Post.Perm() != 0600 || r.Post.Size != 7 || r.Post.Mtime.Sec < before || r.Post.Atime != in.Atime {
		t.Fatalf("fsetattr %+v %v", r.Post, err)
	}
	r, err = b.p.Fsetattr(b.ctx, fd, &graph.Iatt{Atime: graph.Timespec{Sec: 5, Nsec: 6}}, graph.SetAttrAtime, nil)
	if err != nil || r.Post.Atime != (graph.Timespec{Sec: 5, Nsec: 6}) {
		t.Fatalf("fsetattr atime %+v %v", r.Post.Atime, err)
	}
	_, err = b.p.Setattr(b.ctx, fl, &graph.Iatt{Atime: graph.Timespec{Nsec: 2e9}}, graph.SetAttrAtime, nil)
	wantErrno(t, err, unix.EINVAL, "bad nsec")
	_, err = b.p.Setattr(b.ctx, graph.RootLoc(), &graph.Iatt{Size: 1}, graph.SetAttrSize, nil)
	wantErrno(t, err, unix.EISDIR, "truncate root")
	// Setattr on a symlink: owner and times apply, mode is skipped.
	sr, _ := b.p.Symlink(b.ctx, "x", graph.RootLoc().Child("ln"), 0, nil)
	r, err = b.p.Setattr(b.ctx, &graph.Loc{GFID: sr.Stat.GFID}, &graph.Iatt{Mode: 0600, UID: 5, Mtime: graph.Timespec{Sec: 77}}, graph.SetAttrMode|graph.SetAttrUID|graph.SetAttrMtime, nil)
	if err != nil || r.Post.UID != 5 || r.Post.Mtime.Sec != 77 || !r.Post.IsLnk() {
		t.Fatalf("setattr symlink %+v %v", r.Post, err)
	}

	// Access: mode 0600 owned by 11:22.
	user := func(uid, gid uint32) context.Context {
		return graph.WithCreds(b.ctx, &graph.Creds{UID: uid, GID: gid})
	}
	check := func(ctx context.Context, mask uint32, want unix.Errno) {
		t.Helper()
		_, err := b.p.Access(ctx, fl, mask, nil)
		wantErrno(t, err, want, "access")
	}
	check(user(11, 0), unix.R_OK|unix.W_OK, 0)
	check(user(11, 0), unix.X_OK, unix.EACCES)
	check(user(12, 22), unix.R_OK, unix.EACCES)
	check(user(0, 0), unix.R_OK|unix.W_OK, 0)
	check(user(0, 0), unix.X_OK, unix.EACCES)
	check(user(99, 99), 0, 0)
	_, err = b.p.Access(b.ctx, fl, 0100, nil)
	wantErrno(t, err, unix.EINVAL, "bad mask")
}

// TestReaddirCookies: cookies are the kernel's d_off; a readdir at any returned cookie continues
// after that entry, even while entries are added and removed.
func TestReaddirCookies(t *testing.T) {
	b := newBrick(t, nil)
	dl := b.mkdir(graph.RootLoc(), "d")
	const n = 200
	for i := 0; i < n; i++ {
		fd, _ := b.create(dl, "f"+itoa(i), graph.GFID{})
		fd.Unref()
	}
	dfd := graph.NewFD(nil, dl.GFID, 0)
	defer dfd.Unref()
	if _, err := b.p.Opendir(b.ctx, dl, dfd, nil); err != nil {
		t.Fatal(err)
	}
	// First pass in small chunks, recording the cookies; mutate between chunks.
	seen := map[string]int{}
	var cookies []uint64
	var names []string
	off := uint64(0)
	added := 0
	for round := 0; ; round++ {
		ents, _, err := b.p.Readdir(b.ctx, dfd, 512, off, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) == 0 {
			break
		}
		for _, e := range ents {
			seen[e.Name]++
			cookies = append(cookies, e.Off)
			names = append(names, e.Name)
		}
		off = ents[len(ents)-1].Off
		// Churn: add a new entry and remove one we have not necessarily seen.
		fd, _ := b.create(dl, "new"+itoa(round), graph.GFID{})
		fd.Unref()
		added++
		victim := "f" + itoa((round*37)%n)
		if _, err := b.p.Unlink(b.ctx, dl.Child(victim), 0, nil); err == nil {
			defer func(v string) {}(victim)
		}
		if round > 1000 {
			t.Fatal("readdir does not terminate")
		}
	}
	for name, c := range seen {
		if c != 1 {
			t.Fatalf("%s returned %d times", name, c)
		}
	}
	// Every entry that existed throughout was returned.
	for i := 0; i < n; i++ {
		name := "f" + itoa(i)
		if exists(b.dir+"/d/"+name) && seen[name] == 0 {
			t.Fatalf("surviving entry %s never returned", name)
		}
	}
	// Re-reading from any earlier cookie continues with the entry after it (for those still present).
	for _, k := range []int{0, len(cookies) / 3, len(cookies) / 2} {
		ents, _, err := b.p.Readdir(b.ctx, dfd, 4096, cookies[k], nil)
		if err != nil {
			t.Fatal(err)
		}
		// The first returned name must be the first name after k that still exists or a name
		// added since (never an entry at or before k).
		before := map[string]bool{}
		for _, nm := range names[:k+1] {
			before[nm] = true
		}
		for _, e := range ents {
			if before[e.Name] {
				t.Fatalf("readdir at cookie %d returned %s from before the cookie", k, e.Name)
			}
		}
		if len(ents) == 0 && k < len(names)-1 {
			t.Fatalf("readdir at cookie %d returned nothing", k)
		}
	}
	// Readdirp fills gfids; the root hides .glusterfs.
	ents, _, err := b.p.Readdirp(b.ctx, dfd, 0, 0, graph.Xdata{"trusted.gfid": nil})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name == ".." {
			continue
		}
		want, _ := b.p.getGFIDPath(joinRel("d", e.Name))
		if e.Name == "." {
			want = dl.GFID
		}
		if e.Stat.GFID != want || want.IsZero() || e.Stat.Ino != e.Ino || !bytes.Equal(e.Xdata["trusted.gfid"], want[:]) {
			t.Fatalf("readdirp %s: gfid %v want %v ino %d/%d xdata %v", e.Name, e.Stat.GFID, want, e.Stat.Ino, e.Ino, e.Xdata)
		}
	}
	rfd := graph.NewFD(nil, graph.RootGFID, 0)
	defer rfd.Unref()
	if _, err := b.p.Opendir(b.ctx, graph.RootLoc(), rfd, nil); err != nil {
		t.Fatal(err)
	}
	for _, plus := range []bool{false, true} {
		var ents []graph.Dirent
		if plus {
			ents, _, err = b.p.Readdirp(b.ctx, rfd, 0, 0, nil)
		} else {
			ents, _, err = b.p.Readdir(b.ctx, rfd, 0, 0, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, e := range ents {
			got[e.Name] = true
		}
		if got[".glusterfs"] || !got["d"] || !got["."] {
			t.Fatalf("root listing %v", got)
		}
	}
	if _, err := b.p.Fsyncdir(b.ctx, dfd, false, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err = b.p.Readdir(b.ctx, func() *graph.FD {
		fd, _ := b.create(graph.RootLoc(), "plain", graph.GFID{})
		t.Cleanup(fd.Unref)
		return fd
	}(), 0, 0, nil)
	wantErrno(t, err, unix.ENOTDIR, "readdir on a file fd")
}

func itoa(i int) string {
	const d = "0123456789"
	if i == 0 {
		return "0"
	}
	s := ""
	for ; i > 0; i /= 10 {
		s = string(d[i%10]) + s
	}
	return s
}

func TestReserveENOSPC(t *testing.T) {
	b := newBrick(t, map[string]string{"reserve": "100"})
	fd := graph.NewFD(nil, graph.GFID{}, 0)
	defer fd.Unref()
	_, err := b.p.Create(b.ctx, graph.RootLoc().Child("f"), unix.O_RDWR|unix.O_CREAT, 0644, 0, fd, nil)
	wantErrno(t, err, unix.ENOSPC, "create below reserve")
	_, err = b.p.Mkdir(b.ctx, graph.RootLoc().Child("d"), 0755, 0, nil)
	wantErrno(t, err, unix.ENOSPC, "mkdir below reserve")
	// Internal fops may use the reserve.
	if _, err := b.p.Create(b.ctx, graph.RootLoc().Child("f"), unix.O_RDWR|unix.O_CREAT, 0644, 0, fd, graph.Xdata{InternalFopKey: []byte("yes")}); err != nil {
		t.Fatal(err)
	}
	_, err = b.p.Writev(b.ctx, fd, []byte("x"), 0, 0, nil)
	wantErrno(t, err, unix.ENOSPC, "write below reserve")
	sf, _, err := b.p.Statfs(b.ctx, graph.RootLoc(), nil)
	if err != nil || sf.Bavail != 0 || sf.Bfree != 0 {
		t.Fatalf("statfs with full reserve %+v %v", sf, err)
	}
	// Lowering the reserve at run time.
	opts, err := graph.ValidateOptions(mustReg(t).Options, map[string]string{"directory": b.dir, "reserve": "0", "health-check-interval": "0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.p.Reconfigure(opts); err != nil {
		t.Fatal(err)
	}
	if _, err := b.p.Writev(b.ctx, fd, []byte("x"), 0, 0, nil); err != nil {
		t.Fatal(err)
	}
}

func mustReg(t *testing.T) *graph.Registration {
	r, ok := graph.LookupType("storage/posix")
	if !ok {
		t.Fatal("storage/posix not registered")
	}
	return r
}

func (b *brick) waitEvent(want graph.Event, from int) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		ev := b.events()
		for _, e := range ev[from:] {
			if e == want {
				return true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// TestHealthCheckFile makes the real health-check path unusable (the health_check file replaced
// by a directory, so open for write fails with EISDIR), expects CHILD_DOWN and ENOTCONN, then
// repairs it and expects CHILD_UP.
func TestHealthCheckFile(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "30ms"})
	if ev := b.events(); len(ev) != 1 || ev[0] != graph.EventChildUp {
		t.Fatalf("events after activate %v, want [CHILD_UP]", ev)
	}
	hc := b.dir + "/" + HealthCheckFile
	deadline := time.Now().Add(5 * time.Second)
	for !exists(hc) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !exists(hc) {
		t.Fatal("health check never wrote its file")
	}
	if err := os.Remove(hc); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(hc, 0700); err != nil {
		t.Fatal(err)
	}
	if !b.waitEvent(graph.EventChildDown, 1) {
		t.Fatalf("no CHILD_DOWN: %v", b.events())
	}
	_, _, err := b.p.Stat(b.ctx, graph.RootLoc(), nil)
	wantErrno(t, err, unix.ENOTCONN, "fop while unhealthy")
	n := len(b.events())
	if err := os.Remove(hc); err != nil {
		t.Fatal(err)
	}
	if !b.waitEvent(graph.EventChildUp, n) {
		t.Fatalf("no CHILD_UP after repair: %v", b.events())
	}
	if _, _, err := b.p.Stat(b.ctx, graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
}

// TestHealthCheckHang: a probe that does not return within the timeout takes the brick down.
func TestHealthCheckHang(t *testing.T) {
	dir := t.TempDir()
	requireTrustedXattrs(t, dir)
	release := make(chan struct{})
	p, err := New("hang", map[string]string{"directory": dir, "health-check-interval": "20ms", "health-check-timeout": "50ms"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.hcProbe = func() error { <-release; return nil }
	g, _ := graph.NewGraph(p)
	var mu sync.Mutex
	var evs []graph.Event
	g.SetEventHandler(func(ctx context.Context, ev graph.Event, from graph.Xlator) {
		mu.Lock()
		evs = append(evs, ev)
		mu.Unlock()
	})
	if err := g.Activate(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer g.Fini()
	deadline := time.Now().Add(5 * time.Second)
	for p.Healthy() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if p.Healthy() {
		t.Fatal("hung probe did not take the brick down")
	}
	close(release)
	for !p.Healthy() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !p.Healthy() {
		t.Fatal("brick did not come back after the probe returned")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(evs) < 3 || evs[0] != graph.EventChildUp || evs[1] != graph.EventChildDown || evs[2] != graph.EventChildUp {
		t.Fatalf("events %v", evs)
	}
}

func countFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestNoFDLeaks runs a workload with error paths and checks kernel fds and graph FDs.
func TestNoFDLeaks(t *testing.T) {
	dir := t.TempDir()
	requireTrustedXattrs(t, dir)
	before, liveBefore := countFDs(t), graph.LiveFDs()
	func() {
		b, err := newBrickOpts(t, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.g.Fini()
		for i := 0; i < 20; i++ {
			fd, fl := b.create(graph.RootLoc(), "f"+itoa(i), graph.GFID{})
			b.p.Writev(b.ctx, fd, []byte("data"), 0, 0, nil)
			fd.Unref()
			fd2 := graph.NewFD(nil, fl.GFID, 0)
			b.p.Open(b.ctx, fl, unix.O_RDONLY, fd2, nil)
			b.p.Open(b.ctx, fl, unix.O_RDONLY, fd2, nil) // re-open replaces, closing the old kernel fd
			fd2.Unref()
			fd3 := graph.NewFD(nil, graph.GFID{}, 0)
			b.p.Create(b.ctx, graph.RootLoc().Child("f"+itoa(i)), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0644, 0, fd3, nil)
			b.p.Create(b.ctx, graph.RootLoc().Child("f"+itoa(i)), unix.O_RDWR|unix.O_CREAT, 0644, 0, fd3, gfidReqX(graph.NewGFID()))
			b.p.Truncate(b.ctx, fl, 1, nil)
			fd3.Unref()
			dfd := graph.NewFD(nil, graph.RootGFID, 0)
			b.p.Opendir(b.ctx, graph.RootLoc(), dfd, nil)
			b.p.Readdirp(b.ctx, dfd, 0, 0, nil)
			dfd.Unref()
		}
	}()
	if after := countFDs(t); after != before {
		t.Fatalf("os fds %d before, %d after", before, after)
	}
	if live := graph.LiveFDs(); live != liveBefore {
		t.Fatalf("graph FDs %d before, %d after", liveBefore, live)
	}
}

// TestStagingCleanup: a crash between staging and rename leaves an entry in the staging
// directory with a handle; Init removes both.
func TestStagingCleanup(t *testing.T) {
	dir := t.TempDir()
	requireTrustedXattrs(t, dir)
	b, err := newBrickOpts(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := graph.NewGFID()
	stage := dir + "/" + stagingDir + "/" + g.String() + ".1"
	if err := os.WriteFile(stage, nil, 0644); err != nil {
		t.Fatal(err)
	}
	unix.Lsetxattr(stage, GFIDXattr, g[:], 0)
	var st unix.Stat_t
	unix.Lstat(stage, &st)
	if err := b.p.linkHandle(stagingDir+"/"+g.String()+".1", g, &st); err != nil {
		t.Fatal(err)
	}
	b.g.Fini()
	if _, err := newBrickOpts(t, dir, nil); err != nil {
		t.Fatal(err)
	}
	if exists(stage) || exists(dir+"/"+handleRel(g)) {
		t.Fatal("staged entry or its handle survived Init")
	}
}

func TestOptionsAndRegistration(t *testing.T) {
	r := mustReg(t)
	if r.MaxChildren != 0 {
		t.Fatal("posix is a leaf")
	}
	if _, err := graph.ValidateOptions(r.Options, map[string]string{"directory": "relative"}); err == nil {
		t.Fatal("relative directory accepted")
	}
	if _, err := graph.ValidateOptions(r.Options, map[string]string{"reserve": "120"}); err == nil {
		t.Fatal("reserve 120% accepted")
	}
	if _, err := graph.ValidateOptions(r.Options, map[string]string{"bogus": "1"}); err == nil {
		t.Fatal("unknown option accepted")
	}
	b := newBrick(t, map[string]string{"brick-uid": "321", "brick-gid": "654"})
	if st := lstat(t, b.dir); st.Uid != 321 || st.Gid != 654 {
		t.Fatalf("brick root owner %d:%d", st.Uid, st.Gid)
	}
}
