package posix_test

import (
	"encoding/binary"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Low-noise measurement for the overhead benchmarks. On a loaded machine (2 cores shared with
// other jobs) wall time mostly measures waiting for a CPU, so each side of a comparison is also
// measured in CPU time of the benchmark's own OS thread (CLOCK_THREAD_CPUTIME_ID: user + kernel
// time spent in the fop path and its syscalls) and in syscalls made by that thread, counted by
// the kernel tracepoint raw_syscalls:sys_enter through perf_event_open — an exact, repeatable
// count. The benchmark goroutine is locked to its thread, so every syscall of the measured work
// happens there.

// syscallCounter counts the syscalls entered by the calling thread.
type syscallCounter struct{ fd int }

// tracepointID finds the id of raw_syscalls:sys_enter in tracefs (mounted or not).
func tracepointID() (uint64, bool) {
	for _, base := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		b, err := os.ReadFile(base + "/events/raw_syscalls/sys_enter/id")
		if err == nil {
			id, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
			return id, err == nil
		}
	}
	return 0, false
}

// newSyscallCounter opens a counter on the current thread (call runtime.LockOSThread first);
// nil when the kernel or the permissions do not allow it.
func newSyscallCounter() *syscallCounter {
	id, ok := tracepointID()
	if !ok {
		return nil
	}
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_TRACEPOINT,
		Config: id,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
	}
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return nil
	}
	return &syscallCounter{fd: fd}
}

func (c *syscallCounter) read() int64 {
	if c == nil {
		return 0
	}
	var b [8]byte
	if n, err := unix.Read(c.fd, b[:]); err != nil || n != 8 {
		return 0
	}
	return int64(binary.NativeEndian.Uint64(b[:]))
}

func (c *syscallCounter) close() {
	if c != nil {
		unix.Close(c.fd)
	}
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// sample accumulates the cost of one side of a comparison.
type sample struct {
	ops      int64
	wall     time.Duration
	cpu      time.Duration
	syscalls int64
}

// meter runs measured batches on one locked thread.
type meter struct {
	sc *syscallCounter
	// cost of one empty measurement, subtracted from every batch
	zero sample
}

func newMeter() *meter {
	runtime.LockOSThread()
	m := &meter{sc: newSyscallCounter()}
	// Calibrate the measurement's own cost (clock reads and the counter read).
	var z sample
	for i := 0; i < 256; i++ {
		m.measure(&z, 1, func() {})
	}
	m.zero = sample{wall: z.wall / 256, cpu: z.cpu / 256, syscalls: z.syscalls / 256}
	return m
}

func (m *meter) close() {
	m.sc.close()
	runtime.UnlockOSThread()
}

// measure runs fn (which does ops operations) and adds its cost to s.
func (m *meter) measure(s *sample, ops int, fn func()) {
	s0 := m.sc.read()
	c0 := threadCPU()
	w0 := time.Now()
	fn()
	w := time.Since(w0)
	c := threadCPU() - c0
	n := m.sc.read() - s0
	s.ops += int64(ops)
	s.wall += w - m.zero.wall
	s.cpu += c - m.zero.cpu
	s.syscalls += n - m.zero.syscalls
}

// compare is the body of every overhead benchmark: each b.Loop iteration runs batch operations
// through the graph and batch operations with direct syscalls (alternating which goes first, so
// drift in machine load hits both alike), and the ratios graph/direct are reported for wall
// time, thread CPU time and syscalls. ns/op is the time of one iteration (both sides).
func compare(b *testing.B, batch int, graphOp, directOp func(i int)) {
	m := newMeter()
	defer m.close()
	var g, d sample
	gi, di := 0, 0
	runG := func() {
		m.measure(&g, batch, func() {
			for k := 0; k < batch; k++ {
				graphOp(gi)
				gi++
			}
		})
	}
	runD := func() {
		m.measure(&d, batch, func() {
			for k := 0; k < batch; k++ {
				directOp(di)
				di++
			}
		})
	}
	// Warm up both paths (page cache, handle directories, allocator).
	runG()
	runD()
	g, d = sample{}, sample{}
	iter := 0
	for b.Loop() {
		if iter%2 == 0 {
			runG()
			runD()
		} else {
			runD()
			runG()
		}
		iter++
	}
	report(b, g, d, m.sc != nil)
}

func report(b *testing.B, g, d sample, withSyscalls bool) {
	if g.ops == 0 || d.ops == 0 {
		return
	}
	per := func(x time.Duration, n int64) float64 { return float64(x.Nanoseconds()) / float64(n) }
	gw, dw := per(g.wall, g.ops), per(d.wall, d.ops)
	gc, dc := per(g.cpu, g.ops), per(d.cpu, d.ops)
	b.ReportMetric(gw, "graph-ns/op")
	b.ReportMetric(dw, "direct-ns/op")
	b.ReportMetric(gw/dw, "ratio")
	b.ReportMetric(gc, "graph-cpu-ns/op")
	b.ReportMetric(dc, "direct-cpu-ns/op")
	b.ReportMetric(gc/dc, "cpu-ratio")
	if withSyscalls {
		b.ReportMetric(float64(g.syscalls)/float64(g.ops), "graph-syscalls/op")
		b.ReportMetric(float64(d.syscalls)/float64(d.ops), "direct-syscalls/op")
	}
}
