package locks

import (
	"context"
	"errors"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/weftfs/weft/graph"
	"golang.org/x/sys/unix"
)

type step struct {
	who  string // lock owner (all on client "c1")
	cmd  graph.LkCmd
	fl   *graph.Flock
	errn unix.Errno
}

func TestPosixSemanticsTable(t *testing.T) {
	cases := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"write then unlock middle splits", []step{
			{"A", graph.SetLk, wr(0, 100), 0},
			{"A", graph.SetLk, un(10, 10), 0},
		}, []string{"A:w[0,9]", "A:w[20,99]"}},
		{"overlapping same type merges", []step{
			{"A", graph.SetLk, rd(0, 10), 0},
			{"A", graph.SetLk, rd(5, 10), 0},
		}, []string{"A:r[0,14]"}},
		{"adjacent same type merges", []step{
			{"A", graph.SetLk, wr(0, 10), 0},
			{"A", graph.SetLk, wr(10, 10), 0},
			{"A", graph.SetLk, wr(30, 10), 0},
			{"A", graph.SetLk, wr(20, 10), 0},
		}, []string{"A:w[0,39]"}},
		{"adjacent different type stays apart", []step{
			{"A", graph.SetLk, wr(0, 10), 0},
			{"A", graph.SetLk, rd(10, 10), 0},
		}, []string{"A:r[10,19]", "A:w[0,9]"}},
		{"upgrade in the middle of a read lock", []step{
			{"A", graph.SetLk, rd(0, 100), 0},
			{"A", graph.SetLk, wr(40, 20), 0},
		}, []string{"A:r[0,39]", "A:r[60,99]", "A:w[40,59]"}},
		{"downgrade whole range", []step{
			{"A", graph.SetLk, wr(0, 100), 0},
			{"A", graph.SetLk, rd(0, 100), 0},
		}, []string{"A:r[0,99]"}},
		{"downgrade then other reader shares", []step{
			{"A", graph.SetLk, wr(0, 100), 0},
			{"B", graph.SetLk, rd(50, 1), unix.EAGAIN},
			{"A", graph.SetLk, rd(0, 100), 0},
			{"B", graph.SetLk, rd(50, 1), 0},
		}, []string{"A:r[0,99]", "B:r[50,50]"}},
		{"upgrade refused while another reader holds", []step{
			{"A", graph.SetLk, rd(0, 100), 0},
			{"B", graph.SetLk, rd(90, 20), 0},
			{"A", graph.SetLk, wr(0, 100), unix.EAGAIN},
			{"A", graph.SetLk, wr(0, 90), 0},
		}, []string{"A:r[90,99]", "A:w[0,89]", "B:r[90,109]"}},
		{"len 0 runs to EOF and unlock keeps the tail", []step{
			{"A", graph.SetLk, wr(100, 0), 0},
			{"A", graph.SetLk, un(200, 100), 0},
			{"B", graph.SetLk, wr(1<<40, 1), unix.EAGAIN},
			{"B", graph.SetLk, wr(250, 10), 0},
		}, []string{"A:w[100,199]", "A:w[300,EOF]", "B:w[250,259]"}},
		{"unlock to EOF", []step{
			{"A", graph.SetLk, wr(0, 50), 0},
			{"A", graph.SetLk, wr(60, 0), 0},
			{"A", graph.SetLk, un(10, 0), 0},
		}, []string{"A:w[0,9]"}},
		{"unlock of nothing is fine", []step{
			{"A", graph.SetLk, un(0, 0), 0},
		}, nil},
		{"unlock does not touch other owners", []step{
			{"A", graph.SetLk, rd(0, 10), 0},
			{"B", graph.SetLk, rd(0, 10), 0},
			{"B", graph.SetLk, un(0, 0), 0},
		}, []string{"A:r[0,9]"}},
		{"negative length locks bytes before start", []step{
			{"A", graph.SetLk, wr(10, -5), 0},
		}, []string{"A:w[5,9]"}},
		{"write conflicts with read of another owner", []step{
			{"A", graph.SetLk, rd(0, 10), 0},
			{"B", graph.SetLk, wr(9, 10), unix.EAGAIN},
			{"B", graph.SetLk, wr(10, 10), 0},
		}, []string{"A:r[0,9]", "B:w[10,19]"}},
		{"same owner on another client conflicts", []step{
			{"A", graph.SetLk, wr(0, 10), 0},
			{"@c2:A", graph.SetLk, wr(0, 10), unix.EAGAIN},
		}, []string{"A:w[0,9]"}},
		{"bad input", []step{
			{"A", graph.SetLk, wr(-1, 10), unix.EINVAL},
			{"A", graph.SetLk, wr(5, -10), unix.EINVAL},
			{"A", graph.SetLk, wr(math.MaxInt64, 2), unix.EOVERFLOW},
			{"A", graph.SetLk, wr(0, math.MinInt64), unix.EINVAL},
			{"A", graph.SetLk, &graph.Flock{Type: 7, Len: 1}, unix.EINVAL},
			{"A", graph.GetLk, un(0, 1), unix.EINVAL},
			{"A", graph.LkCmd(42), wr(0, 1), unix.EINVAL},
			{"A", graph.SetLk, nil, unix.EINVAL},
		}, nil},
		{"last byte of the file space", []step{
			{"A", graph.SetLk, wr(math.MaxInt64, 1), 0},
			{"B", graph.SetLk, wr(math.MaxInt64-1, 0), unix.EAGAIN},
		}, []string{"A:w[9223372036854775807,EOF]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, _ := newStack(t, nil)
			g := graph.NewGFID()
			fd := newFD(g)
			defer fd.Unref()
			for i, s := range tc.steps {
				client, who := "c1", s.who
				if len(who) > 4 && who[0] == '@' {
					client, who = who[1:3], who[4:]
				}
				_, _, err := x.Lk(as(client, who), fd, s.cmd, s.fl, nil)
				if graph.Errno(err) != s.errn {
					t.Fatalf("step %d (%s %v %+v): err %v, want errno %v", i, s.who, s.cmd, s.fl, err, s.errn)
				}
			}
			if got := posixState(x, g); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("locks %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGetlkReportsConflict(t *testing.T) {
	x, _ := newStack(t, nil)
	g := graph.NewGFID()
	fd := newFD(g)
	defer fd.Unref()
	a := graph.WithCreds(context.Background(), &graph.Creds{ClientID: "c1", LkOwner: []byte("owner-A"), Pid: 4242})
	if _, _, err := x.Lk(a, fd, graph.SetLk, wr(100, 50), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := x.Lk(as("c1", "R"), fd, graph.SetLk, rd(0, 10), nil); err != nil {
		t.Fatal(err)
	}

	// No conflict: the request comes back with F_UNLCK.
	got, _, err := x.Lk(as("c2", "B"), fd, graph.GetLk, wr(10, 20), nil)
	if err != nil || got.Type != graph.LockUnlock || got.Start != 10 || got.Len != 20 {
		t.Fatalf("GETLK free range: %+v, %v", got, err)
	}
	// Conflict: the holder's lock, with its pid and owner.
	got, _, err = x.Lk(as("c2", "B"), fd, graph.GetLk, rd(120, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := graph.Flock{Type: graph.LockWrite, Start: 100, Len: 50, Pid: 4242, Owner: []byte("owner-A")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GETLK conflict: %+v, want %+v", got, want)
	}
	// A read does not conflict with a read; a write does.
	if got, _, _ = x.Lk(as("c2", "B"), fd, graph.GetLk, rd(0, 5), nil); got.Type != graph.LockUnlock {
		t.Fatalf("read vs read: %+v", got)
	}
	if got, _, _ = x.Lk(as("c2", "B"), fd, graph.GetLk, wr(0, 5), nil); got.Type != graph.LockRead || got.Len != 10 {
		t.Fatalf("write vs read: %+v", got)
	}
	// The owner's own lock never conflicts.
	if got, _, _ = x.Lk(a, fd, graph.GetLk, wr(0, 0), nil); got.Type != graph.LockRead {
		t.Fatalf("owner sees the other owner's read lock, not its own: %+v", got)
	}
	// A lock owner in the Flock overrides the caller's.
	fl := wr(120, 1)
	fl.Owner = []byte("owner-A")
	if got, _, _ = x.Lk(as("c1", "other"), fd, graph.GetLk, fl, nil); got.Type != graph.LockUnlock {
		t.Fatalf("Flock.Owner not used: %+v", got)
	}
	// GETLK on a file nobody locked creates no state.
	g2 := graph.NewGFID()
	fd2 := newFD(g2)
	defer fd2.Unref()
	if got, _, _ = x.Lk(as("c1", "A"), fd2, graph.GetLk, wr(0, 0), nil); got.Type != graph.LockUnlock {
		t.Fatalf("unlocked file: %+v", got)
	}
	if p := x.tab.find(g2); p != nil {
		t.Fatal("GETLK left state behind")
	}
}

func TestSetlkwBlocksUntilUnlock(t *testing.T) {
	x, _ := newStack(t, nil)
	g := graph.NewGFID()
	fd := newFD(g)
	defer fd.Unref()
	if _, _, err := x.Lk(as("c1", "A"), fd, graph.SetLk, wr(0, 100), nil); err != nil {
		t.Fatal(err)
	}
	ch := async(func() error {
		_, _, err := x.Lk(as("c2", "B"), fd, graph.SetLkW, wr(50, 10), nil)
		return err
	})
	waitBlocked(t, x, 1)
	notYet(t, ch, "SETLKW under a write lock")
	// Releasing an unrelated part does not grant it.
	if _, _, err := x.Lk(as("c1", "A"), fd, graph.SetLk, un(0, 50), nil); err != nil {
		t.Fatal(err)
	}
	notYet(t, ch, "SETLKW after partial unlock")
	if _, _, err := x.Lk(as("c1", "A"), fd, graph.SetLk, un(50, 0), nil); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, ch, 5*time.Second, "SETLKW after unlock"); err != nil {
		t.Fatal(err)
	}
	if got := posixState(x, g); !reflect.DeepEqual(got, []string{"B:w[50,59]"}) {
		t.Fatalf("locks %q", got)
	}
}

func TestSetlkwArrivalOrder(t *testing.T) {
	x, _ := newStack(t, nil)
	g := graph.NewGFID()
	fd := newFD(g)
	defer fd.Unref()
	if _, _, err := x.Lk(as("c0", "H"), fd, graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	var chs []<-chan error
	for i, who := range []string{"W1", "W2", "W3"} {
		chs = append(chs, async(func() error {
			ctx := as("c1", who)
			if _, _, err := x.Lk(ctx, fd, graph.SetLkW, wr(0, 0), nil); err != nil {
				return err
			}
			mu.Lock()
			order = append(order, who)
			mu.Unlock()
			_, _, err := x.Lk(ctx, fd, graph.SetLk, un(0, 0), nil)
			return err
		}))
		waitBlocked(t, x, i+1)
	}
	if _, _, err := x.Lk(as("c0", "H"), fd, graph.SetLk, un(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	for _, ch := range chs {
		if err := waitFor(t, ch, 5*time.Second, "waiter"); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(order, []string{"W1", "W2", "W3"}) {
		t.Fatalf("grant order %v", order)
	}
}

func TestSetlkwUpgradeDoesNotDeadlock(t *testing.T) {
	// Two readers upgrade the same range: the pre-lock unlock lets one of them through.
	x, _ := newStack(t, nil)
	g := graph.NewGFID()
	fd := newFD(g)
	defer fd.Unref()
	for _, who := range []string{"A", "B"} {
		if _, _, err := x.Lk(as("c", who), fd, graph.SetLk, rd(0, 10), nil); err != nil {
			t.Fatal(err)
		}
	}
	chA := async(func() error { _, _, err := x.Lk(as("c", "A"), fd, graph.SetLkW, wr(0, 10), nil); return err })
	waitBlocked(t, x, 1)
	// A gave up its read lock while waiting, so B's upgrade goes through at once.
	if _, _, err := x.Lk(as("c", "B"), fd, graph.SetLkW, wr(0, 10), nil); err != nil {
		t.Fatal(err)
	}
	notYet(t, chA, "A's upgrade while B writes")
	if _, _, err := x.Lk(as("c", "B"), fd, graph.SetLk, un(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, chA, 5*time.Second, "A's upgrade"); err != nil {
		t.Fatal(err)
	}
	if got := posixState(x, g); !reflect.DeepEqual(got, []string{"A:w[0,9]"}) {
		t.Fatalf("locks %q", got)
	}
}

func TestSetlkwCancel(t *testing.T) {
	base := runtimeGoroutines()
	x, _ := newStack(t, nil)
	g := graph.NewGFID()
	fd := newFD(g)
	defer fd.Unref()
	if _, _, err := x.Lk(as("c1", "A"), fd, graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(as("c2", "B"))
	ch := async(func() error { _, _, err := x.Lk(ctx, fd, graph.SetLkW, rd(0, 1), nil); return err })
	waitBlocked(t, x, 1)
	cancel()
	err := waitFor(t, ch, 5*time.Second, "cancelled SETLKW")
	wantErrno(t, err, unix.EINTR)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v does not wrap context.Canceled", err)
	}
	if s := x.Stats(); s.PosixBlocked != 0 {
		t.Fatalf("waiter left queued: %+v", s)
	}
	// The cancelled request never gets the lock once the holder goes.
	if _, _, err := x.Lk(as("c1", "A"), fd, graph.SetLk, un(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	if got := posixState(x, g); got != nil {
		t.Fatalf("locks after cancel and unlock: %q", got)
	}
	// A deadline works the same way.
	if _, _, err := x.Lk(as("c1", "A"), fd, graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(as("c2", "B"), 20*time.Millisecond)
	defer dcancel()
	_, _, err = x.Lk(dctx, fd, graph.SetLkW, wr(5, 5), nil)
	wantErrno(t, err, unix.EINTR)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v does not wrap DeadlineExceeded", err)
	}
	checkGoroutines(t, base)
}

func TestManyLockersNoLostWakeups(t *testing.T) {
	base := runtimeGoroutines()
	x, _ := newStack(t, nil)
	g := graph.NewGFID()
	fd := newFD(g)
	defer fd.Unref()
	workers, rounds := 8, 200
	if testing.Short() {
		rounds = 50
	}
	counter := 0 // protected only by the write lock on [0, 8)
	var readersSeen int
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			ctx := as("c"+string(rune('a'+w%3)), "worker-"+string(rune('0'+w)))
			for i := range rounds {
				if w%4 == 3 && i%2 == 0 { // some readers: they only read the counter
					if _, _, err := x.Lk(ctx, fd, graph.SetLkW, rd(0, 8), nil); err != nil {
						errs <- err
						return
					}
					if counter < 0 {
						readersSeen++ // never true; the read races with writers if exclusion fails
					}
				} else {
					if _, _, err := x.Lk(ctx, fd, graph.SetLkW, wr(0, 8), nil); err != nil {
						errs <- err
						return
					}
					v := counter
					if i%16 == 0 {
						time.Sleep(time.Microsecond) // widen the window
					}
					counter = v + 1
				}
				if _, _, err := x.Lk(ctx, fd, graph.SetLk, un(0, 8), nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("lockers stuck (lost wake-up?): %+v", x.Stats())
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	writers := 0
	for w := range workers {
		if w%4 == 3 {
			writers += rounds / 2
		} else {
			writers += rounds
		}
	}
	if counter != writers || readersSeen != 0 {
		t.Fatalf("counter %d, want %d", counter, writers)
	}
	if s := x.Stats(); s.Posix != 0 || s.PosixBlocked != 0 || x.trackedInodes() != 0 {
		t.Fatalf("state left: %+v, %d inodes", s, x.trackedInodes())
	}
	checkGoroutines(t, base)
}

func TestFlushReleasesOwnerLocks(t *testing.T) {
	x, leaf := newStack(t, nil)
	g := graph.NewGFID()
	fd := newFD(g)
	defer fd.Unref()
	for _, who := range []string{"A", "B"} {
		if _, _, err := x.Lk(as("c1", who), fd, graph.SetLk, rd(0, 10), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := x.Lk(as("c2", "A"), fd, graph.SetLk, rd(0, 10), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Flush(as("c1", "A"), fd, nil); err != nil {
		t.Fatal(err)
	}
	if leaf.flushes.Load() != 1 {
		t.Fatal("flush not wound to the child")
	}
	if got := posixState(x, g); !reflect.DeepEqual(got, []string{"A:r[0,9]", "B:r[0,9]"}) {
		t.Fatalf("after flush by (c1, A): %q", got)
	}
	// A blocked writer of another owner is granted by the flush.
	if _, _, err := x.Lk(as("c1", "B"), fd, graph.SetLk, un(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	ch := async(func() error { _, _, err := x.Lk(as("c3", "W"), fd, graph.SetLkW, wr(0, 0), nil); return err })
	waitBlocked(t, x, 1)
	if _, err := x.Flush(as("c2", "A"), fd, nil); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(t, ch, 5*time.Second, "writer after flush"); err != nil {
		t.Fatal(err)
	}
}

func TestFlushWithoutOwnerAndReleaseDropFDLocks(t *testing.T) {
	x, _ := newStack(t, nil)
	g := graph.NewGFID()
	fd1, fd2 := newFD(g), newFD(g)
	defer fd2.Unref()
	if _, _, err := x.Lk(as("c1", "A"), fd1, graph.SetLk, rd(0, 10), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := x.Lk(as("c1", "A"), fd2, graph.SetLk, rd(20, 10), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := x.Lk(as("c2", "B"), fd1, graph.SetLk, rd(40, 10), nil); err != nil {
		t.Fatal(err)
	}
	// protocol/server's cleanup flush carries no lock owner: every lock taken through fd2 goes.
	if _, err := x.Flush(as("c1", ""), fd2, nil); err != nil {
		t.Fatal(err)
	}
	if got := posixState(x, g); !reflect.DeepEqual(got, []string{"A:r[0,9]", "B:r[40,49]"}) {
		t.Fatalf("after ownerless flush of fd2: %q", got)
	}
	// The last reference of fd1 goes: its locks go with it, whoever took them.
	fd1.Unref()
	if got := posixState(x, g); got != nil {
		t.Fatalf("after release of fd1: %q", got)
	}
	if x.trackedInodes() != 0 {
		t.Fatal("state not freed")
	}
}

func TestLkWithoutGFID(t *testing.T) {
	x, _ := newStack(t, nil)
	fd := newFD(graph.GFID{})
	defer fd.Unref()
	_, _, err := x.Lk(as("c", "A"), fd, graph.SetLk, wr(0, 1), nil)
	wantErrno(t, err, unix.EINVAL)
	_, _, err = x.Lk(as("c", "A"), nil, graph.SetLk, wr(0, 1), nil)
	wantErrno(t, err, unix.EBADF)
}

func TestSetlkwAlreadyCancelledKeepsOwnLocks(t *testing.T) {
	x, _ := newStack(t, nil)
	g := graph.NewGFID()
	fd := newFD(g)
	defer fd.Unref()
	for _, who := range []string{"A", "B"} {
		if _, _, err := x.Lk(as("c", who), fd, graph.SetLk, rd(0, 10), nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(as("c", "A"))
	cancel()
	_, _, err := x.Lk(ctx, fd, graph.SetLkW, wr(0, 10), nil)
	wantErrno(t, err, unix.EINTR)
	if got := posixState(x, g); !reflect.DeepEqual(got, []string{"A:r[0,9]", "B:r[0,9]"}) {
		t.Fatalf("locks %q", got)
	}
	// A grantable request succeeds even with a cancelled context, like fcntl without a wait.
	if _, _, err := x.Lk(ctx, fd, graph.SetLkW, rd(20, 1), nil); err != nil {
		t.Fatal(err)
	}
}

// TestSetlkwCancelRacesGrant cancels a waiter while the holder unlocks: whatever wins, the
// outcome is consistent — success means the waiter holds the lock, EINTR means it holds none.
func TestSetlkwCancelRacesGrant(t *testing.T) {
	x, _ := newStack(t, nil)
	g := graph.NewGFID()
	fd := newFD(g)
	defer fd.Unref()
	rounds := 200
	if testing.Short() {
		rounds = 50
	}
	outcomes := map[bool]int{}
	for range rounds {
		if _, _, err := x.Lk(as("c1", "A"), fd, graph.SetLk, wr(0, 0), nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(as("c2", "B"))
		ch := async(func() error { _, _, err := x.Lk(ctx, fd, graph.SetLkW, wr(0, 0), nil); return err })
		waitBlocked(t, x, 1)
		var wg sync.WaitGroup
		wg.Go(cancel)
		wg.Go(func() {
			if _, _, err := x.Lk(as("c1", "A"), fd, graph.SetLk, un(0, 0), nil); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		err := waitFor(t, ch, 5*time.Second, "raced waiter")
		held := reflect.DeepEqual(posixState(x, g), []string{"B:w[0,EOF]"})
		switch {
		case err == nil && held:
		case graph.Errno(err) == unix.EINTR && posixState(x, g) == nil:
		default:
			t.Fatalf("err %v with locks %q", err, posixState(x, g))
		}
		outcomes[err == nil]++
		if _, _, err := x.Lk(as("c2", "B"), fd, graph.SetLk, un(0, 0), nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("granted %d, cancelled %d", outcomes[true], outcomes[false])
}
