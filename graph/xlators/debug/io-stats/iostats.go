package iostats

import (
	"context"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/xlators/debug/internal/fopwrap"
)

func init() {
	graph.Register(graph.Registration{
		Type:        "debug/io-stats",
		New:         New,
		Description: "per-fop counts, errors, bytes and latency histograms (Prometheus collector)",
		MinChildren: 1,
		MaxChildren: 1,
		Options: []graph.OptionSpec{
			{Key: "latency-measurement", Type: graph.OptBool, Default: "on", Description: "measure fop latencies"},
			{Key: "count-fop-hits", Type: graph.OptBool, Default: "on", Description: "count fops, errors and bytes"},
		},
	})
}

// NumBuckets is the number of latency buckets: ≤1µs, ≤2µs, ≤4µs, … ≤2^33µs (≈2.4h), +Inf.
const NumBuckets = 36

// BucketBound returns the upper bound of latency bucket i (the last is unbounded: -1).
func BucketBound(i int) time.Duration {
	if i >= NumBuckets-1 {
		return -1
	}
	return time.Microsecond << uint(i)
}

// bucketOf returns the bucket of a latency.
func bucketOf(d time.Duration) int {
	us := uint64(d / time.Microsecond)
	if d%time.Microsecond != 0 {
		us++ // round up: 1.5µs is above the 1µs bound
	}
	if us <= 1 {
		return 0
	}
	i := bits.Len64(us - 1) // smallest i with 2^i >= us
	if i > NumBuckets-1 {
		i = NumBuckets - 1
	}
	return i
}

type fopCounters struct {
	count, errors atomic.Uint64
	latencyNs     atomic.Uint64 // sum of measured latencies
	samples       atomic.Uint64 // latencies measured
	buckets       [NumBuckets]atomic.Uint64
}

// IOStats is the translator.
type IOStats struct {
	fopwrap.Wrapper
	latency, count atomic.Bool
	fops           [graph.NumFops]fopCounters
	read, written  atomic.Uint64
}

// New returns an unconfigured IOStats (the registry's constructor).
func New() graph.Xlator {
	s := &IOStats{}
	s.Hooks = s
	return s
}

func (s *IOStats) apply(opts *graph.Options) {
	s.latency.Store(opts.Bool("latency-measurement"))
	s.count.Store(opts.Bool("count-fop-hits"))
}

// Init implements graph.Xlator.
func (s *IOStats) Init(ctx context.Context) error {
	s.apply(s.Options())
	return nil
}

// Reconfigure implements graph.Xlator: both options change live.
func (s *IOStats) Reconfigure(opts *graph.Options) error {
	s.apply(opts)
	return s.Wrapper.Reconfigure(opts)
}

// Before implements fopwrap.Hooks.
func (s *IOStats) Before(ctx context.Context, c *fopwrap.Call) error { return nil }

// After implements fopwrap.Hooks: it counts the fop.
func (s *IOStats) After(ctx context.Context, c *fopwrap.Call, n int64, err error) {
	fc := &s.fops[c.Fop]
	if s.latency.Load() {
		d := time.Since(c.Start)
		fc.latencyNs.Add(uint64(d))
		fc.samples.Add(1)
		fc.buckets[bucketOf(d)].Add(1)
	}
	if !s.count.Load() {
		return
	}
	fc.count.Add(1)
	if err != nil {
		fc.errors.Add(1)
		return
	}
	switch c.Fop {
	case graph.FopReadv:
		s.read.Add(uint64(n))
	case graph.FopWritev:
		s.written.Add(uint64(n))
	}
}

// FopStats are the figures of one fop.
type FopStats struct {
	Count   uint64 // calls (count-fop-hits)
	Errors  uint64 // calls that returned an error
	Samples uint64 // latencies measured (latency-measurement)
	Latency time.Duration
	Buckets [NumBuckets]uint64 // per-bucket counts (not cumulative)
}

// Mean returns the mean measured latency.
func (f FopStats) Mean() time.Duration {
	if f.Samples == 0 {
		return 0
	}
	return f.Latency / time.Duration(f.Samples)
}

// Stats is a snapshot of an IOStats translator.
type Stats struct {
	Volume       string
	Fops         [graph.NumFops]FopStats
	ReadBytes    uint64
	WrittenBytes uint64
}

// Snapshot returns the current figures. Counters are read one by one, so a snapshot taken while
// fops run is not an atomic cut, but every figure is monotonic.
func (s *IOStats) Snapshot() Stats {
	st := Stats{Volume: s.Name(), ReadBytes: s.read.Load(), WrittenBytes: s.written.Load()}
	for f := range s.fops {
		fc := &s.fops[f]
		fs := &st.Fops[f]
		fs.Count = fc.count.Load()
		fs.Errors = fc.errors.Load()
		fs.Samples = fc.samples.Load()
		fs.Latency = time.Duration(fc.latencyNs.Load())
		for i := range fc.buckets {
			fs.Buckets[i] = fc.buckets[i].Load()
		}
	}
	return st
}

var (
	descCount   = prometheus.NewDesc("weft_fop_total", "Fops passed through io-stats.", []string{"volume", "fop"}, nil)
	descErrors  = prometheus.NewDesc("weft_fop_errors_total", "Fops that returned an error.", []string{"volume", "fop"}, nil)
	descBytes   = prometheus.NewDesc("weft_fop_bytes_total", "Bytes read (Readv) or written (Writev) by successful fops.", []string{"volume", "fop"}, nil)
	descLatency = prometheus.NewDesc("weft_fop_latency_seconds", "Fop latency as seen by io-stats.", []string{"volume", "fop"}, nil)
)

// Describe implements prometheus.Collector.
func (s *IOStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCount
	ch <- descErrors
	ch <- descBytes
	ch <- descLatency
}

// Collect implements prometheus.Collector: one series per fop that has been seen.
func (s *IOStats) Collect(ch chan<- prometheus.Metric) {
	st := s.Snapshot()
	vol := st.Volume
	for f := graph.Fop(0); f < graph.NumFops; f++ {
		fs := st.Fops[f]
		name := f.String()
		if fs.Count > 0 {
			ch <- prometheus.MustNewConstMetric(descCount, prometheus.CounterValue, float64(fs.Count), vol, name)
			ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(fs.Errors), vol, name)
		}
		if fs.Samples > 0 {
			buckets := make(map[float64]uint64, NumBuckets-1)
			var cum uint64
			for i := 0; i < NumBuckets-1; i++ {
				cum += fs.Buckets[i]
				buckets[BucketBound(i).Seconds()] = cum
			}
			ch <- prometheus.MustNewConstHistogram(descLatency, fs.Samples, fs.Latency.Seconds(), buckets, vol, name)
		}
	}
	if st.Fops[graph.FopReadv].Count > 0 {
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(st.ReadBytes), vol, graph.FopReadv.String())
	}
	if st.Fops[graph.FopWritev].Count > 0 {
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(st.WrittenBytes), vol, graph.FopWritev.String())
	}
}

var _ prometheus.Collector = (*IOStats)(nil)
