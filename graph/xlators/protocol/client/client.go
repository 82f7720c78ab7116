package client

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/bricks/proto"
	"github.com/weftfs/weft/graph"
)

// Type is the volfile type of this translator.
const Type = "protocol/client"

func init() {
	graph.Register(graph.Registration{
		Type:        Type,
		New:         func() graph.Xlator { return &Client{} },
		Description: "connects to one brick over the brick protocol (ONC RPC + XDR)",
		MinChildren: 0, MaxChildren: 0,
		Options: []graph.OptionSpec{
			{Key: "remote-host", Type: graph.OptString, Description: "host name or address of the brick"},
			{Key: "remote-port", Type: graph.OptInt, Min: 1, Max: 65535, Description: "TCP port of the brick"},
			{Key: "remote-subvolume", Type: graph.OptString, Description: "volume name in the brick's volfile to attach to"},
			{Key: "transport", Aliases: []string{"transport-type"}, Type: graph.OptEnum, Enum: []string{"epoll", "netconn", "tcp", "socket"}, Default: defaultTransport,
				Description: "epoll (Linux event loop) or netconn (net.Conn); tcp/socket mean the default"},
			{Key: "auth.secret", Type: graph.OptString, Description: "shared secret proven to the brick in the handshake"},
			{Key: "auth.secret-file", Type: graph.OptPath, Description: "file holding the shared secret (trailing newline ignored)"},
			{Key: "network.ping-timeout", Aliases: []string{"ping-timeout"}, Type: graph.OptDuration, Default: "42", Min: 0.01, Max: 3600,
				Description: "a brick that does not answer a ping within this time is disconnected"},
			{Key: "reconnect-backoff-max", Type: graph.OptDuration, Default: "10s", Min: 0.01, Max: 3600,
				Description: "upper bound of the exponential reconnect backoff"},
			{Key: "reconnect-backoff-min", Type: graph.OptDuration, Default: "100ms", Min: 0.001, Max: 3600,
				Description: "first reconnect delay"},
		},
	})
}

// Client is the protocol/client translator (GlusterFS xlators/protocol/client): every fop is
// encoded, sent to one brick and its reply decoded. It keeps one connection, reconnects with a
// bounded exponential backoff, pings the brick and re-opens fds after a reconnect.
type Client struct {
	graph.Base

	addr, subvol, transport string
	secret                  []byte
	pingTimeout             time.Duration
	backoffMin, backoffMax  time.Duration
	idBase                  string

	startOnce sync.Once
	loopCtx   context.Context
	cancel    context.CancelFunc
	loopDone  chan struct{}

	mu        sync.Mutex
	cur       *session // nil while disconnected
	gen       uint64   // connection generation
	firstDone chan struct{}
	started   bool
	fds       map[*remoteFD]struct{}
	closed    bool
}

// session is one handshaken connection.
type session struct {
	conn rpcConn
	gen  uint64
	id   string
	dead chan struct{}
	once sync.Once
}

func (s *session) kill() { s.once.Do(func() { close(s.dead); s.conn.close() }) }

// remoteFD is the client's context of a graph.FD: the brick's fd number in a given connection.
type remoteFD struct {
	c     *Client
	mu    sync.Mutex
	num   uint64
	gen   uint64
	bad   bool
	gfid  graph.GFID
	flags int
	isDir bool
	creds *graph.Creds // the opener's credentials, used to re-open
}

// Release implements graph.Releaser: the last reference of the FD went, close the remote fd.
func (rf *remoteFD) Release() { rf.c.releaseFD(rf) }

// Init validates the options; connecting starts on PARENT_UP (or the first fop).
func (c *Client) Init(ctx context.Context) error {
	o := c.Options()
	host, port := o.String("remote-host"), o.Int("remote-port")
	if host == "" || port == 0 {
		return fmt.Errorf("protocol/client: remote-host and remote-port are required")
	}
	c.addr = net.JoinHostPort(host, strconv.FormatInt(port, 10))
	c.subvol = o.String("remote-subvolume")
	if c.subvol == "" {
		return fmt.Errorf("protocol/client: remote-subvolume is required")
	}
	c.transport = o.String("transport")
	if c.transport == "tcp" || c.transport == "socket" {
		c.transport = defaultTransport
	}
	secret := o.String("auth.secret")
	if p := o.String("auth.secret-file"); p != "" {
		if secret != "" {
			return fmt.Errorf("protocol/client: give auth.secret or auth.secret-file, not both")
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("protocol/client: auth.secret-file: %w", err)
		}
		secret = strings.TrimRight(string(b), "\r\n")
	}
	c.secret = []byte(secret)
	c.pingTimeout = o.Duration("network.ping-timeout")
	c.backoffMin = o.Duration("reconnect-backoff-min")
	c.backoffMax = o.Duration("reconnect-backoff-max")
	if c.backoffMin > c.backoffMax {
		c.backoffMin = c.backoffMax
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	hn, _ := os.Hostname()
	c.idBase = fmt.Sprintf("%s-%d-%s-%s", hn, os.Getpid(), c.Name(), hex.EncodeToString(rnd[:]))
	c.fds = map[*remoteFD]struct{}{}
	c.firstDone = make(chan struct{})
	c.loopDone = make(chan struct{})
	c.loopCtx, c.cancel = context.WithCancel(context.Background())
	return nil
}

// Notify starts connecting on PARENT_UP and forwards events as Base does.
func (c *Client) Notify(ctx context.Context, ev graph.Event, from graph.Xlator) {
	if ev == graph.EventParentUp {
		c.start()
	}
	c.ForwardEvent(ctx, ev)
}

func (c *Client) start() {
	c.startOnce.Do(func() {
		if c.loopCtx == nil {
			return // not initialised
		}
		c.mu.Lock()
		c.started = true
		c.mu.Unlock()
		go c.run()
	})
}

// Fini disconnects and stops reconnecting.
func (c *Client) Fini() {
	if c.cancel == nil {
		return
	}
	c.mu.Lock()
	c.closed = true
	s := c.cur
	c.mu.Unlock()
	c.cancel()
	if s != nil {
		s.kill()
	}
	c.startOnce.Do(func() {}) // no start after Fini
	c.signalFirst()           // fops waiting for a first connection give up
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	if started {
		<-c.loopDone
	}
}

// Connected reports whether the client has a handshaken connection.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil
}

func (c *Client) log() *zap.Logger { return c.Logger() }

// run is the connection loop: connect, serve until the connection dies, back off, repeat.
func (c *Client) run() {
	defer close(c.loopDone)
	ctx := c.loopCtx
	backoff := c.backoffMin
	announced := false // CHILD_CONNECTING sent for the current down period
	for ctx.Err() == nil {
		if !announced {
			c.ForwardEvent(ctx, graph.EventChildConnecting)
			announced = true
		}
		s, err := c.connect(ctx)
		if err != nil {
			c.signalFirst()
			c.log().Debug("connect failed", zap.String("brick", c.addr), zap.Error(err), zap.Duration("retry-in", backoff))
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff *= 2
			if backoff > c.backoffMax {
				backoff = c.backoffMax
			}
			continue
		}
		backoff = c.backoffMin
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			s.kill()
			return
		}
		c.cur = s
		c.mu.Unlock()
		c.signalFirst()
		c.log().Info("connected to brick", zap.String("brick", c.addr), zap.String("subvolume", c.subvol), zap.String("client-id", s.id))
		c.ForwardEvent(ctx, graph.EventChildUp)
		c.pingLoop(ctx, s)
		c.mu.Lock()
		if c.cur == s {
			c.cur = nil
		}
		c.mu.Unlock()
		s.kill()
		c.log().Warn("disconnected from brick", zap.String("brick", c.addr))
		c.ForwardEvent(context.Background(), graph.EventChildDown)
		announced = false
	}
}

func (c *Client) signalFirst() {
	c.mu.Lock()
	select {
	case <-c.firstDone:
	default:
		close(c.firstDone)
	}
	c.mu.Unlock()
}

// pingLoop pings every half ping-timeout and returns when the session dies or a ping fails.
func (c *Client) pingLoop(ctx context.Context, s *session) {
	interval := c.pingTimeout / 2
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.dead:
			return
		case <-s.conn.done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, c.pingTimeout-interval)
		res, release, err := s.conn.call(pctx, proto.ProcPing, nil, [][]byte{nil})
		cancel()
		if err == nil {
			var st proto.Status
			err = st.Decode(proto.NewDecoder(res))
			release()
		}
		if err != nil {
			if ctx.Err() == nil {
				c.log().Warn("ping failed; disconnecting", zap.String("brick", c.addr), zap.Duration("ping-timeout", c.pingTimeout), zap.Error(err))
			}
			return
		}
		t.Reset(interval)
	}
}

// connect dials, handshakes and re-opens the fds of earlier connections.
func (c *Client) connect(ctx context.Context) (*session, error) {
	c.mu.Lock()
	c.gen++
	gen := c.gen
	c.mu.Unlock()
	dctx, cancel := context.WithTimeout(ctx, c.pingTimeout)
	defer cancel()
	conn, err := dialRPC(dctx, c.transport, c.addr)
	if err != nil {
		return nil, err
	}
	s := &session{conn: conn, gen: gen, id: c.idBase + "-" + strconv.FormatUint(gen, 10), dead: make(chan struct{})}
	if err := c.handshake(dctx, s); err != nil {
		s.kill()
		return nil, err
	}
	c.reopen(dctx, s)
	return s, nil
}

func (c *Client) handshake(ctx context.Context, s *session) error {
	ca := proto.ChallengeArgs{ClientID: s.id}
	_, _ = rand.Read(ca.ClientNonce[:])
	var e proto.Encoder
	ca.Encode(&e)
	res, release, err := s.conn.call(ctx, proto.ProcChallenge, nil, [][]byte{e.Buf})
	if err != nil {
		return fmt.Errorf("handshake with %s: CHALLENGE: %w", c.addr, err)
	}
	var cr proto.ChallengeReply
	err = cr.Decode(proto.NewDecoder(res))
	release()
	if err != nil {
		return fmt.Errorf("handshake with %s: CHALLENGE reply: %w", c.addr, err)
	}
	if cr.Errno != 0 {
		return graph.Errorf(unix.Errno(cr.Errno), "handshake with %s: CHALLENGE refused", c.addr)
	}
	sa := proto.SetvolumeArgs{ClientID: s.id, Volume: c.subvol, Proof: proto.ClientProof(c.secret, cr.ServerNonce, ca.ClientNonce, s.id, c.subvol)}
	e = proto.Encoder{}
	sa.Encode(&e)
	res, release, err = s.conn.call(ctx, proto.ProcSetvolume, nil, [][]byte{e.Buf})
	if err != nil {
		return fmt.Errorf("handshake with %s: SETVOLUME: %w", c.addr, err)
	}
	var sr proto.SetvolumeReply
	err = sr.Decode(proto.NewDecoder(res))
	release()
	if err != nil {
		return fmt.Errorf("handshake with %s: SETVOLUME reply: %w", c.addr, err)
	}
	if sr.Errno != 0 {
		return graph.Errorf(unix.Errno(sr.Errno), "handshake with %s: SETVOLUME %s refused", c.addr, c.subvol)
	}
	want := proto.ServerProof(c.secret, cr.ServerNonce, ca.ClientNonce, s.id)
	if subtle.ConstantTimeCompare(want, sr.ServerProof) != 1 {
		return graph.Errorf(unix.EACCES, "handshake with %s: the brick did not prove the shared secret", c.addr)
	}
	return nil
}

// reopen opens again, by GFID and with the original flags, every fd bound to an earlier
// connection. An fd that cannot be re-opened is marked bad: later fops on it fail with EBADFD.
func (c *Client) reopen(ctx context.Context, s *session) {
	c.mu.Lock()
	list := make([]*remoteFD, 0, len(c.fds))
	for rf := range c.fds {
		list = append(list, rf)
	}
	c.mu.Unlock()
	for _, rf := range list {
		rf.mu.Lock()
		skip := rf.bad
		gfid, flags, isDir := rf.gfid, rf.flags, rf.isDir
		rf.mu.Unlock()
		if skip {
			continue
		}
		a := proto.Args{Loc: proto.Loc{GFID: gfid}, Flags: int32(flags &^ (unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC))}
		f := graph.FopOpen
		if isDir {
			f = graph.FopOpendir
		}
		var r proto.Reply
		if rf.creds != nil {
			a.Pid, a.LkOwner = rf.creds.Pid, rf.creds.LkOwner
		}
		err := c.rawCall(ctx, s, f, &a, &r, rf.creds, nil)
		if err == nil && r.Errno != 0 {
			err = unix.Errno(r.Errno)
		}
		rf.mu.Lock()
		if err != nil {
			rf.bad = true
			c.log().Warn("could not re-open fd after reconnect", zap.Stringer("gfid", gfid), zap.Error(err))
		} else {
			rf.num, rf.gen = r.FD, s.gen
		}
		rf.mu.Unlock()
	}
}

// bindFD records the remote fd of a successful create/open/opendir in fd's context.
func (c *Client) bindFD(ctx context.Context, fd *graph.FD, gen, num uint64, gfid graph.GFID, flags int, isDir bool) {
	if fd == nil {
		return
	}
	cr := *graph.CredsFrom(ctx)
	cr.Groups = append([]uint32(nil), cr.Groups...)
	cr.LkOwner = append([]byte(nil), cr.LkOwner...)
	rf := &remoteFD{c: c, num: num, gen: gen, gfid: gfid, flags: flags, isDir: isDir, creds: &cr}
	c.mu.Lock()
	c.fds[rf] = struct{}{}
	c.mu.Unlock()
	if old, ok := fd.DelCtx(c); ok {
		if o, ok := old.(*remoteFD); ok {
			o.Release()
		}
	}
	fd.SetCtx(c, rf)
}

func (c *Client) releaseFD(rf *remoteFD) {
	c.mu.Lock()
	delete(c.fds, rf)
	s := c.cur
	c.mu.Unlock()
	rf.mu.Lock()
	num, gen, bad, isDir := rf.num, rf.gen, rf.bad, rf.isDir
	rf.mu.Unlock()
	if s == nil || bad || gen != s.gen {
		return
	}
	proc := proto.ProcRelease
	if isDir {
		proc = proto.ProcReleasedir
	}
	ra := proto.ReleaseArgs{FD: num}
	var e proto.Encoder
	ra.Encode(&e)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.pingTimeout)
		defer cancel()
		if _, release, err := s.conn.call(ctx, proc, nil, [][]byte{e.Buf}); err == nil {
			release()
		}
	}()
}

// session returns the current connection, waiting for the first connection attempt if none has
// finished yet.
func (c *Client) session(ctx context.Context) (*session, error) {
	c.mu.Lock()
	s, first, closed := c.cur, c.firstDone, c.closed
	c.mu.Unlock()
	if s != nil {
		return s, nil
	}
	if closed || first == nil {
		return nil, graph.Errorf(unix.ENOTCONN, "%s: not connected", c.Name())
	}
	c.start()
	select {
	case <-first:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	s = c.cur
	c.mu.Unlock()
	if s == nil {
		return nil, graph.Errorf(unix.ENOTCONN, "%s: brick %s not connected", c.Name(), c.addr)
	}
	return s, nil
}

func (c *Client) call(ctx context.Context, f graph.Fop, loc *graph.Loc, fd *graph.FD, a *proto.Args, r *proto.Reply) error {
	_, err := c.callGen(ctx, f, loc, fd, a, r)
	return err
}

func (c *Client) what(f graph.Fop, loc *graph.Loc, fd *graph.FD) string {
	switch {
	case loc != nil:
		return fmt.Sprintf("%s: %s %s on %s", c.Name(), f, loc, c.addr)
	case fd != nil:
		return fmt.Sprintf("%s: %s fd <gfid:%s> on %s", c.Name(), f, fd.GFID, c.addr)
	}
	return fmt.Sprintf("%s: %s on %s", c.Name(), f, c.addr)
}

// callGen runs a fop on the current connection and returns the connection's generation.
func (c *Client) callGen(ctx context.Context, f graph.Fop, loc *graph.Loc, fd *graph.FD, a *proto.Args, r *proto.Reply) (uint64, error) {
	return c.callKeep(ctx, f, loc, fd, a, r, nil)
}

// callKeep is callGen; with keep not nil, a successful reply's buffer stays alive (r's byte
// slices, e.g. readv's Data, alias it) and *keep is set to the function that releases it.
// Otherwise the buffer is released before callKeep returns (decoded fields that must outlive
// it are copied by the decoder, except Data).
func (c *Client) callKeep(ctx context.Context, f graph.Fop, loc *graph.Loc, fd *graph.FD, a *proto.Args, r *proto.Reply, keep *func()) (uint64, error) {
	s, err := c.session(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", c.what(f, loc, fd), err)
	}
	if fd != nil {
		v, ok := fd.Ctx(c)
		rf, _ := v.(*remoteFD)
		if !ok || rf == nil {
			return 0, graph.Errorf(unix.EBADFD, "%s: fd not opened through this client", c.what(f, loc, fd))
		}
		rf.mu.Lock()
		num, gen, bad := rf.num, rf.gen, rf.bad
		rf.mu.Unlock()
		if bad || gen != s.gen {
			return 0, graph.Errorf(unix.EBADFD, "%s: fd lost with an earlier connection", c.what(f, loc, fd))
		}
		a.FD = num
	}
	cr := graph.CredsFrom(ctx)
	a.Pid, a.LkOwner = cr.Pid, cr.LkOwner
	if err := c.rawCall(ctx, s, f, a, r, cr, keep); err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("%s: %w", c.what(f, loc, fd), ctx.Err())
		}
		return 0, fmt.Errorf("%s: %w", c.what(f, loc, fd), err)
	}
	if r.Errno != 0 {
		if keep != nil && *keep != nil {
			(*keep)()
			*keep = nil
		}
		return 0, graph.Errorf(unix.Errno(r.Errno), "%s", c.what(f, loc, fd))
	}
	return s.gen, nil
}

// rawCall encodes a, calls, and decodes the reply into r. Transport failures are ENOTCONN.
// The reply's buffer is released unless keep is not nil and the call succeeded: *keep is then
// the (once-only) function that releases it.
func (c *Client) rawCall(ctx context.Context, s *session, f graph.Fop, a *proto.Args, r *proto.Reply, cr *graph.Creds, keep *func()) error {
	e := proto.Encoder{Buf: getBuf()}
	pad, err := proto.EncodeArgsSplit(&e, f, a)
	if err != nil {
		putBuf(e.Buf)
		return err
	}
	segs := [][]byte{e.Buf}
	if len(a.Data) > 0 {
		segs = append(segs, a.Data)
		if len(pad) > 0 {
			segs = append(segs, pad)
		}
	}
	res, release, err := s.conn.call(ctx, proto.ProcOf(f), cr, segs)
	putBuf(e.Buf)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if isConnErr(err) {
			return fmt.Errorf("%v: %w", err, unix.ENOTCONN)
		}
		return err
	}
	err = proto.DecodeReply(res, f, r)
	if keep == nil || err != nil {
		release()
		return err
	}
	*keep = onceFunc(release)
	return nil
}

// onceFunc returns a function that calls f the first time it is called only (a buffer
// released twice would be handed out twice by its pool).
func onceFunc(f func()) func() {
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			f()
		}
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() []byte { return (*bufPool.Get().(*[]byte))[:0] }

func putBuf(b []byte) {
	if cap(b) > 64<<10 {
		return
	}
	bufPool.Put(&b)
}
