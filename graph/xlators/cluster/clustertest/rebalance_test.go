package clustertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/cluster/distribute"
)

// dhtOver builds and activates a distribute graph over proxies to bricks, its children named
// vol-client-<i> as in every graph of the volume.
func dhtOver(t *testing.T, bricks []graph.Xlator, opts map[string]string) *distribute.DHT {
	t.Helper()
	kids := make([]graph.Xlator, len(bricks))
	for i, b := range bricks {
		kids[i] = NewProxy(fmt.Sprintf("vol-client-%d", i), b)
	}
	top, err := graph.Construct(distribute.Type, "vol-dht", opts, zap.NewNop(), kids...)
	if err != nil {
		t.Fatal(err)
	}
	graphtest.Activate(t, top)
	for _, k := range kids {
		top.Notify(context.Background(), graph.EventChildUp, k) // every proxy is up
	}
	return top.(*distribute.DHT)
}

// placement tells, from the bricks themselves, which brick holds the data of name in directory
// dir and which brick the name hashes to in dir's on-disk layout.
func placement(t *testing.T, bricks []graph.Xlator, dir graph.GFID, name string) (data []int, hashed int) {
	t.Helper()
	ctx := context.Background()
	l := &distribute.Layout{}
	for i, b := range bricks {
		v, _, err := b.Getxattr(ctx, &graph.Loc{GFID: dir}, distribute.XattrLayout, nil)
		if err != nil {
			t.Fatalf("brick %d: layout of %s: %v", i, dir, err)
		}
		_, _, start, stop, err := distribute.DecodeRange(v[distribute.XattrLayout])
		if err != nil {
			t.Fatalf("brick %d: %v", i, err)
		}
		l.Ranges = append(l.Ranges, distribute.Range{Subvol: i, Name: fmt.Sprintf("vol-client-%d", i), Start: start, Stop: stop})
	}
	h, err := distribute.NewHasher(distribute.DefaultRsyncHashRegex, "none")
	if err != nil {
		t.Fatal(err)
	}
	hashed = l.Search(h.Hash(name))
	for i, b := range bricks {
		r, err := b.Lookup(ctx, &graph.Loc{Name: name, ParentGFID: dir}, graph.Xdata{distribute.XattrLinkto: nil})
		if err != nil {
			continue
		}
		if r.Stat.Perm() == unix.S_ISVTX && r.Xdata.Has(distribute.XattrLinkto) {
			continue // a link file
		}
		data = append(data, i)
	}
	return data, hashed
}

type rbFile struct {
	dir  *graph.Loc
	name string
	gfid graph.GFID
	mu   sync.Mutex
	data []byte // what the file must hold
}

// TestRebalanceWhileWriting: a 2-brick distribute volume gets a third brick (a new graph over
// the same bricks, as add-brick does); FixLayout and Rebalance run in a rebalance graph while
// client goroutines keep writing and reading files being migrated, through the new client graph.
// No fop may fail, every file must keep its GFID and exact content, and end on its hashed brick.
func TestRebalanceWhileWriting(t *testing.T) {
	ctx := context.Background()
	bricks := BrickStacks(t, 3)
	old := dhtOver(t, bricks[:2], nil)
	rnd := rand.New(rand.NewPCG(1, 2))
	var files []*rbFile
	root := graph.RootLoc()
	d1, err := graphtest.Mkdir(ctx, old, root, "d1")
	if err != nil {
		t.Fatal(err)
	}
	d2, err := graphtest.Mkdir(ctx, old, d1, "sub")
	if err != nil {
		t.Fatal(err)
	}
	nfiles := 36
	if testing.Short() {
		nfiles = 18
	}
	for i := 0; i < nfiles; i++ {
		dir := []*graph.Loc{root, d1, d2}[i%3]
		size := []int{0, 100, 4096, 200 << 10, 700 << 10}[i%5]
		data := make([]byte, size)
		for k := range data {
			data[k] = byte(rnd.UintN(256))
		}
		name := fmt.Sprintf("file-%02d", i)
		loc, err := graphtest.WriteFile(ctx, old, dir, name, data)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, &rbFile{dir: dir, name: name, gfid: loc.GFID, data: data})
	}

	// add-brick: the rebalance process and the clients each get a graph over three bricks.
	// The rebalancer pauses between chunks so that the clients' writes overlap its copies.
	reb := dhtOver(t, bricks, map[string]string{"migrate-chunk-pause": "3ms"})
	if err := distribute.FixLayout(ctx, reb, graph.RootLoc()); err != nil {
		t.Fatalf("fix-layout: %v", err)
	}
	var misplaced []*rbFile
	for _, f := range files {
		data, hashed := placement(t, bricks, f.dir.GFID, f.name)
		if len(data) != 1 {
			t.Fatalf("%s: data on bricks %v before rebalance", f.name, data)
		}
		if data[0] != hashed && len(f.data) >= 4096 {
			misplaced = append(misplaced, f)
		}
	}
	if len(misplaced) < 3 {
		t.Fatalf("only %d non-empty files would move; the test needs a layout change", len(misplaced))
	}
	cli := dhtOver(t, bricks, nil)
	hot := misplaced[:min(5, len(misplaced))]

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ops atomic.Int64
	errc := make(chan error, len(hot)*2)
	for k, f := range hot {
		wg.Add(1)
		go func(k int, f *rbFile) {
			defer wg.Done()
			if err := hammer(ctx, cli, f, uint64(k), stop, &ops); err != nil {
				errc <- fmt.Errorf("%s: %w", f.name, err)
			}
		}(k, f)
	}
	var last distribute.Status
	st, err := distribute.Rebalance(ctx, reb, func(s distribute.Status) { last = s })
	// Let the writers go on a little after the last migration, then stop them.
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errc)
	for e := range errc {
		t.Error(e)
	}
	if err != nil {
		t.Fatalf("rebalance: %v (status %+v)", err, st)
	}
	if st != last {
		t.Errorf("final progress %+v differs from the result %+v", last, st)
	}
	t.Logf("rebalance: %+v; %d client fops during it", st, ops.Load())
	if st.Failed != 0 || st.Migrated < len(misplaced) || st.Scanned != nfiles || st.Dirs != 3 {
		t.Errorf("status %+v: want %d scanned, ≥%d migrated, 0 failed, 3 dirs", st, nfiles, len(misplaced))
	}

	// A fresh client graph sees every file, with its GFID and content, on its hashed brick.
	check := dhtOver(t, bricks, nil)
	for _, f := range files {
		data, hashed := placement(t, bricks, f.dir.GFID, f.name)
		if len(data) != 1 || data[0] != hashed {
			t.Errorf("%s: data on bricks %v, hashed brick %d", f.name, data, hashed)
		}
		loc := f.dir.Child(f.name)
		r, err := check.Lookup(ctx, loc, nil)
		if err != nil {
			t.Errorf("%s: lookup: %v", f.name, err)
			continue
		}
		if r.Stat.GFID != f.gfid {
			t.Errorf("%s: gfid %s, was %s", f.name, r.Stat.GFID, f.gfid)
		}
		if r.Stat.Perm() != 0o644 {
			t.Errorf("%s: mode %o, want 644", f.name, r.Stat.Perm())
		}
		loc.GFID = r.Stat.GFID
		got, err := graphtest.ReadFile(ctx, check, loc)
		if err != nil {
			t.Errorf("%s: read: %v", f.name, err)
			continue
		}
		if sha256.Sum256(got) != sha256.Sum256(f.data) {
			t.Errorf("%s: content differs after rebalance (%d bytes, want %d)", f.name, len(got), len(f.data))
		}
	}
	ents, err := graphtest.ReadDirAll(ctx, check, d2, true, 4096)
	if err != nil || len(ents) != nfiles/3 {
		t.Errorf("listing d1/sub: %d entries, %v; want %d", len(ents), err, nfiles/3)
	}
}

// hammer writes and reads f through cli until stop closes, keeping f.data equal to what the
// file must hold: writes through a long-lived FD (opened before the migration), and now and then
// a whole-file read through a fresh lookup and open.
func hammer(ctx context.Context, cli *distribute.DHT, f *rbFile, seed uint64, stop chan struct{}, ops *atomic.Int64) error {
	rnd := rand.New(rand.NewPCG(seed, 99))
	loc := f.dir.Child(f.name)
	loc.GFID = f.gfid
	fd, err := graphtest.Open(ctx, cli, loc, unix.O_RDWR)
	if err != nil {
		return err
	}
	defer fd.Unref()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		default:
		}
		f.mu.Lock()
		size := len(f.data)
		f.mu.Unlock()
		switch {
		case i%10 == 9:
			got, err := graphtest.ReadFile(ctx, cli, loc)
			if err != nil {
				return fmt.Errorf("op %d: read file: %w", i, err)
			}
			if !bytes.Equal(got, f.data) {
				return fmt.Errorf("op %d: whole-file read differs (%d bytes, want %d)", i, len(got), size)
			}
		case i%2 == 0:
			off := rnd.IntN(size + 8192)
			n := 1 + rnd.IntN(48<<10)
			buf := make([]byte, n)
			pat := rnd.Uint64()
			for k := range buf {
				buf[k] = byte(pat >> (8 * (k % 8)))
			}
			if _, err := cli.Writev(ctx, fd, buf, int64(off), 0, nil); err != nil {
				return fmt.Errorf("op %d: write %d at %d: %w", i, n, off, err)
			}
			f.mu.Lock()
			if off+n > len(f.data) {
				f.data = append(f.data, make([]byte, off+n-len(f.data))...)
			}
			copy(f.data[off:], buf)
			f.mu.Unlock()
		default:
			off := rnd.IntN(size + 1)
			n := 1 + rnd.IntN(64<<10)
			r, err := cli.Readv(ctx, fd, uint32(n), int64(off), 0, nil)
			if err != nil {
				return fmt.Errorf("op %d: read %d at %d: %w", i, n, off, err)
			}
			want := f.data[off:min(off+n, size)]
			if !bytes.Equal(r.Data, want) {
				return fmt.Errorf("op %d: read %d at %d: got %d bytes differing from the %d expected", i, n, off, len(r.Data), len(want))
			}
			if r.Stat.Perm() != 0o644 {
				return fmt.Errorf("op %d: read reply mode %o (phase bits leaked?)", i, r.Stat.Perm())
			}
		}
		ops.Add(1)
	}
}
