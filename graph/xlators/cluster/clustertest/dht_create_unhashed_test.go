package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/cluster/distribute"
)

// posixStacks returns n activated storage/posix (on temporary directories) → features/locks
// stacks, the bricks of a volume in this process.
func posixStacks(t *testing.T, n int) []graph.Xlator {
	t.Helper()
	out := make([]graph.Xlator, n)
	for i := range out {
		p, err := graph.Construct("storage/posix", fmt.Sprintf("brick%d-posix", i),
			map[string]string{"directory": t.TempDir(), "health-check-interval": "0"}, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		l, err := graph.Construct("features/locks", fmt.Sprintf("brick%d-locks", i), nil, zap.NewNop(), p)
		if err != nil {
			t.Fatal(err)
		}
		graphtest.Activate(t, l)
		out[i] = l
	}
	return out
}

type offHashFile struct {
	name     string
	gfid     graph.GFID
	data     []byte
	src, dst int // the brick holding the data, the brick the name hashes to
}

// offHashedFiles writes count files through a distribute graph over bricks[:len-1], then adds
// the last brick with fix-layout only (no migration), and returns the files whose names now
// hash to another brick than their data's, with no link file there (and the number written).
func offHashedFiles(t *testing.T, bricks []graph.Xlator, count int) []offHashFile {
	t.Helper()
	ctx := context.Background()
	old := dhtOver(t, bricks[:len(bricks)-1], nil)
	root := graph.RootLoc()
	var all []offHashFile
	for i := 0; i < count; i++ {
		f := offHashFile{name: fmt.Sprintf("off-%02d", i), data: []byte(fmt.Sprintf("data of file %d\n", i))}
		loc, err := graphtest.WriteFile(ctx, old, root, f.name, f.data)
		if err != nil {
			t.Fatal(err)
		}
		r, err := old.Lookup(ctx, loc, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.gfid = r.Stat.GFID
		all = append(all, f)
	}
	if err := distribute.FixLayout(ctx, dhtOver(t, bricks, nil), root); err != nil {
		t.Fatalf("fix-layout: %v", err)
	}
	var out []offHashFile
	for _, f := range all {
		on, hashed := placement(t, bricks, graph.RootGFID, f.name)
		if len(on) != 1 {
			t.Fatalf("%s: data on bricks %v", f.name, on)
		}
		if on[0] == hashed {
			continue
		}
		if _, err := bricks[hashed].Lookup(ctx, &graph.Loc{Name: f.name, ParentGFID: graph.RootGFID}, nil); graph.Errno(err) != unix.ENOENT {
			t.Fatalf("%s: before the test its hashed brick %d answers %v, want ENOENT", f.name, hashed, err)
		}
		f.src, f.dst = on[0], hashed
		out = append(out, f)
	}
	if len(out) < 8 {
		t.Fatalf("only %d of %d files hash to another brick after fix-layout", len(out), count)
	}
	return out
}

// After add-brick and fix-layout, names whose data still sits on an old brick hash to the new
// one, which has no link file for them. A fresh client (NFS CREATE UNCHECKED sends an exclusive
// create first; open(O_CREAT) a create without O_EXCL) must not make a second file of such a
// name: O_EXCL fails with EEXIST, without O_EXCL the existing file is opened with its data; so
// do mknod, mkdir, symlink and link of the name, and rename onto it replaces the one file.
func TestDhtCreateOffHashedAfterFixLayout(t *testing.T) {
	ctx := context.Background()
	bricks := posixStacks(t, 3)
	files := offHashedFiles(t, bricks, 40)
	cli := dhtOver(t, bricks, nil) // a client that has never seen these names
	root := graph.RootLoc()
	nameLoc := func(name string) *graph.Loc {
		return &graph.Loc{Path: "/" + name, Name: name, ParentGFID: graph.RootGFID}
	}
	next := 0
	take := func() offHashFile { f := files[next]; next++; return f }

	// O_EXCL: EEXIST.
	excl := take()
	fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	_, err := cli.Create(ctx, nameLoc(excl.name), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o644, 0, fd, nil)
	fd.Unref()
	if graph.Errno(err) != unix.EEXIST {
		t.Errorf("exclusive create of %s (data on brick %d, hashed to %d): %v, want EEXIST", excl.name, excl.src, excl.dst, err)
	}

	// Without O_EXCL: the existing file, opened where its data is; writes go there.
	open := take()
	fd = graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	r, err := cli.Create(ctx, nameLoc(open.name), unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil)
	if err != nil {
		t.Fatalf("create (no O_EXCL) of %s: %v", open.name, err)
	}
	fd.GFID = r.Stat.GFID
	if r.Stat.GFID != open.gfid || r.Stat.Size != uint64(len(open.data)) {
		t.Errorf("create (no O_EXCL) of %s: gfid %s size %d, want the existing file %s size %d", open.name, r.Stat.GFID, r.Stat.Size, open.gfid, len(open.data))
	}
	if _, err := cli.Writev(ctx, fd, []byte("appended\n"), int64(len(open.data)), 0, nil); err != nil {
		t.Errorf("write through the create's fd: %v", err)
	}
	fd.Unref()
	open.data = append(open.data, "appended\n"...)
	if lr, err := bricks[open.dst].Lookup(ctx, &graph.Loc{Name: open.name, ParentGFID: graph.RootGFID}, graph.Xdata{distribute.XattrLinkto: nil}); err != nil {
		t.Errorf("%s: no link file on its hashed brick %d after the create: %v", open.name, open.dst, err)
	} else if lr.Stat.GFID != open.gfid || lr.Stat.Perm() != unix.S_ISVTX || !lr.Xdata.Has(distribute.XattrLinkto) {
		t.Errorf("%s: hashed brick %d has gfid %s mode %o linkto %v, want a link file of %s", open.name, open.dst, lr.Stat.GFID, lr.Stat.Perm(), lr.Xdata.Has(distribute.XattrLinkto), open.gfid)
	}

	// mknod, mkdir, symlink, link to the name: EEXIST.
	mk := take()
	if _, err := cli.Mknod(ctx, nameLoc(mk.name), unix.S_IFREG|0o644, 0, 0, nil); graph.Errno(err) != unix.EEXIST {
		t.Errorf("mknod %s: %v, want EEXIST", mk.name, err)
	}
	md := take()
	if _, err := cli.Mkdir(ctx, nameLoc(md.name), 0o755, 0, nil); graph.Errno(err) != unix.EEXIST {
		t.Errorf("mkdir %s: %v, want EEXIST", md.name, err)
	}
	sl := take()
	if _, err := cli.Symlink(ctx, "target", nameLoc(sl.name), 0, nil); graph.Errno(err) != unix.EEXIST {
		t.Errorf("symlink %s: %v, want EEXIST", sl.name, err)
	}
	ln := take()
	srcLoc, err := graphtest.WriteFile(ctx, cli, root, "link-source", []byte("other file"))
	if err != nil {
		t.Fatal(err)
	}
	sr, err := cli.Lookup(ctx, srcLoc, nil)
	if err != nil {
		t.Fatal(err)
	}
	srcLoc.GFID = sr.Stat.GFID
	if _, err := cli.Link(ctx, srcLoc, nameLoc(ln.name), nil); graph.Errno(err) != unix.EEXIST {
		t.Errorf("link to %s: %v, want EEXIST", ln.name, err)
	}

	// rename onto the name: the one file of that name is replaced.
	rn := take()
	movedLoc, err := graphtest.WriteFile(ctx, cli, root, "rename-source", []byte("renamed over\n"))
	if err != nil {
		t.Fatal(err)
	}
	mr, err := cli.Lookup(ctx, movedLoc, nil)
	if err != nil {
		t.Fatal(err)
	}
	movedLoc.GFID = mr.Stat.GFID
	if _, err := cli.Rename(ctx, movedLoc, nameLoc(rn.name), nil); err != nil {
		t.Errorf("rename onto %s: %v", rn.name, err)
	}
	rn.gfid, rn.data = mr.Stat.GFID, []byte("renamed over\n")

	// Every name exists once, with its data, seen by a fresh client; nothing was created twice.
	check := dhtOver(t, bricks, nil)
	ents, err := graphtest.ReadDirAll(ctx, check, root, true, 4096)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range ents {
		seen[e.Name]++
	}
	for _, f := range append([]offHashFile{excl, open, mk, md, sl, ln, rn}, files[next:]...) {
		if seen[f.name] != 1 {
			t.Errorf("%s: listed %d times", f.name, seen[f.name])
		}
		on, _ := placement(t, bricks, graph.RootGFID, f.name)
		if len(on) != 1 {
			t.Errorf("%s: data on bricks %v, want one", f.name, on)
		}
		lr, err := check.Lookup(ctx, nameLoc(f.name), nil)
		if err != nil {
			t.Errorf("%s: lookup: %v", f.name, err)
			continue
		}
		if lr.Stat.GFID != f.gfid || !lr.Stat.IsReg() {
			t.Errorf("%s: gfid %s type %o, want the file %s", f.name, lr.Stat.GFID, lr.Stat.Mode&unix.S_IFMT, f.gfid)
			continue
		}
		l := nameLoc(f.name)
		l.GFID = f.gfid
		got, err := graphtest.ReadFile(ctx, check, l)
		if err != nil || !bytes.Equal(got, f.data) {
			t.Errorf("%s: content %q, %v; want %q", f.name, got, err, f.data)
		}
	}
}
