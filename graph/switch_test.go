package graph_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftfs/weft/graph"
)

// two-volume graph whose names carry a generation suffix, so each generation is a different
// topology.
func genVolfile(gen string, opts string) string {
	return fmt.Sprintf("volume leaf-%[1]s\n    type test/leaf\n%[2]send-volume\nvolume top-%[1]s\n    type test/pass\n    subvolumes leaf-%[1]s\nend-volume\n", gen, opts)
}

func hasEntry(e string) bool {
	for _, x := range entries() {
		if x == e {
			return true
		}
	}
	return false
}

func statFrom(ctx context.Context, g *graph.Graph) (string, error) {
	_, xd, err := g.Top.Stat(ctx, graph.RootLoc(), nil)
	if err != nil {
		return "", err
	}
	s, _ := xd.String("from")
	return s, nil
}

// TestActiveSwitchDrainsInFlight: a fop blocked on the old graph finishes there while new fops
// go to the new graph; the old graph is finalised only after that fop is released.
func TestActiveSwitchDrainsInFlight(t *testing.T) {
	resetJournal()
	var events atomic.Int64
	a := graph.NewActive(nil, func(ctx context.Context, ev graph.Event, from graph.Xlator) { events.Add(1) })
	ctx := context.Background()
	if g, rel := a.Acquire(); g != nil {
		t.Fatal("graph before the first switch")
	} else {
		rel()
	}
	if err := a.Switch(ctx, parse(t, genVolfile("1", ""))); err != nil {
		t.Fatal(err)
	}
	g1 := a.Current()
	leaf1 := g1.Find("leaf-1").(*testXlator)
	leaf1.Block = make(chan struct{})
	leaf1.Entered = make(chan struct{}, 1)

	// An in-flight fop on graph 1.
	type result struct {
		from string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		g, release := a.Acquire()
		defer release()
		from, err := statFrom(ctx, g)
		done <- result{from, err}
	}()
	<-leaf1.Entered

	// Switch to a different topology; it must wait for the blocked fop.
	switched := make(chan error, 1)
	go func() { switched <- a.Switch(ctx, parse(t, genVolfile("2", ""))) }()
	deadline := time.Now().Add(5 * time.Second)
	for a.Current() == g1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	g2 := a.Current()
	if g2 == g1 || g2 == nil {
		t.Fatal("new graph not swapped in while the old one is busy")
	}
	// New fops go to the new graph while the old fop is still blocked.
	for i := 0; i < 3; i++ {
		g, release := a.Acquire()
		from, err := statFrom(ctx, g)
		release()
		if err != nil || from != "leaf-2" {
			t.Fatalf("new fop went to %q: %v", from, err)
		}
	}
	select {
	case err := <-switched:
		t.Fatalf("Switch returned (%v) before the old graph drained", err)
	case <-time.After(20 * time.Millisecond):
	}
	if hasEntry("fini leaf-1") || hasEntry("fini top-1") {
		t.Fatal("old graph finalised while a fop was in flight")
	}
	// Release the old fop: it completes on the old graph, then the old graph is finalised.
	close(leaf1.Block)
	r := <-done
	if r.err != nil || r.from != "leaf-1" {
		t.Fatalf("in-flight fop: %q %v", r.from, r.err)
	}
	if err := <-switched; err != nil {
		t.Fatal(err)
	}
	if !hasEntry("fini leaf-1") || !hasEntry("fini top-1") || hasEntry("fini leaf-2") {
		t.Fatalf("after drain: %q", entries())
	}
	// The new graph was activated (Init + PARENT_UP) before it was swapped in.
	if !hasEntry("init leaf-2") || !hasEntry("notify leaf-2 PARENT_UP from top-2") {
		t.Fatalf("new graph not activated: %q", entries())
	}
	// Events leaving the new graph reach the Active's handler.
	before := events.Load()
	g2.Find("leaf-2").(*testXlator).ForwardEvent(ctx, graph.EventChildUp)
	if events.Load() != before+1 {
		t.Fatal("CHILD_UP of the new graph did not reach the handler")
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !hasEntry("fini leaf-2") {
		t.Fatal("Close did not finalise the graph")
	}
	if g, _ := a.Acquire(); g != nil {
		t.Fatal("graph after Close")
	}
}

// TestActiveSwitchTimeout: if ctx ends before the old graph drains, Switch reports
// ErrOldGraphBusy, the new graph serves, and the old one is finalised when its fop returns.
func TestActiveSwitchTimeout(t *testing.T) {
	resetJournal()
	a := graph.NewActive(nil, nil)
	ctx := context.Background()
	if err := a.Switch(ctx, parse(t, genVolfile("x", ""))); err != nil {
		t.Fatal(err)
	}
	g1, release := a.Acquire() // an in-flight fop, held by the test
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	err := a.Switch(tctx, parse(t, genVolfile("y", "")))
	if !errors.Is(err, graph.ErrOldGraphBusy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("switch: %v", err)
	}
	if a.Current() == g1 || a.Current().Top.Name() != "top-y" {
		t.Fatal("new graph not serving after the timeout")
	}
	if hasEntry("fini top-x") {
		t.Fatal("old graph finalised with a fop in flight")
	}
	if from, err := statFrom(ctx, g1); err != nil || from != "leaf-x" {
		t.Fatalf("the held old graph stopped working: %q %v", from, err)
	}
	release()
	release() // twice is harmless
	a.Wait()
	if !hasEntry("fini top-x") || !hasEntry("fini leaf-x") {
		t.Fatalf("old graph not finalised after the drain: %q", entries())
	}
	a.Close(ctx)
}

// TestActiveSwitchSameTopologyReconfigures: same names/types/subvolumes → options change in
// place on the same graph; a bad volfile changes nothing; a graph that fails to build or
// activate leaves the current one serving.
func TestActiveSwitchSameTopologyReconfigures(t *testing.T) {
	resetJournal()
	a := graph.NewActive(nil, nil)
	ctx := context.Background()
	if err := a.Switch(ctx, parse(t, genVolfile("1", "    option value v1\n"))); err != nil {
		t.Fatal(err)
	}
	g1 := a.Current()
	leaf := g1.Find("leaf-1").(*testXlator)
	if err := a.Switch(ctx, parse(t, genVolfile("1", "    option value v2\n"))); err != nil {
		t.Fatal(err)
	}
	if a.Current() != g1 || leaf.Value() != "v2" || hasEntry("fini leaf-1") {
		t.Fatalf("not reconfigured in place: value %q", leaf.Value())
	}
	if err := a.Switch(ctx, parse(t, genVolfile("1", "    option size huge\n"))); err == nil || !strings.Contains(err.Error(), "volfile:3:") {
		t.Fatalf("bad reconfigure: %v", err)
	}
	if err := a.Switch(ctx, parse(t, genVolfile("2", "    option nope 1\n"))); err == nil || !strings.Contains(err.Error(), `volfile:3: volume leaf-2 (test/leaf): option "nope": unknown option`) {
		t.Fatalf("bad build: %v", err)
	}
	if err := a.Switch(ctx, parse(t, genVolfile("3", "    option fail-init on\n"))); err == nil || !strings.Contains(err.Error(), "init: refusing to init") {
		t.Fatalf("failing init: %v", err)
	}
	if a.Current() != g1 || leaf.Value() != "v2" {
		t.Fatal("a failed switch changed the serving graph")
	}
	if from, err := statFrom(ctx, a.Current()); err != nil || from != "leaf-1" {
		t.Fatalf("serving graph broken: %v", err)
	}
	a.Close(ctx)
}

// TestActiveConcurrentSwitches hammers Acquire/fop/release from many goroutines while the
// graph is switched repeatedly: no fop may ever run on a finalised translator (the test leaf
// fails with ESTALE if it does), and every old graph is finalised.
func TestActiveConcurrentSwitches(t *testing.T) {
	resetJournal()
	a := graph.NewActive(nil, nil)
	ctx := context.Background()
	if err := a.Switch(ctx, parse(t, genVolfile("0", ""))); err != nil {
		t.Fatal(err)
	}
	switches := 30
	if testing.Short() {
		switches = 10
	}
	var stop atomic.Bool
	var fops, failures atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				g, release := a.Acquire()
				if _, err := statFrom(ctx, g); err != nil {
					failures.Add(1)
					t.Errorf("fop failed: %v", err)
				}
				release()
				fops.Add(1)
			}
		}()
	}
	for i := 1; i <= switches; i++ {
		// Let the workers issue fops on the current graph before replacing it: on a loaded
		// machine the switches could otherwise all finish before any worker ran (the test then
		// proved nothing).
		seen := fops.Load()
		deadline := time.Now().Add(10 * time.Second)
		for fops.Load() == seen && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if err := a.Switch(ctx, parse(t, genVolfile(fmt.Sprint(i), ""))); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= switches; i++ {
		if !hasEntry(fmt.Sprintf("fini leaf-%d", i)) {
			t.Errorf("graph %d not finalised", i)
		}
	}
	if failures.Load() != 0 || fops.Load() == 0 {
		t.Fatalf("%d fops, %d failures", fops.Load(), failures.Load())
	}
	t.Logf("%d fops across %d switches", fops.Load(), switches)
}

// TestInodeTableConcurrent links, looks up, renames, unlinks and forgets inodes from many
// goroutines (run with -race); afterwards every inode is unreferenced and the table is
// consistent.
func TestInodeTableConcurrent(t *testing.T) {
	tab := graph.NewInodeTable(64)
	root := tab.Root()
	fresh := tab.NewInode()
	dir := tab.Link(fresh, root, "d", &graph.Iatt{GFID: graph.NewGFID(), Mode: 0o040755})
	fresh.Unref()
	var wg sync.WaitGroup
	n := 200
	if testing.Short() {
		n = 50
	}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < n; i++ {
				name := fmt.Sprintf("f%d-%d", w, i%10)
				st := &graph.Iatt{GFID: graph.NewGFID(), Mode: 0o100644}
				fresh := tab.NewInode()
				in := tab.Link(fresh, dir, name, st)
				fresh.Unref()
				if got := tab.Grep(dir, name); got != nil {
					got.Unref()
				}
				if f := tab.Find(in.GFID()); f != nil {
					if p := f.Path(); p != "" && !strings.HasPrefix(p, "/d/") {
						t.Errorf("path %q", p)
					}
					f.Unref()
				}
				switch i % 3 {
				case 0:
					tab.Rename(in, dir, name, dir, name+"-r")
					tab.Unlink(in, dir, name+"-r")
				case 1:
					tab.Unlink(in, dir, name)
				case 2:
					tab.Forget(in)
				}
				in.Unref()
			}
		}(w)
	}
	wg.Wait()
	dir.Unref()
	active, lru := tab.Stats()
	if active != 0 || lru > 64 {
		t.Fatalf("after all unrefs: active %d lru %d", active, lru)
	}
	tab.Prune()
	if active, lru := tab.Stats(); active != 0 || lru != 0 {
		t.Fatalf("after prune: active %d lru %d", active, lru)
	}
}

func BenchmarkActiveAcquire(b *testing.B) {
	a := graph.NewActive(nil, nil)
	if err := a.Switch(context.Background(), parse(b, genVolfile("b", ""))); err != nil {
		b.Fatal(err)
	}
	defer a.Close(context.Background())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, release := a.Acquire()
			release()
		}
	})
}
