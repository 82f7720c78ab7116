package nfs3

import (
	"context"
	"testing"
	"time"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
)

// gatedTop holds Open and Opendir until gate is closed, telling entered when one is waiting.
type gatedTop struct {
	graph.Xlator
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedTop) wait() {
	g.entered <- struct{}{}
	<-g.gate
}

func (g *gatedTop) Open(ctx context.Context, loc *graph.Loc, flags int, fd *graph.FD, x graph.Xdata) (graph.Xdata, error) {
	g.wait()
	return g.Xlator.Open(ctx, loc, flags, fd, x)
}

func (g *gatedTop) Opendir(ctx context.Context, loc *graph.Loc, fd *graph.FD, x graph.Xdata) (graph.Xdata, error) {
	g.wait()
	return g.Xlator.Opendir(ctx, loc, fd, x)
}

// An FD opened while a flush (a graph switch) runs serves its own call but is not cached: a
// cached one would hold the replaced graph until the file's next access or idle expiry, and the
// switch would wait its whole drain timeout for it (TestGatewayLiveSwitchUnderLoad failed so,
// now and then, under load: "the switch took 5s"). The same for directory streams.
func TestCachesDoNotKeepFDsOpenedAcrossAFlush(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	f, loc, err := graphtest.Create(ctx, e.top, graph.RootLoc(), "f")
	if err != nil {
		t.Fatal(err)
	}
	f.Unref()
	gfid := loc.GFID
	if gfid.IsZero() {
		r, err := e.top.Lookup(ctx, loc, nil)
		if err != nil {
			t.Fatal(err)
		}
		gfid = r.Stat.GFID
	}

	g := &gatedTop{Xlator: e.top, entered: make(chan struct{}, 1), gate: make(chan struct{})}
	c := newFDCache(g, 16, time.Minute)
	got := make(chan *graph.FD, 1)
	go func() {
		fd, err := c.get(ctx, gfid, true)
		if err != nil {
			t.Error(err)
		}
		got <- fd
	}()
	<-g.entered
	c.flush()
	close(g.gate)
	fd := <-got
	if fd == nil {
		t.FailNow()
	}
	if _, err := e.top.Writev(ctx, fd, []byte("x"), 0, 0, nil); err != nil {
		t.Fatalf("the FD serves its call: %v", err)
	}
	c.mu.Lock()
	n := len(c.m)
	c.mu.Unlock()
	if n != 0 || fd.Refs() != 1 {
		t.Fatalf("after a flush during its open: %d cached entries, %d references (want 0 and the caller's 1)", n, fd.Refs())
	}
	fd.Unref()
	// Without a flush in between, the FD is cached as before.
	g.gate = make(chan struct{})
	close(g.gate)
	go func() { <-g.entered }()
	fd2, err := c.get(ctx, gfid, true)
	if err != nil {
		t.Fatal(err)
	}
	fd2.Unref()
	c.mu.Lock()
	n = len(c.m)
	c.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d cached entries after a plain open, want 1", n)
	}
	c.flush()

	// Directory streams.
	dg := &gatedTop{Xlator: e.top, entered: make(chan struct{}, 1), gate: make(chan struct{})}
	dc := newDirCache(dg, 16, time.Minute)
	dgot := make(chan *dirEntry, 1)
	go func() {
		de, err := dc.acquire(ctx, graph.RootGFID, 0, 0)
		if err != nil {
			t.Error(err)
		}
		dgot <- de
	}()
	<-dg.entered
	dc.flush()
	close(dg.gate)
	de := <-dgot
	if de == nil {
		t.FailNow()
	}
	dfd := de.fd
	dc.mu.Lock()
	n = len(dc.m)
	dc.mu.Unlock()
	if n != 0 || dfd.Refs() != 1 {
		t.Fatalf("directory stream opened across a flush: %d cached, %d references (want 0 and 1)", n, dfd.Refs())
	}
	dc.releaseEntry(de)
	if dfd.Refs() != 0 {
		t.Fatalf("directory FD still has %d references after the call", dfd.Refs())
	}
}
