//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftfs/weft/integration/vm"
)

// bins holds the binaries the integration tests run, built once in TestMain.
var bins struct {
	dir   string
	weft  string
	relay string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "weft-integration-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.dir = dir
	bins.weft = filepath.Join(dir, "weft")
	bins.relay = filepath.Join(dir, "relay")
	for out, pkg := range map[string]string{bins.weft: "../cmd/weft", bins.relay: "./relay"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg, ":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var nsSeq atomic.Int32

// newNetNS creates a network namespace with loopback up, removed at cleanup. Servers and the
// guest run inside it, so fixed ports (111, 2049) never collide with anything on the machine.
func newNetNS(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("weft-it-%d-%d", os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	return name
}

// nsCommand returns a command that runs inside namespace ns.
func nsCommand(ctx context.Context, ns string, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// proc is a background process whose output is kept for failure reports.
type proc struct {
	cmd  *exec.Cmd
	out  *os.File
	done chan struct{}
	err  error
}

func startProc(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "proc-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	p := &proc{cmd: cmd, out: f, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(5 * time.Second) })
	return p
}

// stop sends SIGTERM and waits, then kills.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.out.Name())
	return string(b)
}

// waitTCP waits until addr accepts connections inside ns.
func waitTCP(t testing.TB, ns, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	host, port, _ := strings.Cut(addr, ":")
	for time.Now().Before(deadline) {
		err := nsCommand(context.Background(), ns, "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port)).Run()
		if err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s in %s after %v", addr, ns, timeout)
}

var machine struct {
	m   *vm.Machine
	err error
	set bool
}

// guestMachine prepares the qemu kernel client once per test binary.
func guestMachine(t testing.TB) *vm.Machine {
	t.Helper()
	if !machine.set {
		machine.m, machine.err = vm.Prepare(vm.DefaultCacheDir)
		machine.set = true
	}
	if machine.err != nil {
		t.Fatalf("kernel client: %v", machine.err)
	}
	return machine.m
}

// forwards maps guest ports to the same ports on the namespace's loopback.
func forwards(ports ...int) []vm.Forward {
	var fs []vm.Forward
	for _, p := range ports {
		fs = append(fs, vm.Forward{GuestPort: p, HostAddr: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	return fs
}

// guestScript prefixes a testdata script with environment assignments.
func guestScript(t testing.TB, file string, env map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString("#!/bin/bash\n")
	for k, v := range env {
		fmt.Fprintf(&sb, "export %s=%q\n", k, v)
	}
	sb.Write(b)
	return sb.String()
}
