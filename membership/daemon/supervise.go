package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/store"
	"github.com/weftfs/weft/membership/volgen"
)

// Restart backoff of supervised processes.
const (
	backoffMin   = 500 * time.Millisecond
	backoffMax   = 30 * time.Second
	stableRun    = 30 * time.Second // a process that ran this long restarts after backoffMin again
	stopDeadline = 5 * time.Second
)

// spec is a process the supervisor should run.
type spec struct {
	key, kind    string
	volume, path string
	volumes      []string // a gateway: every volume it serves
	host         string
	port         int
	volfilePath  string
	volfile      string
	args         []string
	checkAddr    string // TCP address that accepts connections when the process serves
	logPath      string
	extraPath    string // a second file the process reads (the gateway's export table)
	extra        string
	files        map[string]string // further files the process reads: path → content
	restartKey   string            // changing it restarts the process
	appliedPath  string            // a gateway: where it reports its pid and applied generations
	// reload: the process re-reads its files on SIGHUP (bricks, gateways), so a change of
	// their content alone is applied by rewriting them and sending SIGHUP, not by a restart.
	reload bool
	// argsKey (args + restartKey) changing restarts the process; contentKey (volfile, extra,
	// files) changing reloads a reloadable process and restarts any other.
	argsKey, contentKey string
}

// reloadKinds are the process kinds whose program reloads its files on SIGHUP: `weft brick`
// (graph reconfigure) and `weft gateway`. The self-heal daemon restarts.
var reloadKinds = map[string]bool{"brick": true, "gateway": true}

// proc is a supervised process: started, watched, restarted with backoff until stopped.
type proc struct {
	spec    spec
	content string // the contentKey of the files last written for it (guarded by supervisor.mu)
	stop    chan struct{}
	done    chan struct{}

	mu       sync.Mutex
	pid      int
	running  bool
	restarts int
	lastErr  string
}

type supervisor struct {
	d    *Daemon
	log  *zap.Logger
	mu   sync.Mutex
	proc map[string]*proc
	kc   chan struct{}
	// reloads counts SIGHUPs sent (tests).
	reloads int
	// want computes the desired processes (tests replace it; default desired).
	want func() (map[string]spec, error)
}

func newSupervisor(d *Daemon) *supervisor {
	s := &supervisor{d: d, log: d.log.Named("supervisor"), proc: map[string]*proc{}, kc: make(chan struct{}, 1)}
	s.want = s.desired
	return s
}

func (s *supervisor) kick() {
	select {
	case s.kc <- struct{}{}:
	default:
	}
}

// loop reconciles on every store change and every few seconds.
func (s *supervisor) loop(ctx context.Context) {
	watch := s.d.fsm.Watch()
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	for {
		s.reconcile()
		select {
		case <-ctx.Done():
			return
		case <-watch:
		case <-s.kc:
		case <-t.C:
		}
	}
}

func fileName(s string) string {
	s = strings.Trim(s, "/")
	s = strings.NewReplacer("/", "-", ":", "-").Replace(s)
	if s == "" {
		s = "root"
	}
	return s
}

// desired computes the processes this node should run from the store.
func (s *supervisor) desired() (map[string]spec, error) {
	d := s.d
	st, _ := d.fsm.State()
	out := map[string]spec{}
	if st.ClusterID == "" {
		return out, nil
	}
	p := volgen.Params{Secret: st.Secret}
	var started []string
	for _, name := range st.VolumeNames() {
		v := st.Volumes[name]
		if v.Status != store.StatusStarted {
			continue
		}
		started = append(started, name)
		gv := toVolgen(st, v)
		local := false
		for i, b := range v.Bricks {
			if b.PeerID != d.local.NodeID {
				continue
			}
			vf, err := volgen.BrickVolfile(gv, i, p)
			if err != nil {
				return nil, fmt.Errorf("volume %s brick %s: %w", name, b, err)
			}
			txt, err := volgen.Text(vf)
			if err != nil {
				return nil, err
			}
			base := name + "." + fileName(d.cfg.Advertise+b.Path)
			sp := spec{
				key: "brick:" + name + ":" + b.Path, kind: "brick", volume: name, path: b.Path, host: gv.Bricks[i].Host, port: b.Port,
				volfilePath: d.path("vols", name, base+".vol"), volfile: txt,
				checkAddr: hostPort(gv.Bricks[i].Host, b.Port),
				logPath:   d.path("logs", "bricks", base+".log"),
			}
			// A brick applies option changes live (SIGHUP: graph reconfigure); a change of its
			// graph's shape or listen address restarts it (see cmd/weft/brick.go).
			sp.restartKey = volgen.Topology(vf)
			sp.args = []string{"brick", "--volfile", sp.volfilePath, "--brick-name", b.Path, "--log-level", d.childLogLevel(),
				"--control-socket", d.brickControlSocket(name, b.Path)}
			out[sp.key] = sp
			local = true
		}
		if local && v.Replica > 1 {
			// The self-heal daemon of this node (glustershd): index heals on every brick's
			// return and every interval, over a client graph of the volume.
			vf, err := volgen.ClientVolfile(gv, p)
			if err != nil {
				return nil, err
			}
			txt, err := volgen.Text(vf)
			if err != nil {
				return nil, err
			}
			sp := spec{
				key: "shd:" + name, kind: "shd", volume: name, host: d.cfg.Advertise,
				volfilePath: d.path("vols", name, "shd.vol"), volfile: txt,
				logPath: d.path("logs", "shd-"+name+".log"),
			}
			sp.args = []string{"heal", "--volfile", sp.volfilePath, "--interval", volgen.HealInterval(gv).String(), "daemon"}
			out[sp.key] = sp
		}
	}
	if d.cfg.Gateway {
		sp, ok, err := d.gatewaySpec(st, started, p)
		if err != nil {
			return nil, err
		}
		if ok {
			out[sp.key] = sp
		}
	}
	finishSpecs(out)
	return out, nil
}

// finishSpecs computes the restart and reload keys of specs.
func finishSpecs(out map[string]spec) {
	for k, sp := range out {
		sp.argsKey = strings.Join(sp.args, "\x00") + "\x00" + sp.restartKey
		sp.contentKey = sp.volfile + "\x00" + sp.extra
		for _, f := range sortedKeys(sp.files) {
			sp.contentKey += "\x00" + f + "\x00" + sp.files[f]
		}
		sp.reload = reloadKinds[sp.kind]
		out[k] = sp
	}
}

// childLogLevel is the log level of supervised bricks and gateways: the daemon's.
func (d *Daemon) childLogLevel() string {
	switch d.cfg.LogLevel {
	case "debug", "info", "warn", "error":
		return d.cfg.LogLevel
	}
	return "info"
}

func (s *supervisor) reconcile() {
	want, err := s.want()
	if err != nil {
		s.log.Error("computing processes", zap.Error(err))
		return
	}
	s.mu.Lock()
	var stopping []*proc
	for k, p := range s.proc {
		w, ok := want[k]
		if !ok || w.argsKey != p.spec.argsKey || (w.contentKey != p.content && !w.reload) {
			close(p.stop)
			stopping = append(stopping, p)
			delete(s.proc, k)
		}
	}
	s.mu.Unlock()
	for _, p := range stopping {
		<-p.done
		s.log.Info("process stopped", zap.String("process", p.spec.key))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sp := want[k]
		if p, ok := s.proc[k]; ok {
			if p.content != sp.contentKey {
				s.reloadProc(p, sp)
			}
			continue
		}
		if err := writeFiles(sp); err != nil {
			s.log.Error("writing volfile; retrying later", zap.String("process", k), zap.Error(err))
			continue
		}
		if err := os.MkdirAll(filepath.Dir(sp.logPath), 0o700); err != nil {
			s.log.Error("log dir", zap.Error(err))
		}
		p := &proc{spec: sp, content: sp.contentKey, stop: make(chan struct{}), done: make(chan struct{})}
		s.proc[k] = p
		go p.run(s.d.exe, s.log)
	}
}

// writeFiles writes a process's volfile, extra file and further files, each atomically.
func writeFiles(sp spec) error {
	err := os.MkdirAll(filepath.Dir(sp.volfilePath), 0o700)
	if err == nil {
		err = store.WriteFileAtomic(sp.volfilePath, []byte(sp.volfile), 0o600)
	}
	if err == nil && sp.extraPath != "" {
		err = store.WriteFileAtomic(sp.extraPath, []byte(sp.extra), 0o600)
	}
	for _, f := range sortedKeys(sp.files) {
		if err == nil {
			err = os.MkdirAll(filepath.Dir(f), 0o700)
		}
		if err == nil {
			err = store.WriteFileAtomic(f, []byte(sp.files[f]), 0o600)
		}
	}
	return err
}

// reloadProc rewrites the files of a running reloadable process (same arguments, new content)
// and sends it SIGHUP; called with s.mu held. A process between restarts reads the new files
// when it starts. A write error leaves the recorded content as it was, so the next
// reconciliation tries again.
func (s *supervisor) reloadProc(p *proc, sp spec) {
	if err := writeFiles(sp); err != nil {
		s.log.Error("writing files for a reload; retrying later", zap.String("process", sp.key), zap.Error(err))
		return
	}
	p.content = sp.contentKey
	p.mu.Lock()
	// What the status shows that the content decides: the volumes a gateway serves.
	p.spec.volume, p.spec.volumes = sp.volume, sp.volumes
	pid := p.pid
	p.mu.Unlock()
	if pid <= 0 {
		s.log.Info("files updated; the process reads them when it starts again", zap.String("process", sp.key))
		return
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		s.log.Warn("reload signal", zap.String("process", sp.key), zap.Int("pid", pid), zap.Error(err))
		return
	}
	s.reloads++
	s.log.Info("process reloading (SIGHUP)", zap.String("process", sp.key), zap.Int("pid", pid))
}

// run starts the process and restarts it when it exits, until stop is closed.
func (p *proc) run(exe string, log *zap.Logger) {
	defer close(p.done)
	backoff := backoffMin
	for {
		lf, err := os.OpenFile(p.spec.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			p.setErr(err.Error())
			log.Error("process log", zap.String("process", p.spec.key), zap.Error(err))
		}
		cmd := exec.Command(exe, p.spec.args...)
		if lf != nil {
			cmd.Stdout, cmd.Stderr = lf, lf
		}
		// Children die with the daemon, even on SIGKILL.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
		started := time.Now()
		exited := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			p.setErr("start: " + err.Error())
			exited <- err
		} else {
			p.mu.Lock()
			p.pid, p.running = cmd.Process.Pid, true
			p.mu.Unlock()
			log.Info("process started", zap.String("process", p.spec.key), zap.Int("pid", cmd.Process.Pid))
			go func() { exited <- cmd.Wait() }()
		}
		var werr error
		select {
		case <-p.stop:
			if cmd.Process != nil {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(stopDeadline):
					_ = cmd.Process.Kill()
					<-exited
				}
			}
			p.exited(nil)
			if lf != nil {
				lf.Close()
			}
			return
		case werr = <-exited:
		}
		if lf != nil {
			lf.Close()
		}
		p.exited(werr)
		log.Warn("process exited; restarting", zap.String("process", p.spec.key), zap.Error(werr), zap.Duration("backoff", backoff))
		if time.Since(started) > stableRun {
			backoff = backoffMin
		}
		select {
		case <-p.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, backoffMax)
	}
}

func (p *proc) setErr(s string) {
	p.mu.Lock()
	p.lastErr = s
	p.mu.Unlock()
}

func (p *proc) exited(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running, p.pid = false, 0
	if err != nil {
		p.restarts++
		p.lastErr = "exited: " + err.Error() + " (log: " + p.spec.logPath + ")"
	}
}

func (s *supervisor) stopAll() {
	s.mu.Lock()
	ps := make([]*proc, 0, len(s.proc))
	for k, p := range s.proc {
		close(p.stop)
		ps = append(ps, p)
		delete(s.proc, k)
	}
	s.mu.Unlock()
	for _, p := range ps {
		<-p.done
	}
}

func online(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// status reports this node's processes.
func (s *supervisor) status() api.LocalStatus {
	s.mu.Lock()
	ps := make([]*proc, 0, len(s.proc))
	for _, p := range s.proc {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	sort.Slice(ps, func(i, j int) bool { return ps[i].spec.key < ps[j].spec.key })
	out := api.LocalStatus{PeerID: s.d.local.NodeID, Processes: []api.ProcessStatus{}}
	for _, p := range ps {
		p.mu.Lock()
		st := api.ProcessStatus{Kind: p.spec.kind, Volume: p.spec.volume, Volumes: p.spec.volumes, Host: p.spec.host, Path: p.spec.path, Port: p.spec.port,
			Pid: p.pid, Restarts: p.restarts, LastErr: p.lastErr}
		running := p.running
		p.mu.Unlock()
		st.Online = running && (p.spec.checkAddr == "" || online(p.spec.checkAddr))
		if p.spec.appliedPath != "" && st.Pid > 0 {
			st.Generations = readApplied(p.spec.appliedPath, st.Pid)
		}
		out.Processes = append(out.Processes, st)
	}
	return out
}

// readApplied returns the volume generations a gateway reports in path (its applied.json;
// gateway/server.Applied), or nil when the file is missing, unreadable, or written by another
// process than pid (a gateway that has not reported yet since its restart).
func readApplied(path string, pid int) map[string]string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var a struct {
		Pid         int               `json:"pid"`
		Generations map[string]string `json:"generations"`
	}
	if json.Unmarshal(b, &a) != nil || a.Pid != pid {
		return nil
	}
	return a.Generations
}

// statedump sends SIGUSR1 to the running brick processes of volume and returns how many.
func (s *supervisor) statedump(volume string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.proc {
		p.mu.Lock()
		pid := p.pid
		p.mu.Unlock()
		if p.spec.kind == "brick" && p.spec.volume == volume && pid > 0 {
			if syscall.Kill(pid, syscall.SIGUSR1) == nil {
				n++
			}
		}
	}
	return n
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// brickControlSocket is the unix socket a brick of this node serves its profile (io-stats
// figures) on, for the daemon only. Socket paths are limited to 108 bytes: a state directory
// too deep for it puts the socket in the temporary directory, under a name derived from it.
func (d *Daemon) brickControlSocket(volume, path string) string {
	sum := sha256.Sum256([]byte(volume + "\x00" + path))
	name := hex.EncodeToString(sum[:6]) + ".sock"
	p := d.path("run", name)
	if len(p) > 100 {
		all := sha256.Sum256([]byte(p))
		p = filepath.Join(os.TempDir(), "weft-"+hex.EncodeToString(all[:8])+".sock")
	}
	return p
}
