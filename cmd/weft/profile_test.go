package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weftfs/weft/graph"
	iostats "github.com/weftfs/weft/graph/xlators/debug/io-stats"
	"github.com/weftfs/weft/membership/api"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestProfileStatsAndPrint: per-fop figures from io-stats snapshots (interval = difference,
// min/max from the histogram buckets, latency shares) print as gluster's profile info does.
func TestProfileStatsAndPrint(t *testing.T) {
	var prev, cur iostats.Stats
	cur.WrittenBytes, cur.ReadBytes = 8192, 4096
	w := &cur.Fops[graph.FopWritev]
	w.Count, w.Samples, w.Latency = 4, 4, 400*time.Microsecond
	w.Buckets[6], w.Buckets[7] = 2, 2 // (32,64] and (64,128] µs
	r := &cur.Fops[graph.FopReadv]
	r.Count, r.Samples, r.Latency = 1, 1, 100*time.Microsecond
	r.Buckets[7] = 1
	prev.WrittenBytes = 4096
	pw := &prev.Fops[graph.FopWritev]
	pw.Count, pw.Samples, pw.Latency = 2, 2, 100*time.Microsecond
	pw.Buckets[6] = 2

	cum := profileStats(cur, iostats.Stats{}, 90*time.Second)
	iv := profileStats(cur, prev, 10*time.Second)
	if len(iv.Fops) != 2 || iv.Fops[1].Fop != "Writev" || iv.Fops[1].Calls != 2 || iv.Fops[1].MinLatencyUs != 64 || iv.Fops[1].MaxLatencyUs != 128 || iv.WrittenBytes != 4096 {
		t.Fatalf("interval: %+v", iv)
	}
	if cum.Fops[1].MinLatencyUs != 32 || cum.Fops[1].AvgLatencyUs != 100 || cum.Fops[1].PctLatency != 80 {
		t.Fatalf("cumulative: %+v", cum)
	}
	var out bytes.Buffer
	printProfile(&out, &api.ProfileReply{Volume: "v", Bricks: []api.BrickProfile{
		{Brick: "10.0.0.1:/b1", Interval: 3, Cumulative: cum, IntervalStats: iv},
		{Brick: "10.0.0.2:/b2", Error: "peer not reachable"},
	}})
	golden := filepath.Join("testdata", "profile-info.txt")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("profile info output differs from %s:\n%s", golden, out.String())
	}
}
