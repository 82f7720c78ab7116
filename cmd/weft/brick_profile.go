package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/weftfs/weft/graph"
	iostats "github.com/weftfs/weft/graph/xlators/debug/io-stats"
	"github.com/weftfs/weft/membership/api"
)

// profiler keeps what `volume profile info` needs from a brick process: its io-stats figures
// since the start (cumulative) and since the previous info (interval), as GlusterFS's io-stats
// keeps cumulative and interval counters on the brick.
type profiler struct {
	graph   func() *graph.Graph
	started time.Time

	mu       sync.Mutex
	last     iostats.Stats
	lastTime time.Time
	interval int
}

func newProfiler(g func() *graph.Graph, now time.Time) *profiler {
	return &profiler{graph: g, started: now, lastTime: now}
}

// findIOStats returns the io-stats translator of g nearest the top.
func findIOStats(g *graph.Graph) *iostats.IOStats {
	if g == nil {
		return nil
	}
	for i := len(g.Xlators) - 1; i >= 0; i-- {
		if s, ok := g.Xlators[i].(*iostats.IOStats); ok {
			return s
		}
	}
	return nil
}

// profile returns the cumulative figures and those since the previous call, which starts a new
// interval.
func (p *profiler) profile(now time.Time) (api.BrickProfile, error) {
	s := findIOStats(p.graph())
	if s == nil {
		return api.BrickProfile{}, errors.New("the brick graph has no debug/io-stats translator")
	}
	cur := s.Snapshot()
	o := s.Options()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.interval++
	out := api.BrickProfile{Pid: os.Getpid(), Interval: p.interval, LatencyOn: o.Bool("latency-measurement"), CountOn: o.Bool("count-fop-hits"),
		Cumulative:    profileStats(cur, iostats.Stats{}, now.Sub(p.started)),
		IntervalStats: profileStats(cur, p.last, now.Sub(p.lastTime))}
	p.last, p.lastTime = cur, now
	return out, nil
}

// profileStats returns the figures of cur minus prev (zero prev: cur).
func profileStats(cur, prev iostats.Stats, d time.Duration) api.ProfileStats {
	out := api.ProfileStats{DurationSec: d.Seconds(), ReadBytes: cur.ReadBytes - prev.ReadBytes,
		WrittenBytes: cur.WrittenBytes - prev.WrittenBytes, Fops: []api.FopProfile{}}
	var total time.Duration
	for f := graph.Fop(0); f < graph.NumFops; f++ {
		c, p := cur.Fops[f], prev.Fops[f]
		fp := api.FopProfile{Fop: f.String(), Calls: c.Count - p.Count, Errors: c.Errors - p.Errors, Samples: c.Samples - p.Samples}
		if fp.Calls == 0 && fp.Samples == 0 {
			continue
		}
		lat := c.Latency - p.Latency
		total += lat
		if fp.Samples > 0 {
			fp.AvgLatencyUs = float64(lat) / float64(fp.Samples) / float64(time.Microsecond)
			lo, hi := -1, -1
			for i := 0; i < iostats.NumBuckets; i++ {
				if c.Buckets[i]-p.Buckets[i] > 0 {
					if lo < 0 {
						lo = i
					}
					hi = i
				}
			}
			if lo > 0 {
				fp.MinLatencyUs = float64(iostats.BucketBound(lo-1)) / float64(time.Microsecond)
			}
			fp.MaxLatencyUs = float64(iostats.BucketBound(hi)) / float64(time.Microsecond)
			if iostats.BucketBound(hi) < 0 {
				fp.MaxLatencyUs = -1
			}
		}
		out.Fops = append(out.Fops, fp)
		out.Fops[len(out.Fops)-1].PctLatency = float64(lat) // the share is computed below
	}
	for i := range out.Fops {
		if total > 0 {
			out.Fops[i].PctLatency = out.Fops[i].PctLatency / float64(total) * 100
		} else {
			out.Fops[i].PctLatency = 0
		}
	}
	return out
}

// serveControl serves the brick's control socket (for the local daemon only: the socket is
// created mode 0600): GET /profile returns the profile and starts a new interval.
func serveControl(ctx context.Context, path string, p *profiler) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("--control-socket: %w", err)
	}
	_ = os.Remove(path)
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("--control-socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /profile", func(w http.ResponseWriter, _ *http.Request) {
		bp, err := p.profile(time.Now())
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			_ = json.NewEncoder(w).Encode(api.Error{Error: err.Error()})
			return
		}
		_ = json.NewEncoder(w).Encode(bp)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = os.Remove(path)
	}, nil
}
