package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/bricks/server/servertest"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/xlators/protocol/client"
	"github.com/weftfs/weft/internal/testbin"
)

// Load benchmarks: protocol/client → in-process brick (protocol/server → locks → posix on a
// temporary directory) over loopback, for both transports in the same run. Callers are spread
// round-robin over the connections (one protocol/client per connection): with fewer callers
// than connections the other connections stay open and idle, which is what a brick serving
// many mostly idle clients sees. Loggers are no-ops, so -v does not slow the brick down.

type benchOp struct {
	name string
	size int // bytes moved per op (0 for stat)
}

var benchOps = []benchOp{{"write4k", 4 << 10}, {"write1m", 1 << 20}, {"read4k", 4 << 10}, {"read1m", 1 << 20}, {"stat", 0}}

type loadResult struct {
	ops      int64 // completed within the measuring window
	allOps   int64 // completed in all, including those in flight when the window closed
	elapsed  time.Duration
	p50, p99 time.Duration
	bytes    int64
	cpu      time.Duration // user+system CPU time of the whole process (client and brick) during the run
}

// cpuPerOp is the process's CPU time per operation: what one op costs both ends of the wire
// together, a figure that the load of other processes on the machine disturbs far less than
// throughput.
func (r loadResult) cpuPerOp() time.Duration {
	if r.allOps == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.allOps)
}

// window is the measuring window of a load: throughput counts the ops that complete between
// its start and close, over exactly that time (at least the round's duration, longer until
// every caller has had time for a few ops: closeAfter). Ops still in flight when it closes complete
// afterwards (their latencies and CPU still count) but not in throughput: counting them, over a
// time stretched to wait for them, would measure the drain, and with 256 callers of 1 MiB ops
// (tens of ms each) the drain is a large part of a short round.
type window struct {
	start, end time.Time
	stop       atomic.Bool
	in         atomic.Int64
}

func openWindow() *window { return &window{start: time.Now()} }

// done records an op that has just completed.
func (w *window) done() {
	if !w.stop.Load() {
		w.in.Add(1)
	}
}

// minOpsPerCaller is how many ops each caller completes, on average, in a window at least:
// a window only a few ops long (256 callers of 1 MiB ops take tens of ms each) would count
// ops in steps of the number of callers and measure the ramp up.
const minOpsPerCaller = 10

// closeAfter waits d, and longer (up to maxWindowExtra more) until callers×minOpsPerCaller ops
// have completed, and closes the window; the callers stop issuing ops.
func (w *window) closeAfter(d time.Duration, callers int) {
	time.Sleep(d)
	for w.in.Load() < int64(callers*minOpsPerCaller) && time.Since(w.start) < d+maxWindowExtra {
		time.Sleep(time.Millisecond)
	}
	w.end = time.Now()
	w.stop.Store(true)
}

const maxWindowExtra = 5 * time.Second

// result is summarize's result with the window's throughput.
func (w *window) result(lat [][]time.Duration, size int) loadResult {
	r := summarize(lat, w.end.Sub(w.start), size)
	r.allOps = r.ops
	r.ops = w.in.Load()
	r.bytes = r.ops * int64(size)
	return r
}

func processCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (r loadResult) opsPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

func (r loadResult) mbPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.bytes) / r.elapsed.Seconds() / 1e6
}

// fopTarget is what the load runs against: a set of tops (one per connection).
type fopTarget []graph.Fops

// benchBrick starts an in-process brick with no-op loggers (startBrick logs to the test with
// -v, which would put the logger on the measured path).
func benchBrick(t testing.TB, transport string) *brick {
	t.Helper()
	b := servertest.Start(t, servertest.Options{Transport: transport})
	return &brick{g: b.Graph, srv: b.Server, dir: b.Dir}
}

// connectClients opens n protocol/client connections to addr; closing them is the returned
// function's job (also registered as a cleanup).
func connectClients(t testing.TB, addr, transport string, n int) (fopTarget, func()) {
	host, port := splitAddr(t, addr)
	out := make(fopTarget, n)
	graphs := make([]*graph.Graph, n)
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			for _, g := range graphs {
				if g != nil {
					g.Fini()
				}
			}
		})
	}
	t.Cleanup(closeAll)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32) // do not flood the listen backlog
	for i := 0; i < n; i++ {
		x, err := graph.Construct(client.Type, fmt.Sprintf("bench-client-%d", i), map[string]string{
			"remote-host": host, "remote-port": port, "remote-subvolume": "brick-locks", "transport": transport,
			"network.ping-timeout": "60s"}, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		g, err := graph.NewGraph(x)
		if err != nil {
			t.Fatal(err)
		}
		graphs[i] = g
		out[i] = x
		wg.Add(1)
		sem <- struct{}{}
		go func(g *graph.Graph, c *client.Client) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := g.Activate(context.Background()); err != nil {
				errs <- err
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var err error
			for ctx.Err() == nil { // CHILD_UP comes asynchronously: retry until connected
				if _, _, err = c.Stat(ctx, graph.RootLoc(), nil); err == nil {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			errs <- err
		}(g, x.(*client.Client))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out, closeAll
}

// prepared is the per-caller state of one load: the fd each caller uses.
type prepared struct {
	tops   fopTarget
	fds    []*graph.FD
	data   []byte
	op     benchOp
	blocks int // write1m-seq: MiB blocks each caller cycles over
}

// seqBlocks is how many 1 MiB blocks each of callers cycles over in write1m-seq: 512 MiB in
// all, at least 4 MiB and at most 256 MiB each. Far more than the CPU caches hold, so a
// write lands on page-cache pages the caches do not hold, as a writer streaming a file does
// (rewriting one MiB at offset 0, as write1m does, keeps source and destination in the
// caches and measures a cache-speed memcpy).
func seqBlocks(callers int) int { return min(max(512/max(callers, 1), 4), 256) }

// prepare creates one file per caller (pre-filled for reads), each through the connection
// the caller will use.
func prepare(t testing.TB, tops fopTarget, op benchOp, callers int) *prepared {
	ctx := context.Background()
	p := &prepared{tops: tops, fds: make([]*graph.FD, callers), data: make([]byte, max(op.size, 1)), op: op}
	for i := range p.data {
		p.data[i] = byte(i)
	}
	for i := range p.fds {
		top := tops[i%len(tops)]
		fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
		gfid := graph.NewGFID()
		name := fmt.Sprintf("bench-%s-%d-%d", op.name, i, time.Now().UnixNano())
		if _, err := top.Create(ctx, graph.RootLoc().Child(name), unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, graph.Xdata{"gfid-req": gfid[:]}); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(op.name, "read") {
			if _, err := top.Writev(ctx, fd, p.data, 0, 0, nil); err != nil {
				t.Fatal(err)
			}
		}
		if op.name == "write1m-seq" {
			// Fill the span first: the measured writes then rewrite cached pages instead of
			// allocating them, the steady state of a streaming writer.
			p.blocks = seqBlocks(callers)
			for b := 0; b < p.blocks; b++ {
				if _, err := top.Writev(ctx, fd, p.data, int64(b)<<20, 0, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		p.fds[i] = fd
	}
	return p
}

func (p *prepared) close() {
	for i, fd := range p.fds {
		if p.blocks > 0 { // give the span's page cache back before the next load
			_, _ = p.tops[i%len(p.tops)].Ftruncate(context.Background(), fd, 0, nil)
		}
		fd.Unref()
	}
}

func (p *prepared) run(t testing.TB, d time.Duration) loadResult {
	ctx := context.Background()
	callers := len(p.fds)
	lat := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	cpu0 := processCPU()
	w := openWindow()
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			top, fd := p.tops[i%len(p.tops)], p.fds[i]
			l := make([]time.Duration, 0, 1024)
			defer func() { lat[i] = l }()
			for k := 0; !w.stop.Load(); k++ {
				t0 := time.Now()
				var err error
				switch p.op.name {
				case "write4k", "write1m":
					_, err = top.Writev(ctx, fd, p.data, 0, 0, nil)
				case "write1m-dsync":
					_, err = top.Writev(ctx, fd, p.data, 0, unix.O_DSYNC, nil)
				case "write1m-seq":
					_, err = top.Writev(ctx, fd, p.data, int64(k%p.blocks)<<20, 0, nil)
				case "read4k", "read1m":
					var r graph.ReadReply
					r, err = top.Readv(ctx, fd, uint32(p.op.size), 0, 0, nil)
					if err == nil && len(r.Data) != p.op.size {
						err = fmt.Errorf("short read %d", len(r.Data))
					}
					r.Done()
				case "stat":
					_, _, err = top.Fstat(ctx, fd, nil)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				l = append(l, time.Since(t0))
				w.done()
			}
		}(i)
	}
	w.closeAfter(d, callers)
	wg.Wait()
	cpu := processCPU() - cpu0
	if e := firstErr.Load(); e != nil {
		t.Fatalf("%s: %v", p.op.name, e)
	}
	r := w.result(lat, p.op.size)
	r.cpu = cpu
	return r
}

// medianOf returns the round with the median throughput, with the medians of the rounds'
// latency percentiles.
func medianOf(rs []loadResult) loadResult {
	if len(rs) == 0 {
		return loadResult{}
	}
	sorted := append([]loadResult(nil), rs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].opsPerSec() < sorted[j].opsPerSec() })
	m := sorted[len(sorted)/2]
	var p50, p99 []time.Duration
	for _, r := range rs {
		p50, p99 = append(p50, r.p50), append(p99, r.p99)
	}
	sort.Slice(p50, func(i, j int) bool { return p50[i] < p50[j] })
	sort.Slice(p99, func(i, j int) bool { return p99[i] < p99[j] })
	m.p50, m.p99 = p50[len(p50)/2], p99[len(p99)/2]
	var cpu time.Duration
	var ops int64
	for _, r := range rs {
		cpu += r.cpu
		ops += r.allOps
	}
	if ops > 0 { // CPU per op over all rounds
		m.cpu = cpu * time.Duration(m.allOps) / time.Duration(ops)
	}
	return m
}

func summarize(lat [][]time.Duration, elapsed time.Duration, size int) loadResult {
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	r := loadResult{ops: int64(len(all)), elapsed: elapsed, bytes: int64(len(all)) * int64(size)}
	if len(all) > 0 {
		r.p50 = all[len(all)/2]
		r.p99 = all[len(all)*99/100]
	}
	return r
}

// BenchmarkWire is the matrix as standard sub-benchmarks (b.N is the number of ops; the
// figures of interest are reported as metrics). WEFT_BENCH_FULL=1 runs the whole matrix;
// the default is a modest subset for 2 shared cores. TestWireBenchTable is the way to
// compare the transports (it alternates them cell by cell).
func BenchmarkWire(b *testing.B) {
	callersSet, connsSet := []int{1, 16}, []int{1, 64}
	if os.Getenv("WEFT_BENCH_FULL") == "1" {
		callersSet, connsSet = benchCallers, benchConns
	}
	for _, tr := range transports {
		for _, conns := range connsSet {
			for _, op := range benchOps {
				for _, callers := range callersSet {
					b.Run(fmt.Sprintf("%s/conns=%d/%s/callers=%d", tr, conns, op.name, callers), func(b *testing.B) {
						br := benchBrick(b, tr)
						tops, closeAll := connectClients(b, br.srv.Addr().String(), tr, conns)
						defer closeAll()
						p := prepare(b, tops, op, callers)
						defer p.close()
						b.ResetTimer()
						d := time.Duration(b.N) * time.Millisecond
						r := p.run(b, min(max(d, 200*time.Millisecond), 2*time.Second))
						b.ReportMetric(r.opsPerSec(), "ops/s")
						b.ReportMetric(r.mbPerSec(), "MB/s")
						b.ReportMetric(float64(r.p50.Microseconds()), "p50-µs")
						b.ReportMetric(float64(r.p99.Microseconds()), "p99-µs")
					})
				}
			}
		}
	}
}

var (
	benchCallers = []int{1, 16, 256}
	benchConns   = []int{1, 64, 1024}
)

// envList parses a comma-separated list of ints from the environment, or returns def.
func envList(name string, def []int) []int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return def
		}
		out = append(out, n)
	}
	return out
}

// TestWireBenchTable prints the load matrix (4 KiB and 1 MiB write and read, and stat, at 1,
// 16 and 256 callers over 1, 64 and 1024 connections) for the epoll and net.Conn transports
// with the epoll/net.Conn ratios, and 1 MiB write throughput through the wire next to direct
// posix and to a plain-TCP reference. It runs only with WEFT_BENCH_TABLE=1. Knobs:
// WEFT_BENCH_SECS (seconds per round, default 0.2), WEFT_BENCH_ROUNDS (rounds per cell and
// transport, default 3; the median round is reported), WEFT_BENCH_CALLERS and WEFT_BENCH_CONNS
// (comma lists), WEFT_BENCH_OPS (comma list of op names). CPU/op is the process's CPU time
// (client and brick together) per op, which outside load disturbs less than throughput.
//
// The two transports run the same cell back to back, in alternating order from one cell to
// the next, so that the load of other processes on the machine drifts into both alike. Both
// bricks and all their client connections stay open during a connection-count group.
func TestWireBenchTable(t *testing.T) {
	if os.Getenv("WEFT_BENCH_TABLE") != "1" {
		t.Skip("set WEFT_BENCH_TABLE=1")
	}
	callersSet := envList("WEFT_BENCH_CALLERS", benchCallers)
	connsSet := envList("WEFT_BENCH_CONNS", benchConns)
	ops := benchOps
	if s := os.Getenv("WEFT_BENCH_OPS"); s != "" {
		ops = nil
		for _, op := range benchOps {
			if strings.Contains(","+s+",", ","+op.name+",") {
				ops = append(ops, op)
			}
		}
	}
	d := 200 * time.Millisecond
	if s := os.Getenv("WEFT_BENCH_SECS"); s != "" {
		if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
			d = time.Duration(f * float64(time.Second))
		}
	}
	nRounds := 3
	if s := os.Getenv("WEFT_BENCH_ROUNDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			nRounds = n
		}
	}
	type key struct {
		conns, callers int
		op             string
	}
	res := map[string]map[key]loadResult{}
	bricks := map[string]*brick{}
	for _, tr := range transports {
		res[tr] = map[key]loadResult{}
		bricks[tr] = benchBrick(t, tr)
	}
	cell := 0
	for _, conns := range connsSet {
		tops := map[string]fopTarget{}
		var closers []func()
		for _, tr := range transports {
			tp, c := connectClients(t, bricks[tr].srv.Addr().String(), tr, conns)
			tops[tr] = tp
			closers = append(closers, c)
		}
		for _, op := range ops {
			for _, callers := range callersSet {
				preps := map[string]*prepared{}
				for _, tr := range transports {
					preps[tr] = prepare(t, tops[tr], op, callers)
				}
				rounds := map[string][]loadResult{}
				for r := 0; r < nRounds; r++ {
					order := transports
					if cell%2 == 1 {
						order = []string{transports[1], transports[0]}
					}
					cell++
					for _, tr := range order {
						rounds[tr] = append(rounds[tr], preps[tr].run(t, d))
					}
				}
				for _, tr := range transports {
					res[tr][key{conns, callers, op.name}] = medianOf(rounds[tr])
					preps[tr].close()
				}
			}
		}
		for _, c := range closers {
			c()
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d rounds of %v per cell and transport, alternating; ops/s, MB/s: the median round; p50/p99: medians over the rounds; callers spread round-robin over the connections\n", nRounds, d)
	fmt.Fprintf(&sb, "| op | conns | callers | epoll ops/s | epoll MB/s | epoll p50/p99 | epoll CPU/op | net ops/s | net MB/s | net p50/p99 | net CPU/op | epoll/net ops | net/epoll CPU |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	minRatio, maxRatio := 1e9, 0.0
	minCPU, maxCPU := 1e9, 0.0
	for _, op := range ops {
		for _, conns := range connsSet {
			for _, callers := range callersSet {
				k := key{conns, callers, op.name}
				e, n := res["epoll"][k], res["netconn"][k]
				ratio := 0.0
				if n.opsPerSec() > 0 {
					ratio = e.opsPerSec() / n.opsPerSec()
				}
				cpuRatio := 0.0
				if e.cpuPerOp() > 0 {
					cpuRatio = float64(n.cpuPerOp()) / float64(e.cpuPerOp())
				}
				minRatio, maxRatio = min(minRatio, ratio), max(maxRatio, ratio)
				minCPU, maxCPU = min(minCPU, cpuRatio), max(maxCPU, cpuRatio)
				fmt.Fprintf(&sb, "| %s | %d | %d | %.0f | %.1f | %v/%v | %v | %.0f | %.1f | %v/%v | %v | %.2f | %.2f |\n", op.name, conns, callers,
					e.opsPerSec(), e.mbPerSec(), e.p50.Round(time.Microsecond), e.p99.Round(time.Microsecond), e.cpuPerOp().Round(100*time.Nanosecond),
					n.opsPerSec(), n.mbPerSec(), n.p50.Round(time.Microsecond), n.p99.Round(time.Microsecond), n.cpuPerOp().Round(100*time.Nanosecond), ratio, cpuRatio)
			}
		}
	}
	fmt.Fprintf(&sb, "epoll/net ops/s ratio range: %.2f – %.2f; net/epoll CPU-per-op ratio range: %.2f – %.2f (above 1: epoll cheaper)\n", minRatio, maxRatio, minCPU, maxCPU)
	// 1 MiB writes: through the wire, direct posix (same graph below protocol/server, same
	// workload: each caller rewrites 1 MiB at offset 0 of its own file), and a plain-TCP
	// reference (rawTCPWrites).
	hasW1m := false
	for _, op := range ops {
		hasW1m = hasW1m || op.name == "write1m"
	}
	if hasW1m {
		direct := directPosix(t)
		fmt.Fprintf(&sb, "\n| 1 MiB writes | callers | direct posix MB/s | plain TCP+pwrite MB/s | best wire epoll MB/s (conns) | best wire net MB/s (conns) | epoll/direct | epoll/plain TCP |\n|---|---|---|---|---|---|---|---|\n")
		for _, callers := range callersSet {
			dp := prepare(t, fopTarget{direct}, benchOp{"write1m", 1 << 20}, callers)
			var drs, raws []loadResult
			for r := 0; r < nRounds; r++ {
				drs = append(drs, dp.run(t, d))
				raws = append(raws, rawTCPWrites(t, min(callers, 64), d))
			}
			dp.close()
			dr, raw := medianOf(drs), medianOf(raws)
			best := map[string]float64{}
			bestConns := map[string]int{}
			for _, tr := range transports {
				for _, conns := range connsSet {
					if w := res[tr][key{conns, callers, "write1m"}].mbPerSec(); w > best[tr] {
						best[tr], bestConns[tr] = w, conns
					}
				}
			}
			fmt.Fprintf(&sb, "| write1m | %d | %.0f | %.0f | %.0f (%d) | %.0f (%d) | %.2f | %.2f |\n", callers, dr.mbPerSec(), raw.mbPerSec(),
				best["epoll"], bestConns["epoll"], best["netconn"], bestConns["netconn"], best["epoll"]/dr.mbPerSec(), best["epoll"]/raw.mbPerSec())
		}
		// The same writes made stable (O_DSYNC: the brick writes and fdatasyncs each one, as for
		// an NFS FILE_SYNC WRITE, which is what ESXi sends): the brick's disk is in the path,
		// direct and through the wire alike. Each caller has its own connection, up to 64. The
		// in-process bricks share this process's Ps with their clients; "process" is a real
		// `weft brick` process (epoll, its default --procs), as a brick runs.
		dsync := benchOp{"write1m-dsync", 1 << 20}
		procAddr := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t))
		proc := startBrickProc(t, writeBrickVolfile(t, t.TempDir(), ""), procAddr)
		defer proc.stop()
		addrs := map[string]string{"epoll": bricks["epoll"].srv.Addr().String(), "netconn": bricks["netconn"].srv.Addr().String(), "process": procAddr}
		fmt.Fprintf(&sb, "\n| 1 MiB O_DSYNC writes | callers | direct posix MB/s | wire epoll MB/s | wire net MB/s | weft brick process MB/s | epoll/direct | net/direct | process/direct | process p50/p99 | direct p50/p99 |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, callers := range callersSet {
			m := fourWays(t, direct, addrs, dsync, callers, nRounds, 2*d, nil)
			dm := m["direct"].mbPerSec()
			fmt.Fprintf(&sb, "| write1m-dsync | %d | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %v/%v | %v/%v |\n", callers, dm, m["epoll"].mbPerSec(), m["netconn"].mbPerSec(), m["process"].mbPerSec(),
				m["epoll"].mbPerSec()/dm, m["netconn"].mbPerSec()/dm, m["process"].mbPerSec()/dm, m["process"].p50.Round(time.Microsecond), m["process"].p99.Round(time.Microsecond),
				m["direct"].p50.Round(time.Microsecond), m["direct"].p99.Round(time.Microsecond))
		}
		seqWriteRows(t, &sb, direct, addrs, callersSet, nRounds, d)
	}
	t.Log(sb.String())
}

// seqWriteRows adds the table of 1 MiB writes streamed over a span of each caller's file far
// larger than the CPU caches (write1m-seq), direct, through both in-process wires and to the
// real brick process, next to the loopback TCP ceiling: bytes streamed one way by as many
// connections as callers (at most 64) with nothing else done, no reply, no file. No protocol
// over loopback TCP can carry more, so ceiling/direct bounds what any wire could reach against
// direct posix on this machine.
func seqWriteRows(t *testing.T, sb *strings.Builder, direct graph.Xlator, addrs map[string]string, callersSet []int, nRounds int, d time.Duration) {
	seq := benchOp{"write1m-seq", 1 << 20}
	fmt.Fprintf(sb, "\n| 1 MiB writes over a large span | callers | span per caller | direct posix MB/s | wire epoll MB/s | wire net MB/s | weft brick process MB/s | loopback TCP ceiling MB/s | epoll/direct | process/direct | ceiling/direct |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	var skipped []string
	for _, callers := range callersSet {
		if seqBlocks(callers)<<20 < seqMinSpan {
			skipped = append(skipped, strconv.Itoa(callers))
			continue
		}
		var ceil []float64
		rs := fourWays(t, direct, addrs, seq, callers, nRounds, d, func() { ceil = append(ceil, tcpCeiling(t, min(callers, 64), d)) })
		m := map[string]float64{}
		for k, r := range rs {
			m[k] = r.mbPerSec()
		}
		sort.Float64s(ceil)
		c := ceil[len(ceil)/2]
		fmt.Fprintf(sb, "| write1m-seq | %d | %d MiB | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f |\n", callers, seqBlocks(callers), m["direct"], m["epoll"], m["netconn"], m["process"], c,
			m["epoll"]/m["direct"], m["process"]/m["direct"], c/m["direct"])
	}
	if len(skipped) > 0 {
		fmt.Fprintf(sb, "(write1m-seq not run at %s callers: their spans would be under %d MiB each, and a caller that issues many writes in a row on a small span keeps it in the CPU caches)\n", strings.Join(skipped, ", "), seqMinSpan>>20)
	}
}

// seqMinSpan is the smallest span per caller for which write1m-seq is run.
const seqMinSpan = 32 << 20

// fourWays runs op at callers callers against direct posix ("direct"), both in-process wires
// ("epoll", "netconn") and the brick process ("process", over epoll), each wire with one
// connection per caller up to 64: nRounds rounds of d, rotating which goes first, calling
// between (if not nil) after each round. It returns the median round of each.
func fourWays(t *testing.T, direct graph.Xlator, addrs map[string]string, op benchOp, callers, nRounds int, d time.Duration, between func()) map[string]loadResult {
	order := []string{"direct", "epoll", "netconn", "process"}
	preps := map[string]*prepared{"direct": prepare(t, fopTarget{direct}, op, callers)}
	var closers []func()
	for _, k := range order[1:] {
		tr := k
		if k == "process" {
			tr = "epoll"
		}
		tp, c := connectClients(t, addrs[k], tr, min(callers, 64))
		preps[k], closers = prepare(t, tp, op, callers), append(closers, c)
	}
	rounds := map[string][]loadResult{}
	for r := 0; r < nRounds; r++ {
		for i := range order { // rotate: each goes first in turn
			k := order[(i+r)%len(order)]
			rounds[k] = append(rounds[k], preps[k].run(t, d))
		}
		if between != nil {
			between()
		}
	}
	m := map[string]loadResult{}
	for k, p := range preps {
		m[k] = medianOf(rounds[k])
		p.close()
	}
	for _, c := range closers {
		c()
	}
	return m
}

// tcpCeiling streams 1 MiB writes one way over conns loopback connections for d, the reader
// discarding them, and returns MB/s: the most loopback TCP carries on this machine.
func tcpCeiling(t testing.TB, conns int, d time.Duration) float64 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var got atomic.Int64
	var srvWG sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			srvWG.Add(1)
			go func() {
				defer srvWG.Done()
				defer c.Close()
				buf := make([]byte, 1<<20)
				for {
					n, err := c.Read(buf)
					got.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	cs := make([]net.Conn, conns)
	for i := range cs {
		if cs[i], err = net.Dial("tcp", l.Addr().String()); err != nil {
			t.Fatal(err)
		}
	}
	data := make([]byte, 1<<20)
	for _, c := range cs { // warm up TCP buffer autotuning
		for i := 0; i < 32; i++ {
			if _, err := c.Write(data); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(20 * time.Millisecond)
	var stop atomic.Bool
	var wg sync.WaitGroup
	start, base := time.Now(), got.Load()
	for _, c := range cs {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			for !stop.Load() {
				if _, err := c.Write(data); err != nil {
					return
				}
			}
		}(c)
	}
	time.Sleep(d)
	stop.Store(true)
	n, elapsed := got.Load()-base, time.Since(start)
	wg.Wait()
	for _, c := range cs {
		c.Close()
	}
	l.Close()
	srvWG.Wait()
	return float64(n) / elapsed.Seconds() / 1e6
}

func directPosix(t testing.TB) graph.Xlator {
	dir := t.TempDir()
	px, err := graph.Construct("storage/posix", dir, map[string]string{"directory": dir, "health-check-interval": "0"}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	lk, err := graph.Construct("features/locks", "direct-locks", nil, zap.NewNop(), px)
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.NewGraph(lk)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Activate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Fini)
	return lk
}

// rawTCPWrites is the plain-TCP reference for 1 MiB writes: conns loopback connections (one per
// caller), each caller writing 1 MiB and waiting for an 8-byte answer, the server reading the
// whole MiB into a buffer with net.Conn, pwrite-ing it at offset 0 of its own file and
// answering. No RPC, no XDR, no graph: what a minimal TCP write protocol gets on this machine.
func rawTCPWrites(t testing.TB, conns int, d time.Duration) loadResult {
	const size = 1 << 20
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	var srvWG sync.WaitGroup
	go func() {
		for i := 0; ; i++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			srvWG.Add(1)
			go func(c net.Conn, i int) {
				defer srvWG.Done()
				defer c.Close()
				f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
				if err != nil {
					return
				}
				defer f.Close()
				buf := make([]byte, size)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					if _, err := f.WriteAt(buf, 0); err != nil {
						return
					}
					if _, err := c.Write(buf[:8]); err != nil {
						return
					}
				}
			}(c, i)
		}
	}()
	data := make([]byte, size)
	cs := make([]net.Conn, conns)
	for i := range cs {
		if cs[i], err = net.Dial("tcp", l.Addr().String()); err != nil {
			t.Fatal(err)
		}
	}
	// Warm up: TCP buffer autotuning starts small on a new connection, and the wire's
	// connections are long-lived.
	var ack [8]byte
	for i := 0; i < 32; i++ {
		for _, c := range cs {
			if _, err := c.Write(data); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, ack[:]); err != nil {
				t.Fatal(err)
			}
		}
	}
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	w := openWindow()
	for i := range cs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var ack [8]byte
			for !w.stop.Load() {
				t0 := time.Now()
				if _, err := cs[i].Write(data); err != nil {
					return
				}
				if _, err := io.ReadFull(cs[i], ack[:]); err != nil {
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
				w.done()
			}
		}(i)
	}
	w.closeAfter(d, conns)
	wg.Wait()
	for _, c := range cs {
		c.Close()
	}
	l.Close()
	srvWG.Wait()
	return w.result(lat, size)
}
