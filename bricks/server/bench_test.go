package server_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/xlators/protocol/client"
)

// Load benchmarks: protocol/client → in-process brick (protocol/server → locks → posix on a
// temporary directory) over loopback. Each configuration runs for a fixed time; callers are
// spread round-robin over the connections (one protocol/client per connection).

type benchOp struct {
	name string
	size int // bytes moved per op (0 for stat)
}

var benchOps = []benchOp{{"write4k", 4 << 10}, {"write1m", 1 << 20}, {"read4k", 4 << 10}, {"read1m", 1 << 20}, {"stat", 0}}

type loadResult struct {
	ops      int64
	elapsed  time.Duration
	p50, p99 time.Duration
	bytes    int64
}

func (r loadResult) opsPerSec() float64 { return float64(r.ops) / r.elapsed.Seconds() }
func (r loadResult) mbPerSec() float64  { return float64(r.bytes) / r.elapsed.Seconds() / 1e6 }

// fopTarget is what the load runs against: a set of tops (one per connection).
type fopTarget []graph.Fops

func connectClients(t testing.TB, addr, transport string, n int) fopTarget {
	host, port := splitAddr(t, addr)
	out := make(fopTarget, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		x, err := graph.Construct(client.Type, fmt.Sprintf("bench-client-%d", i), map[string]string{
			"remote-host": host, "remote-port": port, "remote-subvolume": "brick-locks", "transport": transport,
			"network.ping-timeout": "30s"}, zap.NewNop())
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
		out[i] = x
		wg.Add(1)
		go func(c *client.Client) {
			defer wg.Done()
			if _, _, err := c.Stat(context.Background(), graph.RootLoc(), nil); err != nil {
				errs <- err
			}
		}(x.(*client.Client))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

// runLoad runs op with callers goroutines over the targets for d.
func runLoad(t testing.TB, tops fopTarget, op benchOp, callers int, d time.Duration) loadResult {
	ctx := context.Background()
	data := make([]byte, max(op.size, 1))
	for i := range data {
		data[i] = byte(i)
	}
	// One file per caller, pre-filled for reads.
	fds := make([]*graph.FD, callers)
	for i := range fds {
		top := tops[i%len(tops)]
		fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
		gfid := graph.NewGFID()
		name := fmt.Sprintf("bench-%s-%d-%d", op.name, i, time.Now().UnixNano())
		if _, err := top.Create(ctx, graph.RootLoc().Child(name), unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, graph.Xdata{"gfid-req": gfid[:]}); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(op.name, "read") {
			if _, err := top.Writev(ctx, fd, data, 0, 0, nil); err != nil {
				t.Fatal(err)
			}
		}
		fds[i] = fd
	}
	defer func() {
		for _, fd := range fds {
			fd.Unref()
		}
	}()
	var stop atomic.Bool
	var total atomic.Int64
	lat := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			top, fd := tops[i%len(tops)], fds[i]
			for !stop.Load() {
				t0 := time.Now()
				var err error
				switch op.name {
				case "write4k", "write1m":
					_, err = top.Writev(ctx, fd, data, 0, 0, nil)
				case "read4k", "read1m":
					var r graph.ReadReply
					r, err = top.Readv(ctx, fd, uint32(op.size), 0, 0, nil)
					if err == nil && len(r.Data) != op.size {
						err = fmt.Errorf("short read %d", len(r.Data))
					}
				case "stat":
					_, _, err = top.Fstat(ctx, fd, nil)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
				total.Add(1)
			}
		}(i)
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	if e := firstErr.Load(); e != nil {
		t.Fatalf("%s: %v", op.name, e)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	r := loadResult{ops: total.Load(), elapsed: elapsed, bytes: total.Load() * int64(op.size)}
	if len(all) > 0 {
		r.p50 = all[len(all)/2]
		r.p99 = all[len(all)*99/100]
	}
	return r
}

// BenchmarkWire is the matrix as standard sub-benchmarks (b.N is the number of ops; the
// figures of interest are reported as metrics). WEFT_BENCH_FULL=1 runs the whole matrix;
// the default is a modest subset for 2 shared cores.
func BenchmarkWire(b *testing.B) {
	callersSet, connsSet := []int{1, 16}, []int{1, 64}
	if os.Getenv("WEFT_BENCH_FULL") == "1" {
		callersSet, connsSet = []int{1, 16, 256}, []int{1, 64, 1024}
	}
	for _, tr := range transports {
		for _, conns := range connsSet {
			for _, op := range benchOps {
				for _, callers := range callersSet {
					b.Run(fmt.Sprintf("%s/conns=%d/%s/callers=%d", tr, conns, op.name, callers), func(b *testing.B) {
						br := startBrick(b, tr, nil)
						tops := connectClients(b, br.srv.Addr().String(), tr, conns)
						b.ResetTimer()
						d := time.Duration(b.N) * time.Millisecond
						r := runLoad(b, tops, op, callers, min(max(d, 200*time.Millisecond), 2*time.Second))
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

// TestWireBenchTable prints the load matrix with epoll/netconn ratios and the 1 MiB write
// throughput through the wire as a fraction of direct posix. It runs only with
// WEFT_BENCH_TABLE=1 (WEFT_BENCH_FULL=1 for the whole matrix; WEFT_BENCH_SECS per cell).
func TestWireBenchTable(t *testing.T) {
	if os.Getenv("WEFT_BENCH_TABLE") != "1" {
		t.Skip("set WEFT_BENCH_TABLE=1")
	}
	callersSet, connsSet := []int{1, 16}, []int{1, 64}
	if os.Getenv("WEFT_BENCH_FULL") == "1" {
		callersSet, connsSet = []int{1, 16, 256}, []int{1, 64, 1024}
	}
	d := 500 * time.Millisecond
	if s := os.Getenv("WEFT_BENCH_SECS"); s != "" {
		if f, err := time.ParseDuration(s + "s"); err == nil {
			d = f
		}
	}
	type key struct {
		conns, callers int
		op             string
	}
	res := map[string]map[key]loadResult{}
	for _, tr := range transports {
		res[tr] = map[key]loadResult{}
		br := startBrick(t, tr, nil)
		for _, conns := range connsSet {
			tops := connectClients(t, br.srv.Addr().String(), tr, conns)
			for _, op := range benchOps {
				for _, callers := range callersSet {
					res[tr][key{conns, callers, op.name}] = runLoad(t, tops, op, callers, d)
				}
			}
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n| conns | op | callers | epoll ops/s | epoll MB/s | epoll p50/p99 | netconn ops/s | netconn MB/s | netconn p50/p99 | epoll/netconn |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, conns := range connsSet {
		for _, op := range benchOps {
			for _, callers := range callersSet {
				k := key{conns, callers, op.name}
				e, n := res["epoll"][k], res["netconn"][k]
				fmt.Fprintf(&sb, "| %d | %s | %d | %.0f | %.1f | %v/%v | %.0f | %.1f | %v/%v | %.2f |\n", conns, op.name, callers,
					e.opsPerSec(), e.mbPerSec(), e.p50.Round(time.Microsecond), e.p99.Round(time.Microsecond),
					n.opsPerSec(), n.mbPerSec(), n.p50.Round(time.Microsecond), n.p99.Round(time.Microsecond), e.opsPerSec()/n.opsPerSec())
			}
		}
	}
	// 1 MiB writes: direct posix vs through the wire.
	direct := directPosix(t)
	for _, callers := range callersSet {
		dr := runLoad(t, fopTarget{direct}, benchOp{"write1m", 1 << 20}, callers, d)
		for _, tr := range transports {
			w := res[tr][key{1, callers, "write1m"}]
			fmt.Fprintf(&sb, "\n1 MiB writes, %d caller(s), 1 conn, %s: wire %.1f MB/s, direct posix %.1f MB/s, ratio %.2f", callers, tr, w.mbPerSec(), dr.mbPerSec(), w.mbPerSec()/dr.mbPerSec())
		}
	}
	t.Log(sb.String())
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
