package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/store"
	"github.com/weftfs/weft/membership/volgen"
)

// VolumeIDXattr is the brick root's volume id xattr (bricks/posix writes it).
const VolumeIDXattr = "trusted.glusterfs.volume-id"

// ShardDir is where GlusterFS's shard translator keeps the blocks of files past their first
// (shard.h GF_SHARD_DIR), in the root of every brick of a sharded volume.
const ShardDir = ".shard"

// parseBrick splits HOST:/path.
func parseBrick(s string) (host, path string, err error) {
	i := strings.Index(s, ":/")
	if i <= 0 {
		return "", "", fmt.Errorf("brick %q: expected HOST:/absolute/path", s)
	}
	host, path = strings.Trim(s[:i], "[]"), s[i+1:]
	if filepath.Clean(path) != path {
		return "", "", fmt.Errorf("brick %q: the path is not clean (use %s)", s, filepath.Clean(path))
	}
	return host, path, nil
}

// resolveBricks maps HOST:/path specs to bricks of peers. HOST is a peer's address or name,
// or a name that resolves to a peer's address (as GlusterFS takes any name of a peer: a
// GlusterFS volume's bricks are often named by FQDN, its peers probed by address).
func resolveBricks(ctx context.Context, st *store.State, specs []string) ([]store.Brick, error) {
	var out []store.Brick
	for _, s := range specs {
		h, p, err := parseBrick(s)
		if err != nil {
			return nil, err
		}
		peer := st.PeerByHost(h)
		if peer == nil {
			peer = peerByResolving(ctx, st, h)
		}
		if peer == nil {
			return nil, fmt.Errorf("brick %s: host %s is not a peer of this cluster (add it with: weft peer probe %s)", s, h, h)
		}
		out = append(out, store.Brick{PeerID: peer.ID, Host: h, Path: p})
	}
	return out, nil
}

// asStored spells each of bricks that is a brick of v (same peer, same path) the way v stores
// it: a brick named by another of its peer's names or addresses than at create is still that
// brick (remove-brick compares bricks as HOST:/path).
func asStored(v *store.Volume, bricks []store.Brick) []store.Brick {
	out := append([]store.Brick(nil), bricks...)
	for i, b := range out {
		for _, vb := range v.Bricks {
			if vb.PeerID == b.PeerID && vb.Path == b.Path {
				out[i].Host = vb.Host
			}
		}
	}
	return out
}

// peerByResolving returns the peer whose address host resolves to, if exactly one does.
func peerByResolving(ctx context.Context, st *store.State, host string) *store.Peer {
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // an address no peer has
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return nil
	}
	var found *store.Peer
	for _, a := range addrs {
		if p := st.PeerByHost(a); p != nil {
			if found != nil && found.ID != p.ID {
				return nil // the name covers several peers: ambiguous
			}
			found = p
		}
	}
	return found
}

// toVolgen converts a stored volume for volgen; bricks are addressed by their peer's address.
func toVolgen(st *store.State, v *store.Volume) *volgen.Volume {
	g := &volgen.Volume{Name: v.Name, ID: v.ID, Replica: v.Replica, Arbiter: v.Arbiter, Options: v.Options}
	ids := v.BrickIDs()
	for i, b := range v.Bricks {
		host := b.Host
		if p := st.Peers[b.PeerID]; p != nil {
			host = p.Address
		}
		g.Bricks = append(g.Bricks, volgen.Brick{Host: host, Path: b.Path, Port: b.Port, ID: ids[i]})
	}
	return g
}

func (d *Daemon) volume(name string) (*store.State, *store.Volume, error) {
	st, _ := d.fsm.State()
	v, ok := st.Volumes[name]
	if !ok {
		return st, nil, fmt.Errorf("volume %s does not exist", name)
	}
	return st, v, nil
}

// stageBricks asks every peer holding one of bricks to check its directories (exist, are
// directories, writable, empty or already this volume's) before anything is committed. It
// returns the volume id each brick already carries (by HOST:/path; only with force can a
// brick carrying another id pass).
func (d *Daemon) stageBricks(ctx context.Context, st *store.State, volID string, bricks []store.Brick, force bool) (map[string]string, error) {
	byPeer := map[string][]string{}
	for _, b := range bricks {
		byPeer[b.PeerID] = append(byPeer[b.PeerID], b.Path)
	}
	ids := make([]string, 0, len(byPeer))
	for id := range byPeer {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	errs := make([]error, len(ids))
	found := make([]map[string]string, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &api.CheckBricksRequest{VolumeID: volID, Paths: byPeer[id], Force: force}
			p := st.Peers[id]
			if id == d.local.NodeID {
				found[i], errs[i] = checkLocalBricks(p.Address, req)
				return
			}
			var rep api.CheckBricksReply
			if err := api.PeerClient(p.MgmtAddr(), d.secret(), 10*time.Second).Do(ctx, http.MethodPost, "/v1/internal/check-bricks", req, &rep); err != nil {
				errs[i] = fmt.Errorf("peer %s: %w", p.Address, err)
			}
			found[i] = rep.VolumeIDs
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i, id := range ids {
		for path, vid := range found[i] {
			out[st.Peers[id].Address+":"+path] = vid
		}
	}
	return out, nil
}

// checkLocalBricks validates brick directories of this node and returns the volume id each
// already carries (by path).
func checkLocalBricks(host string, req *api.CheckBricksRequest) (map[string]string, error) {
	var want []byte
	if id, err := graph.ParseGFID(req.VolumeID); err == nil {
		want = id[:]
	}
	found := map[string]string{}
	for _, p := range req.Paths {
		name := host + ":" + p
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("brick %s: directory does not exist (create it first)", name)
		case err != nil:
			return nil, fmt.Errorf("brick %s: %w", name, err)
		case !fi.IsDir():
			return nil, fmt.Errorf("brick %s: not a directory", name)
		}
		if err := unix.Access(p, unix.W_OK|unix.X_OK); err != nil {
			return nil, fmt.Errorf("brick %s: not writable: %w", name, err)
		}
		if pids := glusterfsdServing("/proc", p); len(pids) > 0 {
			return nil, fmt.Errorf("brick %s: GlusterFS still serves it (glusterfsd pid %s): stop the GlusterFS volume, or its brick processes, first", name, joinInts(pids))
		}
		buf := make([]byte, 64)
		n, err := unix.Getxattr(p, VolumeIDXattr, buf)
		ours := false
		if err == nil {
			if n != 16 {
				return nil, fmt.Errorf("brick %s: malformed %s (%d bytes, not 16)", name, VolumeIDXattr, n)
			}
			found[p] = graph.GFID(buf[:16]).String()
			if want != nil && string(buf[:n]) == string(want) {
				ours = true
			} else if !req.Force {
				return nil, fmt.Errorf("brick %s: is already part of a volume (it carries %s %s; use force to reuse it with its data)", name, VolumeIDXattr, found[p])
			}
		}
		if req.Force && !ours {
			if fi, err := os.Lstat(filepath.Join(p, ShardDir)); err == nil && fi.IsDir() {
				return nil, fmt.Errorf("brick %s: holds GlusterFS shards (%s): the volume was sharded (features.shard), and Weft, which has no shard translator, would serve its large files cut at their first block and corrupt them on write", name, ShardDir)
			}
		}
		if ours || req.Force {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("brick %s: %w", name, err)
		}
		names, err := f.Readdirnames(1)
		f.Close()
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("brick %s: %w", name, err)
		}
		if len(names) > 0 {
			return nil, fmt.Errorf("brick %s: directory is not empty (use force to use it anyway)", name)
		}
	}
	return found, nil
}

// foreignIDs returns, sorted, the bricks of found that carry a volume id other than id.
func foreignIDs(found map[string]string, id string) []string {
	var out []string
	for b, vid := range found {
		if vid != id {
			out = append(out, b+" ("+vid+")")
		}
	}
	sort.Strings(out)
	return out
}

// adoptedID is the volume id a volume created with force over bricks that already carry one
// takes (found: by brick, from stageBricks): the bricks' own, so that the brick processes,
// which refuse a brick of another volume, start on them with their data — bricks of a
// GlusterFS volume, or of a deleted volume, adopted in place. It is "" when no brick carries
// an id. Bricks carrying different ids, or the id of a volume this cluster has, are refused.
func adoptedID(st *store.State, found map[string]string) (string, error) {
	var id string
	for _, vid := range found {
		if id == "" || vid < id {
			id = vid
		}
	}
	if id == "" {
		return "", nil
	}
	if other := foreignIDs(found, id); len(other) > 0 {
		return "", fmt.Errorf("the bricks belong to different volumes: %s carry another id than %s", strings.Join(other, ", "), id)
	}
	for _, v := range st.Volumes {
		if v.ID == id {
			return "", fmt.Errorf("the bricks belong to volume %s of this cluster (id %s)", v.Name, id)
		}
	}
	return id, nil
}

func (d *Daemon) hInternalCheckBricks(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.CheckBricksRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	found, err := checkLocalBricks(d.cfg.Advertise, &req)
	return api.CheckBricksReply{Message: "ok", VolumeIDs: found}, err
}

func (d *Daemon) hCreate(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.CreateRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	wrap := func(err error) error { return fmt.Errorf("volume create: %s: %w", req.Name, err) }
	if err := store.ValidVolumeName(req.Name); err != nil {
		return nil, fmt.Errorf("volume create: %w", err)
	}
	if req.Replica == 0 {
		req.Replica = 1
	}
	st, err := d.waitInit(ctx)
	if err != nil {
		return nil, wrap(err)
	}
	bricks, err := resolveBricks(ctx, st, req.Bricks)
	if err != nil {
		return nil, wrap(err)
	}
	if len(req.BrickIDs) > 0 {
		if len(req.BrickIDs) != len(bricks) {
			return nil, wrap(fmt.Errorf("%d brick ids for %d bricks", len(req.BrickIDs), len(bricks)))
		}
		for i := range bricks {
			bricks[i].ID = req.BrickIDs[i]
		}
	}
	c := &store.Command{Op: store.OpVolumeCreate, Volume: &store.Volume{Name: req.Name, ID: newUUID(), Replica: req.Replica, Arbiter: req.Arbiter, Bricks: bricks}}
	if _, err := store.ApplyCommand(st.Clone(), c); err != nil { // the checks the commit repeats
		return nil, wrap(err)
	}
	if len(req.Options) > 0 {
		if err := checkOptions(st, c.Volume, req.Options); err != nil {
			return nil, wrap(err)
		}
		c.Volume.Options = req.Options
	}
	found, err := d.stageBricks(ctx, st, c.Volume.ID, bricks, req.Force)
	if err != nil {
		return nil, wrap(err)
	}
	adopted, err := adoptedID(st, found)
	if err != nil {
		return nil, wrap(err)
	}
	if req.VolumeID != "" && adopted != req.VolumeID {
		if adopted == "" {
			return nil, wrap(fmt.Errorf("the bricks carry no volume id, and volume id %s was expected: they are not that volume's bricks", req.VolumeID))
		}
		return nil, wrap(fmt.Errorf("the bricks carry volume id %s, and %s was expected: they are not that volume's bricks", adopted, req.VolumeID))
	}
	if adopted != "" {
		c.Volume.ID = adopted
	}
	res, err := d.apply(ctx, c)
	if err != nil {
		return nil, wrap(err)
	}
	msg := fmt.Sprintf("volume create: %s: success: please start the volume to access data", req.Name)
	if adopted != "" {
		msg = fmt.Sprintf("volume create: %s: success: the bricks' data is kept (volume id %s, from the bricks); please start the volume to access it", req.Name, adopted)
	}
	return api.Message{Message: msg, Volume: res.Volume}, nil
}

func (d *Daemon) simpleOp(ctx context.Context, body []byte, op, verb string) (*api.VolumeRequest, *store.Result, error) {
	var req api.VolumeRequest
	if err := decode(body, &req); err != nil {
		return nil, nil, err
	}
	res, err := d.apply(ctx, &store.Command{Op: op, Name: req.Name})
	if err != nil {
		return &req, nil, fmt.Errorf("volume %s: %s: %w", verb, req.Name, err)
	}
	return &req, res, nil
}

func (d *Daemon) hStart(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.VolumeRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	// The existence check is the leader's (the commit below): this node's state may not have
	// applied a create committed through another node yet.
	if _, v, err := d.volume(req.Name); err == nil && req.Force && v.Status == store.StatusStarted {
		d.sup.kick()
		return api.Message{Message: "volume start: " + req.Name + ": success"}, nil
	}
	_, res, err := d.simpleOp(ctx, body, store.OpVolumeStart, "start")
	if err != nil {
		return nil, err
	}
	return api.Message{Message: "volume start: " + req.Name + ": success", Volume: res.Volume}, nil
}

func (d *Daemon) hStop(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	req, res, err := d.simpleOp(ctx, body, store.OpVolumeStop, "stop")
	if err != nil {
		return nil, err
	}
	return api.Message{Message: "volume stop: " + req.Name + ": success", Volume: res.Volume}, nil
}

func (d *Daemon) hDelete(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	req, _, err := d.simpleOp(ctx, body, store.OpVolumeDelete, "delete")
	if err != nil {
		return nil, err
	}
	return api.Message{Message: "volume delete: " + req.Name + ": success"}, nil
}

func (d *Daemon) hSet(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.SetRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	st, v, err := d.volume(req.Name)
	if err != nil {
		return nil, fmt.Errorf("volume set: %w", err)
	}
	if len(req.Options) == 0 {
		return nil, errors.New("volume set: no option given")
	}
	if err := checkOptions(st, v, req.Options); err != nil {
		return nil, fmt.Errorf("volume set: %w", err)
	}
	res, err := d.apply(ctx, &store.Command{Op: store.OpVolumeSet, Name: req.Name, Options: req.Options, ExpectVersion: v.Version})
	if err != nil {
		return nil, fmt.Errorf("volume set: %w", err)
	}
	return api.Message{Message: "volume set: success", Volume: res.Volume}, nil
}

// checkOptions validates options about to be set on v (each against the option specs of the
// translators it lands on, then the client lists together with v's other options).
func checkOptions(st *store.State, v *store.Volume, opts map[string]string) error {
	gv := toVolgen(st, v)
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := volgen.CheckOption(gv, k, opts[k], volgen.Params{}); err != nil {
			return err
		}
	}
	merged := *gv
	merged.Options = map[string]string{}
	for k, val := range gv.Options {
		merged.Options[k] = val
	}
	for k, val := range opts {
		merged.Options[k] = val
	}
	return volgen.CheckClientOptions(&merged)
}

func (d *Daemon) hReset(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.ResetRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	res, err := d.apply(ctx, &store.Command{Op: store.OpVolumeReset, Name: req.Name, Keys: req.Keys})
	if err != nil {
		return nil, fmt.Errorf("volume reset: %w", err)
	}
	return api.Message{Message: "volume reset: success: reset volume successful", Volume: res.Volume}, nil
}

func (d *Daemon) hVolumes(_ context.Context, r *http.Request, _ []byte) (any, error) {
	st, _ := d.fsm.State()
	name := r.URL.Query().Get("name")
	out := []api.VolumeInfo{}
	for _, n := range st.VolumeNames() {
		if name != "" && n != name {
			continue
		}
		v := st.Volumes[n]
		out = append(out, api.VolumeInfo{Volume: *v, Type: v.Type(), Layout: v.Layout()})
	}
	if name != "" && len(out) == 0 {
		return nil, fmt.Errorf("volume info: volume %s does not exist", name)
	}
	return out, nil
}

// localStatuses asks every peer gossip sees alive for its processes.
func (d *Daemon) localStatuses(ctx context.Context, st *store.State) map[string]*api.LocalStatus {
	alive := d.alive()
	out := map[string]*api.LocalStatus{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range st.PeerList() {
		if p.ID == d.local.NodeID {
			ls := d.sup.status()
			out[p.ID] = &ls
			continue
		}
		if !alive[p.ID] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ls api.LocalStatus
			if err := api.PeerClient(p.MgmtAddr(), d.secret(), 3*time.Second).Do(ctx, http.MethodGet, "/v1/internal/local-status", nil, &ls); err == nil {
				mu.Lock()
				out[p.ID] = &ls
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

func (d *Daemon) hStatus(ctx context.Context, r *http.Request, _ []byte) (any, error) {
	st, _ := d.fsm.State()
	name := r.URL.Query().Get("name")
	names := st.VolumeNames()
	if name != "" {
		if st.Volumes[name] == nil {
			return nil, fmt.Errorf("volume status: volume %s does not exist", name)
		}
		names = []string{name}
	}
	locals := d.localStatuses(ctx, st)
	out := []api.VolumeStatus{}
	for _, n := range names {
		v := st.Volumes[n]
		vs := api.VolumeStatus{Name: n, Status: v.Status, Bricks: []api.ProcessStatus{}, Gateways: []api.ProcessStatus{}}
		for _, b := range v.Bricks {
			ps := api.ProcessStatus{Kind: "brick", Volume: n, Host: b.Host, Path: b.Path, Port: b.Port}
			if ls := locals[b.PeerID]; ls != nil {
				for _, p := range ls.Processes {
					if p.Kind == "brick" && p.Volume == n && p.Path == b.Path {
						ps = p
						ps.Host = b.Host
					}
				}
			} else {
				ps.LastErr = "peer not reachable"
			}
			vs.Bricks = append(vs.Bricks, ps)
		}
		for _, p := range st.PeerList() {
			if ls := locals[p.ID]; ls != nil {
				for _, gp := range ls.Processes {
					switch {
					case gp.Kind == "gateway" && gp.Serves(n):
						vs.Gateways = append(vs.Gateways, gp)
					case gp.Kind == "shd" && gp.Volume == n:
						vs.SelfHeal = append(vs.SelfHeal, gp)
					}
				}
			}
		}
		if r.URL.Query().Get("heal") != "0" {
			vs.HealBacklog = d.healBacklog(ctx, st, v)
		}
		vs.Task = d.findTask(ctx, n)
		out = append(out, vs)
	}
	return out, nil
}

func (d *Daemon) hInternalLocalStatus(_ context.Context, _ *http.Request, _ []byte) (any, error) {
	return d.sup.status(), nil
}

func (d *Daemon) hAddBrick(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.BrickRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	st, v, err := d.volume(req.Name)
	if err != nil {
		return nil, fmt.Errorf("volume add-brick: %w", err)
	}
	bricks, err := resolveBricks(ctx, st, req.Bricks)
	if err != nil {
		return nil, fmt.Errorf("volume add-brick: %w", err)
	}
	c := &store.Command{Op: store.OpAddBrick, Name: req.Name, Bricks: bricks, Replica: req.Replica, ExpectVersion: v.Version}
	if _, err := store.ApplyCommand(st.Clone(), c); err != nil {
		return nil, fmt.Errorf("volume add-brick: %w", err)
	}
	found, err := d.stageBricks(ctx, st, v.ID, bricks, req.Force)
	if err != nil {
		return nil, fmt.Errorf("volume add-brick: %w", err)
	}
	if other := foreignIDs(found, v.ID); len(other) > 0 {
		return nil, fmt.Errorf("volume add-brick: %s carry the id of another volume, and a brick process refuses another volume's brick (remove it first: setfattr -x %s PATH)", strings.Join(other, ", "), VolumeIDXattr)
	}
	res, err := d.apply(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("volume add-brick: %w", err)
	}
	return api.Message{Message: "volume add-brick: success (existing directories keep their layout until: weft volume rebalance " + req.Name + " start)", Volume: res.Volume}, nil
}

func (d *Daemon) hRemoveBrick(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.BrickRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	st, v, err := d.volume(req.Name)
	if err != nil {
		return nil, fmt.Errorf("volume remove-brick: %w", err)
	}
	var bricks []store.Brick
	if len(req.Bricks) > 0 {
		if bricks, err = resolveBricks(ctx, st, req.Bricks); err != nil {
			return nil, fmt.Errorf("volume remove-brick: %w", err)
		}
		bricks = asStored(v, bricks)
	}
	do := func(op string) (*store.Result, error) {
		return d.apply(ctx, &store.Command{Op: op, Name: req.Name, Bricks: bricks})
	}
	switch req.Action {
	case "status":
		if v.RemoveBrick == nil {
			return nil, fmt.Errorf("volume remove-brick status: no remove-brick in progress on %s", req.Name)
		}
		t := d.findTask(ctx, req.Name)
		if t == nil || t.Kind != "remove-brick" {
			return api.TaskReply{Message: fmt.Sprintf("remove-brick %s: started, but no migration task is known (its daemon restarted?): run start again", strings.Join(v.RemoveBrick.Bricks, " "))}, nil
		}
		return api.TaskReply{Message: fmt.Sprintf("remove-brick %s: %s", strings.Join(v.RemoveBrick.Bricks, " "), t.State), Task: t}, nil
	case "start":
		if v.Status != store.StatusStarted {
			return nil, fmt.Errorf("volume remove-brick start: volume %s is not started (data can only be migrated off running bricks; use force)", req.Name)
		}
		if t := d.findTask(ctx, req.Name); t != nil && t.State == api.TaskRunning {
			return nil, fmt.Errorf("volume remove-brick start: a %s of %s is running on %s", t.Kind, req.Name, t.Node)
		}
		if v.RemoveBrick == nil {
			if _, err := store.ApplyCommand(st.Clone(), &store.Command{Op: store.OpRemoveBrickStart, Name: req.Name, Bricks: bricks}); err != nil {
				return nil, fmt.Errorf("volume remove-brick start: %w", err)
			}
			if _, err := do(store.OpRemoveBrickStart); err != nil {
				return nil, fmt.Errorf("volume remove-brick start: %w", err)
			}
		} else if !sameBricks(v.RemoveBrick.Bricks, bricks) {
			return nil, fmt.Errorf("volume remove-brick start: a remove-brick of %s is already in progress", strings.Join(v.RemoveBrick.Bricks, " "))
		}
		t, err := d.startRemoveBrick(ctx, req.Name, 0)
		if err != nil {
			return nil, fmt.Errorf("volume remove-brick start: %w (the remove-brick stays recorded: run start again, or stop it)", err)
		}
		return api.TaskReply{Message: "volume remove-brick start: success: migrating data off " + strings.Join(t.Bricks, " ") + " (check with status, then commit)", Task: t}, nil
	case "stop":
		if _, err := d.stopTask(ctx, req.Name); err != nil {
			return nil, fmt.Errorf("volume remove-brick stop: %w", err)
		}
		if _, err := do(store.OpRemoveBrickStop); err != nil {
			return nil, fmt.Errorf("volume remove-brick stop: %w", err)
		}
		return api.Message{Message: "volume remove-brick stop: success (files already migrated stay where they went)"}, nil
	case "commit":
		if v.RemoveBrick != nil {
			t := d.findTask(ctx, req.Name)
			switch {
			case t == nil || t.Kind != "remove-brick":
				return nil, fmt.Errorf("volume remove-brick commit: no completed migration of %s is known: run remove-brick start (or use force to drop the files)", req.Name)
			case t.State != api.TaskCompleted:
				return nil, fmt.Errorf("volume remove-brick commit: the migration is %s (%s): wait for it or run start again (force drops the files)", t.State, t.Error)
			}
		}
		res, err := do(store.OpRemoveBrickCommit)
		if err != nil {
			return nil, fmt.Errorf("volume remove-brick commit: %w", err)
		}
		return api.Message{Message: "volume remove-brick commit: success", Volume: res.Volume}, nil
	case "force":
		if _, err := store.ApplyCommand(st.Clone(), &store.Command{Op: store.OpRemoveBrickStart, Name: req.Name, Bricks: bricks}); err != nil {
			return nil, fmt.Errorf("volume remove-brick: %w", err)
		}
		if _, err := do(store.OpRemoveBrickStart); err != nil {
			return nil, fmt.Errorf("volume remove-brick: %w", err)
		}
		res, err := do(store.OpRemoveBrickCommit)
		if err != nil {
			return nil, fmt.Errorf("volume remove-brick: %w", err)
		}
		return api.Message{Message: "volume remove-brick commit force: success (files on the removed bricks were not migrated)", Volume: res.Volume}, nil
	}
	return nil, fmt.Errorf("volume remove-brick: unknown action %q (start, status, stop, commit, force)", req.Action)
}

func (d *Daemon) hReplaceBrick(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.BrickRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	st, v, err := d.volume(req.Name)
	if err != nil {
		return nil, fmt.Errorf("volume replace-brick: %w", err)
	}
	bs, err := resolveBricks(ctx, st, []string{req.Old, req.New})
	if err != nil {
		return nil, fmt.Errorf("volume replace-brick: %w", err)
	}
	c := &store.Command{Op: store.OpReplaceBrick, Name: req.Name, Old: &bs[0], New: &bs[1], ExpectVersion: v.Version}
	if _, err := store.ApplyCommand(st.Clone(), c); err != nil {
		return nil, fmt.Errorf("volume replace-brick: %w", err)
	}
	found, err := d.stageBricks(ctx, st, v.ID, bs[1:], req.Force)
	if err != nil {
		return nil, fmt.Errorf("volume replace-brick: %w", err)
	}
	if other := foreignIDs(found, v.ID); len(other) > 0 {
		return nil, fmt.Errorf("volume replace-brick: %s carries the id of another volume, and a brick process refuses another volume's brick (remove it first: setfattr -x %s PATH)", strings.Join(other, ", "), VolumeIDXattr)
	}
	res, err := d.apply(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("volume replace-brick: %w", err)
	}
	return api.Message{Message: "volume replace-brick: success: replace-brick commit force operation successful", Volume: res.Volume}, nil
}

func (d *Daemon) hStatedump(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.VolumeRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	st, v, err := d.volume(req.Name)
	if err != nil {
		return nil, fmt.Errorf("volume statedump: %w", err)
	}
	if v.Status != store.StatusStarted {
		return nil, fmt.Errorf("volume statedump: volume %s is not started", req.Name)
	}
	n := d.sup.statedump(req.Name)
	alive := d.alive()
	for _, p := range st.PeerList() {
		if p.ID == d.local.NodeID || !alive[p.ID] {
			continue
		}
		var m api.Message
		if err := api.PeerClient(p.MgmtAddr(), d.secret(), 5*time.Second).Do(ctx, http.MethodPost, "/v1/internal/statedump", &req, &m); err == nil {
			var k int
			fmt.Sscan(m.Message, &k)
			n += k
		}
	}
	return api.Message{Message: fmt.Sprintf("volume statedump: success: %d brick process(es) wrote a statedump under their temporary directory", n)}, nil
}

func (d *Daemon) hInternalStatedump(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.VolumeRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	return api.Message{Message: fmt.Sprint(d.sup.statedump(req.Name))}, nil
}

// hUnsupported answers the operations whose libraries do not exist yet with a reason.
func (d *Daemon) hUnsupported(_ context.Context, r *http.Request, body []byte) (any, error) {
	var req api.BrickRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if _, _, err := d.volume(req.Name); err != nil {
		return nil, fmt.Errorf("volume %s: %w", req.Action, err)
	}
	why := map[string]string{
		"profile": "brick io-stats counters are not yet collected by the daemon (use statedump)",
	}[strings.Fields(req.Action + " x")[0]]
	if why == "" {
		why = "unknown operation"
	}
	return nil, fmt.Errorf("volume %s: not available: %s", req.Action, why)
}

func (d *Daemon) hVolfile(_ context.Context, r *http.Request, _ []byte) (any, error) {
	q := r.URL.Query()
	st, v, err := d.volume(q.Get("volume"))
	if err != nil {
		return nil, err
	}
	gv := toVolgen(st, v)
	p := volgen.Params{Secret: st.Secret}
	brick := q.Get("brick")
	if brick == "" {
		vf, err := volgen.ClientVolfile(gv, p)
		if err != nil {
			return nil, err
		}
		txt, err := volgen.Text(vf)
		return map[string]string{"volfile": txt}, err
	}
	for i, b := range v.Bricks {
		if b.String() == brick || (st.Peers[b.PeerID] != nil && st.Peers[b.PeerID].Address+":"+b.Path == brick) {
			vf, err := volgen.BrickVolfile(gv, i, p)
			if err != nil {
				return nil, err
			}
			txt, err := volgen.Text(vf)
			return map[string]string{"volfile": txt}, err
		}
	}
	return nil, fmt.Errorf("volume %s has no brick %s", v.Name, brick)
}

func sameBricks(a []string, b []store.Brick) bool {
	if len(b) == 0 {
		return true // start again without naming the bricks
	}
	if len(a) != len(b) {
		return false
	}
	names := make([]string, len(b))
	for i, x := range b {
		names[i] = x.String()
	}
	sort.Strings(names)
	for i := range a {
		if a[i] != names[i] {
			return false
		}
	}
	return true
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own request types are marshalled
	}
	return b
}
