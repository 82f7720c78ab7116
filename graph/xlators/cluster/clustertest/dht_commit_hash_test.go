package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/cluster/distribute"
)

var autoUnhashed = map[string]string{"lookup-unhashed": "auto"}

// recordedDHTOver is dhtOver with a Recorder as each child (named vol-client-<i>, as in every
// graph of the volume); errgen, if not nil, gives child i a debug/error-gen with those options
// below its recorder.
func recordedDHTOver(t *testing.T, bricks []graph.Xlator, opts map[string]string, errgen map[int]map[string]string) (*distribute.DHT, []*graphtest.Recorder) {
	t.Helper()
	kids := make([]graph.Xlator, len(bricks))
	recs := make([]*graphtest.Recorder, len(bricks))
	for i, b := range bricks {
		name := fmt.Sprintf("vol-client-%d", i)
		var x graph.Xlator = NewProxy(name+"-proxy", b)
		if o, ok := errgen[i]; ok {
			eg, err := graph.Construct("debug/error-gen", name+"-errgen", o, zap.NewNop(), x)
			if err != nil {
				t.Fatal(err)
			}
			x = eg
		}
		recs[i] = graphtest.NewRecorder(name, x)
		kids[i] = recs[i]
	}
	top, err := graph.Construct(distribute.Type, "vol-dht", opts, zap.NewNop(), kids...)
	if err != nil {
		t.Fatal(err)
	}
	graphtest.Activate(t, top)
	for _, k := range kids {
		top.Notify(context.Background(), graph.EventChildUp, k)
	}
	return top.(*distribute.DHT), recs
}

// fopsOf runs f and returns the fops it sent to the subvolumes.
func fopsOf(recs []*graphtest.Recorder, f func()) map[graph.Fop]int {
	for _, r := range recs {
		r.Reset()
	}
	f()
	out := map[graph.Fop]int{}
	for _, r := range recs {
		for _, c := range r.Calls() {
			out[c.Fop]++
		}
	}
	return out
}

// commitFixture writes files in the root and in /sub through a distribute over the first two of
// three posix bricks, and returns the bricks and /sub's GFID; the third brick is then added
// by the caller (fix-layout or rebalance).
func commitFixture(t *testing.T) ([]graph.Xlator, graph.GFID) {
	t.Helper()
	ctx := context.Background()
	bricks := posixStacks(t, 3)
	old := dhtOver(t, bricks[:2], autoUnhashed)
	sub, err := old.Mkdir(ctx, &graph.Loc{Path: "/sub", Name: "sub", ParentGFID: graph.RootGFID}, 0o755, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	subLoc := &graph.Loc{Path: "/sub", GFID: sub.Stat.GFID}
	for i := 0; i < 24; i++ {
		for _, p := range []*graph.Loc{graph.RootLoc(), subLoc} {
			if _, err := graphtest.WriteFile(ctx, old, p, fmt.Sprintf("f%02d", i), []byte(fmt.Sprintf("data %d\n", i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := old.Symlink(ctx, "f00", &graph.Loc{Path: "/sub/ln", Name: "ln", ParentGFID: sub.Stat.GFID}, 0, nil); err != nil {
		t.Fatal(err)
	}
	return bricks, sub.Stat.GFID
}

// checkCost creates new names in the root and in dir and looks up missing ones through cli,
// and fails unless each is one fop (committed) or looks the name up on every subvolume (not).
func checkCost(t *testing.T, what string, cli *distribute.DHT, recs []*graphtest.Recorder, dir graph.GFID, committed bool, tag string) {
	t.Helper()
	ctx := context.Background()
	for _, p := range []struct {
		gfid graph.GFID
		path string
	}{{graph.RootGFID, "/"}, {dir, "/sub/"}} {
		// The first use of a directory may read its layout (and a client whose cached layout
		// is old, the volume commit hash): not counted.
		warm := "warm-" + tag
		if _, err := cli.Lookup(ctx, &graph.Loc{Path: p.path + warm, Name: warm, ParentGFID: p.gfid}, nil); graph.Errno(err) != unix.ENOENT {
			t.Fatalf("%s: lookup %s%s: %v, want ENOENT", what, p.path, warm, err)
		}
		for i := 0; i < 4; i++ {
			name := fmt.Sprintf("new-%s-%d", tag, i)
			loc := &graph.Loc{Path: p.path + name, Name: name, ParentGFID: p.gfid}
			got := fopsOf(recs, func() {
				fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
				defer fd.Unref()
				if _, err := cli.Create(ctx, loc, unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil); err != nil {
					t.Fatalf("%s: create %s: %v", what, loc.Path, err)
				}
			})
			if committed && (got[graph.FopCreate] != 1 || len(got) != 1) {
				t.Errorf("%s: create %s sent %v, want one create", what, loc.Path, got)
			}
			if !committed && (got[graph.FopCreate] != 1 || got[graph.FopLookup] < len(recs)) {
				t.Errorf("%s: create %s sent %v, want a lookup on each of %d subvolumes and a create", what, loc.Path, got, len(recs))
			}
			miss := &graph.Loc{Path: p.path + "missing-" + name, Name: "missing-" + name, ParentGFID: p.gfid}
			got = fopsOf(recs, func() {
				if _, err := cli.Lookup(ctx, miss, nil); graph.Errno(err) != unix.ENOENT {
					t.Fatalf("%s: lookup %s: %v, want ENOENT", what, miss.Path, err)
				}
			})
			if committed && (got[graph.FopLookup] != 1 || len(got) != 1) {
				t.Errorf("%s: lookup of missing %s sent %v, want one lookup (the hashed subvolume)", what, miss.Path, got)
			}
			if !committed && got[graph.FopLookup] < len(recs) {
				t.Errorf("%s: lookup of missing %s sent %v, want a lookup on each of %d subvolumes", what, miss.Path, got, len(recs))
			}
		}
	}
}

// rootCommitHash reads the volume commit hash from every brick's root.
func rootCommitHash(t *testing.T, bricks []graph.Xlator) []string {
	t.Helper()
	var out []string
	for _, b := range bricks {
		v, _, err := b.Getxattr(context.Background(), graph.RootLoc(), distribute.XattrCommitHash, nil)
		switch {
		case graph.Errno(err) == unix.ENODATA:
			out = append(out, "")
		case err != nil:
			t.Fatal(err)
		default:
			out = append(out, string(v[distribute.XattrCommitHash]))
		}
	}
	return out
}

// After add-brick, fix-layout alone leaves every directory uncommitted (files are not yet where
// the layout says); a full rebalance with no failure commits them and settles a new volume
// commit hash, so creates are back to one fop and misses to one lookup: for a fresh client, and
// for a client that cached the layouts and the old hash before the rebalance (it reads them
// again once they are a second old).
func TestDhtRebalanceCommitsLayouts(t *testing.T) {
	ctx := context.Background()
	bricks, dir := commitFixture(t)

	if err := distribute.FixLayout(ctx, dhtOver(t, bricks, autoUnhashed), graph.RootLoc()); err != nil {
		t.Fatal(err)
	}
	early, earlyRecs := recordedDHTOver(t, bricks, autoUnhashed, nil)
	if _, err := early.Lookup(ctx, graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
	checkCost(t, "after fix-layout", early, earlyRecs, dir, false, "fl")
	if h := rootCommitHash(t, bricks); h[0] != "" {
		t.Errorf("fix-layout settled a volume commit hash %q", h)
	}

	st, err := distribute.Rebalance(ctx, dhtOver(t, bricks, autoUnhashed), nil)
	if err != nil {
		t.Fatalf("rebalance: %v (%+v)", err, st)
	}
	if st.Failed != 0 || st.Migrated == 0 || st.CommitHash == 0 || st.Committed != 2 {
		t.Fatalf("rebalance status %+v: want files migrated, no failure, 2 directories committed and a commit hash", st)
	}
	want := fmt.Sprintf("%d\x00", st.CommitHash)
	for i, h := range rootCommitHash(t, bricks) {
		if h != want {
			t.Errorf("brick %d root commit hash %q, want %q", i, h, want)
		}
	}

	fresh, freshRecs := recordedDHTOver(t, bricks, autoUnhashed, nil)
	if _, err := fresh.Lookup(ctx, graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Lookup(ctx, &graph.Loc{Path: "/sub", Name: "sub", ParentGFID: graph.RootGFID}, nil); err != nil {
		t.Fatal(err)
	}
	checkCost(t, "fresh client after rebalance", fresh, freshRecs, dir, true, "fresh")

	// Every file, the symlink included, is found by the committed lookups.
	for _, p := range []struct {
		gfid graph.GFID
		path string
	}{{graph.RootGFID, "/"}, {dir, "/sub/"}} {
		for i := 0; i < 24; i++ {
			name := fmt.Sprintf("f%02d", i)
			if _, err := fresh.Lookup(ctx, &graph.Loc{Path: p.path + name, Name: name, ParentGFID: p.gfid}, nil); err != nil {
				t.Errorf("lookup %s%s after rebalance: %v", p.path, name, err)
			}
		}
	}
	if _, err := fresh.Lookup(ctx, &graph.Loc{Path: "/sub/ln", Name: "ln", ParentGFID: dir}, nil); err != nil {
		t.Errorf("lookup /sub/ln after rebalance: %v", err)
	}

	// The client that cached the fix-layout state (as a gateway resolving handles does, with no
	// new lookup of the directories).
	time.Sleep(1100 * time.Millisecond)
	checkCost(t, "client with layouts cached before the rebalance", early, earlyRecs, dir, true, "early")
}

// A rebalance in which a migration fails (error-gen fails writes to the new brick) leaves every
// directory uncommitted and settles no commit hash.
func TestDhtRebalanceFailureDoesNotCommit(t *testing.T) {
	ctx := context.Background()
	bricks, dir := commitFixture(t)
	reb, _ := recordedDHTOver(t, bricks, autoUnhashed, map[int]map[string]string{
		2: {"enable": "writev", "failure": "100", "error-no": "EIO"},
	})
	st, err := distribute.Rebalance(ctx, reb, nil)
	if err != nil {
		t.Fatalf("rebalance: %v", err)
	}
	if st.Failed == 0 || st.CommitHash != 0 {
		t.Fatalf("rebalance status %+v: want failed migrations and no commit hash", st)
	}
	if h := rootCommitHash(t, bricks); h[0] != "" {
		t.Errorf("a failed rebalance settled a volume commit hash %q", h)
	}
	cli, recs := recordedDHTOver(t, bricks, autoUnhashed, nil)
	if _, err := cli.Lookup(ctx, graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
	checkCost(t, "after a failed rebalance", cli, recs, dir, false, "failed")
}

// A rebalance stopped half-way settles no commit hash.
func TestDhtRebalanceStoppedDoesNotCommit(t *testing.T) {
	bricks, dir := commitFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	st, err := distribute.Rebalance(ctx, dhtOver(t, bricks, autoUnhashed), func(s distribute.Status) {
		if n++; s.Scanned >= 5 {
			cancel()
		}
	})
	if err == nil || st.CommitHash != 0 {
		t.Fatalf("stopped rebalance: %v, status %+v: want an error and no commit hash", err, st)
	}
	if h := rootCommitHash(t, bricks); h[0] != "" {
		t.Errorf("a stopped rebalance settled a volume commit hash %q", h)
	}
	cli, recs := recordedDHTOver(t, bricks, autoUnhashed, nil)
	if _, err := cli.Lookup(context.Background(), graph.RootLoc(), nil); err != nil {
		t.Fatal(err)
	}
	checkCost(t, "after a stopped rebalance", cli, recs, dir, false, "stopped")
}
