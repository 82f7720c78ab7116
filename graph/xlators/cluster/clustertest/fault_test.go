package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	"github.com/weftfs/weft/graph/xlators/features/locks"
	"github.com/weftfs/weft/internal/testbin"
)

// onDisk reports whether name in a brick's data directory is a data file (not a link file).
func onDisk(dir, name string) (exists, data bool) {
	fi, err := os.Lstat(filepath.Join(dir, name))
	if err != nil {
		return false, false
	}
	return true, fi.Mode()&os.ModeSticky == 0 || fi.Size() > 0
}

// TestDistributeBrickDown: distribute over two `weft brick` processes; one is killed. Files on
// the other stay readable; creates of names hashed to the dead brick fail with ENOTCONN and leave
// nothing behind anywhere (checked on disk and through the volume once the brick is back);
// creates hashed to the live brick work.
func TestDistributeBrickDown(t *testing.T) {
	ctx := context.Background()
	b := New(t, KindBrick, testbin.Weft(t))
	top := b.Distribute(nil, b.Leaf(), b.Leaf())
	b.Activate(top)
	root := graph.RootLoc()
	where := map[string]int{}
	for i := 0; i < 24; i++ {
		name := fmt.Sprintf("old-%02d", i)
		if _, err := graphtest.WriteFile(ctx, top, root, name, []byte("content of "+name)); err != nil {
			t.Fatal(err)
		}
		for k, l := range b.Leaves {
			if ok, data := onDisk(l.Proc.Dir, name); ok && data {
				where[name] = k
			}
		}
	}
	var on0, on1 int
	for _, k := range where {
		if k == 0 {
			on0++
		} else {
			on1++
		}
	}
	if on0 == 0 || on1 == 0 || len(where) != 24 {
		t.Fatalf("placement %v: need files on both bricks", where)
	}

	dead := b.Leaves[1]
	dead.Proc.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for dead.Up() {
		if time.Now().After(deadline) {
			t.Fatal("no CHILD_DOWN from the killed brick's client within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for name, k := range where {
		if k != 0 {
			continue
		}
		loc, _, err := graphtest.LookupPath(ctx, top, "/"+name)
		if err != nil {
			t.Errorf("lookup %s (on the live brick): %v", name, err)
			continue
		}
		got, err := graphtest.ReadFile(ctx, top, loc)
		if err != nil || string(got) != "content of "+name {
			t.Errorf("read %s: %q %v", name, got, err)
		}
	}
	failed := map[string]bool{}
	made := 0
	for i := 0; i < 24; i++ {
		name := fmt.Sprintf("new-%02d", i)
		fd, _, err := graphtest.Create(ctx, top, root, name)
		if err == nil {
			fd.Unref()
			made++
			if ok, data := onDisk(b.Leaves[0].Proc.Dir, name); !ok || !data {
				t.Errorf("create %s succeeded but it is not a data file on the live brick", name)
			}
			continue
		}
		if graph.Errno(err) != unix.ENOTCONN {
			t.Errorf("create %s with its brick down: %v, want ENOTCONN", name, err)
		}
		failed[name] = true
	}
	if made == 0 || len(failed) == 0 {
		t.Fatalf("%d creates worked, %d failed: the names should hash to both bricks", made, len(failed))
	}
	for name := range failed {
		if ok, _ := onDisk(b.Leaves[0].Proc.Dir, name); ok {
			t.Errorf("failed create %s left an entry on the live brick", name)
		}
	}

	// The brick comes back: nothing of the failed creates exists, the old files are all there.
	if err := dead.Proc.Start(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(15 * time.Second)
	for !dead.Up() {
		if time.Now().After(deadline) {
			t.Fatal("the restarted brick's client did not come back up within 15s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for name := range failed {
		if ok, _ := onDisk(dead.Proc.Dir, name); ok {
			t.Errorf("failed create %s exists on the restarted brick", name)
		}
		if _, err := top.Lookup(ctx, root.Child(name), nil); graph.Errno(err) != unix.ENOENT {
			t.Errorf("lookup of failed create %s: %v, want ENOENT", name, err)
		}
	}
	ents, err := graphtest.ReadDirAll(ctx, top, root, true, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 24+made {
		t.Errorf("root lists %d entries, want %d", len(ents), 24+made)
	}
}

// TestDistributeRenameFailureKeepsDestination: with debug/error-gen failing rename on every
// brick, renaming a file over an existing one that hashes elsewhere fails and leaves both files
// as they were (the destination's link file is made under a temporary name first).
func TestDistributeRenameFailureKeepsDestination(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []Kind{KindMemory, KindPosix} {
		t.Run(string(kind), func(t *testing.T) {
			b := New(t, kind, "")
			b.ErrorGen = true
			top := b.Distribute(nil, b.Leaf(), b.Leaf())
			b.Activate(top)
			root := graph.RootLoc()
			var names []string
			for i := 0; i < 16; i++ {
				n := fmt.Sprintf("f%02d", i)
				if _, err := graphtest.WriteFile(ctx, top, root, n, []byte(n)); err != nil {
					t.Fatal(err)
				}
				names = append(names, n)
			}
			r, _ := graph.LookupType("debug/error-gen")
			opts, err := graph.ValidateOptions(r.Options, map[string]string{"failure": "100", "error-no": "EIO", "enable": "rename"})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range b.Leaves {
				if err := l.ErrGen.Reconfigure(opts); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i+1 < len(names); i += 2 {
				src, dst := names[i], names[i+1]
				sl, _, _ := graphtest.LookupPath(ctx, top, "/"+src)
				dl, _, _ := graphtest.LookupPath(ctx, top, "/"+dst)
				if _, err := top.Rename(ctx, sl, dl, nil); graph.Errno(err) != unix.EIO {
					t.Errorf("rename %s → %s: %v, want EIO", src, dst, err)
				}
			}
			for _, n := range names {
				loc, _, err := graphtest.LookupPath(ctx, top, "/"+n)
				if err != nil {
					t.Errorf("%s after a failed rename: %v", n, err)
					continue
				}
				if got, err := graphtest.ReadFile(ctx, top, loc); err != nil || string(got) != n {
					t.Errorf("%s after a failed rename: %q %v", n, got, err)
				}
			}
			ents, err := graphtest.ReadDirAll(ctx, top, root, true, 4096)
			if err != nil || len(ents) != len(names) {
				t.Errorf("root lists %d entries (%v), want %d", len(ents), err, len(names))
			}
		})
	}
}

// TestDownLeafReleasesLocks is the regression test of the model test's hang (1 run in ~15 of
// TestModelDistRep2QuorumAuto): an eager-lock epoch held the inodelk on both copies, one brick
// went "down" and the epoch's unlock could not reach it; after the brick came back, the next
// data transaction waited forever for a lock nobody would release. A brick forgets a client's
// locks when the client disconnects (protocol/server → features/locks ReleaseClient), so the
// fake must as well: SetDown releases the connection's locks once its lock calls in flight are
// done. The truncate runs with a deadline so that a regression fails instead of hanging.
func TestDownLeafReleasesLocks(t *testing.T) {
	for _, kind := range []Kind{KindMemory, KindPosix} {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			b := New(t, kind, "")
			b.ErrorGen = true
			top := b.Replicate(map[string]string{"quorum-type": "auto", "post-op-delay-secs": "5"}, b.Leaf(), b.Leaf())
			b.Activate(top)
			fd, loc, err := graphtest.Create(ctx, top, graph.RootLoc(), "f")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := top.Writev(ctx, fd, []byte("eager epoch"), 0, 0, nil); err != nil {
				t.Fatal(err)
			}
			// The epoch holds the inodelk on both bricks; brick 1 goes down before it ends.
			if err := b.Leaves[1].SetDown(ctx, true); err != nil {
				t.Fatal(err)
			}
			if n := locksHeld(t, b.Leaves[1]); n != 0 {
				t.Errorf("brick 1 holds %d locks after its connection went down, want 0", n)
			}
			if _, err := top.Flush(ctx, fd, nil); err != nil { // ends the epoch; brick 1 misses the unlock
				t.Fatal(err)
			}
			fd.Unref()
			if err := b.Leaves[1].SetDown(ctx, false); err != nil {
				t.Fatal(err)
			}
			tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if _, err := top.Truncate(tctx, loc, 3, nil); err != nil {
				t.Fatalf("truncate after the brick came back: %v (a lock of the old connection is still held)", err)
			}
			for i, l := range b.Leaves {
				if n := locksHeld(t, l); n != 0 {
					t.Errorf("brick %d holds %d locks after the truncate, want 0", i, n)
				}
			}
		})
	}
}

// locksHeld counts the granted and blocked inodelks and entrylks of a leaf's features/locks.
func locksHeld(t *testing.T, l *Leaf) int {
	t.Helper()
	s, ok := l.Locks.(interface{ Stats() locks.Stats })
	if !ok {
		t.Fatalf("leaf %s: no features/locks to inspect", l.Name)
	}
	st := s.Stats()
	return st.Inodelks + st.InodelksBlocked + st.Entrylks + st.EntrylksBlocked
}
