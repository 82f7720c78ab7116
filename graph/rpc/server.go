package rpc

import (
	"context"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Call is an incoming call as a handler sees it.
type Call struct {
	XID, Prog, Vers, Proc uint32
	Cred                  Credential // as received; Cred.Sys is decoded for AUTH_SYS
	Verf                  OpaqueAuth
	Args                  []byte // XDR-encoded arguments; valid until ServeRPC returns
	Conn                  *Conn  // the connection (Info, and Call/Do for calls back to the peer)
}

// Handler serves the procedures of one program version. ServeRPC runs on a bounded pool of
// worker goroutines, many at a time per connection. ctx carries the caller's graph.Creds
// (graph.CredsFrom) and is cancelled when the connection closes or the server is closed.
//
// The handler appends its XDR-encoded results to r and returns Success, or returns
// ProcUnavail, GarbageArgs or SystemErr (results appended are then discarded). Instead it
// may call r.Drop (no reply at all), r.RejectAuth (MSG_DENIED AUTH_ERROR) or r.Detach (reply
// later with r.Send, from any goroutine); the return value is then ignored.
type Handler interface {
	ServeRPC(ctx context.Context, call *Call, r *Reply) AcceptStat
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, call *Call, r *Reply) AcceptStat

// ServeRPC calls f.
func (f HandlerFunc) ServeRPC(ctx context.Context, call *Call, r *Reply) AcceptStat {
	return f(ctx, call, r)
}

// ServerOptions configures a Server. The zero value is usable.
type ServerOptions struct {
	Transport     Transport // nil: DefaultTransport()
	MaxRecordSize int       // 0: DefaultMaxRecordSize
	MaxInFlight   int       // per connection: calls read but not yet answered; 0: DefaultMaxInFlight
	Workers       int       // handlers running at once, all connections together; 0: 256
	// Authenticators maps credential flavors to graph.Creds; they replace or extend the
	// defaults (AuthNoneCreds, AuthSysCreds). Calls with other flavors get AUTH_BADCRED.
	Authenticators map[AuthFlavor]Authenticator
	// OnConnect is called when a connection is accepted, before its first call is read, on the
	// transport's goroutine: it must not block (store the *Conn for callbacks, count, log).
	OnConnect func(*Conn)
	// OnDisconnect is called on a goroutine of its own once a connection has closed (Done is
	// closed; pending calls have failed); it may block, e.g. to release the client's locks.
	// Shutdown does not wait for it.
	OnDisconnect func(*Conn)
}

// Server dispatches ONC RPC calls to registered program versions.
type Server struct {
	opts  ServerOptions
	progs atomic.Pointer[map[uint32]*program]
	regMu sync.Mutex
	auth  map[AuthFlavor]Authenticator
	pool  workerPool

	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	listeners []Listener
	conns     map[*Conn]struct{}
	closed    bool
}

type program struct {
	low, high uint32
	vers      map[uint32]Handler
}

// NewServer returns a Server with no programs.
func NewServer(opts ServerOptions) *Server {
	if opts.Transport == nil {
		opts.Transport = DefaultTransport()
	}
	if opts.MaxRecordSize <= 0 {
		opts.MaxRecordSize = DefaultMaxRecordSize
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.Workers <= 0 {
		opts.Workers = 256
	}
	s := &Server{opts: opts, conns: make(map[*Conn]struct{})}
	s.auth = map[AuthFlavor]Authenticator{AuthNone: AuthNoneCreds, AuthSys: AuthSysCreds}
	for f, a := range opts.Authenticators {
		s.auth[f] = a
	}
	s.pool.max = opts.Workers
	s.ctx, s.cancel = context.WithCancel(context.Background())
	empty := map[uint32]*program{}
	s.progs.Store(&empty)
	return s
}

// Register serves version vers of program prog with h. Calls to a registered program with an
// unregistered version are answered PROG_MISMATCH with the lowest and highest registered
// versions; calls to unregistered programs PROG_UNAVAIL. Registering the same program and
// version twice panics (a programming error). Register may be called while serving.
func (s *Server) Register(prog, vers uint32, h Handler) {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	old := *s.progs.Load()
	m := make(map[uint32]*program, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	p := &program{low: vers, high: vers, vers: map[uint32]Handler{}}
	if op := old[prog]; op != nil {
		if _, dup := op.vers[vers]; dup {
			panic(fmt.Sprintf("rpc: program %d version %d registered twice", prog, vers))
		}
		p.low, p.high = min(op.low, vers), max(op.high, vers)
		for k, v := range op.vers {
			p.vers[k] = v
		}
	}
	p.vers[vers] = h
	m[prog] = p
	s.progs.Store(&m)
}

// Programs returns the registered (program, version) pairs, sorted.
func (s *Server) Programs() [][2]uint32 {
	var out [][2]uint32
	for prog, p := range *s.progs.Load() {
		for v := range p.vers {
			out = append(out, [2]uint32{prog, v})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][0] != out[j][0] {
			return out[i][0] < out[j][0]
		}
		return out[i][1] < out[j][1]
	})
	return out
}

// Listen starts serving on a new listening socket and returns its address (useful with port 0).
func (s *Server) Listen(network, address string) (net.Addr, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("rpc: listen on a closed server: %w", unix.EINVAL)
	}
	s.mu.Unlock()
	h := &handlerConn{srv: s, parent: s.ctx, opened: s.opened}
	l, err := s.opts.Transport.Listen(network, address, TransportConfig{MaxRecordSize: s.opts.MaxRecordSize}, h)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = l.Close()
		return nil, fmt.Errorf("rpc: listen on a closed server: %w", unix.EINVAL)
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	return l.Addr(), nil
}

func (s *Server) opened(c *Conn) {
	c.onClose = s.connClosed
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.conns[c] = struct{}{}
	}
	s.mu.Unlock()
	if closed {
		c.onClose = nil
		_ = c.tc.Close()
		return
	}
	if s.opts.OnConnect != nil {
		s.opts.OnConnect(c)
	}
}

func (s *Server) connClosed(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if s.opts.OnDisconnect != nil {
		// On its own goroutine: releasing a client's state may block (fops), and this runs
		// on a transport goroutine (an epoll loop serves many connections).
		go s.opts.OnDisconnect(c)
	}
}

// Conns returns the open connections.
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

func (s *Server) closeListeners() []*Conn {
	s.mu.Lock()
	s.closed = true
	ls := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}
	return s.Conns()
}

// Shutdown stops accepting connections and reading calls, waits for the calls in flight to be
// answered and closes every connection. (Detached replies not yet sent are not waited for.) If ctx ends first, it closes everything at once (as
// Close) and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	for _, c := range s.closeListeners() {
		c.drain()
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			s.cancel()
			return nil
		}
		select {
		case <-ctx.Done():
			_ = s.Close()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Close closes the listeners and every connection at once; calls in flight lose their replies
// and their contexts are cancelled. It does not wait for handlers to return.
func (s *Server) Close() error {
	for _, c := range s.closeListeners() {
		_ = c.tc.Close()
	}
	s.cancel()
	return nil
}

// serverCall is the state of one incoming call.
type serverCall struct {
	call  Call
	reply Reply
	h     Handler
	creds *graph.Creds
	rec   *Buffer
	gids  [MaxAuthSysGIDs]uint32
}

// handleCall decodes, authenticates and dispatches one CALL record. It runs on the
// transport's reading goroutine and does not block.
func (s *Server) handleCall(c *Conn, rec *Buffer) {
	var h callHeader
	switch decodeCallHeader(rec.B, &h) {
	case hdrOK:
	case hdrRPCVers:
		s.replyNow(c, rec, appendRejectedReply(nil, h.xid, RPCMismatch, 0))
		return
	case hdrBadCred:
		s.replyNow(c, rec, appendRejectedReply(nil, h.xid, AuthError, AuthBadCred))
		return
	case hdrBadVerf:
		s.replyNow(c, rec, appendRejectedReply(nil, h.xid, AuthError, AuthBadVerf))
		return
	default:
		rec.Release()
		c.closeWith(fmt.Errorf("malformed RPC message header: %w", unix.EPROTO))
		return
	}
	sc := &serverCall{rec: rec}
	sc.call = Call{XID: h.xid, Prog: h.prog, Vers: h.vers, Proc: h.proc, Verf: h.verf, Args: h.args, Conn: c}
	sc.call.Cred = Credential{Flavor: h.cred.Flavor, Body: h.cred.Body}
	if h.cred.Flavor == AuthSys {
		sys, err := DecodeAuthSys(h.cred.Body, sc.gids[:0])
		if err != nil {
			s.replyNow(c, rec, appendRejectedReply(nil, h.xid, AuthError, AuthBadCred))
			return
		}
		sc.call.Cred.Sys = sys
	}
	auth := s.auth[h.cred.Flavor]
	if auth == nil {
		s.replyNow(c, rec, appendRejectedReply(nil, h.xid, AuthError, AuthBadCred))
		return
	}
	creds, st := auth(&sc.call.Cred, c.info)
	if st != AuthOK {
		s.replyNow(c, rec, appendRejectedReply(nil, h.xid, AuthError, st))
		return
	}
	p := (*s.progs.Load())[h.prog]
	if p == nil {
		s.replyNow(c, rec, appendAcceptedReply(nil, h.xid, ProgUnavail, 0, 0))
		return
	}
	handler := p.vers[h.vers]
	if handler == nil {
		s.replyNow(c, rec, appendAcceptedReply(nil, h.xid, ProgMismatch, p.low, p.high))
		return
	}
	sc.h = handler
	sc.creds = creds
	c.acquire()
	s.pool.submit(sc)
}

// replyNow sends a small reply (an error) built on the reading goroutine, counted as in flight
// until written so that a peer that never reads cannot grow our output queue without bound.
func (s *Server) replyNow(c *Conn, rec *Buffer, msg []byte) {
	rec.Release()
	c.acquire()
	buf := GetBuffer(4 + len(msg))
	buf.B = append(buf.B, 0, 0, 0, 0)
	buf.B = append(buf.B, msg...)
	putRecordMark(buf.B, len(msg))
	_ = c.send([][]byte{buf.B}, func() {
		buf.Release()
		c.release()
	})
}

// run executes the handler of sc on a worker.
func (sc *serverCall) run() {
	c := sc.call.Conn
	r := &sc.reply
	r.init(c, sc)
	ctx := graph.WithCreds(c.ctx, sc.creds)
	stat := sc.serve(ctx, r)
	sc.rec.Release()
	sc.rec = nil
	sc.call.Args = nil
	sc.call.Cred.Body = nil
	sc.call.Cred.Sys.GIDs = nil
	if r.detached {
		c.release()
		return
	}
	switch r.state {
	case replyDropped:
		r.discard()
		c.release()
	case replyAuthRejected:
		r.sendRejected(true)
	default:
		r.send(stat, true)
	}
}

// serve calls the handler, turning a panic into SYSTEM_ERR (a handler bug must not take the
// whole server down with it).
func (sc *serverCall) serve(ctx context.Context, r *Reply) (stat AcceptStat) {
	defer func() {
		if p := recover(); p != nil {
			r.state, r.detached = replyOpen, false
			stat = SystemErr
		}
	}()
	return sc.h.ServeRPC(ctx, &sc.call, r)
}

// workerPool runs calls on at most max goroutines, started on demand; excess calls queue (the
// queue is bounded by the connections' in-flight limits).
type workerPool struct {
	mu     sync.Mutex
	max    int
	active int
	queue  []*serverCall
	head   int
}

func (p *workerPool) submit(sc *serverCall) {
	p.mu.Lock()
	if p.active < p.max {
		p.active++
		p.mu.Unlock()
		go p.work(sc)
		return
	}
	p.queue = append(p.queue, sc)
	p.mu.Unlock()
}

func (p *workerPool) work(sc *serverCall) {
	for sc != nil {
		sc.run()
		p.mu.Lock()
		if p.head < len(p.queue) {
			sc = p.queue[p.head]
			p.queue[p.head] = nil
			p.head++
			if p.head == len(p.queue) {
				p.queue, p.head = p.queue[:0], 0
			}
		} else {
			sc = nil
			p.active--
		}
		p.mu.Unlock()
	}
}
