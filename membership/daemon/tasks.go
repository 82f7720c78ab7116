package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/xlators/cluster/distribute"
	"github.com/weftfs/weft/graph/xlators/cluster/replicate"
	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/store"
	"github.com/weftfs/weft/membership/volgen"
)

// Rebalance and remove-brick data migration (GlusterFS's rebalance process, started by glusterd
// on the nodes of a volume; here one goroutine in the daemon that received the start request,
// over an in-process client graph of the volume). Progress lives in memory on that daemon and
// in its state directory (tasks/VOLUME.json, rewritten at most every second and at the end);
// the status of a task is found by asking every peer. A daemon that restarts shows the last
// status it saved, and resumes a task that was running (both migrations are idempotent walks,
// so resuming is starting again), or marks it failed when it cannot be resumed.
//
// remove-brick start: cluster/distribute has no "decommissioned" subvolume support, so the
// daemon does what GlusterFS's decommission does in two passes over graphs of the whole volume
// (every replica set, so every file stays reachable):
//
//  1. FixLayout (creates directories missing on a subvolume), then every directory's layout is
//     rewritten so the replica sets being removed hold an empty range (0-0) and the others split
//     the hash space (Layout.AssignNew with the removed sets ineligible).
//  2. A fresh graph (empty layout cache: it reads the layouts written in 1) walks the volume and
//     calls distribute.Migrate on every file: a file whose hashed subvolume changed moves there,
//     which takes every file off the removed sets.
//
// Then the removed sets are listed directly: a data file still there (busy, hard-linked, or
// created by a gateway that used a stale layout) fails the task, and commit is refused.
// Known limit: gateways cache directory layouts; one that has not re-looked-up a directory
// may create a new file on a removed set after pass 1; the final check catches it (run start
// again, or commit force).

// task is one running or finished migration.
type task struct {
	mu     sync.Mutex
	st     api.TaskStatus
	cancel context.CancelFunc
	done   chan struct{}

	save func(api.TaskStatus) // persists the status (nil: not persisted)
	// placeholder is set on a task interrupted by a restart while it is being resumed (the
	// resume attempt's context): the resumed task replaces it.
	placeholder context.Context
	saveMu      sync.Mutex // serialises saves
	lastSave    time.Time  // guarded by mu
}

// persist saves the task's status now, or (when !force) if the last save is a second old.
func (t *task) persist(force bool) {
	if t.save == nil {
		return
	}
	t.mu.Lock()
	if !force && time.Since(t.lastSave) < time.Second {
		t.mu.Unlock()
		return
	}
	t.lastSave = time.Now()
	t.mu.Unlock()
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.save(t.status())
}

func (t *task) status() api.TaskStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.st
	s.Bricks = append([]string(nil), t.st.Bricks...)
	return s
}

func (t *task) progress(s distribute.Status) {
	t.mu.Lock()
	t.st.Dirs, t.st.Scanned, t.st.Migrated, t.st.Skipped, t.st.Failed = s.Dirs, s.Scanned, s.Migrated, s.Skipped, s.Failed
	t.st.Bytes, t.st.Current, t.st.LastErr = s.Bytes, s.Current, s.LastErr
	t.st.Leftovers, t.st.Committed, t.st.CommitHash = s.Leftovers, s.Committed, s.CommitHash
	t.mu.Unlock()
	t.persist(false)
}

func (t *task) finish(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.Ended = time.Now().UTC()
	t.st.Current = ""
	switch {
	case errors.Is(err, context.Canceled):
		t.st.State, t.st.Error = api.TaskStopped, "stopped"
	case err != nil:
		t.st.State, t.st.Error = api.TaskFailed, err.Error()
	case t.st.Failed > 0:
		t.st.State, t.st.Error = api.TaskFailed, fmt.Sprintf("%d file(s) could not be migrated (last: %s)", t.st.Failed, t.st.LastErr)
	default:
		t.st.State = api.TaskCompleted
	}
}

// clientGraph builds and activates a client graph of volume v in this process and waits (up
// to wait) until every brick answers. It returns the graph and its distribute translator.
func (d *Daemon) clientGraph(ctx context.Context, st *store.State, v *store.Volume, wait time.Duration) (*graph.Graph, *distribute.DHT, error) {
	vf, err := volgen.ClientVolfile(toVolgen(st, v), volgen.Params{Secret: st.Secret})
	if err != nil {
		return nil, nil, err
	}
	g, err := graph.Build(vf, d.log.Named("graph."+v.Name))
	if err != nil {
		return nil, nil, err
	}
	dht, ok := g.Find(v.Name + "-dht").(*distribute.DHT)
	if !ok {
		return nil, nil, fmt.Errorf("client graph of %s has no %s", v.Name, distribute.Type)
	}
	if err := g.Activate(ctx); err != nil {
		return nil, nil, err
	}
	if err := waitGraphUp(ctx, g, dht, wait); err != nil {
		g.Fini()
		return nil, nil, err
	}
	return g, dht, nil
}

// waitGraphUp waits until every replicate child is up and every distribute subvolume answers
// statfs.
func waitGraphUp(ctx context.Context, g *graph.Graph, dht *distribute.DHT, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		var down []string
		for _, x := range g.Xlators {
			if a, ok := x.(*replicate.AFR); ok {
				for i, c := range a.Children() {
					if !a.ChildUp(i) {
						down = append(down, c.Name())
					}
				}
			}
		}
		for _, s := range dht.Subvols() {
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			_, _, err := s.Statfs(sctx, graph.RootLoc(), nil)
			cancel()
			if err != nil {
				down = append(down, s.Name())
			}
		}
		if len(down) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not every brick is reachable (down: %s); start the volume and bring its bricks online first", strings.Join(down, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func rootCtx(ctx context.Context) context.Context {
	c := *graph.CredsFrom(ctx)
	c.UID, c.GID, c.Groups = 0, 0, nil
	return graph.WithCreds(ctx, &c)
}

// listDir reads a whole directory through x with readdirp.
func listDir(ctx context.Context, x graph.Xlator, dl *graph.Loc) ([]graph.Dirent, error) {
	fd := graph.NewFD(nil, dl.GFID, unix.O_RDONLY|unix.O_DIRECTORY)
	fd.IsDir = true
	defer fd.Unref()
	if _, err := x.Opendir(ctx, dl, fd, nil); err != nil {
		return nil, err
	}
	var out []graph.Dirent
	var off uint64
	for n := 0; n < 1<<20; n++ {
		ents, _, err := x.Readdirp(ctx, fd, 64<<10, off, nil)
		if err != nil {
			return out, err
		}
		if len(ents) == 0 || ents[len(ents)-1].Off == off {
			return out, nil
		}
		out = append(out, ents...)
		off = ents[len(ents)-1].Off
	}
	return out, graph.Errorf(unix.EIO, "listing %s does not end", dl)
}

// walk calls dirFn for every directory (root first) and fileFn for every regular file below
// dir, through x.
func walk(ctx context.Context, x graph.Xlator, dir *graph.Loc, dirFn func(*graph.Loc, graph.Iatt) error, fileFn func(*graph.Loc, graph.Iatt) error) error {
	ents, err := listDir(ctx, x, dir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir.Path, err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.Name == "." || e.Name == ".." || (dir.GFID.IsRoot() && (e.Name == ".glusterfs" || e.Name == ".weft")) {
			continue
		}
		c := dir.Child(e.Name)
		c.GFID = e.Stat.GFID
		switch {
		case e.Type == unix.DT_DIR || e.Stat.IsDir():
			if dirFn != nil {
				if err := dirFn(c, e.Stat); err != nil {
					return err
				}
			}
			if err := walk(ctx, x, c, dirFn, fileFn); err != nil {
				return err
			}
		case (e.Type == unix.DT_REG || e.Stat.IsReg()) && fileFn != nil:
			if err := fileFn(c, e.Stat); err != nil {
				return err
			}
		}
	}
	return nil
}

// removedSets returns the distribute subvolume indices of the replica sets v.RemoveBrick lists.
func removedSets(v *store.Volume) map[int]bool {
	out := map[int]bool{}
	if v.RemoveBrick == nil {
		return out
	}
	gone := map[string]bool{}
	for _, b := range v.RemoveBrick.Bricks {
		gone[b] = true
	}
	r := max(v.Replica, 1)
	for s := 0; s < v.Subvols(); s++ {
		if gone[v.Bricks[s*r].String()] {
			out[s] = true
		}
	}
	return out
}

// decommissionLayouts rewrites the layout of every directory so the subvolumes in removed get
// no hash range (pass 1 of remove-brick start).
func decommissionLayouts(ctx context.Context, dht *distribute.DHT, removed map[int]bool, t *task) error {
	ctx = rootCtx(ctx)
	if err := distribute.FixLayout(ctx, dht, graph.RootLoc()); err != nil {
		return fmt.Errorf("fix-layout: %w", err)
	}
	o := dht.Options()
	hasher, err := distribute.NewHasher(o.String("rsync-hash-regex"), o.String("extra-hash-regex"))
	if err != nil {
		return err
	}
	subs := dht.Subvols()
	dirs := 0
	one := func(dl *graph.Loc) error {
		l := &distribute.Layout{Type: distribute.HashTypeDM, CommitHash: distribute.LayoutHashInvalid}
		for i := range subs {
			rg := distribute.Range{Subvol: i, Name: dht.SubvolName(i), Err: -1}
			if removed[i] {
				rg.Err = int(unix.EROFS) // ineligible: gets 0-0
			}
			l.Ranges = append(l.Ranges, rg)
		}
		path := dl.Path
		if path == "" {
			path = "/"
		}
		l.AssignNew(distribute.AssignParams{Hasher: hasher, Path: path, GFID: dl.GFID.String()})
		for _, rg := range l.Ranges {
			val := distribute.EncodeRange(distribute.LayoutHashInvalid, distribute.HashTypeDM, rg.Start, rg.Stop)
			if _, err := subs[rg.Subvol].Setxattr(ctx, &graph.Loc{GFID: dl.GFID, Path: dl.Path}, graph.Xdata{distribute.XattrLayout: val}, 0, nil); err != nil {
				return fmt.Errorf("writing the layout of %s on %s: %w", path, rg.Name, err)
			}
		}
		dirs++
		t.mu.Lock()
		t.st.Dirs = dirs
		t.st.Current = path
		t.mu.Unlock()
		return nil
	}
	if err := one(graph.RootLoc()); err != nil {
		return err
	}
	return walk(ctx, dht, graph.RootLoc(), func(dl *graph.Loc, _ graph.Iatt) error { return one(dl) }, nil)
}

// migrateAll moves every file to its hashed subvolume (pass 2 of remove-brick start).
func migrateAll(ctx context.Context, dht *distribute.DHT, t *task) error {
	var s distribute.Status
	s.Dirs = t.status().Dirs
	err := walk(rootCtx(ctx), dht, graph.RootLoc(), nil, func(fl *graph.Loc, _ graph.Iatt) error {
		s.Scanned++
		s.Current = fl.Path
		moved, n, err := distribute.Migrate(ctx, dht, fl)
		s.Bytes += n
		switch {
		case err == nil && moved:
			s.Migrated++
		case err == nil:
		case errors.Is(err, distribute.ErrMigrationSkipped):
			s.Skipped++
			s.LastErr = err.Error()
		default:
			s.Failed++
			s.LastErr = err.Error()
		}
		t.progress(s)
		return nil
	})
	t.progress(s)
	return err
}

// leftOn lists the data files (not link files) still on subvolume i, up to 10 paths.
func leftOn(ctx context.Context, dht *distribute.DHT, i int) ([]string, error) {
	var out []string
	sub := dht.Subvols()[i]
	err := walk(rootCtx(ctx), sub, graph.RootLoc(), nil, func(fl *graph.Loc, st graph.Iatt) error {
		if st.Mode&unix.S_ISVTX != 0 && st.Mode&0o777 == 0 {
			return nil // a link file (---------T)
		}
		if len(out) < 10 {
			out = append(out, fl.Path)
		}
		return nil
	})
	return out, err
}

// runTask runs kind on volume name in the background and registers it.
func (d *Daemon) startTask(name, kind string, bricks []string, resumed int, run func(ctx context.Context, t *task) error) (*task, error) {
	d.tasksMu.Lock()
	defer d.tasksMu.Unlock()
	if old := d.tasks[name]; old != nil && old.placeholder == nil && old.status().State == api.TaskRunning {
		return nil, fmt.Errorf("a %s of volume %s is already running on this node", old.status().Kind, name)
	}
	ctx, cancel := context.WithCancel(d.ctx)
	t := &task{cancel: cancel, done: make(chan struct{}), st: api.TaskStatus{Volume: name, Kind: kind, Node: d.cfg.Advertise,
		State: api.TaskRunning, Bricks: bricks, Started: time.Now().UTC(), Resumed: resumed}, save: d.saveTask}
	d.tasks[name] = t
	t.persist(true)
	go func() {
		defer close(t.done)
		defer cancel()
		err := run(ctx, t)
		t.finish(err)
		if d.ctx.Err() == nil {
			// A task cancelled by the daemon's shutdown stays "running" on disk: the daemon
			// resumes it when it starts again.
			t.persist(true)
		}
		s := t.status()
		d.log.Info("task finished", zap.String("volume", name), zap.String("kind", kind), zap.String("state", s.State),
			zap.Int("scanned", s.Scanned), zap.Int("migrated", s.Migrated), zap.Int("failed", s.Failed),
			zap.Int("rename_leftovers_removed", s.Leftovers), zap.Int("dirs_committed", s.Committed), zap.Uint32("commit_hash", s.CommitHash),
			zap.String("error", s.Error))
	}()
	return t, nil
}

// findTask returns the latest task of volume on any reachable node.
func (d *Daemon) findTask(ctx context.Context, name string) *api.TaskStatus {
	var best *api.TaskStatus
	consider := func(s *api.TaskStatus) {
		if s != nil && s.Kind != "" && (best == nil || s.Started.After(best.Started)) {
			best = s
		}
	}
	d.tasksMu.Lock()
	if t := d.tasks[name]; t != nil {
		s := t.status()
		consider(&s)
	}
	d.tasksMu.Unlock()
	st, _ := d.fsm.State()
	alive := d.alive()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range st.PeerList() {
		if p.ID == d.local.NodeID || !alive[p.ID] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r api.TaskReply
			if err := api.PeerClient(p.MgmtAddr(), d.secret(), 3*time.Second).Do(ctx, http.MethodPost, "/v1/internal/task", &api.TaskRequest{Name: name, Action: "status"}, &r); err == nil {
				mu.Lock()
				consider(r.Task)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return best
}

func (d *Daemon) hInternalTask(_ context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.TaskRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	d.tasksMu.Lock()
	t := d.tasks[req.Name]
	d.tasksMu.Unlock()
	if t == nil {
		return api.TaskReply{Message: "none"}, nil
	}
	if req.Action == "stop" {
		t.cancel()
		<-t.done
	}
	s := t.status()
	return api.TaskReply{Message: s.State, Task: &s}, nil
}

// stopTask stops the volume's running task wherever it runs.
func (d *Daemon) stopTask(ctx context.Context, name string) (*api.TaskStatus, error) {
	s := d.findTask(ctx, name)
	if s == nil || s.State != api.TaskRunning {
		return s, nil
	}
	req := &api.TaskRequest{Name: name, Action: "stop"}
	if s.Node == d.cfg.Advertise {
		r, err := d.hInternalTask(ctx, nil, mustJSON(req))
		if err != nil {
			return nil, err
		}
		return r.(api.TaskReply).Task, nil
	}
	st, _ := d.fsm.State()
	p := st.PeerByHost(s.Node)
	if p == nil {
		return nil, fmt.Errorf("the task runs on %s, which is not a peer", s.Node)
	}
	var r api.TaskReply
	if err := api.PeerClient(p.MgmtAddr(), d.secret(), 30*time.Second).Do(ctx, http.MethodPost, "/v1/internal/task", req, &r); err != nil {
		return nil, err
	}
	return r.Task, nil
}

func (d *Daemon) hRebalance(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req api.TaskRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	st, v, err := d.volume(req.Name)
	if err != nil {
		return nil, fmt.Errorf("volume rebalance: %w", err)
	}
	switch req.Action {
	case "status":
		s := d.findTask(ctx, req.Name)
		if s == nil {
			return nil, fmt.Errorf("volume rebalance: %s: no rebalance has run since the daemons started", req.Name)
		}
		return api.TaskReply{Message: fmt.Sprintf("volume rebalance: %s: %s", req.Name, s.State), Task: s}, nil
	case "stop":
		s, err := d.stopTask(ctx, req.Name)
		if err != nil {
			return nil, fmt.Errorf("volume rebalance stop: %w", err)
		}
		if s == nil {
			return nil, fmt.Errorf("volume rebalance stop: %s: no rebalance is running", req.Name)
		}
		return api.TaskReply{Message: fmt.Sprintf("volume rebalance: %s: %s", req.Name, s.State), Task: s}, nil
	case "start":
	default:
		return nil, fmt.Errorf("volume rebalance: unknown action %q (start, status, stop)", req.Action)
	}
	if v.Status != store.StatusStarted {
		return nil, fmt.Errorf("volume rebalance: %s: volume is not started", req.Name)
	}
	if v.RemoveBrick != nil {
		return nil, fmt.Errorf("volume rebalance: %s: a remove-brick is in progress", req.Name)
	}
	if s := d.findTask(ctx, req.Name); s != nil && s.State == api.TaskRunning {
		return nil, fmt.Errorf("volume rebalance: %s: a %s is already running on %s", req.Name, s.Kind, s.Node)
	}
	s, err := d.startRebalance(ctx, st, v, 0)
	if err != nil {
		return nil, fmt.Errorf("volume rebalance: %s: %w", req.Name, err)
	}
	return api.TaskReply{Message: fmt.Sprintf("volume rebalance: %s: success: rebalance started on %s", req.Name, d.cfg.Advertise), Task: s}, nil
}

// startRebalance starts a rebalance of v (resumed: how many times it was resumed before).
func (d *Daemon) startRebalance(ctx context.Context, st *store.State, v *store.Volume, resumed int) (*api.TaskStatus, error) {
	g, dht, err := d.clientGraph(ctx, st, v, 10*time.Second)
	if err != nil {
		return nil, err
	}
	t, err := d.startTask(v.Name, "rebalance", nil, resumed, func(ctx context.Context, t *task) error {
		defer g.Fini()
		_, err := distribute.Rebalance(rootCtx(ctx), dht, t.progress)
		return err
	})
	if err != nil {
		g.Fini()
		return nil, err
	}
	s := t.status()
	return &s, nil
}

// startRemoveBrick starts the data migration off the sets v.RemoveBrick lists.
func (d *Daemon) startRemoveBrick(ctx context.Context, name string, resumed int) (*api.TaskStatus, error) {
	st, v, err := d.volume(name)
	if err != nil {
		return nil, err
	}
	if v.RemoveBrick == nil {
		return nil, fmt.Errorf("no remove-brick recorded for %s", name)
	}
	removed := removedSets(v)
	g1, dht1, err := d.clientGraph(ctx, st, v, 10*time.Second)
	if err != nil {
		return nil, err
	}
	t, err := d.startTask(name, "remove-brick", v.RemoveBrick.Bricks, resumed, func(ctx context.Context, t *task) error {
		err := decommissionLayouts(ctx, dht1, removed, t)
		g1.Fini()
		if err != nil {
			return err
		}
		// The gateways build the volume new graphs to drop the layouts they cached (a new
		// generation in their manifest); wait until each reports it.
		hosts := d.gatewayHosts(ctx, name)
		if _, err := d.apply(ctx, &store.Command{Op: store.OpRemoveBrickLayout, Name: name}); err != nil {
			return err
		}
		if _, v, err := d.volume(name); err == nil {
			d.waitGatewaysApplied(ctx, name, gatewayGeneration(v), hosts, 30*time.Second)
		}
		idx := make([]int, 0, len(removed))
		for i := range removed {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		var left []string
		for pass := 0; pass < 3; pass++ { // files created meanwhile from stale layouts: again
			g2, dht2, err := d.clientGraph(ctx, st, v, 10*time.Second)
			if err != nil {
				return err
			}
			err = migrateAll(ctx, dht2, t)
			left = nil
			for _, i := range idx {
				if err != nil {
					break
				}
				var l []string
				if l, err = leftOn(ctx, dht2, i); err != nil {
					err = fmt.Errorf("checking %s: %w", dht2.SubvolName(i), err)
				}
				left = append(left, l...)
			}
			g2.Fini()
			if err != nil {
				return err
			}
			if len(left) == 0 {
				return nil
			}
		}
		return fmt.Errorf("files remain on the removed bricks (run start again): %s", strings.Join(left, ", "))
	})
	if err != nil {
		g1.Fini()
		return nil, err
	}
	s := t.status()
	return &s, nil
}

// gatewayHosts returns the hosts whose gateway serves volume.
func (d *Daemon) gatewayHosts(ctx context.Context, volume string) map[string]bool {
	st, _ := d.fsm.State()
	out := map[string]bool{}
	for _, ls := range d.localStatuses(ctx, st) {
		for _, p := range ls.Processes {
			if p.Kind == "gateway" && p.Serves(volume) {
				out[p.Host] = true
			}
		}
	}
	return out
}

// waitGatewaysApplied waits, at most wait, until the gateway of every host in hosts serves and
// reports running volume at generation gen. A gateway that cannot (its node is down, the new
// graph fails to build) only delays the task; the migration passes that follow move any file
// created meanwhile from a stale layout.
func (d *Daemon) waitGatewaysApplied(ctx context.Context, volume, gen string, hosts map[string]bool, wait time.Duration) {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st, _ := d.fsm.State()
		ok := map[string]bool{}
		for _, ls := range d.localStatuses(ctx, st) {
			for _, p := range ls.Processes {
				if p.Kind == "gateway" && p.Serves(volume) {
					g, reported := p.Generations[volume]
					ok[p.Host] = p.Online && reported && g == gen
				}
			}
		}
		done := true
		for h := range hosts {
			done = done && ok[h]
		}
		if done {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.log.Warn("not every gateway reported the volume's new generation in time; going on", zap.String("volume", volume), zap.String("generation", gen))
}
