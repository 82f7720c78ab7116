package graph_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// journal records what test translators did, in order, for assertions on Init/Fini/Notify
// ordering. Tests that use it must not run in parallel.
var journal struct {
	mu sync.Mutex
	e  []string
}

func record(format string, args ...any) {
	journal.mu.Lock()
	journal.e = append(journal.e, fmt.Sprintf(format, args...))
	journal.mu.Unlock()
}

func resetJournal() {
	journal.mu.Lock()
	journal.e = nil
	journal.mu.Unlock()
}

func entries() []string {
	journal.mu.Lock()
	defer journal.mu.Unlock()
	return append([]string(nil), journal.e...)
}

var testOpts = []graph.OptionSpec{
	{Key: "value", Aliases: []string{"val"}, Type: graph.OptString, Default: "default"},
	{Key: "fail-init", Type: graph.OptBool, Default: "off"},
	{Key: "size", Type: graph.OptSize, Min: 0, Max: 1 << 30},
	{Key: "flag", Type: graph.OptBool},
}

func init() {
	graph.Register(graph.Registration{Type: "test/leaf", New: func() graph.Xlator { return &testXlator{} },
		Options: testOpts, Description: "test leaf", MaxChildren: 0})
	graph.Register(graph.Registration{Type: "test/pass", New: func() graph.Xlator { return &testXlator{} },
		Options: testOpts, Description: "test passthrough", MinChildren: 1, MaxChildren: -1})
	graph.Register(graph.Registration{Type: "test/checked", New: func() graph.Xlator { return &checkedXlator{} },
		Options: testOpts, Description: "test translator with CheckOptions", MaxChildren: -1})
}

// testXlator is a Passthrough that records Init, Fini, Notify and Reconfigure; as a leaf its
// Stat answers (optionally blocking on Block) and fails once the translator is finalised.
type testXlator struct {
	graph.Passthrough
	finied  atomic.Bool
	value   atomic.Value // string, from option "value"
	Block   chan struct{}
	Entered chan struct{}
	stats   atomic.Int64
}

func (x *testXlator) Init(ctx context.Context) error {
	record("init %s", x.Name())
	if x.Options().Bool("fail-init") {
		return errors.New("refusing to init")
	}
	x.value.Store(x.Options().String("value"))
	return nil
}

func (x *testXlator) Fini() {
	record("fini %s", x.Name())
	x.finied.Store(true)
}

func (x *testXlator) Notify(ctx context.Context, ev graph.Event, from graph.Xlator) {
	fromName := "-"
	if from != nil {
		fromName = from.Name()
	}
	record("notify %s %s from %s", x.Name(), ev, fromName)
	x.ForwardEvent(ctx, ev)
}

func (x *testXlator) Reconfigure(opts *graph.Options) error {
	record("reconfigure %s value=%s", x.Name(), opts.String("value"))
	x.value.Store(opts.String("value"))
	return nil
}

func (x *testXlator) Value() string { return x.value.Load().(string) }

func (x *testXlator) Stat(ctx context.Context, loc *graph.Loc, xdata graph.Xdata) (graph.Iatt, graph.Xdata, error) {
	if x.finied.Load() {
		return graph.Iatt{}, nil, graph.Errorf(unix.ESTALE, "%s: fop on a finalised translator", x.Name())
	}
	if len(x.Children()) > 0 {
		return x.Passthrough.Stat(ctx, loc, xdata)
	}
	x.stats.Add(1)
	if x.Entered != nil {
		x.Entered <- struct{}{}
	}
	if x.Block != nil {
		select {
		case <-x.Block:
		case <-ctx.Done():
			return graph.Iatt{}, nil, ctx.Err()
		}
	}
	if x.finied.Load() {
		return graph.Iatt{}, nil, graph.Errorf(unix.ESTALE, "%s: finalised during the fop", x.Name())
	}
	return graph.Iatt{GFID: graph.RootGFID, Mode: unix.S_IFDIR | 0o755}, graph.Xdata{"from": []byte(x.Name())}, nil
}

// checkedXlator rejects value "bad" in CheckOptions.
type checkedXlator struct{ testXlator }

func (x *checkedXlator) CheckOptions(opts *graph.Options) error {
	if opts.String("value") == "bad" {
		return graph.OptionErr(opts, "value", errors.New("bad is not allowed"))
	}
	return nil
}
