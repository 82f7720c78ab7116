package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/cluster/distribute"
)

// lookupDownProxy is a proxy (see NewProxy) whose lookups fail with ENOTCONN while down is set:
// a subvolume that distribute cannot search.
type lookupDownProxy struct {
	graph.Base
	graph.Fops
	down atomic.Bool
}

func newLookupDownProxy(name string, target graph.Xlator) *lookupDownProxy {
	p := &lookupDownProxy{Fops: target}
	graph.Wrap(p, "clustertest/lookup-down-proxy", name, nil, nil)
	return p
}

func (p *lookupDownProxy) Notify(ctx context.Context, ev graph.Event, from graph.Xlator) {
	switch {
	case ev == graph.EventParentUp:
		p.ForwardEvent(ctx, graph.EventChildUp)
	case ev.IsDownward():
	default:
		p.ForwardEvent(ctx, ev)
	}
}

func (p *lookupDownProxy) Lookup(ctx context.Context, loc *graph.Loc, xd graph.Xdata) (graph.LookupReply, error) {
	if p.down.Load() {
		return graph.LookupReply{}, graph.Errorf(unix.ENOTCONN, "%s: down", p.Name())
	}
	return p.Fops.Lookup(ctx, loc, xd)
}

// makeStaleLinkfile puts on brick h, in directory dir, a link file name → vol-client-<target>
// for a GFID that exists nowhere: what a data file removed while h was down, or a crash in the
// middle of a migration, leaves behind.
func makeStaleLinkfile(t *testing.T, bricks []graph.Xlator, dir graph.GFID, name string, h, target int) {
	t.Helper()
	ctx := context.Background()
	g := graph.NewGFID()
	loc := &graph.Loc{Name: name, ParentGFID: dir}
	x := graph.Xdata{distribute.GFIDReqKey: g[:]}
	if _, err := bricks[h].Mknod(ctx, loc, unix.S_IFREG|unix.S_ISVTX, 0, 0, x); err != nil {
		t.Fatalf("mknod link file %s on brick %d: %v", name, h, err)
	}
	lt := distribute.EncodeLinkto(fmt.Sprintf("vol-client-%d", target))
	if _, err := bricks[h].Setxattr(ctx, &graph.Loc{GFID: g, Name: name, ParentGFID: dir}, graph.Xdata{distribute.XattrLinkto: lt}, 0, nil); err != nil {
		t.Fatalf("linkto on %s: %v", name, err)
	}
}

// brickEntry returns what brick b has under name in dir: "none", "linkfile", "file", "dir",
// "symlink", or an error string.
func brickEntry(b graph.Xlator, dir graph.GFID, name string) string {
	r, err := b.Lookup(context.Background(), &graph.Loc{Name: name, ParentGFID: dir}, graph.Xdata{distribute.XattrLinkto: nil})
	switch {
	case graph.Errno(err) == unix.ENOENT:
		return "none"
	case err != nil:
		return err.Error()
	case r.Stat.IsDir():
		return "dir"
	case r.Stat.Mode&unix.S_IFMT == unix.S_IFLNK:
		return "symlink"
	case r.Stat.Perm() == unix.S_ISVTX && r.Xdata.Has(distribute.XattrLinkto):
		return "linkfile"
	default:
		return "file"
	}
}

// A link file whose target has no such file is removed by lookup, so the name can be made again:
// create with and without O_EXCL, mknod, mkdir, symlink, in a committed directory (made by
// mkdir: the exclusive create on the hashed brick meets the link file) and in an uncommitted one
// (the root: the name is searched everywhere first). A link file whose target cannot be searched
// (down) stays.
func TestDhtStaleLinkfileRemovedByLookup(t *testing.T) {
	ctx := context.Background()
	bricks := posixStacks(t, 3)
	setup := dhtOver(t, bricks, nil)
	if _, err := setup.Lookup(ctx, graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
	sub, err := setup.Mkdir(ctx, &graph.Loc{Path: "/d", Name: "d", ParentGFID: graph.RootGFID}, 0o755, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs := []struct {
		name string
		gfid graph.GFID
		path string
	}{{"root", graph.RootGFID, ""}, {"committed", sub.Stat.GFID, "/d"}}

	type op struct {
		name string
		want string // the hashed brick's entry afterwards
		do   func(cli *distribute.DHT, loc *graph.Loc) error
	}
	ops := []op{
		{"create", "file", func(cli *distribute.DHT, loc *graph.Loc) error {
			fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
			defer fd.Unref()
			r, err := cli.Create(ctx, loc, unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil)
			if err != nil {
				return err
			}
			fd.GFID = r.Stat.GFID
			_, err = cli.Writev(ctx, fd, []byte("fresh data"), 0, 0, nil)
			return err
		}},
		{"create-excl", "file", func(cli *distribute.DHT, loc *graph.Loc) error {
			fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
			defer fd.Unref()
			_, err := cli.Create(ctx, loc, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o644, 0, fd, nil)
			return err
		}},
		{"mknod", "file", func(cli *distribute.DHT, loc *graph.Loc) error {
			_, err := cli.Mknod(ctx, loc, unix.S_IFREG|0o644, 0, 0, nil)
			return err
		}},
		{"mkdir", "dir", func(cli *distribute.DHT, loc *graph.Loc) error {
			_, err := cli.Mkdir(ctx, loc, 0o755, 0, nil)
			return err
		}},
		{"symlink", "symlink", func(cli *distribute.DHT, loc *graph.Loc) error {
			_, err := cli.Symlink(ctx, "somewhere", loc, 0, nil)
			return err
		}},
		{"lookup", "none", func(cli *distribute.DHT, loc *graph.Loc) error {
			if _, err := cli.Lookup(ctx, loc, nil); graph.Errno(err) != unix.ENOENT {
				return fmt.Errorf("lookup: %v, want ENOENT", err)
			}
			return nil
		}},
	}
	for _, dir := range dirs {
		for _, o := range ops {
			name := fmt.Sprintf("stale-%s-%s", dir.name, o.name)
			t.Run(dir.name+"/"+o.name, func(t *testing.T) {
				_, h := placement(t, bricks, dir.gfid, name)
				target := (h + 1) % len(bricks)
				makeStaleLinkfile(t, bricks, dir.gfid, name, h, target)
				cli := dhtOver(t, bricks, nil)
				if _, err := cli.Lookup(ctx, &graph.Loc{GFID: dir.gfid, Path: dir.path}, nil); err != nil {
					t.Fatal(err)
				}
				loc := &graph.Loc{Path: dir.path + "/" + name, Name: name, ParentGFID: dir.gfid}
				if err := o.do(cli, loc); err != nil {
					t.Fatalf("%s of a name with only a stale link file: %v", o.name, err)
				}
				if got := brickEntry(bricks[h], dir.gfid, name); got != o.want {
					t.Errorf("hashed brick %d has %s, want %s", h, got, o.want)
				}
				others := "none"
				if o.want == "dir" {
					others = "dir" // a directory is on every brick
				}
				for i, b := range bricks {
					if got := brickEntry(b, dir.gfid, name); i != h && got != others {
						t.Errorf("brick %d (not hashed) has %s, want %s", i, got, others)
					}
				}
				if o.name == "create" {
					got, err := graphtest.ReadFile(ctx, dhtOver(t, bricks, nil), loc)
					if err != nil || !bytes.Equal(got, []byte("fresh data")) {
						t.Errorf("read back: %q, %v", got, err)
					}
				}
			})
		}
	}

	t.Run("target-down", func(t *testing.T) {
		name := "stale-target-down"
		_, h := placement(t, bricks, graph.RootGFID, name)
		target := (h + 1) % len(bricks)
		makeStaleLinkfile(t, bricks, graph.RootGFID, name, h, target)
		kids := make([]graph.Xlator, len(bricks))
		var down *lookupDownProxy
		for i, b := range bricks {
			if i == target {
				down = newLookupDownProxy(fmt.Sprintf("vol-client-%d", i), b)
				kids[i] = down
			} else {
				kids[i] = NewProxy(fmt.Sprintf("vol-client-%d", i), b)
			}
		}
		top, err := graph.Construct(distribute.Type, "vol-dht", nil, zap.NewNop(), kids...)
		if err != nil {
			t.Fatal(err)
		}
		graphtest.Activate(t, top)
		for _, k := range kids {
			top.Notify(ctx, graph.EventChildUp, k)
		}
		if _, err := top.Lookup(ctx, graph.RootLoc(), nil); err != nil {
			t.Fatal(err)
		}
		down.down.Store(true)
		loc := &graph.Loc{Path: "/" + name, Name: name, ParentGFID: graph.RootGFID}
		if _, err := top.Lookup(ctx, loc, nil); err == nil {
			t.Errorf("lookup with the link file's target down: found")
		}
		if got := brickEntry(bricks[h], graph.RootGFID, name); got != "linkfile" {
			t.Errorf("with its target down the link file was not kept: brick %d has %s", h, got)
		}
	})
}
