package nsm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/weftfs/weft/graph/rpc"
)

// Config configures a monitor.
type Config struct {
	Dir      string // state directory (required); created when missing
	Hostname string // our name in SM_NOTIFY (mon_name); default os.Hostname()
	// PortmapPort is the port of the remote hosts' port mappers, through which their statd is
	// found for SM_NOTIFY and SM_MON callbacks; default 111 (tests use another).
	PortmapPort int
	// NotifyFor bounds how long NotifyAll keeps retrying an unreachable host; default 2m.
	NotifyFor time.Duration
	// CallTimeout bounds one notification or callback attempt; default 5s.
	CallTimeout time.Duration
	Transport   rpc.Transport // for outgoing calls; nil: rpc.DefaultTransport()
	Log         *zap.Logger
}

// registration is one SM_MON from a local program.
type registration struct {
	id   MyID
	priv [16]byte
}

// Server is the status monitor of one gateway.
type Server struct {
	cfg   Config
	st    store
	log   *zap.Logger
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	prev  []Host // hosts to notify of this start (sm.bak at Open)
	mu    sync.Mutex
	state int32
	local map[string]Host                // hosts monitored through Monitor (the NLM), by name
	regs  map[string][]registration      // SM_MON registrations, by lower-cased mon_name
	obs   func(name string, state int32) // the in-process observer of SM_NOTIFY
}

// Open reads the state directory, moves the hosts monitored before into the notify list,
// bumps the state number to the next odd value and stores it durably. Call NotifyAll next
// (in the background) to tell the hosts of the restart.
func Open(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("nsm: a state directory is required")
	}
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("nsm: hostname: %w", err)
		}
		cfg.Hostname = h
	}
	if len(cfg.Hostname) > MaxStrLen {
		return nil, fmt.Errorf("nsm: hostname of %d bytes, maximum %d", len(cfg.Hostname), MaxStrLen)
	}
	if cfg.PortmapPort == 0 {
		cfg.PortmapPort = 111
	}
	if cfg.PortmapPort < 0 || cfg.PortmapPort > 65535 {
		return nil, fmt.Errorf("nsm: bad port mapper port %d", cfg.PortmapPort)
	}
	if cfg.NotifyFor <= 0 {
		cfg.NotifyFor = 2 * time.Minute
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	s := &Server{cfg: cfg, st: store{dir: cfg.Dir}, log: cfg.Log, local: map[string]Host{}, regs: map[string][]registration{}}
	if err := s.st.init(); err != nil {
		return nil, err
	}
	old, err := s.st.readState()
	if err != nil {
		return nil, err
	}
	if err := s.st.moveToNotify(); err != nil {
		return nil, err
	}
	prev, bad, err := s.st.hosts(notifyDir)
	if err != nil {
		return nil, err
	}
	for _, b := range bad {
		s.log.Warn("ignoring a corrupt host record", zap.String("file", b))
	}
	s.prev = prev
	s.state = nextUp(old)
	if err := s.st.writeState(s.state); err != nil {
		return nil, err
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.log.Info("status monitor up", zap.Int32("state", s.state), zap.Int("hosts to notify", len(prev)))
	return s, nil
}

// Close stops notifications and callbacks in progress and waits for them.
func (s *Server) Close() {
	s.stop()
	s.wg.Wait()
}

// State returns the current NSM state number (odd).
func (s *Server) State() int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Hostname returns the name this monitor announces in SM_NOTIFY.
func (s *Server) Hostname() string { return s.cfg.Hostname }

// Previous returns the hosts that were monitored before this start (those NotifyAll tells).
// The NLM starts a grace period only when there are some.
func (s *Server) Previous() []Host { return append([]Host(nil), s.prev...) }

// Monitored returns the hosts monitored now, from the state directory.
func (s *Server) Monitored() ([]Host, error) {
	hs, _, err := s.st.hosts(monDir)
	return hs, err
}

// SetObserver installs the function told of every SM_NOTIFY received (the NLM releases the
// host's locks). It runs on an RPC worker; it should not block for long.
func (s *Server) SetObserver(f func(name string, state int32)) {
	s.mu.Lock()
	s.obs = f
	s.mu.Unlock()
}

// Monitor records durably that host holds locks here, so that it is notified after a restart
// (the in-process equivalent of SM_MON from the NLM). It returns once the record is on stable
// storage; recording a host already monitored at the same address costs nothing.
func (s *Server) Monitor(name string, addr netip.Addr) error {
	if name == "" || len(name) > MaxStrLen {
		return fmt.Errorf("nsm: bad host name of %d bytes", len(name))
	}
	h := Host{Name: name, Addr: addr.Unmap()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.local[name]; ok && old == h {
		return nil
	}
	if err := s.st.putHost(monDir, h); err != nil {
		return err
	}
	s.local[name] = h
	return nil
}

// Unmonitor forgets host (it holds no more locks), unless an SM_MON registration still wants it.
func (s *Server) Unmonitor(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.local[name]; !ok {
		return nil
	}
	delete(s.local, name)
	if len(s.regs[strings.ToLower(name)]) > 0 {
		return nil
	}
	return s.st.removeHost(monDir, name)
}

// NotifyAll sends SM_NOTIFY with our new state to every host of Previous, each in its own
// goroutine, retrying with back-off for up to Config.NotifyFor, and removes each host from the
// notify list once it has answered or its time is up. It returns when every host is done or
// ctx ends, with the number of hosts that answered.
func (s *Server) NotifyAll(ctx context.Context) int {
	return s.notify(ctx, s.Previous())
}

func (s *Server) notify(ctx context.Context, hosts []Host) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.notifyOne(ctx, h) {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ok
}

func (s *Server) notifyOne(ctx context.Context, h Host) bool {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.NotifyFor)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	addr := h.Name
	if h.Addr.IsValid() {
		addr = h.Addr.String()
	}
	args := AppendStatChge(nil, &StatChge{MonName: s.cfg.Hostname, State: s.State()})
	delay := 250 * time.Millisecond
	var err error
	for {
		cctx, ccancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
		_, err = CallViaPortmap(cctx, s.cfg.Transport, addr, s.cfg.PortmapPort, &rpc.Request{Prog: Program, Vers: Version, Proc: ProcNotify, Args: args})
		ccancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
			delay = min(2*delay, 10*time.Second)
			continue
		}
		break
	}
	if err != nil && s.ctx.Err() != nil {
		return false // shutting down: keep the host for the next start
	}
	if rerr := s.st.removeHost(notifyDir, h.Name); rerr != nil {
		s.log.Warn("notify list", zap.Error(rerr))
	}
	if err != nil {
		s.log.Warn("host did not answer SM_NOTIFY; giving up", zap.String("host", h.Name), zap.String("addr", addr), zap.Error(err))
		return false
	}
	s.log.Info("notified host of our restart", zap.String("host", h.Name), zap.String("addr", addr))
	return true
}

// Register serves NSM version 1 on srv.
func (s *Server) Register(srv *rpc.Server) { srv.Register(Program, Version, s) }

// isLocal reports whether a call came from this machine (SM_MON and friends are for local
// programs only, XNFS chapter 11 and rpc.statd).
func isLocal(c *rpc.Call) bool {
	if c.Conn == nil {
		return false
	}
	switch a := c.Conn.Info().RemoteAddr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UDPAddr: // NSM over UDP: Linux's lockd calls SM_MON that way
		return a.IP.IsLoopback()
	}
	return false
}

// ServeRPC implements rpc.Handler for NSM version 1 (XNFS chapter 11).
func (s *Server) ServeRPC(ctx context.Context, c *rpc.Call, r *rpc.Reply) rpc.AcceptStat {
	switch c.Proc {
	case ProcNull:
		return rpc.Success
	case ProcStat: // SM_STAT: we monitor any host
		if _, err := DecodeSmName(c.Args); err != nil {
			return rpc.GarbageArgs
		}
		_, _ = r.Write(AppendStatRes(nil, StatSucc, s.State()))
		return rpc.Success
	case ProcMon:
		m, err := DecodeMon(c.Args)
		if err != nil {
			return rpc.GarbageArgs
		}
		res := StatFail
		if isLocal(c) && m.ID.MonName != "" {
			if err := s.addRegistration(m); err == nil {
				res = StatSucc
			} else {
				s.log.Warn("SM_MON", zap.Error(err))
			}
		}
		_, _ = r.Write(AppendStatRes(nil, res, s.State()))
		return rpc.Success
	case ProcUnmon:
		m, err := DecodeMonID(c.Args)
		if err != nil {
			return rpc.GarbageArgs
		}
		if isLocal(c) {
			s.removeRegistrations(func(name string, g registration) bool {
				return name == strings.ToLower(m.MonName) && g.id == m.MyID
			})
		}
		r.AppendUint32(uint32(s.State()))
		return rpc.Success
	case ProcUnmonAll:
		id, err := DecodeMyID(c.Args)
		if err != nil {
			return rpc.GarbageArgs
		}
		if isLocal(c) {
			s.removeRegistrations(func(_ string, g registration) bool { return g.id == id })
		}
		r.AppendUint32(uint32(s.State()))
		return rpc.Success
	case ProcSimuCrash:
		if len(c.Args) != 0 {
			return rpc.GarbageArgs
		}
		if isLocal(c) {
			if err := s.SimulateCrash(); err != nil {
				s.log.Warn("SM_SIMU_CRASH", zap.Error(err))
			}
		}
		return rpc.Success
	case ProcNotify:
		sc, err := DecodeStatChge(c.Args)
		if err != nil {
			return rpc.GarbageArgs
		}
		s.received(sc)
		return rpc.Success
	}
	return rpc.ProcUnavail
}

func (s *Server) addRegistration(m Mon) error {
	key := strings.ToLower(m.ID.MonName)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.regs[key] {
		if g.id == m.ID.MyID {
			return nil
		}
	}
	if _, ok := s.local[m.ID.MonName]; !ok && len(s.regs[key]) == 0 {
		if err := s.st.putHost(monDir, Host{Name: m.ID.MonName}); err != nil {
			return err
		}
	}
	s.regs[key] = append(s.regs[key], registration{id: m.ID.MyID, priv: m.Priv})
	return nil
}

func (s *Server) removeRegistrations(sel func(name string, g registration) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, gs := range s.regs {
		kept := gs[:0]
		for _, g := range gs {
			if !sel(name, g) {
				kept = append(kept, g)
			}
		}
		if len(kept) > 0 {
			s.regs[name] = kept
			continue
		}
		delete(s.regs, name)
		local := false
		for n := range s.local {
			if strings.EqualFold(n, name) {
				local = true
			}
		}
		if !local {
			hs, _, _ := s.st.hosts(monDir)
			for _, h := range hs {
				if strings.EqualFold(h.Name, name) {
					if err := s.st.removeHost(monDir, h.Name); err != nil {
						s.log.Warn("SM_UNMON", zap.Error(err))
					}
				}
			}
		}
	}
}

// SimulateCrash does what SM_SIMU_CRASH asks: the state moves to the next odd number, every
// monitored host goes to the notify list and is notified in the background, and the
// registrations are dropped.
func (s *Server) SimulateCrash() error {
	s.mu.Lock()
	next := nextUp(s.state)
	if err := s.st.writeState(next); err != nil {
		s.mu.Unlock()
		return err
	}
	s.state = next
	err := s.st.moveToNotify()
	s.local = map[string]Host{}
	s.regs = map[string][]registration{}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	hosts, _, err := s.st.hosts(notifyDir)
	if err != nil {
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.notify(s.ctx, hosts)
	}()
	return nil
}

// received handles SM_NOTIFY: the observer is told, then every registration for the host is
// called back in the background (XNFS chapter 11, SM_NOTIFY).
func (s *Server) received(sc StatChge) {
	s.mu.Lock()
	obs := s.obs
	regs := append([]registration(nil), s.regs[strings.ToLower(sc.MonName)]...)
	s.mu.Unlock()
	s.log.Info("SM_NOTIFY received", zap.String("host", sc.MonName), zap.Int32("state", sc.State))
	if obs != nil {
		obs(sc.MonName, sc.State)
	}
	for _, g := range regs {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CallTimeout)
			defer cancel()
			args := AppendStatus(nil, &Status{MonName: sc.MonName, State: sc.State, Priv: g.priv})
			req := &rpc.Request{Prog: uint32(g.id.Prog), Vers: uint32(g.id.Vers), Proc: uint32(g.id.Proc), Args: args}
			if _, err := CallViaPortmap(ctx, s.cfg.Transport, g.id.Name, s.cfg.PortmapPort, req); err != nil {
				s.log.Warn("SM_MON callback failed", zap.String("host", sc.MonName), zap.String("to", g.id.Name), zap.Error(err))
			}
		}()
	}
}
