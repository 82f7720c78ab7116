package graphtest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Factory returns a fresh, activated graph top for one test; it registers cleanup (graph Fini,
// temporary directories) via t.Cleanup.
type Factory func(t testing.TB) graph.Xlator

// Caps declares what the graph under test supports. A capability that is false makes the
// subtests (or parts of subtests) that need it skip with a reason naming the capability; the
// fops involved are still called once, so a crash or hang is still caught.
type Caps struct {
	// Locks: lk, inodelk/finodelk and entrylk/fentrylk grant, conflict and release (features/locks
	// is in the graph). Without it, the lock fops must fail cleanly (ENOSYS on a bare leaf).
	Locks bool
	// Ownership: chown/chgrp are honoured and new files belong to the caller's uid/gid (the
	// process is root or the leaf is in memory).
	Ownership bool
	// Sparse: Blocks counts only allocated space and SEEK_DATA/SEEK_HOLE find holes.
	Sparse bool
	// Permissions: access checks are enforced for non-root graph.Creds (graph.WithCreds).
	Permissions bool
	// OSFDs: the graph closes every operating-system fd it opened once FDs are released and the
	// graph is finalised; each subtest checks /proc/self/fd before and after. The count is
	// process-wide: do not run the suite in parallel (t.Parallel) with tests that open files.
	OSFDs bool
}

// FullCaps is every capability: what storage/memory (and a root posix brick with locks) offers.
var FullCaps = Caps{Locks: true, Ownership: true, Sparse: true, Permissions: true, OSFDs: true}

type suite struct {
	f    Factory
	caps Caps

	mu     sync.Mutex
	counts [graph.NumFops]int
}

type testCase struct {
	name string
	fn   func(e *env)
}

// env is one subtest's world.
type env struct {
	t    *testing.T
	s    *suite
	ctx  context.Context
	x    graph.Fops   // the top, behind a counting tap
	top  graph.Xlator // the top itself
	root *graph.Loc
}

// Run runs the conformance suite against graphs built by f. Every subtest gets a fresh graph
// and checks at its end that all graph FDs were released (graph.LiveFDs) and, with Caps.OSFDs,
// that no operating-system fd was left open. A final subtest asserts every fop of graph.Fops was
// exercised.
func Run(t *testing.T, f Factory, caps Caps) {
	s := &suite{f: f, caps: caps}
	warmUp()
	cases := s.cases()
	ran := 0
	for _, c := range cases {
		if t.Run(c.name, func(t *testing.T) { c.fn(s.env(t)) }) {
			ran++
		}
		if t.Failed() && testing.Short() {
			break
		}
	}
	t.Run("every_fop_exercised", func(t *testing.T) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var missing []string
		for f := graph.Fop(0); f < graph.NumFops; f++ {
			if s.counts[f] == 0 {
				missing = append(missing, f.String())
			}
		}
		if len(missing) == 0 {
			return
		}
		if filtered() {
			t.Skipf("subtests filtered by -run; fops not exercised in this run: %v", missing)
		}
		t.Fatalf("fops never exercised by the suite: %v", missing)
	})
}

func filtered() bool {
	for _, a := range os.Args {
		if strings.HasPrefix(a, "-test.run") {
			return true
		}
	}
	return false
}

// warmUp makes the runtime open the long-lived fds it opens lazily (the netpoller) so they
// are not mistaken for leaks.
func warmUp() {
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
}

func countOSFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func (s *suite) env(t *testing.T) *env {
	fdsBefore := graph.LiveFDs()
	osBefore := -1
	if s.caps.OSFDs {
		osBefore = countOSFDs()
	}
	// Registered first, so it runs last: after the factory's own cleanups (graph Fini).
	t.Cleanup(func() {
		if n := graph.LiveFDs(); n != fdsBefore {
			t.Errorf("leak: %d graph FDs live after the test, %d before", n, fdsBefore)
		}
		if osBefore >= 0 {
			after := countOSFDs()
			for i := 0; i < 20 && after > osBefore; i++ {
				runtime.GC()
				time.Sleep(10 * time.Millisecond)
				after = countOSFDs()
			}
			if after > osBefore {
				t.Errorf("leak: %d os fds open after the test, %d before", after, osBefore)
			}
		}
	})
	top := s.f(t)
	if top == nil {
		t.Fatalf("graphtest: factory returned nil")
	}
	e := &env{t: t, s: s, ctx: context.Background(), top: top, root: graph.RootLoc()}
	e.x = &tap{
		next: func() (graph.Fops, error) { return top, nil },
		on: func(f graph.Fop, _ string, _ error) {
			s.mu.Lock()
			s.counts[f]++
			s.mu.Unlock()
		},
	}
	return e
}

// ---- assertion helpers ---------------------------------------------------------------------

func (e *env) ok(err error, format string, args ...any) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}

// fails asserts err carries one of want.
func (e *env) fails(err error, what string, want ...unix.Errno) {
	e.t.Helper()
	got := graph.Errno(err)
	for _, w := range want {
		if got == w {
			return
		}
	}
	if err == nil {
		e.t.Errorf("%s: succeeded, want %v", what, want)
		return
	}
	e.t.Errorf("%s: got %v (%v), want %v", what, got, err, want)
}

func (e *env) eq(what string, got, want any) {
	e.t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		e.t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func (e *env) lookup(loc *graph.Loc) graph.Iatt {
	e.t.Helper()
	r, err := e.x.Lookup(e.ctx, loc, nil)
	e.ok(err, "lookup %s", loc)
	return r.Stat
}

func (e *env) lookupPath(p string) (*graph.Loc, graph.Iatt) {
	e.t.Helper()
	loc, st, err := LookupPath(e.ctx, e.x, p)
	e.ok(err, "lookup path %s", p)
	return loc, st
}

func (e *env) create(parent *graph.Loc, name string) (*graph.FD, *graph.Loc) {
	e.t.Helper()
	fd, loc, err := Create(e.ctx, e.x, parent, name)
	e.ok(err, "create %s/%s", parent, name)
	e.t.Cleanup(fd.Unref)
	return fd, loc
}

func (e *env) mkdir(parent *graph.Loc, name string) *graph.Loc {
	e.t.Helper()
	loc, err := Mkdir(e.ctx, e.x, parent, name)
	e.ok(err, "mkdir %s/%s", parent, name)
	return loc
}

func (e *env) writeFile(parent *graph.Loc, name string, data []byte) *graph.Loc {
	e.t.Helper()
	loc, err := WriteFile(e.ctx, e.x, parent, name, data)
	e.ok(err, "write file %s/%s", parent, name)
	return loc
}

func (e *env) readFile(loc *graph.Loc) []byte {
	e.t.Helper()
	b, err := ReadFile(e.ctx, e.x, loc)
	e.ok(err, "read file %s", loc)
	return b
}

func (e *env) open(loc *graph.Loc, flags int) *graph.FD {
	e.t.Helper()
	fd, err := Open(e.ctx, e.x, loc, flags)
	e.ok(err, "open %s", loc)
	e.t.Cleanup(fd.Unref)
	return fd
}

func (e *env) write(fd *graph.FD, data []byte, off int64) graph.WCCReply {
	e.t.Helper()
	r, err := e.x.Writev(e.ctx, fd, data, off, 0, nil)
	e.ok(err, "write %d bytes at %d", len(data), off)
	return r
}

// read returns a copy of the reply's data (Release nil) after releasing the reply, so every
// suite run also hands read buffers back through the translator under test.
func (e *env) read(fd *graph.FD, size uint32, off int64) graph.ReadReply {
	e.t.Helper()
	r, err := e.x.Readv(e.ctx, fd, size, off, 0, nil)
	e.ok(err, "read %d bytes at %d", size, off)
	if r.Data != nil {
		r.Data = append([]byte{}, r.Data...)
	}
	r.Done()
	return r
}

func (e *env) fstat(fd *graph.FD) graph.Iatt {
	e.t.Helper()
	a, _, err := e.x.Fstat(e.ctx, fd, nil)
	e.ok(err, "fstat")
	return a
}

// names returns the sorted names of entries.
func names(ents []graph.Dirent) []string {
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name)
	}
	sort.Strings(out)
	return out
}

func user(ctx context.Context, uid, gid uint32) context.Context {
	return graph.WithCreds(ctx, &graph.Creds{UID: uid, GID: gid, Pid: int32(uid)})
}

func zeros(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}
