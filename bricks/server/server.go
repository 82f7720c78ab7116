package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/bricks/proto"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/rpc"
)

// Type is the volfile type of this translator.
const Type = "protocol/server"

func init() {
	graph.Register(graph.Registration{
		Type:        Type,
		New:         func() graph.Xlator { return &Server{} },
		Description: "serves the brick graph below it to protocol/client peers over the brick protocol",
		MinChildren: 1, MaxChildren: 1,
		Options: []graph.OptionSpec{
			{Key: "listen", Aliases: []string{"transport.socket.listen-address"}, Type: graph.OptString, Default: "0.0.0.0:24009",
				Description: "address:port to listen on (port 0 picks a free port)"},
			{Key: "transport", Aliases: []string{"transport-type"}, Type: graph.OptEnum, Enum: []string{"epoll", "netconn", "tcp", "socket"}, Default: defaultTransport,
				Description: "epoll (Linux event loop) or netconn (net.Conn); tcp/socket mean the default"},
			{Key: "auth.allow", Aliases: []string{"auth.addr.allow"}, Type: graph.OptList, Default: "*",
				Description: "addresses allowed to connect: *, addresses, CIDRs, wildcards (192.168.*.*)"},
			{Key: "auth.reject", Aliases: []string{"auth.addr.reject"}, Type: graph.OptList,
				Description: "addresses refused; takes precedence over auth.allow"},
			{Key: "auth.secret", Type: graph.OptString, Description: "shared secret clients must prove in the handshake"},
			{Key: "volume-id", Type: graph.OptString, Description: "the volume's id, returned to clients in the handshake"},
			{Key: "workers", Type: graph.OptInt, Default: "256", Min: 1, Max: 65536, Description: "fops running at once"},
		},
	})
}

// Server is the protocol/server translator (GlusterFS xlators/protocol/server): the top of a
// brick graph. It listens, authenticates clients (address rules, then the SETVOLUME handshake
// proving the shared secret), keeps one fd table per client connection, runs fops on its
// subvolume with the caller's credentials and releases a client's fds and locks when its
// connection goes.
type Server struct {
	graph.Passthrough

	auth       atomic.Pointer[authConf] // auth.allow, auth.reject, auth.secret (reconfigurable)
	volumeID   string
	transport  string
	listenAddr string

	inodes *graph.InodeTable
	rpc    *rpc.Server
	addr   net.Addr
	ready  atomic.Bool

	mu      sync.Mutex
	clients map[*rpc.Conn]*clientConn
	ids     map[string]*clientConn
	stopped bool
	relWG   sync.WaitGroup

	stats struct {
		accepted, refused, handshakes, badProofs, malformed atomic.Uint64
	}
}

// authConf is the server's reconfigurable admission configuration.
type authConf struct {
	allow, reject []addrRule
	secret        []byte
}

func parseAuth(o *graph.Options) (*authConf, error) {
	a := &authConf{secret: []byte(o.String("auth.secret"))}
	var err error
	if a.allow, err = parseRules(o.List("auth.allow")); err != nil {
		return nil, fmt.Errorf("protocol/server: auth.allow: %w", err)
	}
	if a.reject, err = parseRules(o.List("auth.reject")); err != nil {
		return nil, fmt.Errorf("protocol/server: auth.reject: %w", err)
	}
	return a, nil
}

// clientConn is the state of one client connection.
type clientConn struct {
	conn   *rpc.Conn
	remote net.Addr

	mu          sync.RWMutex // fops read state under RLock, so concurrent calls do not queue
	state       int          // 0 new, 1 challenged, 2 attached, 3 gone
	id          string
	serverNonce [proto.NonceSize]byte
	clientNonce [proto.NonceSize]byte
	sub         graph.Xlator
	fds         map[uint64]*graph.FD
	nextFD      uint64
	inflight    sync.WaitGroup
	connected   time.Time
}

const (
	stNew = iota
	stChallenged
	stAttached
	stGone
)

// Init validates options and binds the listening socket, so that a port in use fails the brick
// at start; serving starts on PARENT_UP.
func (s *Server) Init(ctx context.Context) error {
	o := s.Options()
	a, err := parseAuth(o)
	if err != nil {
		return err
	}
	s.auth.Store(a)
	s.volumeID = o.String("volume-id")
	s.transport = o.String("transport")
	if s.transport == "tcp" || s.transport == "socket" {
		s.transport = defaultTransport
	}
	s.listenAddr = o.String("listen")
	if g := s.Graph(); g != nil && g.Top == graph.Xlator(s) {
		s.inodes = g.Inodes
	} else {
		s.inodes = graph.NewInodeTable(0)
	}
	s.clients = map[*rpc.Conn]*clientConn{}
	s.ids = map[string]*clientConn{}
	tr, err := transportByName(s.transport)
	if err != nil {
		return err
	}
	s.rpc = rpc.NewServer(rpc.ServerOptions{
		Transport:    tr,
		Workers:      int(o.Int("workers")),
		OnConnect:    s.onConnect,
		OnDisconnect: s.onDisconnect,
	})
	s.rpc.Register(proto.Program, proto.Version, rpc.HandlerFunc(s.serve))
	addr, err := s.rpc.Listen("tcp", s.listenAddr)
	if err != nil {
		s.rpc.Close()
		return fmt.Errorf("protocol/server: listen on %s: %w", s.listenAddr, err)
	}
	s.addr = addr
	s.Logger().Info("brick listening", zap.Stringer("addr", addr), zap.String("transport", tr.Name()))
	return nil
}

// fixedOptions cannot change while the server runs: a new value needs a new brick process.
var fixedOptions = []string{"listen", "transport", "workers", "volume-id"}

// Reconfigure implements graph.Xlator (GlusterFS's server_reconfigure): auth.allow,
// auth.reject and auth.secret change live, and connected clients the new rules refuse are
// disconnected (their fds and locks released as on any disconnect); the others keep their
// connection, fds and locks. A new listen address, transport, worker count or volume id is
// refused: they need a new brick process.
func (s *Server) Reconfigure(opts *graph.Options) error {
	cur := s.Options()
	for _, k := range fixedOptions {
		if opts.String(k) != cur.String(k) && !(k == "listen" && s.addr != nil && opts.String(k) == s.addr.String()) {
			return fmt.Errorf("protocol/server: option %s cannot change while the brick runs (%q → %q); restart the brick", k, cur.String(k), opts.String(k))
		}
	}
	a, err := parseAuth(opts)
	if err != nil {
		return err
	}
	s.auth.Store(a)
	s.mu.Lock()
	var refused []*clientConn
	for _, cc := range s.clients {
		if !authorize(a.allow, a.reject, cc.remote) {
			refused = append(refused, cc)
		}
	}
	s.mu.Unlock()
	for _, cc := range refused {
		s.Logger().Warn("disconnecting a client the new auth.allow/auth.reject refuse", zap.Stringer("peer", cc.remote))
		_ = cc.conn.Close()
	}
	return s.Passthrough.Reconfigure(opts)
}

// Addr returns the address the server listens on (after Init).
func (s *Server) Addr() net.Addr { return s.addr }

// Notify starts serving on PARENT_UP (after forwarding it to the brick graph).
func (s *Server) Notify(ctx context.Context, ev graph.Event, from graph.Xlator) {
	s.ForwardEvent(ctx, ev)
	if ev == graph.EventParentUp {
		s.ready.Store(true)
	}
}

// Fini stops serving: closes the listener and every connection, then releases every client's
// fds and locks.
func (s *Server) Fini() {
	if s.rpc == nil {
		return
	}
	s.ready.Store(false)
	s.rpc.Close()
	s.mu.Lock()
	s.stopped = true
	var all []*clientConn
	for c, cc := range s.clients {
		all = append(all, cc)
		delete(s.clients, c)
	}
	s.mu.Unlock()
	for _, cc := range all {
		s.releaseClient(cc)
	}
	s.relWG.Wait()
}

func (s *Server) onConnect(c *rpc.Conn) {
	info := c.Info()
	if a := s.auth.Load(); !authorize(a.allow, a.reject, info.RemoteAddr) {
		s.stats.refused.Add(1)
		s.Logger().Warn("connection refused by auth.allow/auth.reject", zap.Stringer("peer", info.RemoteAddr))
		_ = c.Close()
		return
	}
	s.stats.accepted.Add(1)
	cc := &clientConn{conn: c, remote: info.RemoteAddr, fds: map[uint64]*graph.FD{}, connected: time.Now()}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_ = c.Close()
		return
	}
	s.clients[c] = cc
	s.mu.Unlock()
}

func (s *Server) onDisconnect(c *rpc.Conn) {
	s.mu.Lock()
	cc := s.clients[c]
	delete(s.clients, c)
	if cc != nil {
		s.relWG.Add(1) // under mu: Fini's Wait comes after it has emptied s.clients under mu
	}
	s.mu.Unlock()
	if cc == nil {
		return
	}
	// Release in the background: wait for the client's fops to return (their contexts are
	// cancelled with the connection) before dropping its fds and locks.
	go func() {
		defer s.relWG.Done()
		s.releaseClient(cc)
	}()
}

// releaseClient drops a gone client's fds and locks: GlusterFS's server_connection_cleanup.
func (s *Server) releaseClient(cc *clientConn) {
	cc.mu.Lock()
	prev := cc.state
	cc.state = stGone
	fds := cc.fds
	cc.fds = map[uint64]*graph.FD{}
	id := cc.id
	cc.mu.Unlock()
	if prev == stGone {
		return
	}
	cc.inflight.Wait()
	for _, fd := range fds {
		fd.Unref()
	}
	if prev == stAttached {
		s.mu.Lock()
		if s.ids[id] == cc {
			delete(s.ids, id)
		}
		s.mu.Unlock()
		if g := s.Graph(); g != nil {
			for _, x := range g.Xlators {
				if rc, ok := x.(interface{ ReleaseClient(string) }); ok {
					rc.ReleaseClient(id)
				}
			}
		} else {
			releaseBelow(s.FirstChild(), id, map[graph.Xlator]bool{})
		}
		s.Logger().Info("client disconnected; fds and locks released", zap.String("client", id), zap.Int("fds", len(fds)))
	}
}

func releaseBelow(x graph.Xlator, id string, seen map[graph.Xlator]bool) {
	if x == nil || seen[x] {
		return
	}
	seen[x] = true
	if rc, ok := x.(interface{ ReleaseClient(string) }); ok {
		rc.ReleaseClient(id)
	}
	for _, c := range x.Children() {
		releaseBelow(c, id, seen)
	}
}

func (cc *clientConn) getFD(n uint64) *graph.FD {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	fd := cc.fds[n]
	if fd != nil {
		fd.Ref()
	}
	return fd
}

func (cc *clientConn) addFD(fd *graph.FD) uint64 {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.state == stGone {
		// the client went while the open ran: nobody can use or release this fd
		go fd.Unref()
		return 0
	}
	cc.nextFD++
	cc.fds[cc.nextFD] = fd
	return cc.nextFD
}

// serve is the RPC handler of the brick program.
func (s *Server) serve(ctx context.Context, call *rpc.Call, r *rpc.Reply) rpc.AcceptStat {
	s.mu.Lock()
	cc := s.clients[call.Conn]
	s.mu.Unlock()
	if cc == nil || !s.ready.Load() {
		// refused connection still draining, or the brick is not serving yet
		return rpc.SystemErr
	}
	d := proto.NewDecoder(call.Args)
	var e proto.Encoder
	switch call.Proc {
	case proto.ProcNull:
		if d.Finish() != nil {
			return s.garbage(cc, call)
		}
		return rpc.Success
	case proto.ProcPing:
		if d.Finish() != nil {
			return s.garbage(cc, call)
		}
		st := proto.Status{}
		st.Encode(&e)
	case proto.ProcChallenge:
		var a proto.ChallengeArgs
		if a.Decode(d) != nil {
			return s.garbage(cc, call)
		}
		s.challenge(cc, &a).Encode(&e)
	case proto.ProcSetvolume:
		var a proto.SetvolumeArgs
		if a.Decode(d) != nil {
			return s.garbage(cc, call)
		}
		s.setvolume(cc, &a).Encode(&e)
	case proto.ProcRelease, proto.ProcReleasedir:
		var a proto.ReleaseArgs
		if a.Decode(d) != nil {
			return s.garbage(cc, call)
		}
		st := proto.Status{}
		cc.mu.Lock()
		fd, ok := cc.fds[a.FD]
		switch {
		case cc.state != stAttached:
			st.Errno = uint32(unix.EPERM)
		case !ok:
			st.Errno = uint32(unix.EBADF)
		default:
			delete(cc.fds, a.FD)
		}
		cc.mu.Unlock()
		if fd != nil && st.Errno == 0 {
			fd.Unref()
		}
		st.Encode(&e)
	default:
		f, ok := proto.FopOf(call.Proc)
		if !ok {
			return rpc.ProcUnavail
		}
		var a proto.Args
		if err := proto.DecodeArgs(call.Args, f, &a); err != nil {
			return s.garbage(cc, call)
		}
		// Under the read lock: many calls at once (WaitGroup.Add is safe concurrently), none
		// while a disconnect changes the state and then waits for inflight.
		cc.mu.RLock()
		attached := cc.state == stAttached
		if attached {
			cc.inflight.Add(1)
		}
		cc.mu.RUnlock()
		if !attached {
			rep := proto.Reply{Errno: uint32(unix.EPERM)}
			_ = proto.EncodeReply(&e, f, &rep)
			break
		}
		defer cc.inflight.Done()
		cr := graph.CredsFrom(ctx)
		creds := &graph.Creds{UID: cr.UID, GID: cr.GID, Groups: cr.Groups, Pid: a.Pid, LkOwner: a.LkOwner, ClientID: cc.id}
		var release func()
		rep := s.fop(graph.WithCreds(ctx, creds), cc, f, &a, &release)
		return s.sendReply(r, f, rep, release)
	}
	_, _ = r.Write(e.Buf)
	return rpc.Success
}

func (s *Server) garbage(cc *clientConn, call *rpc.Call) rpc.AcceptStat {
	s.stats.malformed.Add(1)
	s.Logger().Debug("malformed arguments", zap.Stringer("peer", cc.remote), zap.String("proc", proto.ProcName(call.Proc)))
	return rpc.GarbageArgs
}

func (s *Server) challenge(cc *clientConn, a *proto.ChallengeArgs) *proto.ChallengeReply {
	rep := &proto.ChallengeReply{}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.state != stNew && cc.state != stChallenged {
		rep.Errno = uint32(unix.EISCONN)
		return rep
	}
	if a.ClientID == "" {
		rep.Errno = uint32(unix.EINVAL)
		return rep
	}
	_, _ = rand.Read(cc.serverNonce[:])
	cc.clientNonce = a.ClientNonce
	cc.id = a.ClientID
	cc.state = stChallenged
	rep.ServerNonce = cc.serverNonce
	return rep
}

func (s *Server) setvolume(cc *clientConn, a *proto.SetvolumeArgs) *proto.SetvolumeReply {
	rep := &proto.SetvolumeReply{}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.state != stChallenged || a.ClientID != cc.id {
		rep.Errno = uint32(unix.EPROTO)
		return rep
	}
	secret := s.auth.Load().secret
	want := proto.ClientProof(secret, cc.serverNonce, cc.clientNonce, cc.id, a.Volume)
	if subtle.ConstantTimeCompare(want, a.Proof) != 1 {
		s.stats.badProofs.Add(1)
		s.Logger().Warn("handshake refused: wrong secret proof", zap.Stringer("peer", cc.remote))
		cc.state = stNew // a new CHALLENGE (new nonce) is needed for another try
		rep.Errno = uint32(unix.EACCES)
		return rep
	}
	sub := s.findVolume(a.Volume)
	if sub == nil {
		rep.Errno = uint32(unix.ENOENT)
		return rep
	}
	s.mu.Lock()
	if _, dup := s.ids[cc.id]; dup {
		s.mu.Unlock()
		rep.Errno = uint32(unix.EEXIST)
		return rep
	}
	s.ids[cc.id] = cc
	s.mu.Unlock()
	cc.sub = sub
	cc.state = stAttached
	s.stats.handshakes.Add(1)
	rep.VolumeID = s.volumeID
	rep.ServerProof = proto.ServerProof(secret, cc.serverNonce, cc.clientNonce, cc.id)
	s.Logger().Info("client attached", zap.Stringer("peer", cc.remote), zap.String("client", cc.id), zap.String("volume", a.Volume))
	return rep
}

// findVolume returns the translator below the server named name (remote-subvolume). The
// server's own name is accepted too and means its subvolume.
func (s *Server) findVolume(name string) graph.Xlator {
	if name == s.Name() {
		return s.FirstChild()
	}
	var found graph.Xlator
	var walk func(x graph.Xlator)
	walk = func(x graph.Xlator) {
		if found != nil || x == nil {
			return
		}
		if x.Name() == name {
			found = x
			return
		}
		for _, c := range x.Children() {
			walk(c)
		}
	}
	walk(s.FirstChild())
	return found
}

// Statedump writes the server's state (GlusterFS's statedump sections for protocol/server):
// the listener, the inode table and every client with its open fds.
func (s *Server) Statedump(w io.Writer) {
	fmt.Fprintf(w, "[protocol/server.%s]\n", s.Name())
	fmt.Fprintf(w, "listen=%v\n", s.addr)
	fmt.Fprintf(w, "transport=%s\n", s.transport)
	fmt.Fprintf(w, "connections.accepted=%d\nconnections.refused=%d\nhandshakes=%d\nhandshakes.bad-proof=%d\nrequests.malformed=%d\n",
		s.stats.accepted.Load(), s.stats.refused.Load(), s.stats.handshakes.Load(), s.stats.badProofs.Load(), s.stats.malformed.Load())
	if s.inodes != nil {
		active, lru := s.inodes.Stats()
		fmt.Fprintf(w, "\n[protocol/server.%s.itable]\nactive_size=%d\nlru_size=%d\n", s.Name(), active, lru)
	}
	s.mu.Lock()
	ccs := make([]*clientConn, 0, len(s.clients))
	for _, cc := range s.clients {
		ccs = append(ccs, cc)
	}
	s.mu.Unlock()
	sort.Slice(ccs, func(i, j int) bool { return ccs[i].id < ccs[j].id })
	for i, cc := range ccs {
		cc.mu.Lock()
		fmt.Fprintf(w, "\n[protocol/server.%s.client.%d]\nclient-id=%s\npeer=%v\nattached=%v\nconnected-since=%s\nopen-fds=%d\n",
			s.Name(), i, cc.id, cc.remote, cc.state == stAttached, cc.connected.UTC().Format(time.RFC3339), len(cc.fds))
		nums := make([]uint64, 0, len(cc.fds))
		for n := range cc.fds {
			nums = append(nums, n)
		}
		sort.Slice(nums, func(a, b int) bool { return nums[a] < nums[b] })
		for _, n := range nums {
			fd := cc.fds[n]
			fmt.Fprintf(w, "fd.%d=gfid:%s flags:0%o dir:%v refs:%d\n", n, fd.GFID, fd.Flags, fd.IsDir, fd.Refs())
		}
		cc.mu.Unlock()
	}
}

// Clients returns the number of connected clients (tests, statedump).
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// OpenFDs returns the number of fds open by all clients.
func (s *Server) OpenFDs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, cc := range s.clients {
		cc.mu.Lock()
		n += len(cc.fds)
		cc.mu.Unlock()
	}
	return n
}

// RPCServer returns the underlying RPC server (tests, statedump).
func (s *Server) RPCServer() *rpc.Server { return s.rpc }
