package client_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	_ "github.com/weftfs/weft/bricks/posix"
	"github.com/weftfs/weft/bricks/server/servertest"
	"github.com/weftfs/weft/graph"
	_ "github.com/weftfs/weft/graph/xlators/features/locks"
	"github.com/weftfs/weft/graph/xlators/protocol/client"
)

// startBrick runs storage/posix → features/locks → protocol/server in process.
func startBrick(t *testing.T, transport string) string {
	t.Helper()
	return servertest.Start(t, servertest.Options{Transport: transport}).Addr()
}

func connect(t *testing.T, addr, transport string) *client.Client {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	x, err := graph.Construct(client.Type, "c0", map[string]string{"remote-host": addr[:i], "remote-port": addr[i+1:],
		"remote-subvolume": "brick-locks", "transport": transport}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.NewGraph(x)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Activate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Fini)
	c := x.(*client.Client)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err := c.Stat(context.Background(), graph.RootLoc(), nil)
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("brick not reachable: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReadvReleaseReusesSafely reads files of distinct contents concurrently through one
// connection, releasing every reply after checking it: the reply buffers go back to the
// transport's pool and are reused by other replies, so a buffer released too early (or
// twice) shows up as another file's bytes.
func TestReadvReleaseReusesSafely(t *testing.T) {
	for _, tr := range []string{"epoll", "netconn"} {
		t.Run(tr, func(t *testing.T) {
			c := connect(t, startBrick(t, tr), tr)
			ctx := context.Background()
			const files, size = 6, 300 << 10
			fds := make([]*graph.FD, files)
			want := make([][]byte, files)
			for i := range fds {
				want[i] = bytes.Repeat([]byte(strconv.Itoa(i)), size)
				fds[i] = graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
				gfid := graph.NewGFID()
				if _, err := c.Create(ctx, graph.RootLoc().Child(fmt.Sprint("f", i)), unix.O_RDWR|unix.O_CREAT, 0o644, 0, fds[i], graph.Xdata{"gfid-req": gfid[:]}); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Writev(ctx, fds[i], want[i], 0, 0, nil); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, files)
			for i := range fds {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					for n := 0; n < 30; n++ {
						// Hold one reply while reading another of the same size: a buffer
						// released too early would be reused by the second one.
						j := (i + 1 + n) % files
						r, err := c.Readv(ctx, fds[i], size, 0, 0, nil)
						if err != nil {
							errs <- err
							return
						}
						r2, err := c.Readv(ctx, fds[j], size, 0, 0, nil)
						if err != nil {
							errs <- err
							return
						}
						if r.Release == nil || r2.Release == nil {
							errs <- fmt.Errorf("readv reply without Release")
							return
						}
						ok, ok2 := bytes.Equal(r.Data, want[i]), bytes.Equal(r2.Data, want[j])
						r.Release()
						r.Release() // a second call must do nothing
						r2.Release()
						if !ok || !ok2 {
							errs <- fmt.Errorf("files %d and %d, read %d: data differs (%v, %v)", i, j, n, ok, ok2)
							return
						}
					}
				}(i)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for _, fd := range fds {
				fd.Unref()
			}
		})
	}
}
