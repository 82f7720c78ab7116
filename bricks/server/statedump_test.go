package server_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/internal/testbin"
)

// TestBrickProcessStatedumpAndSIGTERM: SIGUSR1 makes a brick process write a statedump named
// like GlusterFS's under the temporary directory, listing the client, its open fd and the
// lock it holds; SIGTERM stops the brick cleanly (exit status 0).
func TestBrickProcessStatedumpAndSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a brick process")
	}
	dir := t.TempDir()
	vol := writeBrickVolfile(t, dir, "")
	addr := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t))
	bp := startBrickProc(t, vol, addr)
	c, ev := newClient(t, addr, "netconn", nil)
	ev.wait(t, graph.EventChildUp, 10*time.Second)
	ctx := graph.WithCreds(context.Background(), &graph.Creds{LkOwner: []byte("o"), Pid: 9})
	fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	defer fd.Unref()
	if _, err := c.Create(ctx, graph.RootLoc().Child("dumped"), unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Lk(ctx, fd, graph.SetLk, &graph.Flock{Type: graph.LockWrite, Len: 10}, nil); err != nil {
		t.Fatal(err)
	}
	path, dump := bp.statedump(t)
	base := strings.Trim(strings.ReplaceAll(dir+"/data", "/", "-"), "-")
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(os.TempDir()) + `/` + regexp.QuoteMeta(base) + `\.\d+\.dump\.\d+$`).MatchString(path) {
		t.Errorf("statedump path %q not named <brick-path-with-dashes>.<pid>.dump.<time> under %s", path, os.TempDir())
	}
	for _, want := range []string{"[protocol/server.brick-server]", "open-fds=1", "[features/locks.brick-locks]", "posixlk.granted=1", "active_size="} {
		if !strings.Contains(dump, want) {
			t.Errorf("statedump lacks %q:\n%s", want, dump)
		}
	}
	_ = bp.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-bp.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("brick did not exit on SIGTERM")
	}
	if code := bp.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("brick exit status %d after SIGTERM:\n%s", code, bp.logs())
	}
}
