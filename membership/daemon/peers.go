package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"

	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/store"
)

func (d *Daemon) hHello(_ context.Context, _ *http.Request, _ []byte) (any, error) {
	st, _ := d.fsm.State()
	return api.Hello{Peer: d.self(), ClusterID: st.ClusterID, Peers: len(st.Peers), Volumes: len(st.Volumes)}, nil
}

func (d *Daemon) hPeers(_ context.Context, _ *http.Request, _ []byte) (any, error) {
	st, _ := d.fsm.State()
	alive := d.alive()
	var leader string
	if r := d.raft(); r != nil {
		_, id := r.LeaderWithID()
		leader = string(id)
	}
	out := []api.PeerStatus{}
	for _, p := range st.PeerList() {
		ps := api.PeerStatus{Peer: *p, State: "Disconnected", Self: p.ID == d.local.NodeID, Leader: p.ID == leader}
		if alive[p.ID] {
			ps.State = "Connected"
		}
		out = append(out, ps)
	}
	return out, nil
}

// splitHostPort parses HOST or HOST:PORT (default port def).
func splitHostPort(s string, def int) (string, int, error) {
	if s == "" {
		return "", 0, errors.New("no host given")
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, fmt.Errorf("%s: bad port", s)
		}
		return h, n, nil
	}
	return s, def, nil
}

func (d *Daemon) hProbe(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.ProbeRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	host, port, err := splitHostPort(req.Host, d.cfg.MgmtPort)
	if err != nil {
		return nil, fmt.Errorf("peer probe: %w", err)
	}
	d.joinMu.Lock()
	defer d.joinMu.Unlock()
	st, err := d.waitInit(ctx)
	if err != nil {
		return nil, fmt.Errorf("peer probe: %w", err)
	}
	addr := hostPort(host, port)
	var h api.Hello
	if err := api.PeerClient(addr, nil, 5*time.Second).Do(ctx, http.MethodGet, "/v1/internal/hello", nil, &h); err != nil {
		return nil, fmt.Errorf("peer probe: %s: %w", addr, err)
	}
	switch {
	case h.Peer.ID == d.local.NodeID:
		return api.Message{Message: "peer probe: " + host + " is this node; nothing to do"}, nil
	case h.ClusterID == st.ClusterID:
		return api.Message{Message: fmt.Sprintf("peer probe: host %s port %d already in peer list", host, port)}, nil
	case h.Peers > 1 || h.Volumes > 0:
		return nil, fmt.Errorf("peer probe: %s is part of another cluster (%d peers, %d volumes); detach it there first", host, h.Peers, h.Volumes)
	}
	var gossip []string
	for _, p := range st.PeerList() {
		gossip = append(gossip, p.GossipAddr())
	}
	var joined store.Peer
	if err := api.PeerClient(addr, nil, 30*time.Second).Do(ctx, http.MethodPost, "/v1/internal/join",
		&api.JoinRequest{ClusterID: st.ClusterID, Secret: st.Secret, GossipPeers: gossip}, &joined); err != nil {
		return nil, fmt.Errorf("peer probe: %s refused to join: %w", host, err)
	}
	if err := d.addPeer(ctx, &joined); err != nil {
		return nil, fmt.Errorf("peer probe: %s: %w", host, err)
	}
	return api.Message{Message: "peer probe: success"}, nil
}

// addPeer adds a joined peer as a raft voter (on the leader, forwarding) and then records it in
// the store. Both steps are idempotent and retried across leader changes.
func (d *Daemon) addPeer(ctx context.Context, p *store.Peer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		r := d.raft()
		if r == nil {
			return errors.New("the daemon is shutting down")
		}
		var err error
		if r.State() == raft.Leader {
			err = d.leaderAddVoter(p)
		} else if _, id := r.LeaderWithID(); id != "" {
			st, _ := d.fsm.State()
			if lp, ok := st.Peers[string(id)]; ok {
				err = api.PeerClient(lp.MgmtAddr(), d.secret(), 30*time.Second).Do(ctx, http.MethodPost, "/v1/internal/add-peer", &api.AddPeerRequest{Peer: *p}, nil)
			} else {
				err = errNotLeader
			}
		} else {
			err = errNotLeader
		}
		if err == nil {
			break
		}
		var ne net.Error
		if !errors.As(err, &ne) && !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ErrNoLeader, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := d.apply(ctx, &store.Command{Op: store.OpPeerAdd, Peer: p}); err != nil {
		return err
	}
	d.log.Info("peer added", zap.String("peer", p.ID), zap.String("address", p.Address))
	return nil
}

// retryable reports errors that a new attempt (possibly on a new leader) may not meet.
func retryable(err error) bool {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, errNotLeader) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, raft.ErrNotLeader.Error()) || strings.Contains(s, raft.ErrLeadershipLost.Error()) || strings.Contains(s, errNotLeader.Error())
}

func (d *Daemon) leaderAddVoter(p *store.Peer) error {
	r := d.raft()
	if r == nil || r.State() != raft.Leader {
		return errNotLeader
	}
	if err := r.AddVoter(raft.ServerID(p.ID), raft.ServerAddress(p.RaftAddr()), 0, 20*time.Second).Error(); err != nil {
		return fmt.Errorf("adding %s to the cluster log: %w", p.Address, err)
	}
	return nil
}

func (d *Daemon) hInternalAddPeer(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.AddPeerRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	return api.Message{Message: "added"}, d.leaderAddVoter(&req.Peer)
}

func (d *Daemon) hInternalApply(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.ApplyRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	r := d.raft()
	if r == nil || r.State() != raft.Leader {
		return nil, errNotLeader
	}
	res, err := store.Apply(r, &req.Command, 10*time.Second)
	if res != nil {
		return res, nil // a rejection travels in the result
	}
	return nil, err
}

// hJoin is a fresh node accepting an invitation: it drops its one-member cluster (it has no
// volumes and no other peer), adopts the cluster's id and secret, restarts raft empty to be
// added by the leader, and joins gossip. Unauthenticated, as GlusterFS's probe of a new peer:
// only a node that holds nothing accepts it.
func (d *Daemon) hJoin(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.JoinRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if req.ClusterID == "" || len(req.Secret) < 32 {
		return nil, errors.New("join: cluster id and secret required")
	}
	d.joinMu.Lock()
	defer d.joinMu.Unlock()
	st, _ := d.fsm.State()
	if st.ClusterID == req.ClusterID {
		return d.self(), nil
	}
	if len(st.Volumes) > 0 || len(st.Peers) > 1 {
		return nil, fmt.Errorf("join: this node is part of a cluster with %d peers and %d volumes", len(st.Peers), len(st.Volumes))
	}
	d.log.Info("joining cluster", zap.String("cluster", req.ClusterID))
	d.shutdownRaft()
	if err := os.RemoveAll(d.path("raft")); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	d.fsm.Reset()
	d.mu.Lock()
	d.local.ClusterID, d.local.Secret = req.ClusterID, req.Secret
	d.mu.Unlock()
	if err := d.saveLocal(); err != nil {
		return nil, err
	}
	if err := d.startRaft(true); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	d.stopMemberlist()
	if err := d.startMemberlist(); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	d.mu.RLock()
	ml := d.ml
	d.mu.RUnlock()
	go func() { _, _ = ml.Join(req.GossipPeers) }()
	return d.self(), nil
}

func (d *Daemon) hDetach(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.DetachRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	st, _ := d.fsm.State()
	p := st.Peers[req.Host]
	if p == nil {
		p = st.PeerByHost(req.Host)
	}
	if p == nil {
		return nil, fmt.Errorf("peer detach: %s is not a peer of this cluster", req.Host)
	}
	if p.ID == d.local.NodeID {
		return nil, errors.New("peer detach: cannot detach this node; run the command on another peer")
	}
	if _, err := d.apply(ctx, &store.Command{Op: store.OpPeerRemove, PeerID: p.ID}); err != nil {
		return nil, fmt.Errorf("peer detach: %w", err)
	}
	// Remove it from the raft configuration (on the leader; a follower forwards by retrying
	// through apply's path is not possible for configuration changes, so ask the leader).
	r := d.raft()
	if r != nil && r.State() == raft.Leader {
		if err := r.RemoveServer(raft.ServerID(p.ID), 0, 10*time.Second).Error(); err != nil {
			return nil, fmt.Errorf("peer detach: removing from the cluster log: %w", err)
		}
	} else if r != nil {
		if _, id := r.LeaderWithID(); id != "" {
			if lp := st.Peers[string(id)]; lp != nil {
				if err := api.PeerClient(lp.MgmtAddr(), d.secret(), 15*time.Second).Do(ctx, http.MethodPost, "/v1/internal/remove-voter", &api.DetachRequest{Host: p.ID}, nil); err != nil {
					return nil, fmt.Errorf("peer detach: removing from the cluster log: %w", err)
				}
			}
		}
	}
	return api.Message{Message: "peer detach: success"}, nil
}

func (d *Daemon) hInternalRemoveVoter(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.DetachRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	r := d.raft()
	if r == nil || r.State() != raft.Leader {
		return nil, errNotLeader
	}
	if err := r.RemoveServer(raft.ServerID(req.Host), 0, 10*time.Second).Error(); err != nil {
		return nil, err
	}
	return api.Message{Message: "removed"}, nil
}

// waitInit waits (up to 10 s) for the cluster store to be initialised: a node just started
// elects itself and records itself as a peer first.
func (d *Daemon) waitInit(ctx context.Context) (*store.State, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := d.fsm.State()
		if st.ClusterID != "" && st.Peers[d.local.NodeID] != nil {
			return st, nil
		}
		if time.Now().After(deadline) {
			return nil, errors.New("this node's cluster store is not initialised (no raft leader?)")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
