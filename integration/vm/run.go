package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Machine is a bootable kernel + initramfs.
type Machine struct {
	Kernel    *Kernel
	Initramfs string
}

// Prepare returns a Machine, downloading and building what is missing under cacheDir.
func Prepare(cacheDir string) (*Machine, error) {
	for _, tool := range []string{"qemu-system-x86_64", "xz", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("vm: %s not found (make deps installs qemu-system-x86, xz-utils)", tool)
		}
	}
	k, err := EnsureKernel(cacheDir)
	if err != nil {
		return nil, err
	}
	ird, err := EnsureInitramfs(k, cacheDir)
	if err != nil {
		return nil, err
	}
	return &Machine{Kernel: k, Initramfs: ird}, nil
}

// Forward makes host address HostAddr reachable from the guest at 10.0.2.100:GuestPort.
type Forward struct {
	GuestPort int
	HostAddr  string // "127.0.0.1:2049" in the namespace qemu runs in
}

// GuestServer is the address at which the guest reaches forwarded host ports.
const GuestServer = "10.0.2.100"

// Job is one guest run: a bash script executed as root in the guest with the host's root file
// system visible read-only (plus a writable overlay) and /job shared with the host.
type Job struct {
	Script   string            // contents of /job/run.sh
	Files    map[string][]byte // extra files placed in /job
	Forwards []Forward
	Relay    string        // path of the relay binary (integration/relay)
	NetNS    string        // run qemu inside this network namespace ("" = current)
	MemoryMB int           // default 1024
	CPUs     int           // default 2
	Timeout  time.Duration // default 10 minutes
	Console  io.Writer     // optional live copy of the serial console
	Dir      string        // parent of the shared job directory (default: the system temp dir)
}

// Result is what a finished job left behind.
type Result struct {
	Status  int    // the script's exit status
	Output  string // the script's stdout+stderr
	Console string // the serial console (kernel messages)
	JobDir  string // the shared directory (kept for inspection; the caller removes it)
	Elapsed time.Duration
}

// Run boots the guest, runs the job and waits for the guest to power off.
func (m *Machine) Run(ctx context.Context, job Job) (*Result, error) {
	if job.Timeout == 0 {
		job.Timeout = 10 * time.Minute
	}
	if job.MemoryMB == 0 {
		job.MemoryMB = 1024
	}
	if job.CPUs == 0 {
		job.CPUs = 2
	}
	dir, err := os.MkdirTemp(job.Dir, "weft-vm-job-")
	if err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	res := &Result{JobDir: dir, Status: -1}
	files := map[string][]byte{"run.sh": []byte(job.Script), ".stage2": []byte(stage2Script)}
	for k, v := range job.Files {
		files[k] = v
	}
	for name, data := range files {
		if strings.Contains(name, "/") {
			return res, fmt.Errorf("vm: job file name %q has a slash", name)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			return res, fmt.Errorf("vm: %w", err)
		}
	}
	netdev := "user,id=n0,restrict=on"
	for _, f := range job.Forwards {
		if job.Relay == "" {
			return res, errors.New("vm: forwards need a relay binary")
		}
		// qemu option syntax: a literal comma is written as ",,".
		netdev += fmt.Sprintf(",guestfwd=tcp:%s:%d-cmd:%s %s", GuestServer, f.GuestPort, job.Relay, f.HostAddr)
	}
	args := []string{
		"-accel", "tcg,thread=multi", "-cpu", "max,-erms,-fsrm",
		"-m", strconv.Itoa(job.MemoryMB), "-smp", strconv.Itoa(job.CPUs),
		"-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio",
		"-kernel", m.Kernel.Vmlinux, "-initrd", m.Initramfs,
		"-append", "console=ttyS0 panic=-1 mitigations=off audit=0 apparmor=0 cryptomgr.notests loglevel=4",
		"-fsdev", "local,id=r,path=/,security_model=none,readonly=on,multidevs=remap",
		"-device", "virtio-9p-pci,fsdev=r,mount_tag=hostroot",
		"-fsdev", "local,id=j,path=" + dir + ",security_model=none",
		"-device", "virtio-9p-pci,fsdev=j,mount_tag=job",
		"-netdev", netdev, "-device", "virtio-net-pci,netdev=n0",
	}
	name := "qemu-system-x86_64"
	if job.NetNS != "" {
		args = append([]string{"netns", "exec", job.NetNS, name}, args...)
		name = "ip"
	}
	rctx, cancel := context.WithTimeout(ctx, job.Timeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, name, args...)
	var console syncBuffer
	var out io.Writer = &console
	if job.Console != nil {
		out = io.MultiWriter(&console, job.Console)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Stdin = nil
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	res.Elapsed = time.Since(start)
	res.Console = console.String()
	if b, err := os.ReadFile(filepath.Join(dir, "output.log")); err == nil {
		res.Output = string(b)
	}
	st, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		if rctx.Err() != nil {
			return res, fmt.Errorf("vm: guest did not finish within %v", job.Timeout)
		}
		return res, fmt.Errorf("vm: guest left no status (qemu: %v); console tail:\n%s", runErr, tail(res.Console, 40))
	}
	res.Status, err = strconv.Atoi(strings.TrimSpace(string(st)))
	if err != nil {
		return res, fmt.Errorf("vm: bad status file %q", st)
	}
	return res, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
