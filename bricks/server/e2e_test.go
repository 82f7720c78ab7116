package server_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

var transports = []string{"epoll", "netconn"}

func TestRoundTripThroughBrick(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			b := startBrick(t, tr, nil)
			c, ev := newClient(t, b.srv.Addr().String(), tr, nil)
			ev.wait(t, graph.EventChildUp, 5*time.Second)
			ctx := context.Background()
			root := graph.RootLoc()
			if _, err := c.Lookup(ctx, root, nil); err != nil {
				t.Fatalf("lookup root: %v", err)
			}
			loc := root.Child("f")
			gfid := graph.NewGFID()
			fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR|unix.O_CREAT)
			rep, err := c.Create(ctx, loc, unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, graph.Xdata{"gfid-req": gfid[:]})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if rep.Stat.GFID != gfid {
				t.Fatalf("create gfid %s, want %s", rep.Stat.GFID, gfid)
			}
			data := bytes.Repeat([]byte("weft"), 3000)
			if _, err := c.Writev(ctx, fd, data, 0, 0, nil); err != nil {
				t.Fatalf("writev: %v", err)
			}
			rr, err := c.Readv(ctx, fd, uint32(len(data)+10), 0, 0, nil)
			if err != nil || !bytes.Equal(rr.Data, data) {
				t.Fatalf("readv: %v, %d bytes", err, len(rr.Data))
			}
			onDisk, err := os.ReadFile(filepath.Join(b.dir, "f"))
			if err != nil || !bytes.Equal(onDisk, data) {
				t.Fatalf("file on the brick: %v, %d bytes", err, len(onDisk))
			}
			if b.srv.OpenFDs() != 1 {
				t.Fatalf("server has %d open fds, want 1", b.srv.OpenFDs())
			}
			fd.Unref()
			waitFor(t, func() bool { return b.srv.OpenFDs() == 0 }, "RELEASE closes the remote fd")
			_, err = c.Lookup(ctx, root.Child("missing"), nil)
			if !errors.Is(err, unix.ENOENT) {
				t.Fatalf("lookup missing: %v", err)
			}
		})
	}
}

func waitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out: %s", what)
}
