package nlm_test

import (
	"testing"
	"time"

	"github.com/weftfs/weft/gateway/nlm"
	"github.com/weftfs/weft/gateway/nsm"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/rpc"
)

func TestLockTestUnlockConflicts(t *testing.T) {
	top := volume(t)
	fh := file(t, top, "img")
	g := startGateway(t, top, gwOpts{})
	a := dial(t, g.port, "hostA")
	b := dial(t, g.port, "hostB")

	want(t, "A excl 100+100", a.lock(fh, 1, 100, 100, true, false, false), nlm.Granted)
	want(t, "A again (same owner)", a.lock(fh, 1, 100, 100, true, false, false), nlm.Granted)
	r := b.test(fh, 7, 150, 10, false)
	want(t, "B TEST", r.Stat, nlm.Denied)
	if !r.Holder.Exclusive || r.Holder.Svid != 1 || r.Holder.Offset != 100 || r.Holder.Len != 100 {
		t.Fatalf("holder %+v", r.Holder)
	}
	// QEMU image locking: non-blocking conflicting locks must be denied promptly.
	start := time.Now()
	for i := 0; i < 20; i++ {
		want(t, "B non-blocking", b.lock(fh, 7, 150, 1, false, false, false), nlm.Denied)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("20 denied locks took %v", d)
	}
	// Same host, other svid: another owner.
	want(t, "A svid 2", a.lock(fh, 2, 199, 1, false, false, false), nlm.Denied)
	want(t, "B outside the range", b.lock(fh, 7, 200, 50, true, false, false), nlm.Granted)
	want(t, "B TEST own range", b.test(fh, 7, 200, 50, true).Stat, nlm.Granted)
	want(t, "A unlock part", a.unlock(fh, 1, 100, 50), nlm.Granted)
	want(t, "B in the released part", b.lock(fh, 7, 120, 10, true, false, false), nlm.Granted)
	want(t, "B in the held part", b.lock(fh, 7, 160, 10, true, false, false), nlm.Denied)
	want(t, "A unlock all", a.unlock(fh, 1, 0, 0), nlm.Granted)
	want(t, "B now", b.lock(fh, 7, 160, 10, true, false, false), nlm.Granted)
	// Shared locks share.
	want(t, "A shared", a.lock(fh, 3, 1000, 10, false, false, false), nlm.Granted)
	want(t, "B shared", b.lock(fh, 8, 1005, 10, false, false, false), nlm.Granted)
	want(t, "A excl over B's shared", a.lock(fh, 3, 1000, 10, true, false, false), nlm.Denied)
	// Unlock of something never locked, and of a bad handle.
	want(t, "unlock nothing", a.unlock(fh, 99, 0, 0), nlm.Granted)
	bad := append([]byte(nil), fh...)
	bad[len(bad)-1] ^= 1
	want(t, "forged handle", a.lock(bad, 1, 0, 0, true, false, false), nlm.StaleFH)
	want(t, "offset too big", a.lock(fh, 1, 1<<63, 1, true, false, false), nlm.FBig)

	if st := g.nlm.Stats(); st.Files != 2 || st.OpenFDs != 2 {
		t.Fatalf("stats %+v, want 2 files with FDs (hosts A and B)", st)
	}
	want(t, "A unlock", a.unlock(fh, 3, 0, 0), nlm.Granted)
	if st := g.nlm.Stats(); st.Files != 1 {
		t.Fatalf("stats %+v: host A holds nothing, its FD must be closed", st)
	}
}

func TestVersions1And3Interoperate(t *testing.T) {
	top := volume(t)
	fh := file(t, top, "f")
	g := startGateway(t, top, gwOpts{})
	a := dial(t, g.port, "hostA")
	b := dial(t, g.port, "hostB")
	b.vers = nlm.V3
	want(t, "v4 lock", a.lock(fh, 1, 0, 10, true, false, false), nlm.Granted)
	want(t, "v3 conflicting", b.lock(fh, 1, 5, 1, true, false, false), nlm.Denied)
	r := b.test(fh, 1, 5, 1, true)
	if r.Stat != nlm.Denied || r.Holder.Offset != 0 || r.Holder.Len != 10 {
		t.Fatalf("v3 TEST %+v", r)
	}
	b.vers = nlm.V1
	want(t, "v1 lock elsewhere", b.lock(fh, 1, 20, 0, true, false, false), nlm.Granted)
	if _, err := b.call(nlm.ProcShare, nil); !isAccept(err, rpc.ProcUnavail) {
		t.Fatalf("v1 SHARE: %v, want PROC_UNAVAIL", err)
	}
	// v4-only statuses are mapped for old versions: a forged handle is DENIED_NOLOCKS.
	bad := append([]byte(nil), fh...)
	bad[0] ^= 1
	want(t, "v1 bad handle", b.lock(bad, 1, 0, 1, true, false, false), nlm.DeniedNoLocks)
}

func TestBlockingLockGrantedCallback(t *testing.T) {
	top := volume(t)
	fh := file(t, top, "f")
	fc := newFakeClient(t, true, false)
	g := startGateway(t, top, gwOpts{pmPort: fc.pmPort})
	a := dial(t, g.port, "hostA")
	b := dial(t, g.port, "hostB")
	want(t, "A", a.lock(fh, 1, 0, 100, true, false, false), nlm.Granted)
	want(t, "B blocking", b.lock(fh, 2, 50, 10, true, true, false), nlm.Blocked)
	want(t, "B poll", b.lock(fh, 2, 50, 10, true, true, false), nlm.Blocked)
	select {
	case ga := <-fc.grantCh:
		t.Fatalf("GRANTED before the lock was free: %+v", ga)
	case <-time.After(100 * time.Millisecond):
	}
	want(t, "A unlock", a.unlock(fh, 1, 0, 100), nlm.Granted)
	select {
	case ga := <-fc.grantCh:
		if ga.Lock.Svid != 2 || ga.Lock.Offset != 50 || ga.Lock.Len != 10 || !ga.Exclusive || string(ga.Lock.FH) != string(fh) {
			t.Fatalf("GRANTED args %+v", ga)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no GRANTED callback")
	}
	r := a.test(fh, 1, 55, 1, false)
	if r.Stat != nlm.Denied || r.Holder.Svid != 2 {
		t.Fatalf("after GRANTED, TEST: %+v", r)
	}
	waitFor(t, "blocks settle", func() bool { return g.nlm.Stats().Blocked == 0 })
	want(t, "B re-sends LOCK after GRANTED", b.lock(fh, 2, 50, 10, true, true, false), nlm.Granted)
	want(t, "B unlock", b.unlock(fh, 2, 0, 0), nlm.Granted)
	want(t, "A again", a.lock(fh, 1, 0, 100, true, false, false), nlm.Granted)
}

func TestGrantedRefusedReleases(t *testing.T) {
	top := volume(t)
	fh := file(t, top, "f")
	fc := newFakeClient(t, true, false)
	fc.answer = nlm.Denied // the client no longer waits
	g := startGateway(t, top, gwOpts{pmPort: fc.pmPort})
	a := dial(t, g.port, "hostA")
	b := dial(t, g.port, "hostB")
	want(t, "A", a.lock(fh, 1, 0, 0, true, false, false), nlm.Granted)
	want(t, "B blocking", b.lock(fh, 2, 0, 0, true, true, false), nlm.Blocked)
	want(t, "A unlock", a.unlock(fh, 1, 0, 0), nlm.Granted)
	<-fc.grantCh
	waitFor(t, "refused lock released", func() bool { return a.test(fh, 1, 0, 0, true).Stat == nlm.Granted })
}

func TestFailedCallbackDoesNotWedge(t *testing.T) {
	top := volume(t)
	fh := file(t, top, "f")
	fc := newFakeClient(t, false, false) // a port mapper without a lock manager: callbacks fail
	g := startGateway(t, top, gwOpts{pmPort: fc.pmPort})
	a := dial(t, g.port, "hostA")
	b := dial(t, g.port, "hostB")
	want(t, "A", a.lock(fh, 1, 0, 0, true, false, false), nlm.Granted)
	want(t, "B blocking", b.lock(fh, 2, 0, 0, true, true, false), nlm.Blocked)
	want(t, "A unlock", a.unlock(fh, 1, 0, 0), nlm.Granted)
	waitFor(t, "callback attempts end", func() bool { return g.nlm.Stats().Blocked == 0 })
	want(t, "A after the grant to B", a.lock(fh, 1, 0, 0, true, false, false), nlm.Denied)
	want(t, "B polls", b.lock(fh, 2, 0, 0, true, true, false), nlm.Granted)
	want(t, "B unlock", b.unlock(fh, 2, 0, 0), nlm.Granted)
	want(t, "A", a.lock(fh, 1, 0, 0, true, false, false), nlm.Granted)
}

func TestCancelBlocked(t *testing.T) {
	top := volume(t)
	fh := file(t, top, "f")
	fc := newFakeClient(t, true, false)
	g := startGateway(t, top, gwOpts{pmPort: fc.pmPort})
	a := dial(t, g.port, "hostA")
	b := dial(t, g.port, "hostB")
	c := dial(t, g.port, "hostC")
	want(t, "A", a.lock(fh, 1, 0, 10, true, false, false), nlm.Granted)
	want(t, "B blocking", b.lock(fh, 2, 0, 10, true, true, false), nlm.Blocked)
	want(t, "cancel of nothing", b.cancel(fh, 3, 0, 10, true), nlm.Denied)
	want(t, "B cancel", b.cancel(fh, 2, 0, 10, true), nlm.Granted)
	if st := g.nlm.Stats(); st.Blocked != 0 {
		t.Fatalf("after CANCEL: %+v", st)
	}
	want(t, "A unlock", a.unlock(fh, 1, 0, 10), nlm.Granted)
	want(t, "C gets it: B's request is gone", c.lock(fh, 3, 0, 10, true, false, false), nlm.Granted)
	select {
	case ga := <-fc.grantCh:
		t.Fatalf("GRANTED for a cancelled request: %+v", ga)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestFreeAllAndNotifyRelease(t *testing.T) {
	top := volume(t)
	f1, f2 := file(t, top, "f1"), file(t, top, "f2")
	g := startGateway(t, top, gwOpts{})
	a := dial(t, g.port, "hostA")
	b := dial(t, g.port, "hostB")
	hold := func() {
		want(t, "A f1", a.lock(f1, 1, 0, 0, true, false, false), nlm.Granted)
		want(t, "A f2", a.lock(f2, 2, 10, 10, false, false, false), nlm.Granted)
		want(t, "A share", a.share(f1, "o", 3, 3, true), nlm.Granted)
		want(t, "B f1", b.lock(f1, 1, 0, 0, true, false, false), nlm.Denied)
		want(t, "B f2", b.lock(f2, 1, 15, 1, true, false, false), nlm.Denied)
		want(t, "B share", b.share(f1, "o", 0, 1, true), nlm.Denied)
		hs, err := g.nsm.Monitored()
		if err != nil || len(hs) != 1 || hs[0].Name != "hostA" || hs[0].Addr.String() != "127.0.0.1" {
			t.Fatalf("monitored %v %v, want hostA at 127.0.0.1", hs, err)
		}
	}
	released := func() {
		want(t, "B f1", b.lock(f1, 1, 0, 0, true, false, false), nlm.Granted)
		want(t, "B f2", b.lock(f2, 1, 15, 1, true, false, false), nlm.Granted)
		want(t, "B share", b.share(f1, "o", 0, 1, true), nlm.Granted)
		want(t, "B unlock", b.unlock(f1, 1, 0, 0), nlm.Granted)
		want(t, "B unlock", b.unlock(f2, 1, 0, 0), nlm.Granted)
		want(t, "B unshare", b.share(f1, "o", 0, 1, false), nlm.Granted)
	}
	hold()
	if _, err := a.call(nlm.ProcFreeAll, nlm.AppendNotify(nil, &nlm.Notify{Name: "HOSTA", State: 5})); err != nil {
		t.Fatal(err)
	}
	released()
	hs, _ := g.nsm.Monitored()
	if len(hs) != 0 {
		t.Fatalf("still monitored after FREE_ALL: %v", hs)
	}

	hold()
	// hostA reboots: its statd tells ours.
	args := nsm.AppendStatChge(nil, &nsm.StatChge{MonName: "hostA", State: 7})
	if _, err := b.cl.Call(t.Context(), nsm.Program, nsm.Version, nsm.ProcNotify, args, rpc.NoAuth); err != nil {
		t.Fatal(err)
	}
	released()
	if st := g.nlm.Stats(); st.Files != 0 || st.Shares != 0 {
		t.Fatalf("state left: %+v", st)
	}
}

func TestGracePeriodAndRestartNotify(t *testing.T) {
	top := volume(t)
	fh := file(t, top, "f")
	fc := newFakeClient(t, false, true)
	dir := t.TempDir()
	g1 := startGateway(t, top, gwOpts{dir: dir, grace: time.Second, pmPort: fc.pmPort})
	if g1.nlm.InGrace() {
		t.Fatal("grace period on a first start with no previous clients")
	}
	s1 := g1.nsm.State()
	a := dial(t, g1.port, "hostA")
	want(t, "A before restart", a.lock(fh, 1, 0, 0, true, false, false), nlm.Granted)
	g1.close() // the gateway goes away: its FDs close and the graph drops the locks

	g2 := startGateway(t, top, gwOpts{dir: dir, grace: time.Second, pmPort: fc.pmPort})
	if s2 := g2.nsm.State(); s2 <= s1 || s2%2 != 1 {
		t.Fatalf("state %d after %d: want a larger odd number", s2, s1)
	}
	if prev := g2.nsm.Previous(); len(prev) != 1 || prev[0].Name != "hostA" {
		t.Fatalf("previous hosts %v", prev)
	}
	if n := g2.nsm.NotifyAll(t.Context()); n != 1 {
		t.Fatalf("NotifyAll reached %d hosts", n)
	}
	fc.mu.Lock()
	notes := append([]nsm.StatChge(nil), fc.notifies...)
	fc.mu.Unlock()
	if len(notes) != 1 || notes[0].MonName != "weft-test" || notes[0].State != g2.nsm.State() {
		t.Fatalf("SM_NOTIFY received by the client: %+v", notes)
	}
	a2 := dial(t, g2.port, "hostA")
	b := dial(t, g2.port, "hostB")
	if !g2.nlm.InGrace() {
		t.Fatal("no grace period after a restart with clients to reclaim")
	}
	want(t, "B new lock in grace", b.lock(fh, 2, 0, 0, true, false, false), nlm.DeniedGracePeriod)
	want(t, "B TEST in grace", b.test(fh, 2, 0, 0, true).Stat, nlm.DeniedGracePeriod)
	want(t, "B SHARE in grace", b.share(fh, "o", 0, 1, true), nlm.DeniedGracePeriod)
	want(t, "A reclaims", a2.lock(fh, 1, 0, 0, true, false, true), nlm.Granted)
	time.Sleep(1100 * time.Millisecond)
	if g2.nlm.InGrace() {
		t.Fatal("grace period did not end")
	}
	want(t, "B after grace: the reclaimed lock holds", b.lock(fh, 2, 0, 0, true, false, false), nlm.Denied)
	want(t, "A unlock", a2.unlock(fh, 1, 0, 0), nlm.Granted)
	want(t, "B", b.lock(fh, 2, 0, 0, true, false, false), nlm.Granted)
}

func TestSharesConflict(t *testing.T) {
	top := volume(t)
	fh := file(t, top, "f")
	g := startGateway(t, top, gwOpts{})
	a := dial(t, g.port, "hostA")
	b := dial(t, g.port, "hostB")
	// mode = deny bits, access = access bits.
	want(t, "A read, deny write", a.share(fh, "1", 2, 1, true), nlm.Granted)
	want(t, "B read, deny none", b.share(fh, "1", 0, 1, true), nlm.Granted)
	want(t, "B write", b.share(fh, "2", 0, 2, true), nlm.Denied)
	want(t, "B deny read", b.share(fh, "3", 1, 0, true), nlm.Denied)
	want(t, "A replaces its own: read, deny none", a.share(fh, "1", 0, 1, true), nlm.Granted)
	want(t, "B write now", b.share(fh, "2", 0, 2, true), nlm.Granted)
	want(t, "A unshare", a.share(fh, "1", 0, 0, false), nlm.Granted)
	want(t, "B unshare", b.share(fh, "1", 0, 0, false), nlm.Granted)
	want(t, "B unshare", b.share(fh, "2", 0, 0, false), nlm.Granted)
	want(t, "A deny both", a.share(fh, "1", 3, 3, true), nlm.Granted)
	if st := g.nlm.Stats(); st.Shares != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestTwoGatewaysShareLockState(t *testing.T) {
	top := volume(t)
	fh := file(t, top, "img")
	g1 := startGateway(t, top, gwOpts{})
	g2 := startGateway(t, top, gwOpts{})
	a := dial(t, g1.port, "hostA")
	b := dial(t, g2.port, "hostB")
	want(t, "A via gateway 1", a.lock(fh, 1, 100, 100, true, false, false), nlm.Granted)
	want(t, "B via gateway 2", b.lock(fh, 1, 150, 1, false, false, false), nlm.Denied)
	r := b.test(fh, 1, 150, 1, false)
	if r.Stat != nlm.Denied || r.Holder.Svid != 1 || r.Holder.Offset != 100 {
		t.Fatalf("TEST via gateway 2: %+v", r)
	}
	g1.close() // gateway 1 stops: its client's locks go with its FDs
	want(t, "B after gateway 1 closed", b.lock(fh, 1, 150, 1, false, false, false), nlm.Granted)
}

func TestMalformedArguments(t *testing.T) {
	top := volume(t)
	fh := file(t, top, "f")
	g := startGateway(t, top, gwOpts{})
	a := dial(t, g.port, "hostA")
	good := nlm.AppendLockArgs(nil, nlm.V4, &nlm.LockArgs{Cookie: []byte("c"), Lock: a.lk(fh, 1, 0, 1)})
	cases := map[uint32][][]byte{}
	for _, p := range []uint32{nlm.ProcTest, nlm.ProcLock, nlm.ProcCancel, nlm.ProcUnlock, nlm.ProcGranted,
		nlm.ProcTestMsg, nlm.ProcLockMsg, nlm.ProcCancelMsg, nlm.ProcUnlockMsg, nlm.ProcGrantedMsg,
		nlm.ProcTestRes, nlm.ProcLockRes, nlm.ProcCancelRes, nlm.ProcUnlockRes, nlm.ProcGrantedRes,
		nlm.ProcShare, nlm.ProcUnshare, nlm.ProcNMLock, nlm.ProcFreeAll} {
		cases[p] = [][]byte{nil, {0, 0, 0}, {0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}, append(append([]byte(nil), good...), 0, 0, 0, 0, 9)}
	}
	for p, bodies := range cases {
		for i, body := range bodies {
			if _, err := a.call(p, body); !isAccept(err, rpc.GarbageArgs) {
				t.Errorf("proc %d body %d: %v, want GARBAGE_ARGS", p, i, err)
			}
		}
	}
	// A bool that is neither 0 nor 1.
	bad := append([]byte(nil), good...)
	bad[11] = 2 // the block flag follows the 4-byte length and 4 bytes of padded cookie "c"
	if _, err := a.call(nlm.ProcLock, bad); !isAccept(err, rpc.GarbageArgs) {
		t.Errorf("bool 2: %v", err)
	}
	for _, p := range []uint32{16, 19, 24, 1 << 30} {
		if _, err := a.call(p, nil); !isAccept(err, rpc.ProcUnavail) {
			t.Errorf("proc %d: %v, want PROC_UNAVAIL", p, err)
		}
	}
	if _, err := a.call(nlm.ProcNull, nil); err != nil {
		t.Fatalf("NULL after garbage: %v", err)
	}
	want(t, "still serving", a.lock(fh, 1, 0, 1, true, false, false), nlm.Granted)
}

func TestCloseReleasesEverything(t *testing.T) {
	top := volume(t)
	fh := file(t, top, "f")
	base := graph.LiveFDs()
	fc := newFakeClient(t, false, false)
	g := startGateway(t, top, gwOpts{pmPort: fc.pmPort})
	a := dial(t, g.port, "hostA")
	b := dial(t, g.port, "hostB")
	want(t, "A", a.lock(fh, 1, 0, 0, true, false, false), nlm.Granted)
	want(t, "B blocked", b.lock(fh, 2, 0, 0, true, true, false), nlm.Blocked)
	done := make(chan struct{})
	go func() { g.close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs with a blocked request")
	}
	if n := graph.LiveFDs(); n != base {
		t.Fatalf("%d FDs live after Close, %d before", n, base)
	}
	g2 := startGateway(t, top, gwOpts{})
	c := dial(t, g2.port, "hostC")
	want(t, "C after Close", c.lock(fh, 1, 0, 0, true, false, false), nlm.Granted)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
