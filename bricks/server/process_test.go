package server_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weftfs/weft/internal/testbin"
)

// TestMain removes the weft binary built (once) for the process tests.
func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// brickProc is a `weft brick` process.
type brickProc struct {
	t       testing.TB
	volfile string
	addr    string
	cmd     *exec.Cmd
	logMu   sync.Mutex
	log     strings.Builder
	exited  chan struct{}
}

func writeBrickVolfile(t testing.TB, dir, secret string) string {
	t.Helper()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	sec := ""
	if secret != "" {
		sec = "    option auth.secret " + secret + "\n"
	}
	vf := fmt.Sprintf(`volume brick-posix
    type storage/posix
    option directory %s
    option health-check-interval 0
end-volume

volume brick-locks
    type features/locks
    subvolumes brick-posix
end-volume

volume brick-server
    type protocol/server
    option listen 127.0.0.1:1
%s    subvolumes brick-locks
end-volume
`, data, sec)
	p := filepath.Join(dir, "brick.vol")
	if err := os.WriteFile(p, []byte(vf), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startBrickProc runs `weft brick --volfile V --listen addr` and waits until the port accepts.
func startBrickProc(t testing.TB, volfile, addr string, extra ...string) *brickProc {
	t.Helper()
	bp := &brickProc{t: t, volfile: volfile, addr: addr, exited: make(chan struct{})}
	bp.cmd = exec.Command(testbin.Weft(t), append([]string{"brick", "--volfile", volfile, "--listen", addr, "--log-level", "info"}, extra...)...)
	stderr, err := bp.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := bp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			bp.logMu.Lock()
			bp.log.WriteString(sc.Text() + "\n")
			bp.logMu.Unlock()
		}
		_ = bp.cmd.Wait()
		close(bp.exited)
	}()
	t.Cleanup(bp.stop)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-bp.exited:
			t.Fatalf("brick exited at start:\n%s", bp.logs())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return bp
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("brick did not listen on %s:\n%s", addr, bp.logs())
	return nil
}

func (bp *brickProc) logs() string {
	bp.logMu.Lock()
	defer bp.logMu.Unlock()
	return bp.log.String()
}

// statedump sends the brick SIGUSR1 and returns the path of the statedump it logs having
// written, and its content (the file is removed when the test ends).
func (bp *brickProc) statedump(t testing.TB) (string, string) {
	t.Helper()
	before := strings.Count(bp.logs(), "statedump written")
	if err := bp.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`statedump written.*"path": "([^"]+)"`)
	var path string
	waitFor(t, func() bool {
		logs := bp.logs()
		if strings.Count(logs, "statedump written") <= before {
			return false
		}
		m := re.FindAllStringSubmatch(logs, -1)
		path = m[len(m)-1][1]
		return true
	}, "statedump path logged")
	t.Cleanup(func() { os.Remove(path) })
	dump, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, string(dump)
}

func (bp *brickProc) kill9() {
	_ = bp.cmd.Process.Signal(syscall.SIGKILL)
	<-bp.exited
}

// stop sends SIGTERM and waits for a clean exit.
func (bp *brickProc) stop() {
	select {
	case <-bp.exited:
		return
	default:
	}
	_ = bp.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-bp.exited:
	case <-time.After(10 * time.Second):
		_ = bp.cmd.Process.Kill()
		<-bp.exited
		bp.t.Errorf("brick did not stop on SIGTERM within 10s")
	}
}

// TestBrickProcs: --procs sets the brick's GOMAXPROCS (logged at start), the default is twice
// the CPUs, and a value out of range is refused with a one-line error before anything starts.
func TestBrickProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "") // an empty GOMAXPROCS is ignored by the runtime and by --procs
	for _, tc := range []struct {
		args []string
		want int
	}{{[]string{"--procs", "3"}, 3}, {nil, 2 * runtime.NumCPU()}} {
		dir := t.TempDir()
		bp := startBrickProc(t, writeBrickVolfile(t, dir, ""), fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t)), tc.args...)
		want := fmt.Sprintf(`"procs": %d`, tc.want)
		waitFor(t, func() bool { return strings.Contains(bp.logs(), "brick started") }, "the start line")
		if !strings.Contains(bp.logs(), want) {
			t.Errorf("%v: start line without %s:\n%s", tc.args, want, bp.logs())
		}
		bp.stop()
	}
	for _, bad := range []string{"-1", "4097", "x"} {
		dir := t.TempDir()
		out, err := exec.Command(testbin.Weft(t), "brick", "--volfile", writeBrickVolfile(t, dir, ""), "--procs", bad).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--procs") || strings.Contains(string(out), "panic") {
			t.Errorf("--procs %s: err %v, output:\n%s", bad, err, out)
		}
	}
}
