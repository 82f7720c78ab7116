package locks

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftfs/weft/graph"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"
)

func TestReleaseClientWakesOthers(t *testing.T) {
	base := runtimeGoroutines()
	x, _ := newStack(t, nil)
	g, dir := graph.NewGFID(), graph.NewGFID()
	fd := newFD(g)
	defer fd.Unref()
	gone := as("gone", "G")
	if _, _, err := x.Lk(gone, fd, graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Inodelk(gone, "d", loc(g), graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Entrylk(gone, "d", loc(dir), "", graph.EntrylkLock, graph.EntrylkWrlck, nil); err != nil {
		t.Fatal(err)
	}
	// Another lock owner of the same client is released too.
	if _, _, err := x.Lk(as("gone", "G2"), fd, graph.SetLk, un(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	// A survivor keeps its lock.
	if _, err := x.Inodelk(as("stay", "S"), "other", loc(g), graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	other := as("other", "O")
	chP := async(func() error { _, _, err := x.Lk(other, fd, graph.SetLkW, rd(10, 10), nil); return err })
	chI := async(func() error { _, err := x.Inodelk(other, "d", loc(g), graph.SetLkW, wr(0, 1), nil); return err })
	chE := async(func() error {
		_, err := x.Entrylk(other, "d", loc(dir), "name", graph.EntrylkLock, graph.EntrylkWrlck, nil)
		return err
	})
	waitBlocked(t, x, 3)
	// The gone client also had a blocked request: it fails.
	chG := async(func() error { _, _, err := x.Lk(as("gone", "G3"), fd, graph.SetLkW, wr(0, 0), nil); return err })
	waitBlocked(t, x, 4)

	x.ReleaseClient("gone")
	for name, ch := range map[string]<-chan error{"posix": chP, "inodelk": chI, "entrylk": chE} {
		if err := waitFor(t, ch, 5*time.Second, name+" waiter of another client"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	wantErrno(t, waitFor(t, chG, 5*time.Second, "blocked request of the gone client"), unix.EAGAIN)
	s := x.Stats()
	if s.Posix != 1 || s.Inodelks != 2 || s.Entrylks != 1 || s.PosixBlocked+s.InodelksBlocked+s.EntrylksBlocked != 0 {
		t.Fatalf("stats after release: %+v", s)
	}
	x.ReleaseClient("other")
	x.ReleaseClient("stay")
	x.ReleaseClient("never-seen")
	if x.trackedInodes() != 0 {
		t.Fatalf("state left: %+v", x.Stats())
	}
	checkGoroutines(t, base)
}

func TestFiniFailsWaiters(t *testing.T) {
	base := runtimeGoroutines()
	x, _, err := buildStack(nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := graph.NewGFID()
	fd := newFD(g)
	defer fd.Unref()
	if _, _, err := x.Lk(as("a", "A"), fd, graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Inodelk(as("a", "A"), "d", loc(g), graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	ch := async(func() error { _, _, err := x.Lk(as("b", "B"), fd, graph.SetLkW, wr(0, 0), nil); return err })
	chI := async(func() error { _, err := x.Inodelk(as("b", "B"), "d", loc(g), graph.SetLkW, wr(0, 0), nil); return err })
	waitBlocked(t, x, 2)
	x.Fini()
	wantErrno(t, waitFor(t, ch, 5*time.Second, "SETLKW at Fini"), unix.ENOTCONN)
	wantErrno(t, waitFor(t, chI, 5*time.Second, "inodelk at Fini"), unix.ENOTCONN)
	_, _, err = x.Lk(as("a", "A"), fd, graph.SetLk, wr(0, 0), nil)
	wantErrno(t, err, unix.ENOTCONN)
	checkGoroutines(t, base)
}

func TestStateFreedWhenUnlocked(t *testing.T) {
	x, _ := newStack(t, nil)
	var fds []*graph.FD
	for i := range 200 {
		g := graph.NewGFID()
		fd := newFD(g)
		fds = append(fds, fd)
		ctx := as("c", "A")
		if _, _, err := x.Lk(ctx, fd, graph.SetLk, wr(int64(i), 1), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Inodelk(ctx, "d", loc(g), graph.SetLk, rd(0, 0), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Entrylk(ctx, "d", loc(g), "n", graph.EntrylkLockNB, graph.EntrylkWrlck, nil); err != nil {
			t.Fatal(err)
		}
		// Failed requests leave nothing behind either.
		if _, err := x.Inodelk(as("c", "B"), "d2", loc(g), graph.SetLk, un(0, 0), nil); err == nil {
			t.Fatal("unlock of nothing succeeded")
		}
	}
	if n := x.trackedInodes(); n != 200 {
		t.Fatalf("tracked %d inodes, want 200", n)
	}
	for i, fd := range fds {
		ctx := as("c", "A")
		if _, _, err := x.Lk(ctx, fd, graph.SetLk, un(int64(i), 1), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Inodelk(ctx, "d", loc(fd.GFID), graph.SetLk, un(0, 0), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Entrylk(ctx, "d", loc(fd.GFID), "n", graph.EntrylkUnlock, graph.EntrylkWrlck, nil); err != nil {
			t.Fatal(err)
		}
		fd.Unref()
	}
	if n := x.trackedInodes(); n != 0 {
		t.Fatalf("tracked %d inodes after unlocking everything", n)
	}
	p := x.tab.get(graph.RootGFID)
	x.tab.put(p)
	if n := x.trackedInodes(); n != 0 {
		t.Fatal("an empty pinode outlived its last reference")
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		raw  map[string]string
		want string // substring of the error; "" means accepted
		at   string // "construct" or "init"
	}{
		{map[string]string{}, "", ""},
		{map[string]string{"mandatory-locking": "off", "trace": "on", "notify-contention": "off", "revocation-secs": "30", "revocation-clear-all": "yes"}, "", ""},
		{map[string]string{"mandatory-locking": "forced"}, "mandatory-locking", "init"},
		{map[string]string{"mandatory-locking": "optimal"}, "not supported", "init"},
		{map[string]string{"mandatory-locking": "sometimes"}, "not one of", "construct"},
		{map[string]string{"notify-contention": "on"}, "notify-contention", "init"},
		{map[string]string{"revocation-secs": "-1"}, "out of range", "construct"},
		{map[string]string{"revocation-secs": "soon"}, "not an integer", "construct"},
		{map[string]string{"trace": "maybe"}, "not a boolean", "construct"},
		{map[string]string{"no-such-option": "1"}, "unknown option", "construct"},
	} {
		x, _, err := buildStack(tc.raw, zap.NewNop())
		at := "construct"
		if err == nil {
			at = "init"
			err = x.Init(context.Background())
			x.Fini()
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.raw, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || at != tc.at):
			t.Errorf("%v: error %v at %s, want %q at %s", tc.raw, err, at, tc.want, tc.at)
		}
	}
	// Reconfigure validates too and switches trace live.
	core, logs := observer.New(zap.InfoLevel)
	x, _, err := buildStack(nil, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer x.Fini()
	fd := newFD(graph.NewGFID())
	defer fd.Unref()
	if _, _, err := x.Lk(as("c", "A"), fd, graph.SetLk, wr(0, 1), nil); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Fatalf("trace off but logged: %v", logs.All())
	}
	bad, _ := graph.ValidateOptions(optionSpecs, map[string]string{"mandatory-locking": "file"})
	if err := x.Reconfigure(bad); err == nil {
		t.Fatal("Reconfigure accepted mandatory-locking file")
	}
	on, _ := graph.ValidateOptions(optionSpecs, map[string]string{"trace": "on"})
	if err := x.Reconfigure(on); err != nil {
		t.Fatal(err)
	}
	if x.Options().Bool(OptTrace) != true {
		t.Fatal("options not stored")
	}
	_, _, _ = x.Lk(as("c", "B"), fd, graph.SetLk, wr(0, 1), nil)
	entries := logs.FilterMessage("lk").All()
	if len(entries) != 1 || entries[0].ContextMap()["error"] == nil || entries[0].ContextMap()["client"] != "c" {
		t.Fatalf("trace entries: %+v", logs.All())
	}
}

func TestRevocation(t *testing.T) {
	x, _ := newStack(t, map[string]string{"revocation-secs": "10"})
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	x.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	g, dir := graph.NewGFID(), graph.NewGFID()
	if _, err := x.Inodelk(as("c1", "A"), "d", loc(g), graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Entrylk(as("c1", "A"), "d", loc(dir), "n", graph.EntrylkLock, graph.EntrylkWrlck, nil); err != nil {
		t.Fatal(err)
	}
	advance(5 * time.Second)
	_, err := x.Inodelk(as("c2", "B"), "d", loc(g), graph.SetLk, wr(0, 0), nil)
	wantErrno(t, err, unix.EAGAIN) // young lock: kept
	advance(6 * time.Second)
	if _, err := x.Inodelk(as("c2", "B"), "d", loc(g), graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatalf("stale inodelk not revoked: %v", err)
	}
	if _, err := x.Entrylk(as("c2", "B"), "d", loc(dir), "", graph.EntrylkLockNB, graph.EntrylkWrlck, nil); err != nil {
		t.Fatalf("stale entrylk not revoked: %v", err)
	}
	// A's unlock of a revoked lock finds nothing.
	_, err = x.Inodelk(as("c1", "A"), "d", loc(g), graph.SetLk, un(0, 0), nil)
	wantErrno(t, err, unix.EINVAL)
	// POSIX locks are never revoked.
	fd := newFD(g)
	defer fd.Unref()
	if _, _, err := x.Lk(as("c1", "A"), fd, graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	advance(time.Hour)
	_, _, err = x.Lk(as("c2", "B"), fd, graph.SetLk, wr(0, 0), nil)
	wantErrno(t, err, unix.EAGAIN)
}

func TestRevocationClearAllFailsWaiters(t *testing.T) {
	x, _ := newStack(t, map[string]string{"revocation-secs": "1", "revocation-clear-all": "on"})
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	x.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	g := graph.NewGFID()
	if _, err := x.Inodelk(as("c1", "A"), "d", loc(g), graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	ch := async(func() error { _, err := x.Inodelk(as("c2", "B"), "d", loc(g), graph.SetLkW, wr(0, 0), nil); return err })
	waitBlocked(t, x, 1)
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	if _, err := x.Inodelk(as("c3", "C"), "d", loc(g), graph.SetLk, wr(0, 0), nil); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, waitFor(t, ch, 5*time.Second, "blocked request at revocation"), unix.EAGAIN)
}

func TestRegisteredAndPassesThrough(t *testing.T) {
	r, ok := graph.LookupType("features/locks")
	if !ok || r.MinChildren != 1 || r.MaxChildren != 1 {
		t.Fatalf("registration %+v %v", r, ok)
	}
	if _, err := graph.Construct(Type, "l", nil, nil); err == nil {
		t.Fatal("constructed without a child")
	}
	x, leaf := newStack(t, nil)
	dir, file := graph.NewGFID(), graph.NewGFID()
	leaf.addName(dir, "f", file)
	r2, err := x.Lookup(context.Background(), &graph.Loc{ParentGFID: dir, Name: "f"}, nil)
	if err != nil || r2.Stat.GFID != file {
		t.Fatalf("lookup through locks: %+v %v", r2, err)
	}
	var ce interface{ ReleaseClient(string) } = x
	_ = ce
	if !errors.Is(graph.Errorf(unix.EAGAIN, "x"), unix.EAGAIN) {
		t.Fatal("errno wrapping")
	}
}
