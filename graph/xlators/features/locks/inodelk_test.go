package locks

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/weftfs/weft/graph"
	"golang.org/x/sys/unix"
)

func loc(g graph.GFID) *graph.Loc { return &graph.Loc{GFID: g} }

func TestInodelkDomainsIndependent(t *testing.T) {
	x, _ := newStack(t, nil)
	g := graph.NewGFID()
	if _, err := x.Inodelk(as("c1", "A"), "gv0-replicate-0", loc(g), graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	// Another domain on the same inode is free.
	if _, err := x.Inodelk(as("c2", "B"), "dht.layout.heal", loc(g), graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	// The same domain conflicts.
	_, err := x.Inodelk(as("c2", "B"), "gv0-replicate-0", loc(g), graph.SetLk, rd(10, 1), nil)
	wantErrno(t, err, unix.EAGAIN)
	// POSIX locks are independent of inodelks.
	fd := newFD(g)
	defer fd.Unref()
	if _, _, err := x.Lk(as("c2", "B"), fd, graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	// Finodelk is the same lock space as Inodelk.
	_, err = x.Finodelk(as("c2", "B"), "gv0-replicate-0", fd, graph.SetLk, wr(0, 1), nil)
	wantErrno(t, err, unix.EAGAIN)
	if s := x.Stats(); s.Inodelks != 2 || s.Posix != 1 || s.Inodes != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestInodelkSemantics(t *testing.T) {
	x, _ := newStack(t, nil)
	g := graph.NewGFID()
	const dom = "gv0-replicate-0"
	A, B := as("c1", "A"), as("c2", "B")
	il := func(ctx context.Context, cmd graph.LkCmd, fl *graph.Flock) error {
		_, err := x.Inodelk(ctx, dom, loc(g), cmd, fl, nil)
		return err
	}
	// Same owner nests: overlapping write locks of one owner are separate records.
	if err := il(A, graph.SetLk, wr(0, 0)); err != nil {
		t.Fatal(err)
	}
	if err := il(A, graph.SetLk, wr(0, 128)); err != nil {
		t.Fatal(err)
	}
	if s := x.Stats(); s.Inodelks != 2 {
		t.Fatalf("nested locks: %+v", s)
	}
	// Unlock needs the exact range and the owner.
	wantErrno(t, il(A, graph.SetLk, un(0, 64)), unix.EINVAL)
	wantErrno(t, il(B, graph.SetLk, un(0, 128)), unix.EINVAL)
	if err := il(A, graph.SetLk, un(0, 128)); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, il(B, graph.SetLk, rd(1000, 1)), unix.EAGAIN) // [0, EOF] still held
	if err := il(A, graph.SetLk, un(0, 0)); err != nil {
		t.Fatal(err)
	}
	// Reads share; a write waits for them.
	if err := il(A, graph.SetLk, rd(0, 10)); err != nil {
		t.Fatal(err)
	}
	if err := il(B, graph.SetLk, rd(5, 10)); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, il(as("c3", "C"), graph.SetLk, wr(9, 1)), unix.EAGAIN)
	if err := il(as("c3", "C"), graph.SetLk, wr(15, 1)); err != nil {
		t.Fatal(err)
	}
	// GETLK is not supported for inodelk; bad input is EINVAL.
	wantErrno(t, il(A, graph.GetLk, wr(0, 1)), unix.ENOTSUP)
	wantErrno(t, il(A, graph.SetLk, wr(-1, 1)), unix.EINVAL)
	wantErrno(t, il(A, graph.SetLk, wr(0, -1)), unix.EINVAL)
	wantErrno(t, il(A, graph.SetLk, nil), unix.EINVAL)
	wantErrno(t, il(A, graph.SetLk, &graph.Flock{Type: 9}), unix.EINVAL)
	wantErrno(t, il(A, graph.LkCmd(7), wr(0, 1)), unix.EINVAL)
	_, err := x.Inodelk(A, "", loc(g), graph.SetLk, wr(0, 1), nil)
	wantErrno(t, err, unix.EINVAL)
	_, err = x.Inodelk(A, dom, &graph.Loc{}, graph.SetLk, wr(0, 1), nil)
	wantErrno(t, err, unix.EINVAL)
}

func TestInodelkMetadataDomain(t *testing.T) {
	x, _ := newStack(t, nil)
	g := graph.NewGFID()
	// AFR's metadata lock on [LLONG_MAX-1, EOF] lives in "<domain>:metadata" and does not
	// contend with a data lock on the whole file.
	if _, err := x.Inodelk(as("c1", "A"), "gv0", loc(g), graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	meta := wr(math.MaxInt64-1, 0)
	if _, err := x.Inodelk(as("c2", "B"), "gv0", loc(g), graph.SetLk, meta, nil); err != nil {
		t.Fatal(err)
	}
	_, err := x.Inodelk(as("c3", "C"), "gv0:metadata", loc(g), graph.SetLk, wr(math.MaxInt64-1, 0), nil)
	wantErrno(t, err, unix.EAGAIN)
	if _, err := x.Inodelk(as("c2", "B"), "gv0", loc(g), graph.SetLk, un(math.MaxInt64-1, 0), nil); err != nil {
		t.Fatal(err)
	}
}

func TestInodelkBlockingAndFairness(t *testing.T) {
	base := runtimeGoroutines()
	x, _ := newStack(t, nil)
	g := graph.NewGFID()
	const dom = "d"
	il := func(ctx context.Context, cmd graph.LkCmd, fl *graph.Flock) error {
		_, err := x.Inodelk(ctx, dom, loc(g), cmd, fl, nil)
		return err
	}
	A, B, C := as("c1", "A"), as("c2", "B"), as("c3", "C")
	if err := il(A, graph.SetLk, rd(0, 10)); err != nil {
		t.Fatal(err)
	}
	chB := async(func() error { return il(B, graph.SetLkW, wr(0, 10)) })
	waitBlocked(t, x, 1)
	// C's read is compatible with A's but would overtake B's queued write: it must wait.
	wantErrno(t, il(C, graph.SetLk, rd(0, 1)), unix.EAGAIN)
	chC := async(func() error { return il(C, graph.SetLkW, rd(0, 1)) })
	waitBlocked(t, x, 2)
	// A already holds a lock in the domain: its nested read is granted despite the queue.
	if err := il(A, graph.SetLk, rd(5, 1)); err != nil {
		t.Fatalf("nested lock of a holder: %v", err)
	}
	if err := il(A, graph.SetLk, un(5, 1)); err != nil {
		t.Fatal(err)
	}
	notYet(t, chB, "writer while reader holds")
	if err := il(A, graph.SetLk, un(0, 10)); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, chB, 5*time.Second, "queued writer"); err != nil {
		t.Fatal(err)
	}
	notYet(t, chC, "reader behind granted writer")
	if err := il(B, graph.SetLk, un(0, 10)); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, chC, 5*time.Second, "queued reader"); err != nil {
		t.Fatal(err)
	}
	if err := il(C, graph.SetLk, un(0, 1)); err != nil {
		t.Fatal(err)
	}
	if x.trackedInodes() != 0 {
		t.Fatalf("state left: %+v", x.Stats())
	}
	checkGoroutines(t, base)
}

func TestInodelkCancelUnblocksQueue(t *testing.T) {
	x, _ := newStack(t, nil)
	g := graph.NewGFID()
	il := func(ctx context.Context, cmd graph.LkCmd, fl *graph.Flock) error {
		_, err := x.Inodelk(ctx, "d", loc(g), cmd, fl, nil)
		return err
	}
	if err := il(as("c1", "A"), graph.SetLk, rd(0, 0)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(as("c2", "B"))
	chB := async(func() error { return il(ctx, graph.SetLkW, wr(0, 0)) })
	waitBlocked(t, x, 1)
	chC := async(func() error { return il(as("c3", "C"), graph.SetLkW, rd(0, 0)) }) // behind B
	waitBlocked(t, x, 2)
	cancel()
	wantErrno(t, waitFor(t, chB, 5*time.Second, "cancelled writer"), unix.EINTR)
	// With B gone, C's read is compatible with A's and must be granted without another event.
	if err := waitFor(t, chC, 5*time.Second, "reader after the writer ahead was cancelled"); err != nil {
		t.Fatal(err)
	}
}

func TestInodelkResolvesNamedLoc(t *testing.T) {
	x, leaf := newStack(t, nil)
	dir, file := graph.NewGFID(), graph.NewGFID()
	leaf.addName(dir, "f", file)
	named := &graph.Loc{ParentGFID: dir, Name: "f", Path: "/d/f"}
	if _, err := x.Inodelk(as("c1", "A"), "d", named, graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	_, err := x.Inodelk(as("c2", "B"), "d", loc(file), graph.SetLk, wr(0, 0), nil)
	wantErrno(t, err, unix.EAGAIN)
	_, err = x.Inodelk(as("c2", "B"), "d", &graph.Loc{ParentGFID: dir, Name: "missing"}, graph.SetLk, wr(0, 0), nil)
	wantErrno(t, err, unix.ENOENT)
}

func TestEntrylk(t *testing.T) {
	x, _ := newStack(t, nil)
	dir := graph.NewGFID()
	const dom = "gv0-replicate-0"
	el := func(ctx context.Context, name string, cmd graph.EntrylkCmd, typ graph.EntrylkType) error {
		_, err := x.Entrylk(ctx, dom, loc(dir), name, cmd, typ, nil)
		return err
	}
	A, B := as("c1", "A"), as("c2", "B")
	W, R := graph.EntrylkWrlck, graph.EntrylkRdlck
	if err := el(A, "a", graph.EntrylkLockNB, W); err != nil {
		t.Fatal(err)
	}
	// Another name is free; the same name and the whole directory are not.
	if err := el(B, "b", graph.EntrylkLockNB, W); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, el(B, "a", graph.EntrylkLockNB, W), unix.EAGAIN)
	wantErrno(t, el(B, "a", graph.EntrylkLockNB, R), unix.EAGAIN)
	wantErrno(t, el(as("c3", "C"), "", graph.EntrylkLockNB, W), unix.EAGAIN)
	// A whole-directory lock conflicts with any other owner's name lock.
	if err := el(A, "", graph.EntrylkLockNB, W); err == nil {
		t.Fatal("A's whole-directory lock must conflict with B's lock on b")
	}
	if err := el(B, "", graph.EntrylkLockNB, W); err == nil {
		t.Fatal("B's whole-directory lock must conflict with A's lock on a")
	}
	if err := el(A, "a", graph.EntrylkLockNB, W); err != nil {
		t.Fatalf("nested same-owner lock: %v", err)
	}
	// Unlock needs owner, name and type.
	wantErrno(t, el(B, "a", graph.EntrylkUnlock, W), unix.EINVAL)
	wantErrno(t, el(A, "a", graph.EntrylkUnlock, R), unix.EINVAL)
	for range 2 {
		if err := el(A, "a", graph.EntrylkUnlock, W); err != nil {
			t.Fatal(err)
		}
	}
	wantErrno(t, el(A, "a", graph.EntrylkUnlock, W), unix.EINVAL)
	// Read locks share, including on the whole directory.
	if err := el(A, "", graph.EntrylkLockNB, R); err == nil {
		t.Fatal("read on the whole dir must conflict with B's write on b")
	}
	if err := el(B, "b", graph.EntrylkUnlock, W); err != nil {
		t.Fatal(err)
	}
	if err := el(A, "", graph.EntrylkLockNB, R); err != nil {
		t.Fatal(err)
	}
	if err := el(B, "x", graph.EntrylkLockNB, R); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, el(as("c3", "C"), "x", graph.EntrylkLockNB, W), unix.EAGAIN)
	// A blocking write waits for both readers.
	ch := async(func() error { return el(as("c3", "C"), "x", graph.EntrylkLock, W) })
	waitBlocked(t, x, 1)
	if err := el(A, "", graph.EntrylkUnlock, R); err != nil {
		t.Fatal(err)
	}
	notYet(t, ch, "writer while B reads x")
	if err := el(B, "x", graph.EntrylkUnlock, R); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, ch, 5*time.Second, "entry writer"); err != nil {
		t.Fatal(err)
	}
	// Domains are independent.
	if _, err := x.Entrylk(B, "other", loc(dir), "x", graph.EntrylkLockNB, W, nil); err != nil {
		t.Fatal(err)
	}
	// Fentrylk shares the lock space.
	fd := newFD(dir)
	defer fd.Unref()
	_, err := x.Fentrylk(B, dom, fd, "x", graph.EntrylkLockNB, W, nil)
	wantErrno(t, err, unix.EAGAIN)
	// Bad input.
	wantErrno(t, el(A, "a/b", graph.EntrylkLockNB, W), unix.EINVAL)
	wantErrno(t, el(A, "a", graph.EntrylkCmd(9), W), unix.EINVAL)
	wantErrno(t, el(A, "a", graph.EntrylkLockNB, graph.EntrylkType(5)), unix.EINVAL)
	_, err = x.Entrylk(A, "", loc(dir), "a", graph.EntrylkLockNB, W, nil)
	wantErrno(t, err, unix.EINVAL)
}

func TestEntrylkCancel(t *testing.T) {
	x, _ := newStack(t, nil)
	dir := graph.NewGFID()
	if _, err := x.Entrylk(as("c1", "A"), "d", loc(dir), "", graph.EntrylkLock, graph.EntrylkWrlck, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(as("c2", "B"))
	ch := async(func() error {
		_, err := x.Entrylk(ctx, "d", loc(dir), "n", graph.EntrylkLock, graph.EntrylkWrlck, nil)
		return err
	})
	waitBlocked(t, x, 1)
	cancel()
	wantErrno(t, waitFor(t, ch, 5*time.Second, "cancelled entrylk"), unix.EINTR)
	if s := x.Stats(); s.EntrylksBlocked != 0 || s.Entrylks != 1 {
		t.Fatalf("stats %+v", s)
	}
}
