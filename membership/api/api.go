// Package api is the node daemon's management API: JSON over HTTP, on a unix socket for the
// local CLI (root only, checked with SO_PEERCRED) and on TCP between peers (every request
// carries an HMAC-SHA256 of its method, path, time and body under the cluster secret). It holds
// the request and reply types, the signing and checking of peer requests, and the client the
// CLI and peers use. GlusterFS counterpart: the glusterd CLI RPC program (cli-rpc-ops.c) and the
// peer management RPCs (glusterd-handshake.c, glusterd-rpc-ops.c).
package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/weftfs/weft/membership/store"
)

// Error is the body of every non-200 reply.
type Error struct {
	Error string `json:"error"`
}

// ProbeRequest asks a daemon to add HOST[:PORT] to its cluster.
type ProbeRequest struct {
	Host string `json:"host"`
}

// DetachRequest asks to remove a peer (by address, name or id).
type DetachRequest struct {
	Host  string `json:"host"`
	Force bool   `json:"force,omitempty"`
}

// PeerStatus is one peer as `weft peer status` shows it.
type PeerStatus struct {
	store.Peer
	State  string `json:"state"` // "Connected", "Disconnected"
	Self   bool   `json:"self,omitempty"`
	Leader bool   `json:"leader,omitempty"`
}

// CreateRequest is `weft volume create`.
type CreateRequest struct {
	Name    string   `json:"name"`
	Replica int      `json:"replica,omitempty"`
	Arbiter int      `json:"arbiter,omitempty"`
	Bricks  []string `json:"bricks"` // HOST:/path
	Force   bool     `json:"force,omitempty"`
	// Options are set on the volume as it is created, validated as `volume set` validates
	// them (`weft volume import` carries a GlusterFS volume's options this way).
	Options map[string]string `json:"options,omitempty"`
	// VolumeID, when set, is the volume id the bricks must carry (an imported GlusterFS
	// volume's): the create is refused if they carry another, or none.
	VolumeID string `json:"volume_id,omitempty"`
	// BrickIDs, when set, name the bricks' clients (VOL-client-N, one per brick, in order):
	// an imported GlusterFS volume's brick-ids, which its replicas' changelogs use.
	BrickIDs []string `json:"brick_ids,omitempty"`
}

// VolumeRequest names a volume, for start, stop, delete, statedump.
type VolumeRequest struct {
	Name  string `json:"name"`
	Force bool   `json:"force,omitempty"`
}

// SetRequest is `weft volume set`.
type SetRequest struct {
	Name    string            `json:"name"`
	Options map[string]string `json:"options"`
}

// ResetRequest is `weft volume reset` (no keys: every option).
type ResetRequest struct {
	Name string   `json:"name"`
	Keys []string `json:"keys,omitempty"`
}

// BrickRequest is add-brick, remove-brick, replace-brick.
type BrickRequest struct {
	Name    string   `json:"name"`
	Action  string   `json:"action,omitempty"` // remove-brick: start, status, stop, commit
	Replica int      `json:"replica,omitempty"`
	Bricks  []string `json:"bricks,omitempty"`
	Old     string   `json:"old,omitempty"`
	New     string   `json:"new,omitempty"`
	Force   bool     `json:"force,omitempty"`
}

// Message is a reply carrying one line for the user.
type Message struct {
	Message string        `json:"message"`
	Volume  *store.Volume `json:"volume,omitempty"`
}

// VolumeInfo is one volume as `weft volume info` shows it.
type VolumeInfo struct {
	store.Volume
	Type   string `json:"type"`
	Layout string `json:"layout"`
}

// ProcessStatus is one supervised process on a node.
type ProcessStatus struct {
	Kind     string   `json:"kind"`              // "brick" or "gateway"
	Volume   string   `json:"volume"`            // a gateway: the first volume it serves
	Volumes  []string `json:"volumes,omitempty"` // a gateway: every volume it serves
	Host     string   `json:"host"`
	Path     string   `json:"path,omitempty"`
	Port     int      `json:"port,omitempty"`
	Pid      int      `json:"pid,omitempty"`
	Online   bool     `json:"online"`
	Restarts int      `json:"restarts"`
	LastErr  string   `json:"last_error,omitempty"`
	// Generations: a gateway's report of the generation each volume it serves runs (see the
	// gateway's applied.json); nil until the running process has reported.
	Generations map[string]string `json:"generations,omitempty"`
}

// Serves reports whether the process works for volume: a brick or self-heal daemon of it, or a
// gateway that serves it among others.
func (p ProcessStatus) Serves(volume string) bool {
	return p.Volume == volume || slices.Contains(p.Volumes, volume)
}

// LocalStatus is what one node reports about its processes.
type LocalStatus struct {
	PeerID    string          `json:"peer_id"`
	Processes []ProcessStatus `json:"processes"`
}

// VolumeStatus is `weft volume status`.
type VolumeStatus struct {
	Name     string          `json:"name"`
	Status   string          `json:"status"`
	Bricks   []ProcessStatus `json:"bricks"`
	Gateways []ProcessStatus `json:"gateways"`
	SelfHeal []ProcessStatus `json:"self_heal,omitempty"`
	// HealBacklog is the number of files the bricks' indices list as needing heal (nil:
	// unknown: not a replicated volume, not started, or the bricks could not be asked).
	HealBacklog *int `json:"heal_backlog"`
	// Task is the latest rebalance or remove-brick migration of the volume, if any.
	Task *TaskStatus `json:"task,omitempty"`
}

// Task states.
const (
	TaskRunning   = "running"
	TaskCompleted = "completed"
	TaskFailed    = "failed"
	TaskStopped   = "stopped"
)

// TaskRequest is `weft volume rebalance NAME start|status|stop` (and the internal task query).
type TaskRequest struct {
	Name   string `json:"name"`
	Action string `json:"action"`
}

// TaskStatus is the progress of a rebalance or remove-brick data migration, kept by the daemon
// that runs it (the one the start request reached) in memory and in its state directory, so
// that it survives a restart of that daemon (which then resumes an interrupted task).
type TaskStatus struct {
	Volume   string   `json:"volume"`
	Kind     string   `json:"kind"` // "rebalance" or "remove-brick"
	Node     string   `json:"node"` // address of the daemon running it
	State    string   `json:"state"`
	Bricks   []string `json:"bricks,omitempty"` // remove-brick: the bricks being emptied
	Dirs     int      `json:"dirs"`
	Scanned  int      `json:"scanned"`
	Migrated int      `json:"migrated"`
	Skipped  int      `json:"skipped"`
	Failed   int      `json:"failed"`
	Bytes    uint64   `json:"bytes"`
	// Leftovers counts the temporary names of interrupted renames the crawl removed; Committed
	// the directories whose layout got the rebalance's new commit hash (lookups there need not
	// search every brick); CommitHash the volume commit hash settled at the end (0: none).
	Leftovers  int    `json:"rename_leftovers,omitempty"`
	Committed  int    `json:"dirs_committed,omitempty"`
	CommitHash uint32 `json:"commit_hash,omitempty"`
	Current    string `json:"current,omitempty"`
	LastErr    string `json:"last_error,omitempty"`
	Error      string `json:"error,omitempty"` // what stopped the task
	// Resumed counts the times the task was started again after its daemon restarted.
	Resumed int       `json:"resumed,omitempty"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
}

// TaskReply answers task requests.
type TaskReply struct {
	Message string      `json:"message"`
	Task    *TaskStatus `json:"task,omitempty"`
}

// HealRequest is `weft volume heal NAME info|full`.
type HealRequest struct {
	Name   string `json:"name"`
	Action string `json:"action"`
}

// HealEntry is one file needing heal on one brick.
type HealEntry struct {
	GFID   string `json:"gfid"`
	Path   string `json:"path,omitempty"`
	Status string `json:"status,omitempty"` // "", "split-brain", "possibly healing"
}

// HealBrick is one brick's heal info.
type HealBrick struct {
	Brick   string      `json:"brick"` // the protocol/client name (VOL-client-N) and HOST:/path
	Up      bool        `json:"up"`
	Error   string      `json:"error,omitempty"`
	Entries []HealEntry `json:"entries"`
}

// HealReply answers heal requests.
type HealReply struct {
	Message string      `json:"message"`
	Bricks  []HealBrick `json:"bricks,omitempty"` // info
	Pending int         `json:"pending"`          // distinct files needing heal
	// full:
	Scanned    int      `json:"scanned,omitempty"`
	Healed     int      `json:"healed,omitempty"`
	SplitBrain []string `json:"split_brain,omitempty"`
	Failed     []string `json:"failed,omitempty"`
}

// Hello is what a daemon tells a prober about itself (unauthenticated).
type Hello struct {
	Peer      store.Peer `json:"peer"`
	ClusterID string     `json:"cluster_id"`
	Peers     int        `json:"peers"`
	Volumes   int        `json:"volumes"`
}

// JoinRequest invites a fresh daemon into a cluster.
type JoinRequest struct {
	ClusterID   string   `json:"cluster_id"`
	Secret      string   `json:"secret"`
	GossipPeers []string `json:"gossip_peers"`
}

// CheckBricksRequest asks a peer to validate its local brick directories before a commit.
type CheckBricksRequest struct {
	VolumeID string   `json:"volume_id"`
	Paths    []string `json:"paths"`
	Force    bool     `json:"force,omitempty"`
}

// CheckBricksReply is a peer's answer to CheckBricksRequest: the volume id each checked brick
// directory already carries (path → uuid; bricks without one are absent), which `force` lets
// through.
type CheckBricksReply struct {
	Message   string            `json:"message"`
	VolumeIDs map[string]string `json:"volume_ids,omitempty"`
}

// ApplyRequest forwards a cluster store command to the leader.
type ApplyRequest struct {
	Command store.Command `json:"command"`
}

// AddPeerRequest asks the leader to add a joined peer as a raft voter and to the store.
type AddPeerRequest struct {
	Peer store.Peer `json:"peer"`
}

// Auth headers of peer requests.
const (
	HeaderDate = "X-Weft-Date"
	HeaderMAC  = "X-Weft-Mac"
	// MaxSkew bounds the clock difference accepted between peers.
	MaxSkew = 5 * time.Minute
)

func mac(secret []byte, method, path, date string, body []byte) string {
	h := hmac.New(sha256.New, secret)
	sum := sha256.Sum256(body)
	fmt.Fprintf(h, "%s\n%s\n%s\n%x", method, path, date, sum)
	return hex.EncodeToString(h.Sum(nil))
}

// Sign adds the auth headers to a peer request with body.
func Sign(r *http.Request, secret, body []byte, now time.Time) {
	date := strconv.FormatInt(now.Unix(), 10)
	r.Header.Set(HeaderDate, date)
	r.Header.Set(HeaderMAC, mac(secret, r.Method, r.URL.Path, date, body))
}

// ErrUnauthenticated is returned by Verify.
var ErrUnauthenticated = errors.New("peer request not authenticated with the cluster secret")

// Verify checks a peer request's auth headers against its body.
func Verify(r *http.Request, secret, body []byte, now time.Time) error {
	if len(secret) == 0 {
		return ErrUnauthenticated
	}
	date := r.Header.Get(HeaderDate)
	ts, err := strconv.ParseInt(date, 10, 64)
	if err != nil {
		return ErrUnauthenticated
	}
	if d := now.Sub(time.Unix(ts, 0)); d > MaxSkew || d < -MaxSkew {
		return fmt.Errorf("%w: clock skew %v", ErrUnauthenticated, d.Round(time.Second))
	}
	got, err := hex.DecodeString(r.Header.Get(HeaderMAC))
	want, _ := hex.DecodeString(mac(secret, r.Method, r.URL.Path, date, body))
	if err != nil || !hmac.Equal(got, want) {
		return ErrUnauthenticated
	}
	return nil
}

// Client calls a daemon's API.
type Client struct {
	base   string
	name   string // what the user knows the daemon by (socket path or address)
	hc     *http.Client
	secret []byte // peer requests are signed when set
}

// UnixClient returns a client of the daemon listening on the unix socket path.
func UnixClient(path string, timeout time.Duration) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{base: "http://weft", name: path, hc: &http.Client{Transport: tr, Timeout: timeout}}
}

// PeerClient returns a client of the daemon at addr (HOST:PORT) signing with secret (nil: not
// signed, for the unauthenticated hello and join).
func PeerClient(addr string, secret []byte, timeout time.Duration) *Client {
	return &Client{base: "http://" + addr, name: addr, hc: &http.Client{Timeout: timeout}, secret: secret}
}

// Do sends a request with a JSON body (nil: none) and decodes the JSON reply into out (nil:
// discarded). A non-200 reply is an error with the daemon's message.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.secret != nil {
		Sign(req, c.secret, body, time.Now())
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ne *net.OpError
		if errors.As(err, &ne) && ne.Op == "dial" {
			return fmt.Errorf("cannot reach the weft daemon (%s): %w", c.name, ne.Err)
		}
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e Error
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("daemon replied %s", resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("daemon reply: %w", err)
		}
	}
	return nil
}
