package replicate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	_ "github.com/weftfs/weft/graph/xlators/debug/error-gen"
	"github.com/weftfs/weft/graph/xlators/features/locks"
)

// lockedLeaves returns n features/locks over storage/memory children named like glusterd's.
func lockedLeaves(t testing.TB, n int) []graph.Xlator {
	var out []graph.Xlator
	for i := 0; i < n; i++ {
		m := graphtest.NewMemory(t, fmt.Sprintf("m%d", i), nil)
		l, err := graph.Construct(locks.Type, fmt.Sprintf("gv0-client-%d", i), nil, zap.NewNop(), m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return out
}

func newAFROver(t testing.TB, opts map[string]string, kids ...graph.Xlator) *AFR {
	t.Helper()
	top, err := graph.Construct(Type, "gv0-replicate-0", opts, zap.NewNop(), kids...)
	if err != nil {
		t.Fatal(err)
	}
	graphtest.ActivateUp(t, top, kids...)
	return top.(*AFR)
}

// tree describes a child's whole namespace: path → "gfid type perm uid gid size sha256(data)".
func tree(t *testing.T, x graph.Xlator) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	var walk func(loc *graph.Loc, p string)
	walk = func(loc *graph.Loc, p string) {
		ents, err := graphtest.ReadDirAll(ctx, x, loc, true, 4096)
		if err != nil {
			t.Fatalf("%s: readdir %s: %v", x.Name(), p, err)
		}
		for _, e := range ents {
			cl := &graph.Loc{ParentGFID: loc.GFID, Name: e.Name, GFID: e.Stat.GFID, Path: p + "/" + e.Name}
			st := e.Stat
			sum := ""
			if st.IsReg() {
				b, err := graphtest.ReadFile(ctx, x, cl)
				if err != nil {
					t.Fatalf("%s: read %s: %v", x.Name(), cl.Path, err)
				}
				sum = fmt.Sprintf("%x", sha256.Sum256(b))[:16]
			}
			out[cl.Path] = fmt.Sprintf("%s %o %d %d %d %s", st.GFID, st.Mode, st.UID, st.GID, st.Size, sum)
			if st.IsDir() {
				walk(cl, cl.Path)
			}
		}
	}
	walk(graph.RootLoc(), "")
	return out
}

func diffTrees(a, b map[string]string) string {
	var d []string
	for k, v := range a {
		if b[k] != v {
			d = append(d, fmt.Sprintf("%s: %q vs %q", k, v, b[k]))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			d = append(d, fmt.Sprintf("%s: missing vs %q", k, v))
		}
	}
	sort.Strings(d)
	return strings.Join(d, "\n")
}

// changelogsClean fails if any trusted.afr.* counter of any copy of any file is non-zero.
func changelogsClean(t *testing.T, a *AFR, leaves []graph.Xlator) {
	t.Helper()
	ctx := context.Background()
	for _, l := range leaves {
		var walk func(g graph.GFID)
		walk = func(g graph.GFID) {
			r, err := l.Lookup(ctx, &graph.Loc{GFID: g}, a.changelogRequest(nil))
			if err != nil {
				t.Fatalf("%s: lookup %s: %v", l.Name(), g, err)
			}
			for _, k := range append(a.PendingKeys(), XattrDirty) {
				if c, _ := DecodePending(r.Xdata[k]); c != [3]int32{} {
					t.Errorf("%s: %s %s = %v after heal", l.Name(), g, k, c)
				}
			}
			if r.Stat.IsDir() {
				ents, _ := graphtest.ReadDirAll(ctx, l, &graph.Loc{GFID: g}, true, 4096)
				for _, e := range ents {
					walk(e.Stat.GFID)
				}
			}
		}
		walk(graph.RootGFID)
	}
}

func TestHealAfterChildDown(t *testing.T) {
	for _, algo := range []string{"diff", "full"} {
		t.Run(algo, func(t *testing.T) {
			ctx := context.Background()
			leaves := lockedLeaves(t, 3)
			a := newAFROver(t, map[string]string{"data-self-heal-algorithm": algo, "data-self-heal": "off", "metadata-self-heal": "off", "entry-self-heal": "off"}, leaves...)
			root := graph.RootLoc()
			big := bytes.Repeat([]byte("0123456789abcdef"), 40<<10) // 640 KiB: several heal blocks
			f1, _ := graphtest.WriteFile(ctx, a, root, "f1", big)
			z, _ := graphtest.WriteFile(ctx, a, root, "z", []byte("to be removed"))
			d, _ := graphtest.Mkdir(ctx, a, root, "d")
			_, _ = graphtest.WriteFile(ctx, a, d, "keep", []byte("keep"))
			_, _ = graphtest.WriteFile(ctx, a, root, "ren", []byte("renamed"))
			a.Notify(ctx, graph.EventChildDown, leaves[2])
			fd, err := graphtest.Open(ctx, a, f1, unix.O_RDWR)
			if err != nil {
				t.Fatal(err)
			}
			if err := graphtest.WriteAll(ctx, a, fd, []byte("CHANGED"), 300<<10); err != nil {
				t.Fatal(err)
			}
			fd.Unref()
			if _, err := a.Setattr(ctx, f1, &graph.Iatt{Mode: 0o600, UID: 7, GID: 8}, graph.SetAttrMode|graph.SetAttrUID|graph.SetAttrGID, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Setxattr(ctx, f1, graph.Xdata{"user.k": []byte("v")}, 0, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Unlink(ctx, z, 0, nil); err != nil {
				t.Fatal(err)
			}
			d2, _ := graphtest.Mkdir(ctx, a, d, "sub")
			_, _ = graphtest.WriteFile(ctx, a, d2, "new", []byte("new file in a new dir"))
			if _, err := a.Symlink(ctx, "f1", root.Child("sl"), 0, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Link(ctx, f1, root.Child("hl"), nil); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Rename(ctx, root.Child("ren"), d.Child("ren2"), nil); err != nil {
				t.Fatal(err)
			}
			a.Notify(ctx, graph.EventChildUp, leaves[2])
			if diff := diffTrees(tree(t, leaves[0]), tree(t, leaves[2])); diff == "" {
				t.Fatal("child 2 did not miss anything: the test is void")
			}
			sum, err := HealFull(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Healed == 0 || len(sum.SplitBrain) != 0 || len(sum.Failed) != 0 {
				t.Fatalf("heal summary %+v", sum)
			}
			want := tree(t, leaves[0])
			for _, l := range leaves[1:] {
				if diff := diffTrees(want, tree(t, l)); diff != "" {
					t.Errorf("%s differs after heal:\n%s", l.Name(), diff)
				}
			}
			changelogsClean(t, a, leaves)
		})
	}
}

// splitBrain makes a replica-2 data split-brain on f: each copy written while the other was
// down, so each blames the other.
func splitBrain(t *testing.T, opts map[string]string) (*AFR, []graph.Xlator, *graph.Loc) {
	ctx := context.Background()
	leaves := lockedLeaves(t, 2)
	o := map[string]string{"quorum-type": "none", "data-self-heal": "off"}
	for k, v := range opts {
		o[k] = v
	}
	a := newAFROver(t, o, leaves...)
	f, err := graphtest.WriteFile(ctx, a, graph.RootLoc(), "f", []byte("base"))
	if err != nil {
		t.Fatal(err)
	}
	for i, data := range []string{"AAAA-long", "BB"} {
		a.Notify(ctx, graph.EventChildDown, leaves[1-i])
		fd, err := graphtest.Open(ctx, a, f, unix.O_RDWR)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Ftruncate(ctx, fd, 0, nil); err != nil {
			t.Fatal(err)
		}
		if err := graphtest.WriteAll(ctx, a, fd, []byte(data), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Flush(ctx, fd, nil); err != nil {
			t.Fatal(err)
		}
		fd.Unref()
		a.Notify(ctx, graph.EventChildUp, leaves[1-i])
	}
	return a, leaves, f
}

func content(t *testing.T, x graph.Xlator, f *graph.Loc) string {
	b, err := graphtest.ReadFile(context.Background(), x, &graph.Loc{GFID: f.GFID})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSplitBrainNotHealed(t *testing.T) {
	ctx := context.Background()
	a, leaves, f := splitBrain(t, nil)
	if _, err := a.Lookup(ctx, f, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := graphtest.ReadFile(ctx, a, f); graph.Errno(err) != unix.EIO {
		t.Fatalf("read in split-brain: %v, want EIO", err)
	}
	r, err := HealFile(ctx, a, f.GFID)
	if !errors.Is(err, ErrSplitBrain) || len(r.SplitBrain) == 0 {
		t.Fatalf("heal of a split-brain: %+v %v, want ErrSplitBrain", r, err)
	}
	if c0, c1 := content(t, leaves[0], f), content(t, leaves[1], f); c0 != "AAAA-long" || c1 != "BB" {
		t.Fatalf("split-brain copies changed by heal: %q %q", c0, c1)
	}
}

func TestFavoriteChildPolicy(t *testing.T) {
	cases := map[string]string{"size": "AAAA-long", "mtime": "BB"}
	for policy, want := range cases {
		t.Run(policy, func(t *testing.T) {
			ctx := context.Background()
			a, leaves, f := splitBrain(t, map[string]string{"favorite-child-policy": policy})
			if _, err := HealFile(ctx, a, f.GFID); err != nil {
				t.Fatal(err)
			}
			for _, l := range leaves {
				if c := content(t, l, f); c != want {
					t.Fatalf("%s after %s policy: %q, want %q", l.Name(), policy, c, want)
				}
			}
			changelogsClean(t, a, leaves)
			if got, err := graphtest.ReadFile(ctx, a, f); err != nil || string(got) != want {
				t.Fatalf("read after heal: %q %v", got, err)
			}
		})
	}
}

func TestErrorGenBlameThenHeal(t *testing.T) {
	ctx := context.Background()
	leaves := lockedLeaves(t, 3)
	eg, err := graph.Construct("debug/error-gen", "eg", map[string]string{"enable": "writev", "failure": "100", "error-no": "EIO"}, zap.NewNop(), leaves[1])
	if err != nil {
		t.Fatal(err)
	}
	kids := []graph.Xlator{leaves[0], eg, leaves[2]}
	a := newAFROver(t, map[string]string{"data-self-heal": "off"}, kids...)
	f, err := graphtest.WriteFile(ctx, a, graph.RootLoc(), "f", []byte("written while child 1 fails writes"))
	if err != nil {
		t.Fatal(err)
	}
	key1 := a.PendingKeys()[1]
	for _, i := range []int{0, 2} {
		r, err := leaves[i].Lookup(ctx, &graph.Loc{GFID: f.GFID}, graph.Xdata{key1: nil})
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := DecodePending(r.Xdata[key1]); c[IdxData] == 0 {
			t.Fatalf("child %d does not blame child 1 for data: %v", i, c)
		}
	}
	if c := content(t, leaves[1], f); c != "" {
		t.Fatalf("failing child has data %q", c)
	}
	r, _ := graph.LookupType("debug/error-gen")
	opts, err := graph.ValidateOptions(r.Options, map[string]string{"enable": "writev", "failure": "0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := eg.Reconfigure(opts); err != nil {
		t.Fatal(err)
	}
	if _, err := HealFile(ctx, a, f.GFID); err != nil {
		t.Fatal(err)
	}
	if c := content(t, leaves[1], f); c != "written while child 1 fails writes" {
		t.Fatalf("healed copy %q", c)
	}
	changelogsClean(t, a, leaves)
}

func TestEagerLockBatches(t *testing.T) {
	ctx := context.Background()
	leaves := lockedLeaves(t, 3)
	var recs []*graphtest.Recorder
	var kids []graph.Xlator
	for i, l := range leaves {
		r := graphtest.NewRecorder(fmt.Sprintf("rec%d", i), l)
		recs = append(recs, r)
		kids = append(kids, r)
	}
	a := newAFROver(t, nil, kids...)
	fd, _, err := graphtest.Create(ctx, a, graph.RootLoc(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	for _, r := range recs {
		r.Reset()
	}
	for k := 0; k < 100; k++ {
		if err := graphtest.WriteAll(ctx, a, fd, []byte("0123456789"), int64(10*k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Flush(ctx, fd, nil); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		locks := r.Count(graph.FopInodelk) + r.Count(graph.FopFinodelk)
		xops := r.Count(graph.FopXattrop) + r.Count(graph.FopFxattrop)
		if w := r.Count(graph.FopWritev); w != 100 {
			t.Fatalf("child %d got %d writes", i, w)
		}
		if locks > 4 || xops > 4 {
			t.Errorf("child %d: %d inodelk and %d xattrop calls for 100 writes (eager lock should batch)", i, locks, xops)
		}
		t.Logf("child %d: %d writes, %d inodelk, %d xattrop", i, r.Count(graph.FopWritev), locks, xops)
	}
	b, err := graphtest.ReadFile(ctx, leaves[2], &graph.Loc{GFID: fd.GFID})
	if err != nil || len(b) != 1000 {
		t.Fatalf("copy has %d bytes, %v", len(b), err)
	}
	changelogsClean(t, a, leaves)
}

// TestEagerCrashLeavesDirty: while an epoch is open (before the delayed post-op), every copy
// carries the dirty mark, so a client crash there leaves the file listed for heal.
func TestEagerCrashLeavesDirty(t *testing.T) {
	ctx := context.Background()
	leaves := lockedLeaves(t, 3)
	a := newAFROver(t, map[string]string{"post-op-delay-secs": "3600"}, leaves...)
	fd, _, err := graphtest.Create(ctx, a, graph.RootLoc(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	if err := graphtest.WriteAll(ctx, a, fd, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	for _, l := range leaves {
		r, err := l.Lookup(ctx, &graph.Loc{GFID: fd.GFID}, graph.Xdata{XattrDirty: nil})
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := DecodePending(r.Xdata[XattrDirty]); c[IdxData] != 1 {
			t.Fatalf("%s dirty %v during the epoch, want data 1", l.Name(), c)
		}
	}
	// Another writer of this client (a truncate) ends the epoch first, then runs.
	if _, err := a.Ftruncate(ctx, fd, 0, nil); err != nil {
		t.Fatal(err)
	}
	changelogsClean(t, a, leaves)
}

// TestLookupHealsInline: lookup heals metadata and entries before it answers, and data in the
// background (afr_lookup_selfheal_wrap).
func TestLookupHealsInline(t *testing.T) {
	ctx := context.Background()
	leaves := lockedLeaves(t, 3)
	a := newAFROver(t, nil, leaves...)
	root := graph.RootLoc()
	f, _ := graphtest.WriteFile(ctx, a, root, "f", []byte("one"))
	d, _ := graphtest.Mkdir(ctx, a, root, "d")
	a.Notify(ctx, graph.EventChildDown, leaves[2])
	if _, err := a.Setattr(ctx, f, &graph.Iatt{Mode: 0o600}, graph.SetAttrMode, nil); err != nil {
		t.Fatal(err)
	}
	fd, _ := graphtest.Open(ctx, a, f, unix.O_RDWR)
	if err := graphtest.WriteAll(ctx, a, fd, []byte("one two"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Flush(ctx, fd, nil); err != nil {
		t.Fatal(err)
	}
	fd.Unref()
	if _, err := graphtest.WriteFile(ctx, a, d, "x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	a.Notify(ctx, graph.EventChildUp, leaves[2])
	if _, err := a.Lookup(ctx, root.Child("f"), nil); err != nil {
		t.Fatal(err)
	}
	st, _, err := leaves[2].Stat(ctx, &graph.Loc{GFID: f.GFID}, nil)
	if err != nil || st.Perm() != 0o600 {
		t.Fatalf("metadata not healed by lookup: mode %o %v", st.Perm(), err)
	}
	if _, err := a.Lookup(ctx, root.Child("d"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := leaves[2].Lookup(ctx, d.Child("x"), nil); err != nil {
		t.Fatalf("entry not healed by lookup of the directory: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c := content(t, leaves[2], f); c == "one two" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background data heal did not happen: %q", content(t, leaves[2], f))
		}
	}
}

// TestHealWhileChildDownKeepsBlame: a heal that runs while the blamed child is still down
// must not take its blame back (regression: the daemon erased it and the child never healed).
func TestHealWhileChildDownKeepsBlame(t *testing.T) {
	ctx := context.Background()
	leaves := lockedLeaves(t, 3)
	a := newAFROver(t, map[string]string{"entry-self-heal": "off", "metadata-self-heal": "off", "data-self-heal": "off"}, leaves...)
	a.Notify(ctx, graph.EventChildDown, leaves[2])
	d, err := graphtest.Mkdir(ctx, a, graph.RootLoc(), "d")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := graphtest.WriteFile(ctx, a, graph.RootLoc(), "f", []byte("data")); err != nil {
		t.Fatal(err)
	}
	for _, g := range []graph.GFID{graph.RootGFID, d.GFID} {
		if _, err := HealFile(ctx, a, g); err != nil {
			t.Fatal(err)
		}
	}
	if c := pending(t, leaves[0], graph.RootGFID, a.PendingKeys()[2]); c[IdxEntry] == 0 {
		t.Fatalf("heal with child 2 down took back its entry blame: %v", c)
	}
	a.Notify(ctx, graph.EventChildUp, leaves[2])
	if _, err := HealFull(ctx, a); err != nil {
		t.Fatal(err)
	}
	if diff := diffTrees(tree(t, leaves[0]), tree(t, leaves[2])); diff != "" {
		t.Fatalf("child 2 after heal:\n%s", diff)
	}
	changelogsClean(t, a, leaves)
}

// TestGFIDMismatchHealed: a name whose GFID differs on a blamed copy is replaced by the
// sources' entry; a lookup that meets the mismatch heals the parent and then succeeds.
func TestGFIDMismatchHealed(t *testing.T) {
	ctx := context.Background()
	leaves := lockedLeaves(t, 3)
	a := newAFROver(t, nil, leaves...)
	a.Notify(ctx, graph.EventChildDown, leaves[2])
	f, err := graphtest.WriteFile(ctx, a, graph.RootLoc(), "g", []byte("the real one"))
	if err != nil {
		t.Fatal(err)
	}
	// Child 2 got its own "g" meanwhile (another GFID, other data).
	other := graph.NewGFID()
	fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	if _, err := leaves[2].Create(ctx, graph.RootLoc().Child("g"), unix.O_CREAT|unix.O_RDWR, 0o644, 0, fd, graph.Xdata{"gfid-req": other[:]}); err != nil {
		t.Fatal(err)
	}
	fd.Unref()
	a.Notify(ctx, graph.EventChildUp, leaves[2])
	r, err := a.Lookup(ctx, graph.RootLoc().Child("g"), nil)
	if err != nil {
		t.Fatalf("lookup with a gfid mismatch on a blamed copy: %v (entry heal should resolve it)", err)
	}
	if r.Stat.GFID != f.GFID {
		t.Fatalf("lookup returned gfid %s, want %s", r.Stat.GFID, f.GFID)
	}
	lr, err := leaves[2].Lookup(ctx, graph.RootLoc().Child("g"), nil)
	if err != nil || lr.Stat.GFID != f.GFID {
		t.Fatalf("child 2's g: %s %v, want %s", lr.Stat.GFID, err, f.GFID)
	}
	if _, err := HealFull(ctx, a); err != nil {
		t.Fatal(err)
	}
	if c := content(t, leaves[2], f); c != "the real one" {
		t.Fatalf("child 2 data %q", c)
	}
	changelogsClean(t, a, leaves)
}

// TestGFIDMismatchWithoutBlameIsReported: the same name with different GFIDs and no changelog
// saying which is right is not healed by guessing: lookup fails with EIO.
func TestGFIDMismatchWithoutBlameIsReported(t *testing.T) {
	ctx := context.Background()
	leaves := lockedLeaves(t, 2)
	a := newAFROver(t, map[string]string{"quorum-type": "none"}, leaves...)
	for _, l := range leaves {
		g := graph.NewGFID()
		fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
		if _, err := l.Create(ctx, graph.RootLoc().Child("h"), unix.O_CREAT|unix.O_RDWR, 0o644, 0, fd, graph.Xdata{"gfid-req": g[:]}); err != nil {
			t.Fatal(err)
		}
		fd.Unref()
	}
	if _, err := a.Lookup(ctx, graph.RootLoc().Child("h"), nil); graph.Errno(err) != unix.EIO {
		t.Fatalf("lookup of a gfid split-brain: %v, want EIO", err)
	}
	for _, l := range leaves {
		if _, err := l.Lookup(ctx, graph.RootLoc().Child("h"), nil); err != nil {
			t.Fatalf("%s lost its h: %v", l.Name(), err)
		}
	}
}
