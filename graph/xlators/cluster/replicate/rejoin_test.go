package replicate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
)

// TestBrickRejoinsDuringWrites: a brick process is killed (SIGKILL) during a stream of
// FILE_SYNC-style writes (Fstat, Writev, Fsync, as the NFS gateway does) on open fds with
// eager-lock on, and restarted while the stream goes on. Some fds were opened before the kill
// (re-opened on the returning brick), some while it was dead (not open there at all), one on
// a file created while it was dead (which the returning brick does not have). Every fop must
// succeed throughout — the returning child is not part of those fds, it is skipped and
// blamed — and a heal must then make the three copies equal.
func TestBrickRejoinsDuringWrites(t *testing.T) {
	root := t.TempDir()
	var bricks []*brickProc
	for i := 0; i < 3; i++ {
		bricks = append(bricks, newBrick(t, root, i))
	}
	a := clientGraph(t, root, bricks, map[string]string{"eager-lock": "on", "data-self-heal": "off"})
	a.SetPostOpDelay(0) // epochs end after every write, so fresh epochs span the rejoin
	ctx := context.Background()
	rootLoc := graph.RootLoc()

	type stream struct {
		name string
		fd   *graph.FD
		off  int64
	}
	var fds []*stream
	add := func(name string, fd *graph.FD) {
		fds = append(fds, &stream{name: name, fd: fd})
		t.Cleanup(fd.Unref)
	}
	before, beforeLoc, err := graphtest.Create(ctx, a, rootLoc, "before")
	if err != nil {
		t.Fatal(err)
	}
	add("before (created before the kill)", before)
	step := func(what string) {
		t.Helper()
		for _, s := range fds {
			buf := []byte(fmt.Sprintf("%s %-40s %d\n", what, s.name, s.off))
			if _, _, err := a.Fstat(ctx, s.fd, nil); err != nil {
				t.Fatalf("%s: fstat %s: %v", what, s.name, err)
			}
			if _, err := a.Writev(ctx, s.fd, buf, s.off, 0, nil); err != nil {
				t.Fatalf("%s: write %s at %d: %v", what, s.name, s.off, err)
			}
			if _, err := a.Fsync(ctx, s.fd, false, nil); err != nil {
				t.Fatalf("%s: fsync %s at %d: %v", what, s.name, s.off, err)
			}
			// A rewrite of the start, as the integration test's rewrites of older files.
			if _, err := a.Writev(ctx, s.fd, []byte(strings.ToUpper(what[:1])), 0, 0, nil); err != nil {
				t.Fatalf("%s: rewrite %s: %v", what, s.name, err)
			}
			s.off += int64(len(buf))
		}
	}
	for i := 0; i < 5; i++ {
		step("up")
	}

	bricks[2].kill9()
	waitDown(t, a, 2)
	for i := 0; i < 5; i++ {
		step("down")
	}
	reopened, err := graphtest.Open(ctx, a, beforeLoc, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	add("before, opened while the brick was dead", reopened)
	during, _, err := graphtest.Create(ctx, a, rootLoc, "during")
	if err != nil {
		t.Fatal(err)
	}
	add("during (created while the brick was dead)", during)
	for i := 0; i < 5; i++ {
		step("down")
	}

	bricks[2].start()
	waitUp(t, a, 3)
	for i := 0; i < 20; i++ {
		step("back")
	}
	for _, s := range fds {
		if _, err := a.Flush(ctx, s.fd, nil); err != nil {
			t.Fatalf("flush %s: %v", s.name, err)
		}
	}

	healUntilClean(t, a)
	want := brickTree(t, bricks[0].dir)
	for _, b := range bricks[1:] {
		if d := treeDiff(want, brickTree(t, b.dir)); len(d) > 0 {
			t.Errorf("%s differs from b0 after heal:\n%s", b.dir, strings.Join(d, "\n"))
		}
	}
}
