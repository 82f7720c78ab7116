package store

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Volume states, as GlusterFS names them.
const (
	StatusCreated = "Created"
	StatusStarted = "Started"
	StatusStopped = "Stopped"
)

// Volume types, as `gluster volume info` prints them.
const (
	TypeDistribute            = "Distribute"
	TypeReplicate             = "Replicate"
	TypeDistributedReplicate  = "Distributed-Replicate"
	DefaultBrickPortBase      = 49152
	DefaultBrickPortRangeSize = 512
)

// State is the cluster configuration every peer agrees on.
type State struct {
	ClusterID string             `json:"cluster_id"`
	Secret    string             `json:"secret"` // hex; proves peers to each other and to bricks
	Peers     map[string]*Peer   `json:"peers"`  // by node id
	Volumes   map[string]*Volume `json:"volumes"`
	// PortBase and PortRange bound the brick ports handed out (per host).
	PortBase  int `json:"port_base"`
	PortRange int `json:"port_range"`
	// Requests are the latest applied request ids and their outcome (deduplication).
	Requests []RequestRecord `json:"requests,omitempty"`
}

// RequestRecord is the outcome of one applied request.
type RequestRecord struct {
	ID  string `json:"id"`
	Err string `json:"err,omitempty"`
}

// Peer is one node of the cluster.
type Peer struct {
	ID         string `json:"id"`
	Name       string `json:"name"`    // host name (brick specs may use it)
	Address    string `json:"address"` // the address the daemon binds (brick specs may use it)
	MgmtPort   int    `json:"mgmt_port"`
	RaftPort   int    `json:"raft_port"`
	GossipPort int    `json:"gossip_port"`
	Version    string `json:"version"`
}

// MgmtAddr returns the peer's management API address.
func (p *Peer) MgmtAddr() string { return joinHostPort(p.Address, p.MgmtPort) }

// RaftAddr returns the peer's raft transport address.
func (p *Peer) RaftAddr() string { return joinHostPort(p.Address, p.RaftPort) }

// GossipAddr returns the peer's memberlist address.
func (p *Peer) GossipAddr() string { return joinHostPort(p.Address, p.GossipPort) }

func joinHostPort(h string, p int) string {
	if strings.Contains(h, ":") {
		return fmt.Sprintf("[%s]:%d", h, p)
	}
	return fmt.Sprintf("%s:%d", h, p)
}

// Volume is one volume's definition.
type Volume struct {
	Name    string            `json:"name"`
	ID      string            `json:"id"`
	Status  string            `json:"status"`
	Replica int               `json:"replica"` // 1: no replication
	Arbiter int               `json:"arbiter"` // 0 or 1: the last brick of each set holds metadata only
	Bricks  []Brick           `json:"bricks"`
	Options map[string]string `json:"options,omitempty"`
	// Version counts the changes to this volume; volfiles are regenerated when it moves.
	Version uint64 `json:"version"`
	// RemoveBrick is a remove-brick in progress (started, not yet committed).
	RemoveBrick *RemoveBrick `json:"remove_brick,omitempty"`
}

// Brick is one brick of a volume.
type Brick struct {
	PeerID string `json:"peer_id"`
	Host   string `json:"host"` // as given on the command line
	Path   string `json:"path"`
	Port   int    `json:"port"`
	// ID is the brick's name in its volume's client graph, VOL-client-N (GlusterFS's
	// brick-id). It stays the brick's for as long as the brick is in the volume, whatever is
	// added or removed around it: the changelog xattrs its replicas keep about it
	// (trusted.afr.VOL-client-N, what a heal reads) are named by it, so a name that moved
	// with the brick's position would make them blame another brick, or nobody. Volumes stored
	// before IDs existed have none; their bricks are named by position until a command
	// changes the brick list, which first records those names (ensureBrickIDs).
	ID string `json:"id,omitempty"`
}

// String returns HOST:/path.
func (b Brick) String() string { return b.Host + ":" + b.Path }

// BrickID returns the ID of the n-th brick a volume named vol was given: VOL-client-N.
func BrickID(vol string, n int) string { return fmt.Sprintf("%s-client-%d", vol, n) }

// ParseBrickID returns N of an ID VOL-client-N of volume vol (N without leading zeros).
func ParseBrickID(vol, id string) (int, bool) {
	rest, ok := strings.CutPrefix(id, vol+"-client-")
	if !ok || rest == "" || len(rest) > 6 || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range rest {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// BrickIDs returns the IDs of v's bricks in order: their own, or for a volume stored before
// IDs existed, their positions' (what volfiles named them by).
func (v *Volume) BrickIDs() []string {
	out := make([]string, len(v.Bricks))
	for i, b := range v.Bricks {
		out[i] = b.ID
		if out[i] == "" {
			out[i] = BrickID(v.Name, i)
		}
	}
	return out
}

// ensureBrickIDs gives the bricks of a volume stored before IDs existed the names their
// positions gave them, before a command moves bricks around.
func (v *Volume) ensureBrickIDs() {
	for i, id := range v.BrickIDs() {
		v.Bricks[i].ID = id
	}
}

// nextBrickNum is the N of the next brick added to v: one above the highest in use
// (glusterd_get_next_available_brickid), so that no ID is ever reused while changelogs
// naming an earlier brick could remain.
func (v *Volume) nextBrickNum() int {
	next := 0
	for _, id := range v.BrickIDs() {
		if n, ok := ParseBrickID(v.Name, id); ok && n >= next {
			next = n + 1
		}
	}
	return next
}

// checkBrickIDs checks IDs given with a new volume's bricks (an imported GlusterFS volume's
// brick-ids): all or none, each VOL-client-N, no two alike.
func checkBrickIDs(v *Volume) error {
	given := 0
	seen := map[string]bool{}
	for _, b := range v.Bricks {
		if b.ID == "" {
			continue
		}
		given++
		if _, ok := ParseBrickID(v.Name, b.ID); !ok {
			return fmt.Errorf("brick %s: id %q is not %s-client-N", b, b.ID, v.Name)
		}
		if seen[b.ID] {
			return fmt.Errorf("brick id %s is given twice", b.ID)
		}
		seen[b.ID] = true
	}
	if given != 0 && given != len(v.Bricks) {
		return fmt.Errorf("brick ids given for %d of %d bricks: give all or none", given, len(v.Bricks))
	}
	return nil
}

// RemoveBrick records a remove-brick operation between start and commit.
type RemoveBrick struct {
	Bricks []string `json:"bricks"` // HOST:/path
	Status string   `json:"status"` // "in progress", "completed"
	// LayoutEpoch counts the layout rewrites of the migration (OpRemoveBrickLayout).
	LayoutEpoch int `json:"layout_epoch,omitempty"`
}

// Type returns the volume type name.
func (v *Volume) Type() string {
	switch {
	case v.Replica <= 1:
		return TypeDistribute
	case len(v.Bricks) == v.Replica:
		return TypeReplicate
	default:
		return TypeDistributedReplicate
	}
}

// Subvols returns the number of distribute subvolumes (replica sets, or bricks).
func (v *Volume) Subvols() int {
	r := v.Replica
	if r < 1 {
		r = 1
	}
	return len(v.Bricks) / r
}

// Layout returns "N x M = T" as `gluster volume info` prints it.
func (v *Volume) Layout() string {
	if v.Replica <= 1 {
		return fmt.Sprintf("%d", len(v.Bricks))
	}
	if v.Arbiter > 0 {
		return fmt.Sprintf("%d x (%d + %d) = %d", v.Subvols(), v.Replica-v.Arbiter, v.Arbiter, len(v.Bricks))
	}
	return fmt.Sprintf("%d x %d = %d", v.Subvols(), v.Replica, len(v.Bricks))
}

// Clone returns a deep copy.
func (s *State) Clone() *State {
	c := &State{ClusterID: s.ClusterID, Secret: s.Secret, PortBase: s.PortBase, PortRange: s.PortRange,
		Peers: map[string]*Peer{}, Volumes: map[string]*Volume{}, Requests: append([]RequestRecord(nil), s.Requests...)}
	for k, p := range s.Peers {
		pp := *p
		c.Peers[k] = &pp
	}
	for k, v := range s.Volumes {
		c.Volumes[k] = v.Clone()
	}
	return c
}

// Clone returns a deep copy.
func (v *Volume) Clone() *Volume {
	c := *v
	c.Bricks = append([]Brick(nil), v.Bricks...)
	c.Options = map[string]string{}
	for k, o := range v.Options {
		c.Options[k] = o
	}
	if v.RemoveBrick != nil {
		rb := *v.RemoveBrick
		rb.Bricks = append([]string(nil), v.RemoveBrick.Bricks...)
		c.RemoveBrick = &rb
	}
	return &c
}

// VolumeNames returns the volume names, sorted.
func (s *State) VolumeNames() []string {
	n := make([]string, 0, len(s.Volumes))
	for k := range s.Volumes {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// PeerList returns the peers sorted by address then id.
func (s *State) PeerList() []*Peer {
	ps := make([]*Peer, 0, len(s.Peers))
	for _, p := range s.Peers {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Address != ps[j].Address {
			return ps[i].Address < ps[j].Address
		}
		return ps[i].ID < ps[j].ID
	})
	return ps
}

// PeerByHost returns the peer a brick host names: by address, then by name.
func (s *State) PeerByHost(host string) *Peer {
	for _, p := range s.PeerList() {
		if p.Address == host {
			return p
		}
	}
	for _, p := range s.PeerList() {
		if p.Name == host {
			return p
		}
	}
	return nil
}

// BrickOwner returns the volume using the brick directory path on peer id, or a volume whose
// brick is nested with it (one inside the other), and that brick.
func (s *State) BrickOwner(peerID, path string) (*Volume, *Brick) {
	for _, name := range s.VolumeNames() {
		v := s.Volumes[name]
		for i := range v.Bricks {
			b := &v.Bricks[i]
			if b.PeerID == peerID && Nested(b.Path, path) {
				return v, b
			}
		}
	}
	return nil, nil
}

// Nested reports whether a and b are the same directory or one is inside the other.
func Nested(a, b string) bool {
	a, b = filepath.Clean(a), filepath.Clean(b)
	if a == b {
		return true
	}
	return strings.HasPrefix(a, strings.TrimSuffix(b, "/")+"/") || strings.HasPrefix(b, strings.TrimSuffix(a, "/")+"/")
}

// allocPort returns the lowest free brick port on peer id.
func (s *State) allocPort(peerID string, taken map[int]bool) (int, error) {
	used := map[int]bool{}
	for k := range taken {
		used[k] = true
	}
	for _, v := range s.Volumes {
		for _, b := range v.Bricks {
			if b.PeerID == peerID {
				used[b.Port] = true
			}
		}
	}
	base, n := s.PortBase, s.PortRange
	if base == 0 {
		base, n = DefaultBrickPortBase, DefaultBrickPortRangeSize
	}
	for p := base; p < base+n; p++ {
		if !used[p] {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free brick port in %d-%d on peer %s", base, base+n-1, peerID)
}
