package replicate

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/features/locks"
)

// stuckXattrop is a pass-through whose Fxattrop blocks (until its context is done) once armed:
// a brick that stopped answering in the middle of an epoch's post-op.
type stuckXattrop struct {
	graph.Passthrough
	armed   chan struct{} // closed: Fxattrop blocks
	release chan struct{} // closed: blocked calls fail at once (the test's end)
}

func (s *stuckXattrop) Fxattrop(ctx context.Context, fd *graph.FD, flag graph.XattropFlag, dict, xdata graph.Xdata) (graph.Xdata, graph.Xdata, error) {
	select {
	case <-s.armed:
		select {
		case <-ctx.Done():
		case <-s.release:
		}
		return nil, nil, graph.Errorf(unix.ENOTCONN, "stuck brick")
	default:
	}
	return s.Passthrough.Fxattrop(ctx, fd, flag, dict, xdata)
}

// TestTxnHonoursContextWhileEpochEnds: a truncate must end the file's eager-lock epoch first;
// when that epoch's post-op cannot complete (a child stopped answering), the truncate returns
// once its context is done instead of waiting for the epoch (it used to wait without a bound
// given by the caller: up to the post-op's own two-minute timeout).
func TestTxnHonoursContextWhileEpochEnds(t *testing.T) {
	ctx := context.Background()
	leaves := lockedLeaves(t, 2)
	stuck := &stuckXattrop{armed: make(chan struct{}), release: make(chan struct{})}
	graph.Wrap(stuck, "test/stuck", "stuck", nil, nil, leaves[1])
	a := newAFROver(t, map[string]string{"post-op-delay-secs": "30"}, leaves[0], stuck)
	fd, loc, err := graphtest.Create(ctx, a, graph.RootLoc(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	if _, err := a.Writev(ctx, fd, []byte("epoch"), 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	close(stuck.armed)
	defer close(stuck.release)
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := a.Truncate(tctx, loc, 0, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if e := graph.Errno(err); e != unix.ETIMEDOUT && e != unix.EINTR {
			t.Fatalf("truncate while the epoch cannot end: %v, want ETIMEDOUT or EINTR", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("truncate did not return within 5s of its 300ms deadline")
	}
}

// TestEpochEndsOnChildDown: a child's locks go with its connection, so an eager-lock epoch that
// spans a CHILD_DOWN of one of its children holds nothing there any more. The epoch must end
// (GlusterFS ends one when a fop of it fails on a child); when the child is back, the next
// write must take its lock there again before writing to it, never write there unlocked.
func TestEpochEndsOnChildDown(t *testing.T) {
	ctx := context.Background()
	leaves := lockedLeaves(t, 2)
	a := newAFROver(t, map[string]string{"post-op-delay-secs": "30"}, leaves...)
	fd, _, err := graphtest.Create(ctx, a, graph.RootLoc(), "f")
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	if _, err := a.Writev(ctx, fd, []byte("one"), 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	held := func(i int) int { return leaves[i].(*locks.Locks).Stats().Inodelks }
	if held(0) != 1 || held(1) != 1 {
		t.Fatalf("epoch holds %d and %d inodelks, want 1 and 1", held(0), held(1))
	}
	// Child 1 disconnects: its brick drops our locks; then it comes back.
	a.Notify(ctx, graph.EventChildDown, leaves[1])
	leaves[1].(*locks.Locks).ReleaseClient("")
	deadline := time.Now().Add(3 * time.Second)
	for held(0) != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := held(0); n != 0 {
		t.Errorf("child 0 still holds the epoch's inodelk after child 1 went down (%d)", n)
	}
	a.Notify(ctx, graph.EventChildUp, leaves[1])
	if _, err := a.Writev(ctx, fd, []byte("two"), 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	got, err := graphtest.ReadFile(ctx, leaves[1], &graph.Loc{GFID: fd.GFID})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) == "two" && held(1) == 0 {
		t.Fatalf("the write reached child 1 while no lock was held there")
	}
	if held(0) != 1 || held(1) != 1 {
		t.Errorf("the write after the rejoin holds %d and %d inodelks, want 1 and 1 (a new epoch on both)", held(0), held(1))
	}
}
