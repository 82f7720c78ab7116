package daemon

import (
	"context"
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
	key, kind     string
	volume, path  string
	host          string
	port          int
	volfilePath   string
	volfile       string
	args          []string
	checkAddr     string // TCP address that accepts connections when the process serves
	logPath       string
	extraPath     string // a second file the process reads (the gateway's export table)
	extra         string
	files         map[string]string // further files the process reads: path → content
	restartKey    string            // changing it restarts the process
	generationKey string            // args + volfile + extra: a change restarts the process
}

// proc is a supervised process: started, watched, restarted with backoff until stopped.
type proc struct {
	spec spec
	stop chan struct{}
	done chan struct{}

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
}

func newSupervisor(d *Daemon) *supervisor {
	return &supervisor{d: d, log: d.log.Named("supervisor"), proc: map[string]*proc{}, kc: make(chan struct{}, 1)}
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
			sp.args = []string{"brick", "--volfile", sp.volfilePath, "--brick-name", b.Path, "--log-level", d.childLogLevel()}
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
	for k, sp := range out {
		sp.generationKey = strings.Join(sp.args, "\x00") + "\x00" + sp.volfile + "\x00" + sp.extra + "\x00" + sp.restartKey
		for _, f := range sortedKeys(sp.files) {
			sp.generationKey += "\x00" + f + "\x00" + sp.files[f]
		}
		out[k] = sp
	}
	return out, nil
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
	want, err := s.desired()
	if err != nil {
		s.log.Error("computing processes", zap.Error(err))
		return
	}
	s.mu.Lock()
	var stopping []*proc
	for k, p := range s.proc {
		if w, ok := want[k]; !ok || w.generationKey != p.spec.generationKey {
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
		if _, ok := s.proc[k]; ok {
			continue
		}
		sp := want[k]
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
		if err != nil {
			s.log.Error("writing volfile; retrying later", zap.String("process", k), zap.Error(err))
			continue
		}
		if err := os.MkdirAll(filepath.Dir(sp.logPath), 0o700); err != nil {
			s.log.Error("log dir", zap.Error(err))
		}
		p := &proc{spec: sp, stop: make(chan struct{}), done: make(chan struct{})}
		s.proc[k] = p
		go p.run(s.d.exe, s.log)
	}
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
		st := api.ProcessStatus{Kind: p.spec.kind, Volume: p.spec.volume, Host: p.spec.host, Path: p.spec.path, Port: p.spec.port,
			Pid: p.pid, Restarts: p.restarts, LastErr: p.lastErr}
		running := p.running
		p.mu.Unlock()
		st.Online = running && (p.spec.checkAddr == "" || online(p.spec.checkAddr))
		out.Processes = append(out.Processes, st)
	}
	return out
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
