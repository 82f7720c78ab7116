package distribute

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// roTap fails the entry fops with EROFS while ro is set, as a replica set that lost quorum does.
type roTap struct {
	graph.Passthrough
	ro atomic.Bool
}

func (x *roTap) err(op string) error { return graph.Errorf(unix.EROFS, "roTap: %s: read-only", op) }

func (x *roTap) Rename(ctx context.Context, a, b *graph.Loc, xd graph.Xdata) (graph.RenameReply, error) {
	if x.ro.Load() {
		return graph.RenameReply{}, x.err("rename")
	}
	return x.Passthrough.Rename(ctx, a, b, xd)
}

func (x *roTap) Unlink(ctx context.Context, loc *graph.Loc, flags int, xd graph.Xdata) (graph.ParentReply, error) {
	if x.ro.Load() {
		return graph.ParentReply{}, x.err("unlink")
	}
	return x.Passthrough.Unlink(ctx, loc, flags, xd)
}

func (x *roTap) Link(ctx context.Context, a, b *graph.Loc, xd graph.Xdata) (graph.EntryReply, error) {
	if x.ro.Load() {
		return graph.EntryReply{}, x.err("link")
	}
	return x.Passthrough.Link(ctx, a, b, xd)
}

func (x *roTap) Create(ctx context.Context, loc *graph.Loc, flags int, mode, umask uint32, fd *graph.FD, xd graph.Xdata) (graph.EntryReply, error) {
	if x.ro.Load() {
		return graph.EntryReply{}, x.err("create")
	}
	return x.Passthrough.Create(ctx, loc, flags, mode, umask, fd, xd)
}

func init() {
	graph.Register(graph.Registration{Type: "test/distribute-ro-tap", New: func() graph.Xlator { return &roTap{} }, MinChildren: 1, MaxChildren: 1})
}

// newROTapDHT builds distribute over two memory leaves, each behind a roTap.
func newROTapDHT(t *testing.T) (*DHT, []graph.Xlator, []*roTap) {
	t.Helper()
	ctx := context.Background()
	var kids, leaves []graph.Xlator
	var taps []*roTap
	for i := 0; i < 2; i++ {
		l, err := graph.Construct("storage/memory", fmt.Sprintf("mem-%d", i), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		x, err := graph.Construct("test/distribute-ro-tap", fmt.Sprintf("weftdht-client-%d", i), nil, nil, l)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, l)
		kids = append(kids, x)
		taps = append(taps, x.(*roTap))
	}
	top, err := graph.Construct(Type, "weftdht-dht", nil, nil, kids...)
	if err != nil {
		t.Fatal(err)
	}
	activate(t, top, kids...)
	d := top.(*DHT)
	if _, err := d.Lookup(ctx, graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
	return d, leaves, taps
}

func names(ents []graph.Dirent) string {
	var out []string
	for _, e := range ents {
		if e.Name != "." && e.Name != ".." {
			out = append(out, e.Name)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestRenameOverHardLinkOnThirdSubvol: create dd; link dd → b (b hashes away from dd's data, so
// b is a hard link on dd's subvolume plus a link file on its hashed one); create a on b's hashed
// subvolume; rename a → b. The old b lives on a subvolume neither rename touches (dht-rename.c:
// the destination's cached subvolume is unlinked separately). All up, it is gone afterwards; with
// that subvolume unable to change (EROFS, quorum lost), the rename fails and changes nothing —
// before the fix it succeeded and readdir listed b twice.
func TestRenameOverHardLinkOnThirdSubvol(t *testing.T) {
	for _, down := range []bool{false, true} {
		t.Run(fmt.Sprintf("down=%v", down), func(t *testing.T) {
			ctx := context.Background()
			d, leaves, taps := newROTapDHT(t)
			hash := func(name string) int {
				h, _, err := d.hashed(ctx, graph.RootLoc().Child(name))
				if err != nil {
					t.Fatal(err)
				}
				return h
			}
			ddSt := mustCreate(t, d, graph.RootGFID, "dd", "dd-data")
			x := hash("dd") // dd's data
			y := 1 - x
			pick := func(prefix string) string {
				for i := 0; i < 1000; i++ {
					n := fmt.Sprintf("%s%d", prefix, i)
					if hash(n) == y {
						return n
					}
				}
				t.Fatalf("no name with prefix %q hashes to %d", prefix, y)
				return ""
			}
			b, a := pick("b"), pick("a")
			if _, err := d.Link(ctx, &graph.Loc{GFID: ddSt.GFID, Path: "/dd", Name: "dd", ParentGFID: graph.RootGFID}, graph.RootLoc().Child(b), nil); err != nil {
				t.Fatalf("link dd → %s: %v", b, err)
			}
			if r, err := onLeaf(leaves[y], graph.RootGFID, b); err != nil || !isLinkfile(&r.Stat, r.Xdata) {
				t.Fatalf("%s on %s: %v, want a link file", b, leaves[y].Name(), err)
			}
			if r, err := onLeaf(leaves[x], graph.RootGFID, b); err != nil || r.Stat.GFID != ddSt.GFID {
				t.Fatalf("%s on %s: %v, want the hard link of dd", b, leaves[x].Name(), err)
			}
			if down {
				taps[x].ro.Store(true) // dd's subvolume cannot change from now on
			}
			aSt := mustCreate(t, d, graph.RootGFID, a, "a-data")
			if got := hash(a); got != y {
				t.Fatalf("%s hashes to %d, want %d", a, got, y)
			}
			_, err := d.Rename(ctx, &graph.Loc{GFID: aSt.GFID, Path: "/" + a, Name: a, ParentGFID: graph.RootGFID}, graph.RootLoc().Child(b), nil)
			listing := names(readAll(t, d, graph.RootGFID, 4096))
			bSt, berr := d.Lookup(ctx, graph.RootLoc().Child(b), nil)
			if down {
				if graph.Errno(err) != unix.EROFS {
					t.Fatalf("rename %s → %s with dd's subvolume read-only: %v, want EROFS", a, b, err)
				}
				if want := strings.Join([]string{a, b, "dd"}, " "); listing != want {
					t.Fatalf("after a failed rename readdir lists [%s], want [%s]", listing, want)
				}
				if berr != nil || bSt.Stat.GFID != ddSt.GFID {
					t.Fatalf("after a failed rename %s: %v, want still the hard link of dd", b, berr)
				}
				if r, err := onLeaf(leaves[y], graph.RootGFID, b); err != nil || !isLinkfile(&r.Stat, r.Xdata) {
					t.Fatalf("after a failed rename %s on %s: %v, want its link file back", b, leaves[y].Name(), err)
				}
				// The subvolume can change again: the same rename now succeeds.
				taps[x].ro.Store(false)
				if _, err := d.Rename(ctx, &graph.Loc{GFID: aSt.GFID, Path: "/" + a, Name: a, ParentGFID: graph.RootGFID}, graph.RootLoc().Child(b), nil); err != nil {
					t.Fatalf("rename %s → %s after recovery: %v", a, b, err)
				}
				listing = names(readAll(t, d, graph.RootGFID, 4096))
				bSt, berr = d.Lookup(ctx, graph.RootLoc().Child(b), nil)
			} else if err != nil {
				t.Fatalf("rename %s → %s: %v", a, b, err)
			}
			if want := b + " dd"; listing != want {
				t.Fatalf("readdir lists [%s], want [%s]", listing, want)
			}
			if berr != nil || bSt.Stat.GFID != aSt.GFID {
				t.Fatalf("%s after the rename: %v (gfid %v), want a's file %v", b, berr, bSt.Stat.GFID, aSt.GFID)
			}
			if r, err := d.Lookup(ctx, graph.RootLoc().Child("dd"), nil); err != nil || r.Stat.GFID != ddSt.GFID || r.Stat.Nlink != 1 {
				t.Fatalf("dd after the rename: %v, nlink %d, want its own file with one link", err, r.Stat.Nlink)
			}
			// Nothing of the old b (nor a temporary name) is left on dd's subvolume.
			for _, l := range leaves {
				fd := graph.NewFD(nil, graph.RootGFID, unix.O_RDONLY)
				fd.IsDir = true
				if _, err := l.Opendir(ctx, graph.RootLoc(), fd, nil); err != nil {
					t.Fatal(err)
				}
				ents, _, err := l.Readdirp(ctx, fd, 1<<16, 0, nil)
				fd.Unref()
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range ents {
					if strings.HasPrefix(e.Name, ".weft-dht-") {
						t.Errorf("%s: leftover %s", l.Name(), e.Name)
					}
				}
				if l == leaves[x] {
					if _, err := onLeaf(l, graph.RootGFID, b); graph.Errno(err) != unix.ENOENT {
						t.Errorf("old %s still on %s: %v", b, l.Name(), err)
					}
				}
			}
		})
	}
}

// TestRenameDirOverNonEmptyDir: a directory renamed over a directory that has entries on only
// one subvolume fails with ENOTEMPTY and changes nothing, whichever subvolume holds the entry
// (before the fix, the copy that looked empty was replaced and the destination vanished from
// readdir once the rename was undone).
func TestRenameDirOverNonEmptyDir(t *testing.T) {
	for k := 0; k < 2; k++ {
		t.Run(fmt.Sprintf("entry-on-%d", k), func(t *testing.T) {
			ctx := context.Background()
			d, leaves, _ := newROTapDHT(t)
			mk := func(name string) graph.GFID {
				r, err := d.Mkdir(ctx, graph.RootLoc().Child(name), 0o755, 0, nil)
				if err != nil {
					t.Fatalf("mkdir %s: %v", name, err)
				}
				return r.Stat.GFID
			}
			dst, src := mk("dst"), mk("src")
			dstLoc := &graph.Loc{GFID: dst, Path: "/dst", Name: "dst", ParentGFID: graph.RootGFID}
			var name string
			for i := 0; i < 1000 && name == ""; i++ {
				n := fmt.Sprintf("f%d", i)
				h, _, err := d.hashed(ctx, dstLoc.Child(n))
				if err != nil {
					t.Fatal(err)
				}
				if h == k {
					name = n
				}
			}
			if name == "" {
				t.Fatalf("no name hashes to subvolume %d", k)
			}
			fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
			if _, err := d.Create(ctx, dstLoc.Child(name), unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil); err != nil {
				t.Fatal(err)
			}
			fd.Unref()
			if _, err := onLeaf(leaves[1-k], dst, name); graph.Errno(err) != unix.ENOENT {
				t.Fatalf("%s on %s: %v, want only on subvolume %d", name, leaves[1-k].Name(), err, k)
			}
			_, err := d.Rename(ctx, &graph.Loc{GFID: src, Path: "/src", Name: "src", ParentGFID: graph.RootGFID}, graph.RootLoc().Child("dst"), nil)
			if graph.Errno(err) != unix.ENOTEMPTY {
				t.Fatalf("rename /src → /dst (not empty): %v, want ENOTEMPTY", err)
			}
			if got := names(readAll(t, d, graph.RootGFID, 4096)); got != "dst src" {
				t.Fatalf("/ lists [%s], want [dst src]", got)
			}
			for i, l := range leaves {
				for _, n := range []string{"dst", "src"} {
					r, err := onLeaf(l, graph.RootGFID, n)
					want := map[string]graph.GFID{"dst": dst, "src": src}[n]
					if err != nil || r.Stat.GFID != want {
						t.Fatalf("/%s on subvolume %d: %v, gfid %v, want %v", n, i, err, r.Stat.GFID, want)
					}
				}
			}
			if got := names(readAll(t, d, dst, 4096)); got != name {
				t.Fatalf("/dst lists [%s], want [%s]", got, name)
			}
			// Into its own subtree, over a non-empty directory there: EINVAL, as locally.
			inner, err := d.Mkdir(ctx, dstLoc.Child("inner"), 0o755, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			innerLoc := &graph.Loc{GFID: inner.Stat.GFID, Path: "/dst/inner", Name: "inner", ParentGFID: dst}
			for i := 0; i < 8; i++ { // entries on both subvolumes
				fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
				if _, err := d.Create(ctx, innerLoc.Child(fmt.Sprintf("x%d", i)), unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil); err != nil {
					t.Fatal(err)
				}
				fd.Unref()
			}
			if _, err := d.Rename(ctx, dstLoc, innerLoc, nil); graph.Errno(err) != unix.EINVAL {
				t.Fatalf("rename /dst → /dst/inner: %v, want EINVAL", err)
			}
			if got := names(readAll(t, d, dst, 4096)); got != name+" inner" {
				t.Fatalf("/dst lists [%s], want [%s inner]", got, name)
			}
			// Renaming a directory onto itself is still a no-op, and onto an empty one works.
			if _, err := d.Rename(ctx, dstLoc, graph.RootLoc().Child("dst"), nil); err != nil {
				t.Fatalf("rename /dst → /dst: %v", err)
			}
			empty := mk("empty")
			if _, err := d.Rename(ctx, &graph.Loc{GFID: src, Path: "/src", Name: "src", ParentGFID: graph.RootGFID}, graph.RootLoc().Child("empty"), nil); err != nil {
				t.Fatalf("rename /src → /empty: %v", err)
			}
			if got := names(readAll(t, d, graph.RootGFID, 4096)); got != "dst empty" {
				t.Fatalf("/ lists [%s], want [dst empty]", got)
			}
			if r, err := d.Lookup(ctx, graph.RootLoc().Child("empty"), nil); err != nil || r.Stat.GFID != src || r.Stat.GFID == empty {
				t.Fatalf("/empty after the rename: %v, want src's directory", err)
			}
		})
	}
}
