package daemon

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/xlators/cluster/replicate"
	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/store"
	"github.com/weftfs/weft/membership/volgen"
)

// `weft volume heal NAME info|full` (GlusterFS's glfs-heal.c and "heal full") over an in-process
// client graph of the volume with cluster/replicate's heal library; the self-heal daemons that
// heal in the background are supervised processes (`weft heal --volfile V daemon`, one per node
// holding a brick of a replicated volume, glustershd).

// healGraph builds and activates a client graph of v and returns its replicate translators,
// after waiting (up to wait) for their children; bricks still down are reported by HealInfo.
func (d *Daemon) healGraph(ctx context.Context, st *store.State, v *store.Volume, wait time.Duration) (*graph.Graph, []*replicate.AFR, error) {
	if v.Replica <= 1 {
		return nil, nil, fmt.Errorf("volume %s is not a replicated volume", v.Name)
	}
	if v.Status != store.StatusStarted {
		return nil, nil, fmt.Errorf("volume %s is not started", v.Name)
	}
	vf, err := volgen.ClientVolfile(toVolgen(st, v), volgen.Params{Secret: st.Secret})
	if err != nil {
		return nil, nil, err
	}
	g, err := graph.Build(vf, d.log.Named("heal."+v.Name))
	if err != nil {
		return nil, nil, err
	}
	var afrs []*replicate.AFR
	for _, x := range g.Xlators {
		if a, ok := x.(*replicate.AFR); ok {
			afrs = append(afrs, a)
		}
	}
	if err := g.Activate(ctx); err != nil {
		return nil, nil, err
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		all := true
		for _, a := range afrs {
			for i := range a.Children() {
				all = all && a.ChildUp(i)
			}
		}
		if all {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return g, afrs, nil
}

// healInfo gathers the heal info of every replica set of v.
func (d *Daemon) healInfo(ctx context.Context, st *store.State, v *store.Volume, wait time.Duration) (*api.HealReply, error) {
	g, afrs, err := d.healGraph(ctx, st, v, wait)
	if err != nil {
		return nil, err
	}
	defer g.Fini()
	rep := &api.HealReply{Bricks: []api.HealBrick{}}
	pending := map[graph.GFID]bool{}
	r := max(v.Replica, 1)
	for s, a := range afrs {
		infos, err := replicate.HealInfo(ctx, a)
		if err != nil {
			return nil, err
		}
		for i, ci := range infos {
			hb := api.HealBrick{Brick: ci.Child, Up: ci.Up, Error: ci.Err, Entries: []api.HealEntry{}}
			if k := s*r + i; k < len(v.Bricks) {
				hb.Brick = v.Bricks[k].String()
			}
			for _, e := range ci.Entries {
				hb.Entries = append(hb.Entries, api.HealEntry{GFID: e.GFID.String(), Path: e.Path, Status: e.Status})
				pending[e.GFID] = true
			}
			sort.Slice(hb.Entries, func(i, j int) bool { return hb.Entries[i].GFID < hb.Entries[j].GFID })
			rep.Bricks = append(rep.Bricks, hb)
		}
	}
	rep.Pending = len(pending)
	return rep, nil
}

func (d *Daemon) hHeal(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.HealRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	st, v, err := d.volume(req.Name)
	if err != nil {
		return nil, fmt.Errorf("volume heal: %w", err)
	}
	switch req.Action {
	case "info":
		rep, err := d.healInfo(ctx, st, v, 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("volume heal info: %w", err)
		}
		rep.Message = fmt.Sprintf("volume heal info: %s: %d file(s) need heal", req.Name, rep.Pending)
		return rep, nil
	case "full":
		g, afrs, err := d.healGraph(ctx, st, v, 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("volume heal full: %w", err)
		}
		defer g.Fini()
		rep := &api.HealReply{}
		var firstErr error
		for _, a := range afrs {
			sum, err := replicate.HealFull(ctx, a)
			rep.Scanned += sum.Scanned
			rep.Healed += sum.Healed
			for _, g := range sum.SplitBrain {
				rep.SplitBrain = append(rep.SplitBrain, g.String())
			}
			for g, e := range sum.Failed {
				rep.Failed = append(rep.Failed, g.String()+": "+e)
			}
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", a.Name(), err)
			}
		}
		sort.Strings(rep.Failed)
		sort.Strings(rep.SplitBrain)
		if firstErr != nil {
			return nil, fmt.Errorf("volume heal full: %w", firstErr)
		}
		rep.Message = fmt.Sprintf("volume heal full: %s: scanned %d, healed %d, split-brain %d, failed %d", req.Name, rep.Scanned, rep.Healed, len(rep.SplitBrain), len(rep.Failed))
		return rep, nil
	}
	return nil, fmt.Errorf("volume heal: unknown action %q (info, full)", req.Action)
}

// healBacklog returns the number of files needing heal in v, or nil when unknown.
func (d *Daemon) healBacklog(ctx context.Context, st *store.State, v *store.Volume) *int {
	if v.Replica <= 1 || v.Status != store.StatusStarted {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rep, err := d.healInfo(ctx, st, v, 2*time.Second)
	if err != nil {
		return nil
	}
	n := rep.Pending
	return &n
}
