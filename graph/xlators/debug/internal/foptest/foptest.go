// Package foptest holds test helpers for the debug translators: Leaf, a leaf translator that
// implements every fop by recording it and returning a scripted error, and CallAll, which calls
// every fop on a translator. Both are generated from graph/fops.go by ../fopwrap/gen.go (the
// counterpart of GlusterFS's tests/basic/*debug* harness, in Go).
package foptest

import (
	"context"
	"sync"
	"testing"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/volfile"
)

// Leaf is a recording leaf translator. The zero value (wrapped with graph.Wrap) succeeds on
// every fop; Readv returns size zero bytes.
type Leaf struct {
	graph.Base

	mu    sync.Mutex
	calls [graph.NumFops]int
	// Fail, when set, is returned by every fop.
	Fail error
	// Block, when set, is waited on by every fop (or until ctx ends) before it returns.
	Block chan struct{}
	// Entered, when set, receives the fop when it enters (before Block).
	Entered chan graph.Fop
}

func (l *Leaf) record(ctx context.Context, f graph.Fop) error {
	l.mu.Lock()
	l.calls[f]++
	fail, block, entered := l.Fail, l.Block, l.Entered
	l.mu.Unlock()
	if entered != nil {
		entered <- f
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fail
}

// Calls returns how many times fop f reached the leaf.
func (l *Leaf) Calls(f graph.Fop) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[f]
}

// Total returns the number of fops that reached the leaf.
func (l *Leaf) Total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.calls {
		n += c
	}
	return n
}

// SetFail changes the scripted error.
func (l *Leaf) SetFail(err error) {
	l.mu.Lock()
	l.Fail = err
	l.mu.Unlock()
}

// NewLeaf returns a Leaf wrapped as a graph translator named name (type "test/leaf").
func NewLeaf(name string) *Leaf {
	l := &Leaf{}
	graph.Wrap(l, "test/leaf", name, nil, nil)
	return l
}

var regOnce sync.Once

// Register registers the type "test/leaf" (a Leaf) so that tests can build graphs from volfiles
// with a recording leaf at the bottom. Safe to call more than once.
func Register() {
	regOnce.Do(func() {
		graph.Register(graph.Registration{
			Type:        "test/leaf",
			New:         func() graph.Xlator { return &Leaf{} },
			Description: "recording test leaf",
			MaxChildren: 0,
		})
	})
}

// Fixture returns a loc and an fd for CallAll, (call fd.Unref when done).
func Fixture() (*graph.Loc, *graph.FD) {
	g := graph.NewGFID()
	loc := &graph.Loc{Path: "/f", Name: "f", GFID: g, ParentGFID: graph.RootGFID}
	return loc, graph.NewFD(nil, g, 0)
}

// Volfile returns a two-volume volfile: a "test/leaf" volume "leaf" under a volume name of type
// typ with the option lines opts (each " option key value\n").
func Volfile(t testing.TB, name, typ, opts string) *volfile.Volfile {
	t.Helper()
	vf, err := volfile.ParseString("volume leaf\n type test/leaf\nend-volume\nvolume " + name + "\n type " + typ + "\n" + opts + " subvolumes leaf\nend-volume\n")
	if err != nil {
		t.Fatal(err)
	}
	return vf
}

// Build builds and activates Volfile(t, name, typ, opts), finalised when the test ends, and
// returns the graph and its leaf.
func Build(t testing.TB, name, typ, opts string) (*graph.Graph, *Leaf) {
	t.Helper()
	Register()
	g, err := graph.Build(Volfile(t, name, typ, opts), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Activate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Fini)
	return g, g.Find("leaf").(*Leaf)
}
