package rpc

import (
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph/rpc/xdr"
)

type replyState uint8

const (
	replyOpen replyState = iota
	replyDropped
	replyAuthRejected
	replySent
)

// replyPrefix is the record mark plus the accepted reply header (RFC 5531 §9, §11).
const replyPrefix = 4 + acceptedHeaderLen

// Reply collects the results of one call. Results are XDR-encoded by appending (the Append*
// methods, or Write: Reply is an io.Writer, so generated XDR types can WriteTo it). Large data
// (READ) is attached without copying with AppendPayload/AppendOpaquePayload and sent with
// scatter/gather I/O together with the header. A Reply belongs to its handler until ServeRPC
// returns, or, after Detach, until Send.
type Reply struct {
	c     *Conn
	sc    *serverCall
	xid   uint32
	buf   *Buffer
	segs  []paySeg
	state replyState
	// detached is set by Detach and read by the worker after ServeRPC returns; Send, which may
	// already run on another goroutine, does not touch it.
	detached bool
	auth     AuthStat
	once     atomic.Bool // Send after Detach happens once
	iov      [4][]byte
}

type paySeg struct {
	off     int    // position in buf.B the payload follows
	data    []byte // sent as is
	pad     int    // zero bytes after data
	release func()
}

func (r *Reply) init(c *Conn, sc *serverCall) {
	r.c, r.sc, r.xid = c, sc, sc.call.XID
	r.buf = GetBuffer(512)
	r.buf.B = r.buf.B[:replyPrefix]
}

// XID returns the transaction id being answered.
func (r *Reply) XID() uint32 { return r.xid }

// Write appends p to the results (io.Writer).
func (r *Reply) Write(p []byte) (int, error) {
	r.reserve(len(p))
	r.buf.B = append(r.buf.B, p...)
	return len(p), nil
}

// reserve makes room for n more bytes from the buffer pool (instead of append's growth).
func (r *Reply) reserve(n int) {
	if cap(r.buf.B)-len(r.buf.B) < n {
		r.buf = r.buf.grow(n)
	}
}

// AppendUint32 appends an XDR unsigned int.
func (r *Reply) AppendUint32(v uint32) { r.buf.B = xdr.AppendUint32(r.buf.B, v) }

// AppendUint64 appends an XDR unsigned hyper.
func (r *Reply) AppendUint64(v uint64) { r.buf.B = xdr.AppendUint64(r.buf.B, v) }

// AppendBool appends an XDR bool.
func (r *Reply) AppendBool(v bool) { r.buf.B = xdr.AppendBool(r.buf.B, v) }

// AppendOpaque appends XDR variable-length opaque data (copied).
func (r *Reply) AppendOpaque(p []byte) {
	r.reserve(len(p) + 8)
	r.buf.B = xdr.AppendOpaque(r.buf.B, p)
}

// AppendFixedOpaque appends XDR fixed-length opaque data (copied) with its padding.
func (r *Reply) AppendFixedOpaque(p []byte) {
	r.reserve(len(p) + 4)
	r.buf.B = xdr.AppendFixedOpaque(r.buf.B, p)
}

// AppendString appends an XDR string.
func (r *Reply) AppendString(s string) { r.buf.B = xdr.AppendString(r.buf.B, s) }

// Results returns the results appended so far, without payloads. It aliases the reply buffer:
// valid until the next append (e.g. for a duplicate request cache to copy).
func (r *Reply) Results() []byte { return r.buf.B[replyPrefix:] }

// AppendPayload attaches data after the results appended so far, without copying and without
// padding: it is written straight from data. Results appended later follow it. release, when
// not nil, is called once the data has been written or the reply discarded.
func (r *Reply) AppendPayload(data []byte, release func()) {
	r.segs = append(r.segs, paySeg{off: len(r.buf.B), data: data, release: release})
}

// AppendOpaquePayload appends XDR variable-length opaque data (length, data, padding) whose
// data is attached without copying (see AppendPayload); the usual way to return READ data.
func (r *Reply) AppendOpaquePayload(data []byte, release func()) {
	r.AppendUint32(uint32(len(data)))
	r.segs = append(r.segs, paySeg{off: len(r.buf.B), data: data, pad: xdr.Pad(len(data)), release: release})
}

// Reset discards the results and payloads appended so far.
func (r *Reply) Reset() {
	r.releasePayloads()
	r.buf.B = r.buf.B[:replyPrefix]
}

// Drop sends no reply at all (a duplicate request cache dropping a retransmission of a call
// still in progress). The return value of ServeRPC is ignored.
func (r *Reply) Drop() { r.state = replyDropped }

// RejectAuth answers MSG_DENIED AUTH_ERROR with stat (e.g. AuthTooWeak for an export that
// wants AUTH_SYS, or a client not on a privileged port). The return value of ServeRPC is ignored.
func (r *Reply) RejectAuth(stat AuthStat) {
	r.state = replyAuthRejected
	r.auth = stat
}

// Detach keeps the Reply open after ServeRPC returns: the handler (or any goroutine) answers
// later with Send. Call.Args and Call.Cred.Body are invalid after ServeRPC returns, so copy
// what is needed first. A detached call no longer counts against the connection's in-flight
// limit. The return value of ServeRPC is ignored.
func (r *Reply) Detach() { r.detached = true }

// Send completes a detached Reply with stat (as ServeRPC would have returned it) and queues
// it for writing. It fails with ENOTCONN if the connection has closed, and with EALREADY if the
// Reply was not detached or was already sent.
func (r *Reply) Send(stat AcceptStat) error {
	if !r.detached || !r.once.CompareAndSwap(false, true) {
		return fmt.Errorf("rpc: Send on a reply that is not detached or already sent: %w", unix.EALREADY)
	}
	return r.send(stat, false)
}

func (r *Reply) releasePayloads() {
	for i := range r.segs {
		if f := r.segs[i].release; f != nil {
			f()
		}
		r.segs[i] = paySeg{}
	}
	r.segs = r.segs[:0]
}

// discard frees the reply without sending it.
func (r *Reply) discard() {
	r.releasePayloads()
	r.buf.Release()
	r.buf = nil
	r.state = replySent
}

// send writes the accepted reply; counted replies release the connection's in-flight slot
// once written.
func (r *Reply) send(stat AcceptStat, counted bool) error {
	if stat != Success {
		r.Reset()
		if stat == ProgMismatch {
			p := (*r.c.srv.progs.Load())[r.sc.call.Prog]
			if p != nil {
				r.AppendUint32(p.low)
				r.AppendUint32(p.high)
			} else {
				stat = ProgUnavail
			}
		}
	}
	putAcceptedHeader(r.buf.B[4:], r.xid, stat)
	total := len(r.buf.B) - 4
	segs := r.iov[:0]
	if len(r.segs) == 0 {
		segs = append(segs, r.buf.B)
	} else {
		if len(r.segs)*3+1 > len(r.iov) {
			segs = make([][]byte, 0, len(r.segs)*3+1)
		}
		off := 0
		for _, s := range r.segs {
			segs = append(segs, r.buf.B[off:s.off], s.data)
			if s.pad > 0 {
				segs = append(segs, xdr.PadBytes(len(s.data)))
			}
			total += len(s.data) + s.pad
			off = s.off
		}
		if off < len(r.buf.B) {
			segs = append(segs, r.buf.B[off:])
		}
	}
	if total > MaxFragmentSize {
		r.Reset()
		putAcceptedHeader(r.buf.B[4:], r.xid, SystemErr)
		total = len(r.buf.B) - 4
		segs = append(segs[:0], r.buf.B)
	}
	putRecordMark(r.buf.B, total)
	r.state = replySent
	c := r.c
	if counted {
		return c.send(segs, r.sentCounted)
	}
	return c.send(segs, r.sent)
}

func (r *Reply) sent() {
	r.releasePayloads()
	r.buf.Release()
	r.buf = nil
}

func (r *Reply) sentCounted() {
	r.sent()
	r.c.release()
}

// sendRejected writes a MSG_DENIED AUTH_ERROR reply.
func (r *Reply) sendRejected(counted bool) {
	r.Reset()
	r.buf.B = appendRejectedReply(r.buf.B[:4], r.xid, AuthError, r.auth)
	putRecordMark(r.buf.B, len(r.buf.B)-4)
	r.state = replySent
	r.iov[0] = r.buf.B
	if counted {
		_ = r.c.send(r.iov[:1], r.sentCounted)
		return
	}
	_ = r.c.send(r.iov[:1], r.sent)
}
