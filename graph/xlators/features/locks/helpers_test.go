package locks

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftfs/weft/graph"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// testLeaf is a minimal child: it resolves names it was told about and counts flushes.
type testLeaf struct {
	graph.Passthrough
	mu      sync.Mutex
	names   map[string]graph.GFID
	flushes atomic.Int32
}

func (l *testLeaf) Lookup(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.LookupReply, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if g, ok := l.names[loc.ParentGFID.String()+"/"+loc.Name]; ok {
		return graph.LookupReply{Stat: graph.Iatt{GFID: g, Mode: unix.S_IFREG | 0o644}}, nil
	}
	return graph.LookupReply{}, graph.Errorf(unix.ENOENT, "leaf: %s", loc)
}

func (l *testLeaf) Flush(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	l.flushes.Add(1)
	return nil, nil
}

func (l *testLeaf) addName(parent graph.GFID, name string, g graph.GFID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.names == nil {
		l.names = map[string]graph.GFID{}
	}
	l.names[parent.String()+"/"+name] = g
}

// newStack builds locks over a test leaf with the given options, initialised; Fini runs at
// cleanup.
func newStack(t testing.TB, raw map[string]string) (*Locks, *testLeaf) {
	t.Helper()
	x, leaf, err := buildStack(raw, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Fini)
	return x, leaf
}

func buildStack(raw map[string]string, log *zap.Logger) (*Locks, *testLeaf, error) {
	leaf := &testLeaf{}
	graph.Wrap(leaf, "test/leaf", "leaf", nil, nil)
	xl, err := graph.Construct(Type, "locks", raw, log, leaf)
	if err != nil {
		return nil, nil, err
	}
	return xl.(*Locks), leaf, nil
}

// as returns a context of a client connection and lock owner.
func as(client, lkOwner string) context.Context {
	return graph.WithCreds(context.Background(), &graph.Creds{ClientID: client, LkOwner: []byte(lkOwner), Pid: int32(len(lkOwner) + 100)})
}

func newFD(g graph.GFID) *graph.FD { return graph.NewFD(nil, g, unix.O_RDWR) }

func wr(start, n int64) *graph.Flock {
	return &graph.Flock{Type: graph.LockWrite, Start: start, Len: n}
}
func rd(start, n int64) *graph.Flock { return &graph.Flock{Type: graph.LockRead, Start: start, Len: n} }
func un(start, n int64) *graph.Flock {
	return &graph.Flock{Type: graph.LockUnlock, Start: start, Len: n}
}

// posixState lists the granted POSIX pieces of gfid as "owner:type[start,end]", sorted.
func posixState(x *Locks, g graph.GFID) []string {
	p := x.tab.find(g)
	if p == nil {
		return nil
	}
	defer x.tab.put(p)
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.posix {
		end := "EOF"
		if l.end != eof {
			end = fmt.Sprint(l.end)
		}
		out = append(out, fmt.Sprintf("%s:%s[%d,%s]", l.owner.lk, typeName(l.typ)[:1], l.start, end))
	}
	sort.Strings(out)
	return out
}

func wantErrno(t testing.TB, err error, want unix.Errno) {
	t.Helper()
	if got := graph.Errno(err); got != want {
		t.Fatalf("error %v: errno %v, want %v", err, got, want)
	}
}

// async runs f in a goroutine and returns a channel with its error.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// waitFor fails the test if ch does not deliver within d (harness-only timeout).
func waitFor(t testing.TB, ch <-chan error, d time.Duration, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(d):
		t.Fatalf("%s: not done after %v", what, d)
		return nil
	}
}

// notYet asserts ch delivers nothing for a short while (the request is blocked).
func notYet(t testing.TB, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s: finished while it should block (err %v)", what, err)
	case <-time.After(50 * time.Millisecond):
	}
}

// waitBlocked waits until the translator has n blocked requests in total (POSIX, inodelk and
// entrylk), so a test knows a goroutine really is queued before it goes on.
func waitBlocked(t testing.TB, x *Locks, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := x.Stats()
		if got := s.PosixBlocked + s.InodelksBlocked + s.EntrylksBlocked; got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("blocked requests: have %+v, want %d", s, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkGoroutines fails if the goroutine count does not settle back to base.
func checkGoroutines(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d, want <= %d\n%s", runtime.NumGoroutine(), base, buf[:n])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runtimeGoroutines() int { return runtime.NumGoroutine() }
