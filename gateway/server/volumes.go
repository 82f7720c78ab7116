package server

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/gateway/export"
	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/volfile"
)

// VolumeSpec is one volume a gateway serves from a client volfile (SetVolumes).
type VolumeSpec struct {
	Name    string
	ID      handle.VolumeID  // carried in file handles; zero: handle.VolumeIDFromName(Name)
	Volfile *volfile.Volfile // the client graph
	// Exports are the volume's exports; nil: /Name to every client (configs.DefaultExports).
	// Each export's Volume must be Name (an empty one is set to it).
	Exports []configs.Export
	// Generation, when it changes, rebuilds the graph even if the volfile's topology is the
	// same (to drop layouts distribute cached, after a remove-brick rewrote them).
	Generation string
}

// volume is one served volume.
type volume struct {
	name  string
	id    handle.VolumeID
	codec *handle.Codec
	top   graph.Xlator // what the protocol servers call: a volTop, or the static top
	log   *zap.Logger
	gw    *Gateway
	// Of a volume served from a volfile (nil active: the static volume of Config.Top).
	active     *graph.Active
	exports    []configs.Export
	text       string // the volfile last switched to
	generation string
	ready      chan struct{} // closed after the first switch (done or failed) or on removal
	readyOnce  sync.Once
	removed    atomic.Bool

	mu      sync.Mutex
	failErr error                      // the last switch's failure
	upAt    map[*graph.Graph]time.Time // when each graph's top reported CHILD_UP
}

func (v *volume) markReady() { v.readyOnce.Do(func() { close(v.ready) }) }

func (v *volume) failure() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.failErr == nil {
		return "not switched yet"
	}
	return v.failErr.Error()
}

// event is the handler of events leaving the top of the volume's graphs.
func (v *volume) event(_ context.Context, ev graph.Event, from graph.Xlator) {
	var g *graph.Graph
	if from != nil {
		g = from.Graph()
	}
	switch ev {
	case graph.EventChildUp:
		v.mu.Lock()
		if v.upAt == nil {
			v.upAt = map[*graph.Graph]time.Time{}
		}
		if _, seen := v.upAt[g]; !seen {
			v.upAt[g] = time.Now()
		}
		v.mu.Unlock()
		v.log.Debug("graph CHILD_UP")
	case graph.EventChildDown:
		v.mu.Lock()
		delete(v.upAt, g)
		v.mu.Unlock()
		if g != nil && v.active.Current() == g {
			v.log.Warn("graph CHILD_DOWN: no brick of the volume is reachable")
		}
	}
}

func (v *volume) upSince(g *graph.Graph) (time.Time, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.upAt[g]
	return t, ok
}

// connector is a translator that connects to a brick (protocol/client).
type connector interface{ Connected() bool }

// upSettle is how long, after the top of a new graph reported CHILD_UP, the gateway waits for its
// other bricks before serving with the ones that are up.
const upSettle = 2 * time.Second

// defaultUpTimeout bounds the wait for a graph without protocol/client ping timeouts.
const defaultUpTimeout = 10 * time.Second

// waitUp is the Ready hook of a switch: it returns once every brick of g is connected, or once
// g's top reported CHILD_UP and the others had upSettle to follow, or at the bound (the gateway's
// UpTimeout, else the graph's longest network.ping-timeout): NFS calls on the volume wait
// meanwhile instead of failing with EROFS/ENOTCONN because the bricks were not reached yet.
func (v *volume) waitUp(ctx context.Context, g *graph.Graph) error {
	var leaves []graph.Xlator
	bound := v.gw.cfg.UpTimeout
	var ping time.Duration
	for _, x := range g.Xlators {
		if _, ok := x.(connector); ok {
			leaves = append(leaves, x)
			if d := x.Options().Duration("network.ping-timeout"); d > ping {
				ping = d
			}
		}
	}
	if len(leaves) == 0 {
		return nil // local leaves only
	}
	if bound <= 0 {
		bound = ping
		if bound <= 0 {
			bound = defaultUpTimeout
		}
	}
	start := time.Now()
	deadline := start.Add(bound)
	v.log.Info("waiting for the volume's bricks before serving the new graph", zap.Int("bricks", len(leaves)), zap.Duration("at-most", bound))
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		var down []string
		for _, x := range leaves {
			if !x.(connector).Connected() {
				down = append(down, x.Name())
			}
		}
		switch up, seen := v.upSince(g); {
		case len(down) == 0:
			v.log.Info("volume graph up: every brick connected", zap.Int("bricks", len(leaves)), zap.Duration("after", time.Since(start).Round(time.Millisecond)))
			return nil
		case seen && time.Since(up) >= upSettle:
			v.log.Warn("serving the volume with some bricks not connected", zap.Strings("down", down), zap.Int("bricks", len(leaves)))
			return nil
		case time.Now().After(deadline):
			v.log.Warn("serving the volume although its graph reported no CHILD_UP in time", zap.Duration("waited", bound), zap.Strings("down", down))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// switchTo makes vf the volume's graph (graph.Active.SwitchWith): in place for the same
// topology, else a new graph that serves once its bricks are up, the NFS FD caches of the volume
// being flushed as it becomes current; the old graph is finalised when its last fop and FD are
// gone.
func (v *volume) switchTo(ctx context.Context, vf *volfile.Volfile, rebuild bool) error {
	// The wait for the new graph's bricks is bounded by waitUp itself; the wait for the old
	// graph's fops and FDs by DrainTimeout from the swap on (then it is finalised in the
	// background when they are done).
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	swapped, err := v.active.SwitchWith(sctx, vf, graph.SwitchHooks{
		Ready:   v.waitUp,
		Rebuild: rebuild,
		Swapped: func(old, _ *graph.Graph) {
			if old != nil {
				time.AfterFunc(v.gw.cfg.DrainTimeout, cancel)
				v.gw.nfs.FlushVolume(v.id)
				v.mu.Lock()
				delete(v.upAt, old)
				v.mu.Unlock()
			}
		},
	})
	if errors.Is(err, graph.ErrOldGraphBusy) {
		v.log.Info("old graph still in use; it is finalised when its last fop or FD is done", zap.Error(err))
		err = nil
	}
	v.mu.Lock()
	v.failErr = err
	v.mu.Unlock()
	v.markReady()
	if err != nil {
		return fmt.Errorf("volume %s: %w", v.name, err)
	}
	how := "reconfigured in place"
	if swapped {
		how = "switched to a new graph"
	}
	v.log.Info("volume graph "+how, zap.Duration("took", time.Since(start).Round(time.Millisecond)))
	return nil
}

// close stops serving the volume and finalises its graph once its fops and FDs are done.
func (v *volume) close(ctx context.Context) {
	v.removed.Store(true)
	v.markReady()
	if v.active == nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, v.gw.cfg.DrainTimeout)
	defer cancel()
	if err := v.active.Close(cctx); err != nil {
		v.log.Info("volume stopped; its graph is finalised when its last FD is closed", zap.Error(err))
		return
	}
	v.log.Info("volume no longer served")
}

// Volume implements mount.Source: the graph top and handle codec of a served volume.
func (g *Gateway) Volume(name string) (graph.Fops, *handle.Codec, bool) {
	v := (*g.vols.Load())[name]
	if v == nil {
		return nil, nil, false
	}
	return v.top, v.codec, true
}

// Exports implements mount.Source: the export table of every served volume.
func (g *Gateway) Exports() *export.Table { return g.exps.Load() }

// Volumes returns the names of the served volumes, sorted.
func (g *Gateway) Volumes() []string {
	m := *g.vols.Load()
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Generations returns, for each volume served from a volfile, the generation its current graph
// was built for (VolumeSpec.Generation; "" when none was given). A volume whose last switch
// failed keeps the generation of the graph it still runs. Supervisors compare it with the
// generation they asked for to learn that a reload has taken effect.
func (g *Gateway) Generations() map[string]string {
	g.volMu.Lock()
	defer g.volMu.Unlock()
	out := map[string]string{}
	for n, v := range *g.vols.Load() {
		if v.active != nil {
			out[n] = v.generation
		}
	}
	return out
}

// VolumeHandles returns the handle codec of a served volume (nil when not served).
func (g *Gateway) VolumeHandles(name string) *handle.Codec {
	if v := (*g.vols.Load())[name]; v != nil {
		return v.codec
	}
	return nil
}

// exportsOf returns the validated exports of a volume spec.
func exportsOf(name string, exps []configs.Export) ([]configs.Export, error) {
	if exps == nil {
		return configs.DefaultExports([]string{"/" + name}).Exports, nil
	}
	out := make([]configs.Export, len(exps))
	for i, e := range exps {
		if e.Volume == "" {
			e.Volume = strings.SplitN(strings.TrimPrefix(path.Clean(e.Path), "/"), "/", 2)[0]
		}
		if e.Volume != name {
			return nil, fmt.Errorf("volume %s: export %s is of volume %q", name, e.Path, e.Volume)
		}
		out[i] = e
	}
	return out, nil
}

// table builds the export table of the static exports and those of vols.
func (g *Gateway) table(vols map[string]*volume) (*export.Table, error) {
	c := &configs.ExportsConfig{}
	if g.cfg.Top != nil {
		c.Exports = append(c.Exports, g.cfg.Exports.Exports...)
	}
	names := make([]string, 0, len(vols))
	for n, v := range vols {
		if v.active != nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		c.Exports = append(c.Exports, vols[n].exports...)
	}
	if len(c.Exports) == 0 {
		return export.Empty(), nil
	}
	return export.NewTable(c, nil)
}

// SetVolumes makes specs the volumes served from volfiles (the static volume of Config.Top, if
// any, stays): a new volume is built and served once its bricks are up (calls on it wait until
// then), a volume no longer listed is removed (its handles become STALE; its graph is finalised
// when its last FD is closed), and a volume whose volfile or generation changed switches graph
// live — without closing any connection or mount. Exports are replaced. Invalid specs (a
// duplicate name or id, a bad export) change nothing; a graph that fails to build leaves the
// volume on its previous graph (or, for a new volume, answering ENOTCONN) and is reported in
// the joined error. SetVolumes returns when every switch has been made.
func (g *Gateway) SetVolumes(ctx context.Context, specs []VolumeSpec) error {
	g.volMu.Lock()
	defer g.volMu.Unlock()
	cur := *g.vols.Load()
	next := map[string]*volume{}
	ids := map[handle.VolumeID]string{}
	for n, v := range cur {
		if v.active == nil { // the static volume
			next[n] = v
			ids[v.id] = n
		}
	}
	type job struct {
		v       *volume
		vf      *volfile.Volfile
		text    string
		gen     string
		rebuild bool
	}
	var jobs []job
	var added []*volume
	keep := map[*volume]bool{}
	oldExports := map[*volume][]configs.Export{}
	applied := false
	defer func() {
		if !applied { // invalid specs change nothing
			for v, e := range oldExports {
				v.exports = e
			}
		}
	}()
	for i := range specs {
		sp := &specs[i]
		if sp.Name == "" || sp.Volfile == nil {
			return fmt.Errorf("gateway: volume %d: a name and a volfile are required", i)
		}
		if _, dup := next[sp.Name]; dup {
			return fmt.Errorf("gateway: volume %s given twice (or it is the static volume)", sp.Name)
		}
		id := sp.ID
		if id == (handle.VolumeID{}) {
			id = handle.VolumeIDFromName(sp.Name)
		}
		if other, dup := ids[id]; dup {
			return fmt.Errorf("gateway: volumes %s and %s have the same id", other, sp.Name)
		}
		ids[id] = sp.Name
		exps, err := exportsOf(sp.Name, sp.Exports)
		if err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
		txt, err := volfile.Format(sp.Volfile)
		if err != nil {
			return fmt.Errorf("gateway: volume %s: %w", sp.Name, err)
		}
		v := cur[sp.Name]
		if v != nil && v.active != nil && v.id == id {
			keep[v] = true
			if string(txt) != v.text || sp.Generation != v.generation {
				jobs = append(jobs, job{v: v, vf: sp.Volfile, text: string(txt), gen: sp.Generation, rebuild: sp.Generation != v.generation})
			}
		} else {
			codec, err := handle.NewCodec(id, g.cfg.Secret)
			if err != nil {
				return fmt.Errorf("gateway: volume %s: %w", sp.Name, err)
			}
			v = &volume{name: sp.Name, id: id, codec: codec, gw: g, ready: make(chan struct{}),
				log: g.log.With(zap.String("volume", sp.Name))}
			v.active = graph.NewActive(g.log.Named(sp.Name), v.event)
			v.top = &routedTop{r: &volTop{v: v}}
			added = append(added, v)
			jobs = append(jobs, job{v: v, vf: sp.Volfile, text: string(txt), gen: sp.Generation})
		}
		if _, saved := oldExports[v]; !saved {
			oldExports[v] = v.exports
		}
		v.exports = exps // applied with the table below
		next[sp.Name] = v
	}
	var removed []*volume
	for _, v := range cur {
		if v.active != nil && !keep[v] {
			removed = append(removed, v)
		}
	}
	tab, err := g.table(next)
	if err != nil {
		return fmt.Errorf("gateway: exports: %w", err)
	}
	applied = true
	for _, v := range removed {
		v.removed.Store(true)
		g.nfs.RemoveVolume(v.id)
	}
	var errs []error
	for _, v := range added {
		if err := g.nfs.AddVolume(v.name, v.top, v.codec); err != nil {
			errs = append(errs, err)
			delete(next, v.name)
			v.markReady()
			for i := range jobs {
				if jobs[i].v == v {
					jobs[i].v = nil
				}
			}
		}
	}
	g.vols.Store(&next)
	g.exps.Store(tab)
	g.nfs.SetExports(tab)
	for _, v := range removed {
		v.log.Info("volume removed from the gateway")
	}
	for _, v := range added {
		v.log.Info("volume added to the gateway; serving it once its graph is up")
	}

	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, v := range removed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.close(ctx)
		}()
	}
	for _, j := range jobs {
		if j.v == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := j.v.switchTo(ctx, j.vf, j.rebuild); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
				return
			}
			j.v.text, j.v.generation = j.text, j.gen
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// VolumeGraph returns the graph a volume served from a volfile currently runs (nil for the
// static volume, an unknown one, or before its first graph is up).
func (g *Gateway) VolumeGraph(name string) *graph.Graph {
	v := (*g.vols.Load())[name]
	if v == nil || v.active == nil {
		return nil
	}
	return v.active.Current()
}
