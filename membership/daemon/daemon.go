package daemon

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
	"go.uber.org/zap"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/store"
)

// Daemon is one node's daemon.
type Daemon struct {
	cfg     configs.Daemon
	log     *zap.Logger
	exe     string // the weft binary brick and gateway processes run
	version string

	fsm   *store.FSM
	local localState

	mu     sync.RWMutex // guards the raft fields and the memberlist (replaced on join)
	r      *raft.Raft
	rlog   *store.FileLog
	trans  *raft.NetworkTransport
	ml     *memberlist.Memberlist
	joinMu sync.Mutex // serialises probes and joins

	startIndex uint64 // the last log index found on disk at start
	startCmd   uint64 // the last command (LogCommand) index found on disk at start

	tasksMu sync.Mutex
	tasks   map[string]*task // rebalance / remove-brick migrations run here, by volume

	sup       *supervisor
	unixSrv   *http.Server
	tcpSrv    *http.Server
	unixLn    net.Listener
	tcpLn     net.Listener
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// localState is what a node keeps about itself outside the cluster store (local.json).
type localState struct {
	NodeID    string `json:"node_id"`
	ClusterID string `json:"cluster_id"`
	Secret    string `json:"secret"`
}

// Options are the daemon's non-configuration dependencies.
type Options struct {
	Log        *zap.Logger
	Executable string // default: os.Executable()
	Version    string
}

// New prepares a daemon from a validated configuration; Start runs it.
func New(cfg configs.Daemon, o Options) (*Daemon, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("daemon: %w", err)
		}
		o.Executable = exe
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	d := &Daemon{cfg: cfg, log: o.Log, exe: o.Executable, version: o.Version, fsm: store.NewFSM(), tasks: map[string]*task{}}
	return d, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (d *Daemon) path(p ...string) string {
	return filepath.Join(append([]string{d.cfg.StateDir}, p...)...)
}

func (d *Daemon) loadLocal() error {
	b, err := os.ReadFile(d.path("local.json"))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &d.local); err != nil || d.local.NodeID == "" {
			return fmt.Errorf("daemon: %s: damaged (%v)", d.path("local.json"), err)
		}
		return nil
	case errors.Is(err, os.ErrNotExist):
		d.local = localState{NodeID: newUUID(), ClusterID: newUUID(), Secret: randomHex(32)}
		return d.saveLocal()
	}
	return fmt.Errorf("daemon: %w", err)
}

// getLocal returns a copy of the local state (the cluster id and secret change on join).
func (d *Daemon) getLocal() localState {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.local
}

func (d *Daemon) saveLocal() error {
	l := d.getLocal()
	b, _ := json.MarshalIndent(l, "", "  ")
	if err := store.WriteFileAtomic(d.path("local.json"), b, 0o600); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	// The secret as a file, for the gateway's --secret-file.
	if err := store.WriteFileAtomic(d.path("secret"), []byte(l.Secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}

// self returns this node's peer record.
func (d *Daemon) self() store.Peer {
	return store.Peer{ID: d.local.NodeID, Name: d.cfg.Name, Address: d.cfg.Advertise,
		MgmtPort: d.cfg.MgmtPort, RaftPort: d.cfg.RaftPort, GossipPort: d.cfg.GossipPort, Version: d.version}
}

func (d *Daemon) bindHost() string {
	if d.cfg.Bind == "" {
		return ""
	}
	return d.cfg.Bind
}

func hostPort(h string, p int) string { return net.JoinHostPort(h, strconv.Itoa(p)) }

// Start opens the state, starts raft, memberlist, the API servers and supervision. It returns
// once the daemon serves its API; ctx bounds only the start.
func (d *Daemon) Start(ctx context.Context) error {
	if err := os.MkdirAll(d.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("daemon: state dir: %w", err)
	}
	if err := d.loadLocal(); err != nil {
		return err
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if err := d.startRaft(false); err != nil {
		d.cancel()
		return err
	}
	if err := d.startMemberlist(); err != nil {
		d.shutdownRaft()
		d.cancel()
		return err
	}
	d.catchUp(ctx)
	d.sup = newSupervisor(d)
	interrupted := d.loadTasks()
	if err := d.startAPI(); err != nil {
		d.Close()
		return err
	}
	d.resumeTasks(interrupted)
	d.wg.Add(3)
	go d.maintain()
	go d.gossipJoiner()
	go func() { defer d.wg.Done(); d.sup.loop(d.ctx) }()
	d.log.Info("daemon started", zap.String("node", d.local.NodeID), zap.String("address", d.cfg.Advertise),
		zap.Int("mgmt-port", d.cfg.MgmtPort), zap.String("socket", d.cfg.Socket), zap.String("state-dir", d.cfg.StateDir))
	return nil
}

// catchUp waits (at most 10 s, or until ctx ends) until raft has applied the entries found in
// the log at start, so that the API does not answer from an empty state after a restart.
// Entries after the last snapshot are applied once a leader confirms them: a node that cannot
// reach a majority serves its last snapshot after the wait.
func (d *Daemon) catchUp(ctx context.Context) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := d.raft()
		// raft's AppliedIndex advances when an entry is handed to the state machine, before the
		// state machine has applied it, so also wait for the FSM itself to reach the last
		// command that was on disk (an API read right after a restart otherwise saw the state
		// before the last commands: a CI failure of TestSingleNodeVolumeOps).
		_, fsmIdx := d.fsm.State()
		if r == nil || (r.AppliedIndex() >= d.startIndex && fsmIdx >= d.startCmd) || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lastCommandIndex returns the index of the last LogCommand entry at or below last (0 if none
// within the scan bound); entries before the first one left in the log are in the snapshot,
// which raft restores before it starts.
func lastCommandIndex(lg raft.LogStore, last uint64) uint64 {
	first, err := lg.FirstIndex()
	if err != nil {
		return 0
	}
	for i, n := last, 0; i >= first && i > 0 && n < 100000; i, n = i-1, n+1 {
		var l raft.Log
		if err := lg.GetLog(i, &l); err != nil {
			return 0
		}
		if l.Type == raft.LogCommand {
			return i
		}
	}
	return 0
}

// startRaft opens the log and starts raft. A node without raft state bootstraps a one-member
// cluster of itself unless joining (then it waits to be added by the cluster's leader).
func (d *Daemon) startRaft(joining bool) error {
	dir := d.path("raft")
	lg, err := store.OpenFileLog(dir)
	if err != nil {
		return err
	}
	logOut := &zapWriter{log: d.log.Named("raft")}
	snaps, err := raft.NewFileSnapshotStore(dir, 3, logOut)
	if err != nil {
		lg.Close()
		return fmt.Errorf("daemon: raft snapshots: %w", err)
	}
	adv := &net.TCPAddr{IP: net.ParseIP(d.cfg.Advertise), Port: d.cfg.RaftPort}
	if adv.IP == nil {
		ips, err := net.LookupIP(d.cfg.Advertise)
		if err != nil || len(ips) == 0 {
			lg.Close()
			return fmt.Errorf("daemon: advertise address %q does not resolve", d.cfg.Advertise)
		}
		adv.IP = ips[0]
	}
	trans, err := raft.NewTCPTransport(hostPort(d.bindHost(), d.cfg.RaftPort), adv, 3, 5*time.Second, logOut)
	if err != nil {
		lg.Close()
		return fmt.Errorf("daemon: raft transport on port %d: %w", d.cfg.RaftPort, err)
	}
	rc := store.RaftConfig(d.local.NodeID, d.cfg.RaftTimeoutScale, logOut)
	d.startIndex, _ = lg.LastIndex()
	d.startCmd = lastCommandIndex(lg, d.startIndex)
	has, err := raft.HasExistingState(lg, lg, snaps)
	if err != nil {
		trans.Close()
		lg.Close()
		return fmt.Errorf("daemon: raft state: %w", err)
	}
	if !has && !joining {
		conf := raft.Configuration{Servers: []raft.Server{{ID: raft.ServerID(d.local.NodeID), Address: trans.LocalAddr()}}}
		if err := raft.BootstrapCluster(rc, lg, lg, snaps, trans, conf); err != nil {
			trans.Close()
			lg.Close()
			return fmt.Errorf("daemon: raft bootstrap: %w", err)
		}
	}
	r, err := raft.NewRaft(rc, d.fsm, lg, lg, snaps, trans)
	if err != nil {
		trans.Close()
		lg.Close()
		return fmt.Errorf("daemon: raft: %w", err)
	}
	d.mu.Lock()
	d.r, d.rlog, d.trans = r, lg, trans
	d.mu.Unlock()
	return nil
}

func (d *Daemon) shutdownRaft() {
	d.mu.Lock()
	r, lg, trans := d.r, d.rlog, d.trans
	d.r, d.rlog, d.trans = nil, nil, nil
	d.mu.Unlock()
	if r != nil {
		if err := r.Shutdown().Error(); err != nil {
			d.log.Warn("raft shutdown", zap.Error(err))
		}
	}
	if trans != nil {
		trans.Close()
	}
	if lg != nil {
		lg.Close()
	}
}

func (d *Daemon) raft() *raft.Raft {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.r
}

type metaDelegate struct{ meta []byte }

func (m *metaDelegate) NodeMeta(limit int) []byte {
	if len(m.meta) > limit {
		return nil
	}
	return m.meta
}
func (m *metaDelegate) NotifyMsg([]byte)                {}
func (m *metaDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (m *metaDelegate) LocalState(bool) []byte          { return nil }
func (m *metaDelegate) MergeRemoteState([]byte, bool)   {}

// startMemberlist starts gossip keyed with the cluster secret; node meta carries the peer
// record (addresses, ports, version).
func (d *Daemon) startMemberlist() error {
	var mc *memberlist.Config
	if d.cfg.RaftTimeoutScale < 1 {
		mc = memberlist.DefaultLocalConfig()
	} else {
		mc = memberlist.DefaultLANConfig()
	}
	mc.Name = d.local.NodeID
	mc.BindAddr = d.bindHost()
	if mc.BindAddr == "" {
		mc.BindAddr = "0.0.0.0"
	}
	mc.BindPort = d.cfg.GossipPort
	mc.AdvertiseAddr = d.cfg.Advertise
	mc.AdvertisePort = d.cfg.GossipPort
	key := sha256.Sum256([]byte("weft-gossip:" + d.getLocal().Secret))
	mc.SecretKey = key[:]
	meta, _ := json.Marshal(d.self())
	mc.Delegate = &metaDelegate{meta: meta}
	mc.LogOutput = &zapWriter{log: d.log.Named("gossip")}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("daemon: gossip on port %d: %w", d.cfg.GossipPort, err)
	}
	d.mu.Lock()
	d.ml = ml
	d.mu.Unlock()
	return nil
}

func (d *Daemon) stopMemberlist() {
	d.mu.Lock()
	ml := d.ml
	d.ml = nil
	d.mu.Unlock()
	if ml != nil {
		_ = ml.Leave(200 * time.Millisecond)
		_ = ml.Shutdown()
	}
}

// alive returns the node ids gossip currently sees alive (this node included).
func (d *Daemon) alive() map[string]bool {
	d.mu.RLock()
	ml := d.ml
	d.mu.RUnlock()
	out := map[string]bool{d.local.NodeID: true}
	if ml == nil {
		return out
	}
	for _, n := range ml.Members() {
		if n.State == memberlist.StateAlive {
			out[n.Name] = true
		}
	}
	return out
}

// gossipJoiner keeps gossip joined to the peers of the store.
func (d *Daemon) gossipJoiner() {
	defer d.wg.Done()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		st, _ := d.fsm.State()
		alive := d.alive()
		var addrs []string
		for _, p := range st.PeerList() {
			if !alive[p.ID] {
				addrs = append(addrs, p.GossipAddr())
			}
		}
		d.mu.RLock()
		ml := d.ml
		d.mu.RUnlock()
		if ml != nil && len(addrs) > 0 {
			_, _ = ml.Join(addrs)
		}
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// maintain initialises the store on a fresh one-member cluster and keeps this node's peer
// record current (address, ports, version), through the leader.
func (d *Daemon) maintain() {
	defer d.wg.Done()
	watch := d.fsm.Watch()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		st, _ := d.fsm.State()
		r := d.raft()
		switch {
		case r == nil:
		case st.ClusterID == "" && r.State() == raft.Leader:
			me := d.self()
			l := d.getLocal()
			_, err := store.Apply(r, &store.Command{Op: store.OpInit, ClusterID: l.ClusterID, Secret: l.Secret,
				PortBase: d.cfg.BrickPortBase, PortRange: d.cfg.BrickPortRange, Peer: &me}, 5*time.Second)
			if err != nil {
				d.log.Warn("store init", zap.Error(err))
			}
		case st.ClusterID != "":
			if l := d.getLocal(); st.Secret != l.Secret || st.ClusterID != l.ClusterID {
				d.mu.Lock()
				d.local.Secret, d.local.ClusterID = st.Secret, st.ClusterID
				d.mu.Unlock()
				if err := d.saveLocal(); err != nil {
					d.log.Error("saving local state", zap.Error(err))
				}
			}
			if p, ok := st.Peers[d.local.NodeID]; ok && *p != d.self() {
				me := d.self()
				ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
				_, err := d.apply(ctx, &store.Command{Op: store.OpPeerUpdate, Peer: &me})
				cancel()
				if err != nil {
					d.log.Warn("updating own peer record", zap.Error(err))
				}
			}
		}
		select {
		case <-d.ctx.Done():
			return
		case <-watch:
		case <-t.C:
		}
	}
}

// secret returns the cluster secret.
func (d *Daemon) secret() []byte {
	st, _ := d.fsm.State()
	if st.Secret != "" {
		return []byte(st.Secret)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	return []byte(d.local.Secret)
}

// ErrNoLeader is returned when no raft leader is reachable for a write.
var ErrNoLeader = errors.New("the cluster has no leader (are a majority of the peers up?)")

// apply commits a command through the leader (forwarding it when this node is not the
// leader), retrying while the cluster elects one. A rejection by the state machine is
// returned as is.
func (d *Daemon) apply(ctx context.Context, c *store.Command) (*store.Result, error) {
	if c.ReqID == "" {
		c.ReqID = newUUID()
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		r := d.raft()
		if r == nil {
			return nil, errors.New("the daemon is shutting down")
		}
		if r.State() == raft.Leader {
			res, err := store.Apply(r, c, 10*time.Second)
			if err == nil || res != nil {
				return res, err // committed, or rejected with a reason
			}
			if !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) {
				return nil, err
			}
		} else if _, id := r.LeaderWithID(); id != "" {
			st, _ := d.fsm.State()
			if p, ok := st.Peers[string(id)]; ok {
				var res store.Result
				err := api.PeerClient(p.MgmtAddr(), d.secret(), 15*time.Second).Do(ctx, http.MethodPost, "/v1/internal/apply", &api.ApplyRequest{Command: *c}, &res)
				if err == nil {
					d.waitApplied(ctx, res.Index)
					return &res, res.Error()
				}
				var ne net.Error
				if !errors.As(err, &ne) && !retryable(err) {
					return nil, err
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, ErrNoLeader
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var errNotLeader = errors.New("not the leader")

// waitApplied waits (at most 5 s) until this node's state machine has applied log index i, so
// a command forwarded to the leader is visible to the next request on this node.
func (d *Daemon) waitApplied(ctx context.Context, i uint64) {
	if i == 0 {
		return
	}
	deadline := time.After(5 * time.Second)
	for {
		if _, idx := d.fsm.State(); idx >= i {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close stops supervision (brick and gateway processes are stopped), the API, gossip and raft.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		if d.cancel != nil {
			d.cancel()
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range []*http.Server{d.unixSrv, d.tcpSrv} {
			if s != nil {
				_ = s.Shutdown(sctx)
			}
		}
		d.wg.Wait()
		if d.sup != nil {
			d.sup.stopAll()
		}
		d.stopMemberlist()
		d.shutdownRaft()
		if d.unixLn != nil {
			_ = os.Remove(d.cfg.Socket)
		}
		d.log.Info("daemon stopped")
	})
	return nil
}

// zapWriter adapts a zap logger to the io.Writer raft and memberlist log to.
type zapWriter struct{ log *zap.Logger }

func (w *zapWriter) Write(p []byte) (int, error) {
	w.log.Debug(string(trimNL(p)))
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

var _ io.Writer = (*zapWriter)(nil)
