package graphtest_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	_ "github.com/weftfs/weft/graph/xlators/features/locks"
)

func TestRecorderRecordsForwardedFops(t *testing.T) {
	mem := graphtest.NewMemory(t, "mem", nil)
	rec := graphtest.NewRecorder("rec", mem)
	graphtest.Activate(t, rec)
	ctx := context.Background()
	loc, err := graphtest.WriteFile(ctx, rec, graph.RootLoc(), "f", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := graphtest.ReadFile(ctx, rec, loc)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read back %q %v", b, err)
	}
	_, err = rec.Lookup(ctx, graph.RootLoc().Child("missing"), nil)
	if graph.Errno(err) != unix.ENOENT {
		t.Fatalf("lookup missing: %v", err)
	}
	want := []graph.Fop{graph.FopCreate, graph.FopWritev, graph.FopFlush, graph.FopOpen, graph.FopReadv, graph.FopLookup}
	got := rec.Fops()
	if len(got) != len(want) {
		t.Fatalf("recorded %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("recorded %v, want %v", got, want)
		}
	}
	calls := rec.Calls()
	if !strings.Contains(calls[1].Summary, "len=5 off=0") || calls[1].Errno != 0 {
		t.Errorf("writev summary %q errno %v", calls[1].Summary, calls[1].Errno)
	}
	if !strings.Contains(calls[0].Summary, "/f") {
		t.Errorf("create summary %q", calls[0].Summary)
	}
	if calls[5].Errno != unix.ENOENT {
		t.Errorf("failed lookup recorded with errno %v", calls[5].Errno)
	}
	if rec.Count(graph.FopReadv) != 1 {
		t.Errorf("Count(Readv) = %d", rec.Count(graph.FopReadv))
	}
	rec.Reset()
	if len(rec.Calls()) != 0 {
		t.Errorf("Reset left calls")
	}
}

func TestStackAndHelpers(t *testing.T) {
	top := graphtest.Stack(t, graphtest.Layer{Type: "features/locks"})
	if top.Type() != "features/locks" || len(top.Children()) != 1 || top.Children()[0].Type() != "storage/memory" {
		t.Fatalf("stack: %s over %v", top.Type(), top.Children())
	}
	leafOnly := graphtest.Stack(t, graphtest.Layer{Type: "storage/memory", Options: map[string]string{"size": "1MB"}})
	if leafOnly.Type() != "storage/memory" || len(leafOnly.Children()) != 0 {
		t.Fatalf("leaf-only stack: %s", leafOnly.Type())
	}
	ctx := context.Background()
	s, _, err := leafOnly.Statfs(ctx, graph.RootLoc(), nil)
	if err != nil || s.Blocks*s.Bsize != 1<<20 {
		t.Fatalf("size option not applied: %+v %v", s, err)
	}
	// A write beyond the capacity fails with ENOSPC.
	fd, _, err := graphtest.Create(ctx, leafOnly, graph.RootLoc(), "big")
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	if err := graphtest.WriteAll(ctx, leafOnly, fd, make([]byte, 2<<20), 0); graph.Errno(err) != unix.ENOSPC {
		t.Fatalf("write beyond capacity: %v", err)
	}

	d, err := graphtest.Mkdir(ctx, top, graph.RootLoc(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := graphtest.Mkdir(ctx, top, d, "b"); err != nil {
		t.Fatal(err)
	}
	b, _, _ := graphtest.LookupPath(ctx, top, "/a/b")
	if _, err := graphtest.WriteFile(ctx, top, b, "f", []byte("deep")); err != nil {
		t.Fatal(err)
	}
	loc, st, err := graphtest.LookupPath(ctx, top, "/a/b/f")
	if err != nil || st.Size != 4 || loc.Name != "f" || loc.Path != "/a/b/f" || loc.ParentGFID != b.GFID {
		t.Fatalf("LookupPath: %+v %+v %v", loc, st, err)
	}
	if _, _, err := graphtest.LookupPath(ctx, top, "/a/missing/f"); graph.Errno(err) != unix.ENOENT {
		t.Fatalf("LookupPath missing: %v", err)
	}
	ents, err := graphtest.ReadDirAll(ctx, top, d, true, 100)
	if err != nil || len(ents) != 1 || ents[0].Name != "b" || !ents[0].Stat.IsDir() {
		t.Fatalf("ReadDirAll: %+v %v", ents, err)
	}
	// Bad input to the memory leaf is an error, not a panic.
	if _, err := top.Mkdir(ctx, graph.RootLoc().Child("x/y"), 0o755, 0, nil); graph.Errno(err) != unix.EINVAL {
		t.Errorf("name with a slash: %v", err)
	}
	if _, err := top.Mkdir(ctx, graph.RootLoc().Child(strings.Repeat("n", 256)), 0o755, 0, nil); graph.Errno(err) != unix.ENAMETOOLONG {
		t.Errorf("long name: %v", err)
	}
	if _, err := top.Mkdir(ctx, &graph.Loc{Name: "x"}, 0o755, 0, nil); graph.Errno(err) != unix.EINVAL {
		t.Errorf("loc without parent: %v", err)
	}
	if _, err := top.Mkdir(ctx, graph.RootLoc().Child("g"), 0o755, 0, graph.Xdata{"gfid-req": []byte{1, 2}}); graph.Errno(err) != unix.EINVAL {
		t.Errorf("short gfid-req: %v", err)
	}
	if _, _, err := top.Fstat(ctx, nil, nil); graph.Errno(err) != unix.EBADF {
		t.Errorf("nil fd: %v", err)
	}
	if _, _, err := top.Stat(ctx, nil, nil); err == nil {
		t.Errorf("nil loc accepted")
	}
}

// TestSuiteCatchesBrokenTranslators runs the suite, in a child process, against translators
// with one deliberate defect each, and checks the suite fails where it should.
func TestSuiteCatchesBrokenTranslators(t *testing.T) {
	if os.Getenv("GRAPHTEST_MUTANT") != "" {
		t.Skip("inside a mutant run")
	}
	cases := []struct {
		mutant, subtest, want string
	}{
		{"leak-fd", "create_write_read", "leak: "},
		{"leak-osfd", "root", "os fds open after the test"},
		{"rename-no-replace", "rename_file", "rename b over c"},
		{"readdir-ignores-cookie", "readdir_paging", "seen 2 times"},
		{"xattrop-not-atomic", "xattrop", "concurrent sum"},
		{"no-gfid-req", "gfid_req", "mkdir gfid"},
		{"times-lose-ns", "setattr", "stored mtime (ns)"},
		{"hole-reads-garbage", "truncate", "shrink+grow"},
		{"no-perm-checks", "access", "user R_OK on 0600 root file"},
	}
	for _, c := range cases {
		t.Run(c.mutant, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutant$/^"+c.subtest+"$", "-test.v")
			cmd.Env = append(os.Environ(), "GRAPHTEST_MUTANT="+c.mutant)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a translator with defect %s:\n%s", c.mutant, out)
			}
			if !bytes.Contains(out, []byte(c.want)) || !bytes.Contains(out, []byte("--- FAIL: TestMutant/"+c.subtest)) {
				t.Fatalf("defect %s: expected failure %q in %s:\n%s", c.mutant, c.want, c.subtest, out)
			}
		})
	}
}

// TestMutant is the child side of TestSuiteCatchesBrokenTranslators.
func TestMutant(t *testing.T) {
	m := os.Getenv("GRAPHTEST_MUTANT")
	if m == "" {
		t.Skip("run by TestSuiteCatchesBrokenTranslators")
	}
	graphtest.Run(t, func(tb testing.TB) graph.Xlator {
		mem := graphtest.NewMemory(tb, "mem", nil)
		x := &mutant{kind: m}
		graph.Wrap(x, "test/mutant", "mutant", nil, nil, mem)
		graphtest.Activate(tb, x)
		return x
	}, graphtest.Caps{Ownership: true, Sparse: true, Permissions: true, OSFDs: true})
}
