package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"sort"
	"sync"

	"github.com/hashicorp/raft"
)

// Command ops.
const (
	OpInit              = "init"
	OpPeerAdd           = "peer-add"
	OpPeerUpdate        = "peer-update"
	OpPeerRemove        = "peer-remove"
	OpVolumeCreate      = "volume-create"
	OpVolumeStart       = "volume-start"
	OpVolumeStop        = "volume-stop"
	OpVolumeDelete      = "volume-delete"
	OpVolumeSet         = "volume-set"
	OpVolumeReset       = "volume-reset"
	OpAddBrick          = "add-brick"
	OpRemoveBrickStart  = "remove-brick-start"
	OpRemoveBrickCommit = "remove-brick-commit"
	OpRemoveBrickStop   = "remove-brick-stop"
	// OpRemoveBrickLayout records that the layouts were rewritten without the removed bricks
	// (the gateways rebuild the volume's graph to forget the layouts they cached).
	OpRemoveBrickLayout = "remove-brick-layout"
	OpReplaceBrick      = "replace-brick"
)

// Command is one entry of the cluster log.
type Command struct {
	Op        string            `json:"op"`
	ClusterID string            `json:"cluster_id,omitempty"`
	Secret    string            `json:"secret,omitempty"`
	PortBase  int               `json:"port_base,omitempty"`
	PortRange int               `json:"port_range,omitempty"`
	Peer      *Peer             `json:"peer,omitempty"`
	PeerID    string            `json:"peer_id,omitempty"`
	Volume    *Volume           `json:"volume,omitempty"` // create: the definition (ports are assigned here)
	Name      string            `json:"name,omitempty"`   // the volume operated on
	Options   map[string]string `json:"options,omitempty"`
	Keys      []string          `json:"keys,omitempty"` // reset: keys (empty: all)
	Bricks    []Brick           `json:"bricks,omitempty"`
	Replica   int               `json:"replica,omitempty"`
	Old       *Brick            `json:"old,omitempty"`
	New       *Brick            `json:"new,omitempty"`
	// ExpectVersion, when non-zero, makes the command fail unless the volume's Version is
	// still this (the operation was validated against that version).
	ExpectVersion uint64 `json:"expect_version,omitempty"`
	// ReqID identifies one request: a command logged twice under the same id (a retry after a
	// leader change that had in fact committed the first attempt) gets the first outcome.
	ReqID string `json:"req_id,omitempty"`
}

// Result is what applying a command returns through raft.ApplyFuture.Response.
type Result struct {
	Err    string  `json:"err,omitempty"`
	Volume *Volume `json:"volume,omitempty"`
	// Index is the raft log index of the command (set by Apply), so a node that forwarded it
	// can wait to see its own write.
	Index uint64 `json:"index,omitempty"`
}

// Error returns the rejection as an error, or nil.
func (r *Result) Error() error {
	if r == nil || r.Err == "" {
		return nil
	}
	return errors.New(r.Err)
}

// FSM is the raft state machine over State.
type FSM struct {
	mu      sync.RWMutex
	state   *State
	index   uint64
	watches []chan struct{}
}

// NewFSM returns an FSM with an empty state.
func NewFSM() *FSM { return &FSM{state: emptyState()} }

func emptyState() *State {
	return &State{Peers: map[string]*Peer{}, Volumes: map[string]*Volume{}}
}

// State returns a deep copy of the current state and the index of the last applied entry.
func (f *FSM) State() (*State, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.Clone(), f.index
}

// Watch returns a channel that receives (without blocking the FSM; coalesced) after every
// applied change.
func (f *FSM) Watch() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{}, 1)
	f.watches = append(f.watches, ch)
	return ch
}

func (f *FSM) notify() {
	for _, ch := range f.watches {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) any {
	var c Command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return &Result{Err: fmt.Sprintf("malformed command: %v", err)}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index = l.Index
	if c.ReqID != "" {
		for _, r := range f.state.Requests {
			if r.ID == c.ReqID {
				res := &Result{Err: r.Err}
				name := c.Name
				if name == "" && c.Volume != nil {
					name = c.Volume.Name
				}
				if v := f.state.Volumes[name]; v != nil {
					res.Volume = v.Clone()
				}
				return res
			}
		}
	}
	next := f.state.Clone()
	vol, err := ApplyCommand(next, &c)
	if err != nil {
		f.state.remember(c.ReqID, err.Error())
		return &Result{Err: err.Error()}
	}
	next.remember(c.ReqID, "")
	f.state = next
	f.notify()
	if vol != nil {
		vol = vol.Clone()
	}
	return &Result{Volume: vol}
}

// maxRequests bounds the request ids remembered for deduplication.
const maxRequests = 512

func (s *State) remember(id, err string) {
	if id == "" {
		return
	}
	s.Requests = append(s.Requests, RequestRecord{ID: id, Err: err})
	if len(s.Requests) > maxRequests {
		s.Requests = append([]RequestRecord(nil), s.Requests[len(s.Requests)-maxRequests:]...)
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidVolumeName reports whether name can name a volume (GlusterFS: letters, digits, '-',
// '_', '.'; at most 64 bytes; not starting with a punctuation character).
func ValidVolumeName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid volume name %q: use letters, digits, '-', '_' and '.', at most 64, starting with a letter or digit", name)
	}
	return nil
}

// ApplyCommand validates c against s and applies it to s in place. On error s may be partly
// modified; FSM.Apply works on a copy. It returns the volume concerned, if any.
func ApplyCommand(s *State, c *Command) (*Volume, error) {
	if c.Op != OpInit && s.ClusterID == "" {
		return nil, errors.New("cluster store not initialised")
	}
	vol := func() (*Volume, error) {
		v, ok := s.Volumes[c.Name]
		if !ok {
			return nil, fmt.Errorf("volume %s does not exist", c.Name)
		}
		if c.ExpectVersion != 0 && v.Version != c.ExpectVersion {
			return nil, fmt.Errorf("volume %s was changed by another operation meanwhile; retry", c.Name)
		}
		return v, nil
	}
	switch c.Op {
	case OpInit:
		if s.ClusterID != "" {
			return nil, errors.New("cluster store already initialised")
		}
		if c.ClusterID == "" || len(c.Secret) < 32 {
			return nil, errors.New("init: cluster id and a secret of at least 16 bytes are required")
		}
		s.ClusterID, s.Secret, s.PortBase, s.PortRange = c.ClusterID, c.Secret, c.PortBase, c.PortRange
		if c.Peer != nil {
			p := *c.Peer
			s.Peers[p.ID] = &p
		}
		return nil, nil
	case OpPeerAdd, OpPeerUpdate:
		if c.Peer == nil || c.Peer.ID == "" || c.Peer.Address == "" {
			return nil, errors.New("peer: id and address are required")
		}
		if c.Op == OpPeerAdd {
			for _, p := range s.Peers {
				if p.ID != c.Peer.ID && p.Address == c.Peer.Address && p.MgmtPort == c.Peer.MgmtPort {
					return nil, fmt.Errorf("peer %s: address already used by peer %s", c.Peer.Address, p.ID)
				}
			}
		} else if _, ok := s.Peers[c.Peer.ID]; !ok {
			return nil, fmt.Errorf("peer %s is not in the cluster", c.Peer.ID)
		}
		p := *c.Peer
		s.Peers[p.ID] = &p
		return nil, nil
	case OpPeerRemove:
		p, ok := s.Peers[c.PeerID]
		if !ok {
			return nil, fmt.Errorf("peer %s is not in the cluster", c.PeerID)
		}
		for _, name := range s.VolumeNames() {
			for _, b := range s.Volumes[name].Bricks {
				if b.PeerID == p.ID {
					return nil, fmt.Errorf("peer %s holds brick %s of volume %s", p.Address, b, name)
				}
			}
		}
		delete(s.Peers, c.PeerID)
		return nil, nil
	case OpVolumeCreate:
		return createVolume(s, c)
	case OpVolumeStart:
		v, err := vol()
		if err != nil {
			return nil, err
		}
		if v.Status == StatusStarted {
			return nil, fmt.Errorf("volume %s already started", v.Name)
		}
		v.Status = StatusStarted
		v.Version++
		return v, nil
	case OpVolumeStop:
		v, err := vol()
		if err != nil {
			return nil, err
		}
		if v.Status != StatusStarted {
			return nil, fmt.Errorf("volume %s is not in the started state", v.Name)
		}
		v.Status = StatusStopped
		v.Version++
		return v, nil
	case OpVolumeDelete:
		v, err := vol()
		if err != nil {
			return nil, err
		}
		if v.Status == StatusStarted {
			return nil, fmt.Errorf("volume %s has been started; stop it before deleting", v.Name)
		}
		delete(s.Volumes, v.Name)
		return v, nil
	case OpVolumeSet:
		v, err := vol()
		if err != nil {
			return nil, err
		}
		if len(c.Options) == 0 {
			return nil, errors.New("volume set: no option given")
		}
		if v.Options == nil {
			v.Options = map[string]string{}
		}
		for k, o := range c.Options {
			v.Options[k] = o
		}
		v.Version++
		return v, nil
	case OpVolumeReset:
		v, err := vol()
		if err != nil {
			return nil, err
		}
		if len(c.Keys) == 0 {
			v.Options = map[string]string{}
		}
		for _, k := range c.Keys {
			if _, ok := v.Options[k]; !ok {
				return nil, fmt.Errorf("volume reset: option %s is not set on volume %s", k, v.Name)
			}
			delete(v.Options, k)
		}
		v.Version++
		return v, nil
	case OpAddBrick:
		v, err := vol()
		if err != nil {
			return nil, err
		}
		return v, addBricks(s, v, c)
	case OpRemoveBrickStart, OpRemoveBrickCommit, OpRemoveBrickStop, OpRemoveBrickLayout:
		v, err := vol()
		if err != nil {
			return nil, err
		}
		return v, removeBrick(v, c)
	case OpReplaceBrick:
		v, err := vol()
		if err != nil {
			return nil, err
		}
		return v, replaceBrick(s, v, c)
	}
	return nil, fmt.Errorf("unknown command %q", c.Op)
}

// checkNewBricks checks bricks about to join a volume: their peers exist, their paths are
// absolute, not used or nested with a brick of any volume or with each other.
func checkNewBricks(s *State, bricks []Brick) error {
	for i, b := range bricks {
		if _, ok := s.Peers[b.PeerID]; !ok {
			return fmt.Errorf("brick %s: host is not a peer of this cluster", b)
		}
		if !filepath.IsAbs(b.Path) || filepath.Clean(b.Path) != b.Path || b.Path == "/" {
			return fmt.Errorf("brick %s: the path must be absolute, clean and not /", b)
		}
		if v, ob := s.BrickOwner(b.PeerID, b.Path); v != nil {
			if ob.Path == b.Path {
				return fmt.Errorf("brick %s is already part of volume %s", b, v.Name)
			}
			return fmt.Errorf("brick %s is nested with brick %s of volume %s", b, ob, v.Name)
		}
		for _, o := range bricks[:i] {
			if o.PeerID == b.PeerID && Nested(o.Path, b.Path) {
				if o.Path == b.Path {
					return fmt.Errorf("brick %s is given twice", b)
				}
				return fmt.Errorf("bricks %s and %s are nested", o, b)
			}
		}
	}
	return nil
}

func assignPorts(s *State, bricks []Brick) error {
	taken := map[string]map[int]bool{}
	for i := range bricks {
		b := &bricks[i]
		if taken[b.PeerID] == nil {
			taken[b.PeerID] = map[int]bool{}
		}
		p, err := s.allocPort(b.PeerID, taken[b.PeerID])
		if err != nil {
			return err
		}
		taken[b.PeerID][p] = true
		b.Port = p
	}
	return nil
}

func createVolume(s *State, c *Command) (*Volume, error) {
	if c.Volume == nil {
		return nil, errors.New("volume create: no volume")
	}
	v := c.Volume.Clone()
	if err := ValidVolumeName(v.Name); err != nil {
		return nil, err
	}
	if _, dup := s.Volumes[v.Name]; dup {
		return nil, fmt.Errorf("volume %s already exists", v.Name)
	}
	if v.ID == "" {
		return nil, errors.New("volume create: no volume id")
	}
	if err := checkLayout(len(v.Bricks), v.Replica, v.Arbiter); err != nil {
		return nil, err
	}
	if err := checkNewBricks(s, v.Bricks); err != nil {
		return nil, err
	}
	if err := checkBrickIDs(v); err != nil {
		return nil, err
	}
	if err := assignPorts(s, v.Bricks); err != nil {
		return nil, err
	}
	v.ensureBrickIDs()
	v.Status = StatusCreated
	v.Version = 1
	v.RemoveBrick = nil
	if v.Options == nil {
		v.Options = map[string]string{}
	}
	s.Volumes[v.Name] = v
	return v, nil
}

// checkLayout checks a brick count against a replica and arbiter count.
func checkLayout(n, replica, arbiter int) error {
	if n == 0 {
		return errors.New("no bricks given")
	}
	if replica < 1 {
		return fmt.Errorf("replica count %d: must be at least 1", replica)
	}
	if arbiter != 0 && (arbiter != 1 || replica != 3) {
		return errors.New("arbiter count must be 1, with replica 3")
	}
	if n%replica != 0 {
		return fmt.Errorf("number of bricks (%d) is not a multiple of replica count %d", n, replica)
	}
	return nil
}

func addBricks(s *State, v *Volume, c *Command) error {
	if v.RemoveBrick != nil {
		return fmt.Errorf("volume %s: a remove-brick is in progress; commit or stop it first", v.Name)
	}
	replica := v.Replica
	if c.Replica != 0 && c.Replica != v.Replica {
		return fmt.Errorf("changing the replica count (%d → %d) is not supported", v.Replica, c.Replica)
	}
	if err := checkLayout(len(c.Bricks), replica, 0); err != nil {
		return fmt.Errorf("add-brick: %w", err)
	}
	nb := append([]Brick(nil), c.Bricks...)
	if err := checkNewBricks(s, nb); err != nil {
		return err
	}
	if err := assignPorts(s, nb); err != nil {
		return err
	}
	v.ensureBrickIDs()
	next := v.nextBrickNum()
	for i := range nb {
		nb[i].ID = BrickID(v.Name, next+i)
	}
	v.Bricks = append(v.Bricks, nb...)
	v.Version++
	return nil
}

func removeBrick(v *Volume, c *Command) error {
	// The bricks that stay keep their names (and so their replicas' changelogs about them).
	v.ensureBrickIDs()
	switch c.Op {
	case OpRemoveBrickStart:
		if v.RemoveBrick != nil {
			return fmt.Errorf("volume %s: a remove-brick is already in progress", v.Name)
		}
		if len(c.Bricks) == 0 || len(c.Bricks)%max(v.Replica, 1) != 0 {
			return fmt.Errorf("remove-brick: give whole replica sets (multiples of %d bricks)", max(v.Replica, 1))
		}
		// Every brick of each touched replica set must be listed.
		want := map[string]bool{}
		for _, b := range c.Bricks {
			want[b.String()] = true
		}
		r := max(v.Replica, 1)
		removedSets := 0
		for set := 0; set < v.Subvols(); set++ {
			n := 0
			for _, b := range v.Bricks[set*r : set*r+r] {
				if want[b.String()] {
					n++
					delete(want, b.String())
				}
			}
			if n != 0 && n != r {
				return fmt.Errorf("remove-brick: replica set %d is only partly listed; remove whole sets", set)
			}
			if n == r {
				removedSets++
			}
		}
		for b := range want {
			return fmt.Errorf("remove-brick: %s is not a brick of volume %s", b, v.Name)
		}
		if removedSets == v.Subvols() {
			return errors.New("remove-brick: cannot remove every brick; delete the volume instead")
		}
		names := make([]string, len(c.Bricks))
		for i, b := range c.Bricks {
			names[i] = b.String()
		}
		sort.Strings(names)
		v.RemoveBrick = &RemoveBrick{Bricks: names, Status: "in progress"}
	case OpRemoveBrickLayout:
		if v.RemoveBrick == nil {
			return fmt.Errorf("volume %s: no remove-brick in progress", v.Name)
		}
		v.RemoveBrick.LayoutEpoch++
	case OpRemoveBrickStop:
		if v.RemoveBrick == nil {
			return fmt.Errorf("volume %s: no remove-brick in progress", v.Name)
		}
		v.RemoveBrick = nil
	case OpRemoveBrickCommit:
		if v.RemoveBrick == nil {
			return fmt.Errorf("volume %s: no remove-brick started; run remove-brick start first", v.Name)
		}
		gone := map[string]bool{}
		for _, b := range v.RemoveBrick.Bricks {
			gone[b] = true
		}
		var keep []Brick
		for _, b := range v.Bricks {
			if !gone[b.String()] {
				keep = append(keep, b)
			}
		}
		v.Bricks = keep
		v.RemoveBrick = nil
	}
	v.Version++
	return nil
}

func replaceBrick(s *State, v *Volume, c *Command) error {
	if c.Old == nil || c.New == nil {
		return errors.New("replace-brick: old and new brick are required")
	}
	idx := -1
	for i, b := range v.Bricks {
		if b.PeerID == c.Old.PeerID && b.Path == c.Old.Path {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("replace-brick: %s is not a brick of volume %s", c.Old, v.Name)
	}
	nb := []Brick{*c.New}
	if err := checkNewBricks(s, nb); err != nil {
		return err
	}
	if err := assignPorts(s, nb); err != nil {
		return err
	}
	// The new brick takes the old one's name: its replicas' changelogs blame it for what the
	// old brick missed, which is what makes the heal fill it.
	v.ensureBrickIDs()
	nb[0].ID = v.Bricks[idx].ID
	v.Bricks[idx] = nb[0]
	v.Version++
	return nil
}

// Snapshot implements raft.FSM.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, err := json.Marshal(f.state)
	if err != nil {
		return nil, err
	}
	return snapshot(b), nil
}

// Restore implements raft.FSM.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st := emptyState()
	if err := json.NewDecoder(rc).Decode(st); err != nil {
		return fmt.Errorf("cluster store: restore snapshot: %w", err)
	}
	if st.Peers == nil {
		st.Peers = map[string]*Peer{}
	}
	if st.Volumes == nil {
		st.Volumes = map[string]*Volume{}
	}
	f.mu.Lock()
	f.state = st
	f.notify()
	f.mu.Unlock()
	return nil
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s snapshot) Release() {}

// Reset empties the state (a node leaving its one-member cluster to join another). Watchers
// are kept and notified.
func (f *FSM) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = emptyState()
	f.index = 0
	f.notify()
}
