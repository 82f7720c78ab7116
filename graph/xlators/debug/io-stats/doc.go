// Package iostats is the debug/io-stats translator: per-fop counts, errors, bytes read and
// written, and a latency histogram, read with Snapshot or exported to Prometheus through the
// translator's prometheus.Collector implementation (the caller registers it). The counterpart of
// GlusterFS's xlators/debug/io-stats (what `gluster volume profile` reads).
//
// Options: latency-measurement (bool, default on) records latencies; count-fop-hits (bool,
// default on) counts fops, errors and bytes. Both change live on reconfigure.
//
// The latency histogram has fixed log2 buckets: the first holds latencies up to 1µs, bucket i
// those up to 2^i µs, and the last everything above 2^(NumBuckets-2) µs.
package iostats
