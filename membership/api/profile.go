package api

// ProfileRequest is `weft volume profile NAME start|stop|info`.
type ProfileRequest struct {
	Name   string `json:"name"`
	Action string `json:"action"`
}

// FopProfile is one fop's figures on one brick (GlusterFS's profile info row). Latencies are in
// microseconds. io-stats keeps a power-of-two histogram, not exact extremes: MinLatencyUs is
// the lower bound of the lowest bucket a call fell in, MaxLatencyUs the upper bound of the
// highest (-1: above the last bound).
type FopProfile struct {
	Fop          string  `json:"fop"`
	Calls        uint64  `json:"calls"`
	Errors       uint64  `json:"errors"`
	Samples      uint64  `json:"samples"` // calls whose latency was measured
	AvgLatencyUs float64 `json:"avg_latency_us"`
	MinLatencyUs float64 `json:"min_latency_us"`
	MaxLatencyUs float64 `json:"max_latency_us"`
	PctLatency   float64 `json:"pct_latency"` // share of the brick's total measured latency
}

// ProfileStats are a brick's figures over a period (cumulative: since the brick process
// started; interval: since the previous profile info).
type ProfileStats struct {
	DurationSec  float64      `json:"duration_sec"`
	ReadBytes    uint64       `json:"read_bytes"`
	WrittenBytes uint64       `json:"written_bytes"`
	Fops         []FopProfile `json:"fops"`
}

// BrickProfile is what a brick process reports on its control socket, and one brick of a
// profile info reply.
type BrickProfile struct {
	Brick         string       `json:"brick"` // HOST:/path (set by the daemon)
	Pid           int          `json:"pid,omitempty"`
	Interval      int          `json:"interval_number"`
	Cumulative    ProfileStats `json:"cumulative"`
	IntervalStats ProfileStats `json:"interval"`
	LatencyOn     bool         `json:"latency_measurement"`
	CountOn       bool         `json:"count_fop_hits"`
	Error         string       `json:"error,omitempty"` // the brick could not be asked
}

// ProfileReply answers profile requests.
type ProfileReply struct {
	Message string         `json:"message"`
	Volume  string         `json:"volume,omitempty"`
	Bricks  []BrickProfile `json:"bricks,omitempty"` // info
}
