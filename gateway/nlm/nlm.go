package nlm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/gateway/nsm"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/rpc"
)

// DefaultGrace is the grace period after a restart when Config.Grace is zero.
const DefaultGrace = 45 * time.Second

// Config configures the lock manager.
type Config struct {
	Top     graph.Xlator  // the top of the activated client graph; it must implement Lk (features/locks below)
	Handles *handle.Codec // the gateway's file handle codec
	// NSM is the status monitor: hosts that take locks are recorded there, its SM_NOTIFY
	// observer releases a rebooted host's locks, and the hosts it lists from before the start
	// decide the grace period. Nil: no monitoring and no grace period unless GraceAlways.
	NSM *nsm.Server
	// Grace is the length of the grace period after a start (only reclaims are accepted;
	// XNFS chapter 9, "crash recovery"); 0 means DefaultGrace, negative disables it. The period is
	// entered only when the NSM lists hosts that held locks before the start (there is nothing
	// to reclaim otherwise), or always with GraceAlways.
	Grace       time.Duration
	GraceAlways bool
	// Hostname is our caller_name in GRANTED callbacks; default the NSM's, else os.Hostname().
	Hostname string
	// PortmapPort is the port of the clients' port mappers, through which their lock manager is
	// found for GRANTED callbacks and *_RES replies; default 111.
	PortmapPort int
	// CallbackDelays are the waits before each attempt at a GRANTED callback (default 0, 1s,
	// 4s, 15s). A client that is never reached keeps its lock: it polls with LOCK again and is
	// answered GRANTED (Linux's lockd re-polls every 30 s).
	CallbackDelays []time.Duration
	CallTimeout    time.Duration // one outgoing call; default 5s
	Transport      rpc.Transport // for outgoing calls; nil: rpc.DefaultTransport()
	Log            *zap.Logger
}

// Server is the NLM service of one gateway. It keeps no lock state of its own beyond
// bookkeeping: the locks live in the graph (features/locks), so they hold across every gateway
// over the same volume.
type Server struct {
	cfg  Config
	top  graph.Xlator
	log  *zap.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	graceEnd atomic.Int64 // end of the grace period, Unix nanoseconds; 0: none (EndGrace may race with calls)

	mu        sync.Mutex
	files     map[fileKey]*fileState
	hostFiles map[string]int // files with state per host
	closed    bool
	monMu     sync.Mutex // orders Monitor/Unmonitor decisions
	shares    shareTable
	cookieSeq atomic.Uint64
	byCookie  map[string]*block // blocks awaiting their GRANTED answer, by cookie
}

// New returns a lock manager; Register serves it.
func New(cfg Config) (*Server, error) {
	if cfg.Top == nil || cfg.Handles == nil {
		return nil, errors.New("nlm: Top and Handles are required")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Hostname == "" && cfg.NSM != nil {
		cfg.Hostname = cfg.NSM.Hostname()
	}
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("nlm: hostname: %w", err)
		}
		cfg.Hostname = h
	}
	if len(cfg.Hostname) > MaxStrLen {
		cfg.Hostname = cfg.Hostname[:MaxStrLen]
	}
	if cfg.PortmapPort == 0 {
		cfg.PortmapPort = 111
	}
	if cfg.PortmapPort < 0 || cfg.PortmapPort > 65535 {
		return nil, fmt.Errorf("nlm: bad port mapper port %d", cfg.PortmapPort)
	}
	if cfg.CallbackDelays == nil {
		cfg.CallbackDelays = []time.Duration{0, time.Second, 4 * time.Second, 15 * time.Second}
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 5 * time.Second
	}
	s := &Server{cfg: cfg, top: cfg.Top, log: cfg.Log, files: map[fileKey]*fileState{}, hostFiles: map[string]int{}}
	s.shares.m = map[fileID][]shareEntry{}
	s.ctx, s.stop = context.WithCancel(context.Background())
	prev := 0
	if cfg.NSM != nil {
		prev = len(cfg.NSM.Previous())
		cfg.NSM.SetObserver(func(name string, state int32) { s.ReleaseHost(name) })
	}
	if cfg.Grace > 0 && (prev > 0 || cfg.GraceAlways) {
		s.graceEnd.Store(time.Now().Add(cfg.Grace).UnixNano())
		s.log.Info("grace period: only lock reclaims are accepted", zap.Duration("for", cfg.Grace), zap.Int("hosts to reclaim", prev))
	}
	return s, nil
}

// Register serves NLM versions 1, 3 and 4 on srv.
func (s *Server) Register(srv *rpc.Server) {
	for _, v := range []uint32{V1, V3, V4} {
		srv.Register(Program, v, s)
	}
}

// InGrace reports whether the grace period is running.
func (s *Server) InGrace() bool {
	end := s.graceEnd.Load()
	return end != 0 && time.Now().UnixNano() < end
}

// EndGrace ends the grace period now.
func (s *Server) EndGrace() { s.graceEnd.Store(0) }

// Close cancels blocked requests, releases every lock taken through this lock manager (by
// closing its FDs) and waits for its background work.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	hosts := make([]string, 0, len(s.hostFiles))
	for h := range s.hostFiles {
		hosts = append(hosts, h)
	}
	s.mu.Unlock()
	s.stop()
	for _, h := range hosts {
		s.releaseHost(h, false)
	}
	s.wg.Wait()
}

// Stats counts the lock manager's state (tests, statedump).
type Stats struct {
	Files   int // (host, file) pairs with locks, blocked requests or FDs
	Blocked int // blocked requests waiting or awaiting their GRANTED callback
	OpenFDs int
	Shares  int
}

// Stats returns the current counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	fss := make([]*fileState, 0, len(s.files))
	for _, f := range s.files {
		fss = append(fss, f)
	}
	s.mu.Unlock()
	var st Stats
	st.Files = len(fss)
	for _, f := range fss {
		f.mu.Lock()
		st.Blocked += len(f.blocks)
		if f.fd != nil {
			st.OpenFDs++
		}
		f.mu.Unlock()
	}
	st.Shares = s.shares.count()
	return st
}

// ---- requests ------------------------------------------------------------------------------

// req is what every procedure needs about its call.
type req struct {
	vers uint32
	addr netip.Addr // the caller's address (callbacks)
}

func reqOf(c *rpc.Call) req {
	r := req{vers: c.Vers}
	if c.Conn != nil {
		switch a := c.Conn.Info().RemoteAddr.(type) {
		case *net.TCPAddr:
			r.addr = a.AddrPort().Addr().Unmap()
		case *net.UDPAddr: // NLM over UDP (one datagram per call)
			r.addr = a.AddrPort().Addr().Unmap()
		}
	}
	return r
}

// ownerBytes is the graph lock owner of an NLM lock owner: the caller's host name and svid
// (Linux's lockd identifies owners the same way; the oh netobj is informative). The host name
// is part of the bytes, not only of ClientID, so that owners stay distinct when the graph's
// lock translator sees every gateway client through one connection (protocol/client).
func ownerBytes(host string, svid int32) []byte {
	b := make([]byte, 0, 4+len(host)+1+4)
	b = append(b, "nlm\x00"...)
	b = append(b, host...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, uint32(svid))
}

// clientID is graph.Creds.ClientID for a host's locks.
func clientID(host string) string { return "nlm:" + host }

func (s *Server) lockCtx(ctx context.Context, host string, svid int32) context.Context {
	return graph.WithCreds(ctx, &graph.Creds{Pid: svid, LkOwner: ownerBytes(host, svid), ClientID: clientID(host)})
}

// statOf maps a graph error to an NLM status.
func statOf(err error) Stat {
	switch graph.Errno(err) {
	case 0:
		return Granted
	case unix.EAGAIN, unix.EACCES:
		return Denied
	case unix.EDEADLK:
		return Deadlck
	case unix.EROFS:
		return ROFS
	case unix.ESTALE, unix.ENOENT, unix.EBADF:
		return StaleFH
	case unix.EFBIG, unix.EOVERFLOW:
		return FBig
	case unix.ENOLCK, unix.ENOSYS, unix.EOPNOTSUPP:
		return DeniedNoLocks
	}
	return Failed
}

// ServeRPC implements rpc.Handler for NLM versions 1, 3 and 4.
func (s *Server) ServeRPC(ctx context.Context, c *rpc.Call, r *rpc.Reply) rpc.AcceptStat {
	rq := reqOf(c)
	v := c.Vers
	if v == V1 && c.Proc >= ProcShare {
		return rpc.ProcUnavail
	}
	switch c.Proc {
	case ProcNull:
		return rpc.Success
	case ProcTest, ProcTestMsg:
		a, err := DecodeTestArgs(v, c.Args)
		if err != nil {
			return rpc.GarbageArgs
		}
		res := s.test(ctx, &a)
		res.Stat = res.Stat.forVersion(v)
		body := AppendTestRes(nil, v, &res)
		if c.Proc == ProcTestMsg {
			s.sendRes(rq, ProcTestRes, body)
			return rpc.Success
		}
		_, _ = r.Write(body)
		return rpc.Success
	case ProcLock, ProcLockMsg, ProcNMLock:
		a, err := DecodeLockArgs(v, c.Args)
		if err != nil {
			return rpc.GarbageArgs
		}
		res := Res{Cookie: a.Cookie, Stat: s.lock(ctx, rq, &a, c.Proc != ProcNMLock).forVersion(v)}
		return s.answer(c, r, rq, ProcLockMsg, ProcLockRes, &res)
	case ProcCancel, ProcCancelMsg:
		a, err := DecodeCancArgs(v, c.Args)
		if err != nil {
			return rpc.GarbageArgs
		}
		res := Res{Cookie: a.Cookie, Stat: s.cancel(ctx, &a).forVersion(v)}
		return s.answer(c, r, rq, ProcCancelMsg, ProcCancelRes, &res)
	case ProcUnlock, ProcUnlockMsg:
		a, err := DecodeUnlockArgs(v, c.Args)
		if err != nil {
			return rpc.GarbageArgs
		}
		res := Res{Cookie: a.Cookie, Stat: s.unlock(ctx, &a).forVersion(v)}
		return s.answer(c, r, rq, ProcUnlockMsg, ProcUnlockRes, &res)
	case ProcGranted, ProcGrantedMsg:
		// We are a server: no lock of ours waits for a GRANTED. Refuse it.
		a, err := DecodeTestArgs(v, c.Args)
		if err != nil {
			return rpc.GarbageArgs
		}
		res := Res{Cookie: a.Cookie, Stat: Denied}
		return s.answer(c, r, rq, ProcGrantedMsg, ProcGrantedRes, &res)
	case ProcTestRes:
		if _, err := DecodeTestRes(v, c.Args); err != nil {
			return rpc.GarbageArgs
		}
		return rpc.Success
	case ProcLockRes, ProcCancelRes, ProcUnlockRes:
		if _, err := DecodeRes(c.Args); err != nil {
			return rpc.GarbageArgs
		}
		return rpc.Success
	case ProcGrantedRes: // the asynchronous answer to a GRANTED we sent
		res, err := DecodeRes(c.Args)
		if err != nil {
			return rpc.GarbageArgs
		}
		s.grantedReply(res.Cookie, res.Stat)
		return rpc.Success
	case ProcShare, ProcUnshare:
		a, err := DecodeShareArgs(c.Args)
		if err != nil {
			return rpc.GarbageArgs
		}
		res := ShareRes{Cookie: a.Cookie, Stat: s.share(&a, c.Proc == ProcShare).forVersion(v)}
		_, _ = r.Write(AppendShareRes(nil, &res))
		return rpc.Success
	case ProcFreeAll:
		n, err := DecodeNotify(c.Args)
		if err != nil {
			return rpc.GarbageArgs
		}
		s.ReleaseHost(n.Name)
		return rpc.Success
	}
	return rpc.ProcUnavail
}

// answer replies to a synchronous procedure with res, or, for its _MSG variant, replies void
// and sends res to the caller's lock manager as the _RES call (XNFS chapter 10, "asynchronous
// procedures").
func (s *Server) answer(c *rpc.Call, r *rpc.Reply, rq req, msgProc, resProc uint32, res *Res) rpc.AcceptStat {
	body := AppendRes(nil, res)
	if c.Proc == msgProc {
		s.sendRes(rq, resProc, body)
		return rpc.Success
	}
	_, _ = r.Write(body)
	return rpc.Success
}

// sendRes makes the _RES call back to the caller in the background.
func (s *Server) sendRes(rq req, proc uint32, body []byte) {
	if !rq.addr.IsValid() {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CallTimeout)
		defer cancel()
		if _, err := s.call(ctx, rq.addr, rq.vers, proc, body); err != nil {
			s.log.Debug("NLM _RES callback failed", zap.Stringer("to", rq.addr), zap.Uint32("proc", proc), zap.Error(err))
		}
	}()
}

// call calls the lock manager of the client at addr through its port mapper.
func (s *Server) call(ctx context.Context, addr netip.Addr, vers, proc uint32, args []byte) ([]byte, error) {
	p := rpc.AuthSysParms{Stamp: uint32(time.Now().Unix()), MachineName: s.cfg.Hostname}
	if len(p.MachineName) > rpc.MaxMachineNameBytes {
		p.MachineName = p.MachineName[:rpc.MaxMachineNameBytes]
	}
	cred, err := p.Auth()
	if err != nil {
		return nil, err
	}
	return nsm.CallViaPortmap(ctx, s.cfg.Transport, addr.String(), s.cfg.PortmapPort,
		&rpc.Request{Prog: Program, Vers: vers, Proc: proc, Cred: cred, Args: args})
}

// ReleaseHost releases every lock, blocked request and share reservation of the host called
// name (FREE_ALL; SM_NOTIFY from a rebooted host). Names compare case-insensitively.
func (s *Server) ReleaseHost(name string) {
	s.mu.Lock()
	var hosts []string
	for h := range s.hostFiles {
		if strings.EqualFold(h, name) {
			hosts = append(hosts, h)
		}
	}
	s.mu.Unlock()
	for _, h := range hosts {
		s.releaseHost(h, true)
	}
	s.shares.dropHost(name)
}
