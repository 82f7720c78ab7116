package rpc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Conn is one RPC connection, accepted by a Server or made by Dial. Both ends can issue calls
// on it (Call, Do) and both can serve calls (a Server's programs; on a dialed connection those
// of ClientOptions.Server): ONC RPC is symmetric once connected, which is what the NFSv4.1
// backchannel and GlusterFS's server→client callbacks use.
type Conn struct {
	tc          TransportConn
	info        *ConnInfo
	srv         *Server
	maxInFlight int

	ctx    context.Context // base of the handlers' contexts; cancelled when the connection closes
	cancel context.CancelFunc

	mu       sync.Mutex
	pending  map[uint32]*pendingCall
	xid      uint32
	inflight int  // incoming calls whose reply is not yet written (or dropped)
	paused   bool // reading paused for back-pressure or draining
	eof      bool // the peer closed its sending side
	draining bool // Server.Shutdown: close once idle
	err      error
	done     chan struct{}

	onClose func(*Conn)

	// active counts incoming calls in flight plus our calls awaiting replies: when above one,
	// more sends on this connection are likely soon and a transport may batch them.
	active atomic.Int32
	hint   hintSender // the transport's batching-aware Send, if it has one
}

// hintSender is implemented by transports that can batch sends when told that more are
// likely to follow shortly (the epoll transport).
type hintSender interface {
	SendHint(segs [][]byte, done func(), more bool) error
}

// send passes a record to the transport, with a batching hint when it takes one.
func (c *Conn) send(segs [][]byte, done func()) error {
	if c.hint != nil {
		return c.hint.SendHint(segs, done, c.active.Load() > 1)
	}
	return c.tc.Send(segs, done)
}

type pendingCall struct {
	ch chan callResult
}

type callResult struct {
	res []byte
	rec *Buffer // holds res; nil when there is none
	err error
}

func newConn(tc TransportConn, srv *Server, parent context.Context) *Conn {
	c := &Conn{
		tc:          tc,
		info:        tc.Info(),
		srv:         srv,
		maxInFlight: srv.opts.MaxInFlight,
		pending:     make(map[uint32]*pendingCall),
		xid:         rand.Uint32(),
		done:        make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(parent)
	c.hint, _ = tc.(hintSender)
	return c
}

// Info describes the connection.
func (c *Conn) Info() *ConnInfo { return c.info }

// Done is closed when the connection is closed; Err then tells why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns nil while the connection is open, then an error wrapping unix.ENOTCONN (and the
// cause, when there is one).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection. Calls in flight fail with an error wrapping unix.ENOTCONN;
// replies not yet written are lost. Done is closed shortly after (asynchronously).
func (c *Conn) Close() error { return c.tc.Close() }

// Request is a call for Do.
type Request struct {
	Prog, Vers, Proc uint32
	Cred, Verf       OpaqueAuth // the zero value is AUTH_NONE
	Args             []byte     // XDR-encoded arguments, copied into the message
	// Payload segments follow Args on the wire without being copied (scatter/gather I/O), e.g.
	// the data of a WRITE. Add XDR padding yourself where the protocol needs it (xdr.PadBytes).
	// They must stay unchanged until Do returns, or, when Do returns early (ctx done), until
	// OnSent is called.
	Payload [][]byte
	// OnSent, when set, is called once the transport no longer references Payload.
	OnSent func()
	// XID, when not zero, is used instead of a fresh one (retransmission of a call on a new
	// connection keeps its XID so that the server's duplicate request cache recognizes it).
	XID uint32
}

// Call issues a call with XDR-encoded args and credential cred and waits for the reply. On
// MSG_ACCEPTED/SUCCESS it returns the XDR-encoded results, which the caller owns. Any other
// reply is an *Error; a connection failure is an error wrapping unix.ENOTCONN; ctx ending is
// ctx.Err() wrapped (a late reply is then discarded).
func (c *Conn) Call(ctx context.Context, prog, vers, proc uint32, args []byte, cred OpaqueAuth) ([]byte, error) {
	return c.Do(ctx, &Request{Prog: prog, Vers: vers, Proc: proc, Cred: cred, Args: args})
}

// Do issues the call described by req and waits for its reply (see Call). Many calls may be in
// flight on one connection; replies are matched by XID. The results are the caller's for
// good (their buffer is left to the garbage collector); DoPooled hands it back instead.
func (c *Conn) Do(ctx context.Context, req *Request) ([]byte, error) {
	res, _, err := c.DoPooled(ctx, req)
	return res, err
}

// DoPooled is Do with the reply's buffer: res aliases rec, which the caller releases
// (rec.Release, nil-safe) after its last use of res, so the record's buffer goes back to the
// pool the transport reads replies into (a 1 MiB READ reply then reuses a buffer instead of
// faulting in fresh memory). Not releasing it is safe. On error rec is nil.
func (c *Conn) DoPooled(ctx context.Context, req *Request) (res []byte, rec *Buffer, err error) {
	if len(req.Cred.Body) > MaxAuthBytes || len(req.Verf.Body) > MaxAuthBytes {
		return nil, nil, fmt.Errorf("rpc: credential or verifier over %d bytes: %w", MaxAuthBytes, unix.EINVAL)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("rpc: call %d/%d/%d: %w", req.Prog, req.Vers, req.Proc, err)
	}
	pc := &pendingCall{ch: make(chan callResult, 1)}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, nil, err
	}
	xid := req.XID
	if xid == 0 {
		for {
			c.xid++
			if _, busy := c.pending[c.xid]; !busy && c.xid != 0 {
				break
			}
		}
		xid = c.xid
	} else if _, busy := c.pending[xid]; busy {
		c.mu.Unlock()
		return nil, nil, fmt.Errorf("rpc: xid %d already in flight: %w", xid, unix.EEXIST)
	}
	c.pending[xid] = pc
	if c.paused && !c.draining {
		// Our reply must be read even when incoming calls fill the connection (a handler
		// calling back to its peer would otherwise wait for a reply nobody reads).
		c.paused = false
		c.tc.ResumeRead()
	}
	c.mu.Unlock()

	size := 4 + 40 + len(req.Cred.Body) + len(req.Verf.Body) + 8 + len(req.Args)
	buf := GetBuffer(size)
	buf.B = append(buf.B, 0, 0, 0, 0)
	buf.B = appendCallHeader(buf.B, xid, req.Prog, req.Vers, req.Proc, &req.Cred, &req.Verf)
	buf.B = append(buf.B, req.Args...)
	total := len(buf.B) - 4
	var segs [][]byte
	var one [1][]byte
	if len(req.Payload) == 0 {
		one[0] = buf.B
		segs = one[:]
	} else {
		segs = make([][]byte, 0, 1+len(req.Payload))
		segs = append(segs, buf.B)
		for _, p := range req.Payload {
			total += len(p)
			segs = append(segs, p)
		}
	}
	if total > MaxFragmentSize {
		c.forget(xid)
		buf.Release()
		return nil, nil, fmt.Errorf("rpc: call of %d bytes: %w", total, unix.EMSGSIZE)
	}
	putRecordMark(buf.B, total)
	onSent := req.OnSent
	c.active.Add(1)
	defer c.active.Add(-1)
	if err := c.send(segs, func() {
		buf.Release()
		if onSent != nil {
			onSent()
		}
	}); err != nil {
		c.forget(xid)
		return nil, nil, c.deadErr(err)
	}
	select {
	case r := <-pc.ch:
		return r.res, r.rec, r.err
	case <-ctx.Done():
		c.forget(xid)
		return nil, nil, fmt.Errorf("rpc: call %d/%d/%d xid %d: %w", req.Prog, req.Vers, req.Proc, xid, ctx.Err())
	}
}

func (c *Conn) forget(xid uint32) {
	c.mu.Lock()
	delete(c.pending, xid)
	c.mu.Unlock()
}

// deadErr returns the connection's close error if it has one, else err wrapped with ENOTCONN.
func (c *Conn) deadErr(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if errors.Is(err, unix.ENOTCONN) {
		return err
	}
	return fmt.Errorf("rpc: connection %s: %w (%w)", c.info.ClientID, unix.ENOTCONN, err)
}

// Record implements ConnEvents.
func (c *Conn) Record(_ TransportConn, rec *Buffer) {
	if len(rec.B) >= 8 && MsgType(be.Uint32(rec.B[4:])) == MsgReply {
		c.handleReply(rec)
		return
	}
	c.srv.handleCall(c, rec)
}

func (c *Conn) handleReply(rec *Buffer) {
	if n := len(rec.B); n < 12 {
		rec.Release()
		c.closeWith(fmt.Errorf("rpc: %d-byte reply: %w", n, unix.EPROTO))
		return
	}
	xid, res, err := decodeReply(rec.B)
	c.mu.Lock()
	pc := c.pending[xid]
	delete(c.pending, xid)
	c.mu.Unlock()
	if pc == nil || err != nil {
		rec.Release()
		rec = nil
	}
	if pc == nil {
		return // late or unknown: discarded
	}
	if err != nil && errors.Is(err, errBadReply) {
		err = fmt.Errorf("rpc: xid %d: %w (%w)", xid, err, unix.EPROTO)
	}
	pc.ch <- callResult{res: res, rec: rec, err: err}
}

// closeWith closes the connection because of a protocol error, recording err as the cause.
func (c *Conn) closeWith(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("rpc: connection %s closed: %w (%w)", c.info.ClientID, unix.ENOTCONN, err)
	}
	c.mu.Unlock()
	_ = c.tc.Close()
}

// ReadEOF implements ConnEvents.
func (c *Conn) ReadEOF(TransportConn) {
	c.mu.Lock()
	c.eof = true
	idle := c.inflight == 0
	c.mu.Unlock()
	if idle {
		_ = c.tc.Close()
	}
}

// Closed implements ConnEvents.
func (c *Conn) Closed(_ TransportConn, err error) {
	c.mu.Lock()
	if c.err == nil {
		if err == nil {
			c.err = fmt.Errorf("rpc: connection %s closed: %w", c.info.ClientID, unix.ENOTCONN)
		} else {
			c.err = fmt.Errorf("rpc: connection %s closed: %w (%w)", c.info.ClientID, unix.ENOTCONN, err)
		}
	}
	pending := c.pending
	c.pending = nil
	cerr := c.err
	close(c.done)
	c.mu.Unlock()
	for _, pc := range pending {
		pc.ch <- callResult{err: cerr}
	}
	c.cancel()
	if c.onClose != nil {
		c.onClose(c)
	}
}

// acquire counts a new incoming call, pausing reads when the connection is full, unless
// calls we made on it are waiting for replies (the in-flight limit then yields to liveness).
func (c *Conn) acquire() {
	c.active.Add(1)
	c.mu.Lock()
	c.inflight++
	if c.inflight >= c.maxInFlight && !c.paused && len(c.pending) == 0 {
		c.paused = true
		c.tc.PauseRead()
	}
	c.mu.Unlock()
}

// release ends an incoming call (its reply written, dropped or detached).
func (c *Conn) release() {
	c.active.Add(-1)
	c.mu.Lock()
	c.inflight--
	if c.paused && !c.draining && c.inflight < c.maxInFlight {
		c.paused = false
		c.tc.ResumeRead()
	}
	closeNow := (c.eof || c.draining) && c.inflight == 0
	c.mu.Unlock()
	if closeNow {
		_ = c.tc.Close()
	}
}

// drain stops reading and closes the connection once the calls in flight are answered.
func (c *Conn) drain() {
	c.mu.Lock()
	c.draining = true
	if !c.paused {
		c.paused = true
		c.tc.PauseRead()
	}
	idle := c.inflight == 0
	c.mu.Unlock()
	if idle {
		_ = c.tc.Close()
	}
}

// handlerConn adapts a Server to the transport's ConnHandler.
type handlerConn struct {
	srv    *Server
	parent context.Context
	opened func(*Conn)
}

func (h *handlerConn) Opened(tc TransportConn) ConnEvents {
	c := newConn(tc, h.srv, h.parent)
	if h.opened != nil {
		h.opened(c)
	}
	return c
}
