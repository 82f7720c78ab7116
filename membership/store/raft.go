package store

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// RaftConfig returns the raft configuration of node id with its timeouts scaled: 1 gives
// raft's defaults (1 s heartbeat and election timeouts), tests use 0.1 or less. Logs go to out
// (nil: discarded).
func RaftConfig(id string, scale float64, out io.Writer) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(id)
	if scale > 0 && scale != 1 {
		sc := func(d time.Duration) time.Duration { return time.Duration(float64(d) * scale) }
		c.HeartbeatTimeout = sc(c.HeartbeatTimeout)
		c.ElectionTimeout = sc(c.ElectionTimeout)
		c.LeaderLeaseTimeout = sc(c.LeaderLeaseTimeout)
		c.CommitTimeout = sc(c.CommitTimeout)
	}
	// The cluster store is small: snapshot often, keep a short tail.
	c.SnapshotThreshold = 512
	c.TrailingLogs = 256
	if out == nil {
		out = io.Discard
	}
	c.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Output: out, Level: hclog.Info})
	return c
}

// TestRaftConfig returns a raft configuration with short timeouts for tests.
func TestRaftConfig(id string) *raft.Config { return RaftConfig(id, 0.05, nil) }

// Apply submits c to raft (which must be the leader) and waits for it to be applied. A
// command the state machine rejected is returned as an error with the reason.
func Apply(r *raft.Raft, c *Command, timeout time.Duration) (*Result, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	f := r.Apply(b, timeout)
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("cluster store: %w", err)
	}
	res, _ := f.Response().(*Result)
	if res == nil {
		return nil, fmt.Errorf("cluster store: no result for %s", c.Op)
	}
	cp := *res // the FSM may hand the same result to a deduplicated retry
	res = &cp
	res.Index = f.Index()
	if err := res.Error(); err != nil {
		return res, err
	}
	return res, nil
}
