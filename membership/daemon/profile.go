package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/store"
)

// Volume profiling (GlusterFS's `volume profile`): start and stop set the io-stats options
// diagnostics.latency-measurement and diagnostics.count-fop-hits on or off through the cluster
// store, which reaches the running bricks as a live reconfigure (SIGHUP, no restart); info asks
// every brick of the volume for its figures: the local daemon's bricks over their control
// sockets, the other nodes' through their daemons.

// Profile option keys.
const (
	optLatency = "diagnostics.latency-measurement"
	optCount   = "diagnostics.count-fop-hits"
)

func profiling(v *store.Volume) bool {
	return v.Options[optLatency] == "on" && v.Options[optCount] == "on"
}

func (d *Daemon) hProfile(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.ProfileRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	st, v, err := d.volume(req.Name)
	if err != nil {
		return nil, fmt.Errorf("volume profile: %w", err)
	}
	switch req.Action {
	case "start", "stop":
		if req.Action == "start" && profiling(v) {
			return nil, fmt.Errorf("volume profile start: profile on volume %s is already started", req.Name)
		}
		if req.Action == "stop" && !profiling(v) {
			return nil, fmt.Errorf("volume profile stop: profile on volume %s is not started", req.Name)
		}
		val := map[string]string{"start": "on", "stop": "off"}[req.Action]
		if _, err := d.apply(ctx, &store.Command{Op: store.OpVolumeSet, Name: req.Name, ExpectVersion: v.Version,
			Options: map[string]string{optLatency: val, optCount: val}}); err != nil {
			return nil, fmt.Errorf("volume profile %s: %w", req.Action, err)
		}
		verb := map[string]string{"start": "Starting", "stop": "Stopping"}[req.Action]
		return api.ProfileReply{Message: fmt.Sprintf("%s volume profile on %s has been successful", verb, req.Name), Volume: req.Name}, nil
	case "info":
	default:
		return nil, fmt.Errorf("volume profile: unknown action %q (start, stop, info)", req.Action)
	}
	if !profiling(v) {
		return nil, fmt.Errorf("volume profile info: profile on volume %s is not started (weft volume profile %s start)", req.Name, req.Name)
	}
	if v.Status != store.StatusStarted {
		return nil, fmt.Errorf("volume profile info: volume %s is not started", req.Name)
	}
	byPeer := map[string]map[string]api.BrickProfile{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	alive := d.alive()
	for _, p := range st.PeerList() {
		if p.ID != d.local.NodeID && !alive[p.ID] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []api.BrickProfile
			var err error
			if p.ID == d.local.NodeID {
				got = d.localProfiles(ctx, req.Name)
			} else {
				err = api.PeerClient(p.MgmtAddr(), d.secret(), 10*time.Second).Do(ctx, http.MethodPost, "/v1/internal/profile", &req, &got)
			}
			m := map[string]api.BrickProfile{}
			for _, bp := range got {
				m[bp.Brick] = bp
			}
			if err != nil {
				m[""] = api.BrickProfile{Error: err.Error()}
			}
			mu.Lock()
			byPeer[p.ID] = m
			mu.Unlock()
		}()
	}
	wg.Wait()
	out := api.ProfileReply{Message: "volume profile info: " + req.Name, Volume: req.Name, Bricks: []api.BrickProfile{}}
	for _, b := range v.Bricks {
		name := b.String()
		m, ok := byPeer[b.PeerID]
		bp, found := m[b.Path]
		switch {
		case !ok:
			bp = api.BrickProfile{Error: "peer not reachable"}
		case !found && m[""].Error != "":
			bp = api.BrickProfile{Error: m[""].Error}
		case !found:
			bp = api.BrickProfile{Error: "brick process not running"}
		}
		bp.Brick = name
		out.Bricks = append(out.Bricks, bp)
	}
	return out, nil
}

// localProfiles asks this node's running bricks of volume for their profile; Brick is the
// brick's path.
func (d *Daemon) localProfiles(ctx context.Context, volume string) []api.BrickProfile {
	d.sup.mu.Lock()
	var paths []string
	for _, p := range d.sup.proc {
		if p.spec.kind == "brick" && p.spec.volume == volume {
			paths = append(paths, p.spec.path)
		}
	}
	d.sup.mu.Unlock()
	sort.Strings(paths)
	out := make([]api.BrickProfile, len(paths))
	var wg sync.WaitGroup
	for i, path := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bp, err := brickProfile(ctx, d.brickControlSocket(volume, path))
			if err != nil {
				bp = api.BrickProfile{Error: err.Error()}
			}
			bp.Brick = path
			out[i] = bp
		}()
	}
	wg.Wait()
	return out
}

// brickProfile asks one brick process for its profile over its control socket.
func brickProfile(ctx context.Context, sock string) (api.BrickProfile, error) {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://brick/profile", nil)
	if err != nil {
		return api.BrickProfile{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return api.BrickProfile{}, fmt.Errorf("brick control socket: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return api.BrickProfile{}, fmt.Errorf("brick: %s", e.Error)
	}
	var bp api.BrickProfile
	if err := json.NewDecoder(resp.Body).Decode(&bp); err != nil {
		return api.BrickProfile{}, fmt.Errorf("brick profile: %w", err)
	}
	return bp, nil
}

func (d *Daemon) hInternalProfile(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.ProfileRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	return d.localProfiles(ctx, req.Name), nil
}
