package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/internal/testbin"
	"github.com/weftfs/weft/membership/api"
)

// reloadVolfile writes a brick volfile with io-stats (posix → locks → io-stats → server).
func reloadVolfile(t *testing.T, path, data, ioOpts, lockOpts string) {
	t.Helper()
	vf := fmt.Sprintf(`volume brick-posix
    type storage/posix
    option directory %s
    option health-check-interval 0
end-volume

volume brick-locks
    type features/locks
%s    subvolumes brick-posix
end-volume

volume brick-stats
    type debug/io-stats
%s    subvolumes brick-locks
end-volume

volume brick-server
    type protocol/server
    option listen 127.0.0.1:1
    subvolumes brick-stats
end-volume
`, data, lockOpts, ioOpts)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(vf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func brickProfile(t *testing.T, sock string) api.BrickProfile {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}, Timeout: 5 * time.Second}
	resp, err := hc.Get("http://brick/profile")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var bp api.BrickProfile
	if err := json.NewDecoder(resp.Body).Decode(&bp); err != nil || resp.StatusCode != 200 {
		t.Fatalf("profile: %v %s", err, resp.Status)
	}
	return bp
}

func fopCalls(s api.ProfileStats, fop string) uint64 {
	for _, f := range s.Fops {
		if f.Fop == fop {
			return f.Calls
		}
	}
	return 0
}

// TestBrickProcessSIGHUPReconfigures: a `weft brick` process re-reads its volfile on SIGHUP and
// applies option changes in place: the same process keeps its connected client, whose open fd
// and lock stay valid; the new io-stats and locks options are in effect (the statedump and the
// control socket's profile show them, and counting stops); a volfile with another graph shape
// is not applied and the brick keeps serving.
func TestBrickProcessSIGHUPReconfigures(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a brick process")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(dir, "brick.vol")
	reloadVolfile(t, vol, data, "", "")
	sock := filepath.Join(dir, "ctl.sock")
	addr := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t))
	bp := startBrickProc(t, vol, addr, "--control-socket", sock)
	pid := bp.cmd.Process.Pid

	c, ev := newClient(t, addr, "netconn", map[string]string{"remote-subvolume": "brick-stats"})
	ev.wait(t, graph.EventChildUp, 10*time.Second)
	ctx := graph.WithCreds(context.Background(), &graph.Creds{LkOwner: []byte("o"), Pid: 9})
	fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	defer fd.Unref()
	if _, err := c.Create(ctx, graph.RootLoc().Child("f"), unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Lk(ctx, fd, graph.SetLk, &graph.Flock{Type: graph.LockWrite, Len: 10}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Writev(ctx, fd, []byte("one"), 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	p1 := brickProfile(t, sock)
	if !p1.CountOn || fopCalls(p1.Cumulative, "Writev") != 1 || p1.Cumulative.WrittenBytes != 3 {
		t.Fatalf("profile before reload: %+v", p1)
	}

	reloadVolfile(t, vol, data, "    option count-fop-hits off\n", "    option trace on\n")
	if err := bp.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(bp.logs(), "volfile reloaded") }, "the brick logs the reload")
	if _, err := c.Writev(ctx, fd, []byte("two"), 3, 0, nil); err != nil {
		t.Fatalf("write on the fd opened before the reload: %v\n%s", err, bp.logs())
	}
	p2 := brickProfile(t, sock)
	if p2.CountOn || p2.Pid != pid || fopCalls(p2.Cumulative, "Writev") != 1 {
		t.Fatalf("profile after reload (count-fop-hits off, pid %d): %+v", pid, p2)
	}
	if p2.Interval != 2 || len(p2.IntervalStats.Fops) != 0 && fopCalls(p2.IntervalStats, "Writev") != 0 {
		t.Fatalf("interval 2 should count nothing: %+v", p2)
	}

	// The statedump shows the new options and the lock still held by the client.
	_, dump := bp.statedump(t)
	for _, want := range []string{"option.count-fop-hits=off", "option.trace=on", "posixlk.granted=1", "open-fds=1"} {
		if !strings.Contains(dump, want) {
			t.Errorf("statedump lacks %q:\n%s", want, dump)
		}
	}

	// Another graph shape (io-stats removed) is refused; the brick serves on.
	shape := strings.Replace(`volume brick-posix
    type storage/posix
    option directory DATA
    option health-check-interval 0
end-volume

volume brick-server
    type protocol/server
    option listen 127.0.0.1:1
    subvolumes brick-posix
end-volume
`, "DATA", data, 1)
	if err := os.WriteFile(vol, []byte(shape), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = bp.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(bp.logs(), "volfile not applied") }, "the brick refuses the new shape")
	if _, err := c.Writev(ctx, fd, []byte("three"), 6, 0, nil); err != nil {
		t.Fatalf("write after a refused reload: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(data, "f")); string(got) != "onetwothree" {
		t.Fatalf("file holds %q", got)
	}
	if bp.cmd.Process.Pid != pid || bp.cmd.ProcessState != nil {
		t.Fatal("the brick process changed")
	}
}
