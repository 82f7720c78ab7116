package nlm

import (
	"context"
	"encoding/binary"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/weftfs/weft/graph"
)

type blockState int

const (
	blockWaiting   blockState = iota // the SETLKW waits in the graph
	blockGranted                     // held; the GRANTED callback is not acknowledged yet
	blockConfirmed                   // held, and the client knows (callback answered, or it polled)
	blockDone                        // failed, cancelled or given back
)

// block is a blocked LOCK request (XNFS chapter 10: the server answers LCK_BLOCKED and calls
// NLM_GRANTED back when the lock becomes available).
type block struct {
	f         *fileState
	svid      int32
	sp        span
	exclusive bool
	vers      uint32
	addr      netip.Addr
	lock      Lock   // the request's lock (copied), for the GRANTED callback
	cookie    []byte // our cookie in the GRANTED callback
	state     blockState
	cancelled bool
	stop      context.CancelFunc
	done      chan struct{} // closed once the SETLKW has returned and been accounted for
}

func (b *block) matches(svid int32, sp span, exclusive bool) bool {
	return b.svid == svid && b.sp == sp && b.exclusive == exclusive
}

// cancelLocked withdraws the request (f.mu held).
func (b *block) cancelLocked() {
	b.cancelled = true
	b.stop()
}

// startBlock queues a SETLKW for a LOCK that must wait (f.mu held, f referenced by the caller).
func (s *Server) startBlock(f *fileState, rq req, a *LockArgs, sp span, fl graph.Flock, monitored bool) {
	s.mu.Lock()
	f.refs++
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(s.ctx)
	b := &block{
		f: f, svid: a.Lock.Svid, sp: sp, exclusive: a.Exclusive, vers: rq.vers, addr: rq.addr,
		lock: Lock{
			FH: append([]byte(nil), a.Lock.FH...), OH: append([]byte(nil), a.Lock.OH...),
			Svid: a.Lock.Svid, Offset: a.Lock.Offset, Len: a.Lock.Len,
		},
		cookie: binary.BigEndian.AppendUint64(nil, s.cookieSeq.Add(1)),
		stop:   cancel,
		done:   make(chan struct{}),
	}
	f.blocks = append(f.blocks, b)
	s.mu.Lock()
	if s.byCookie == nil {
		s.byCookie = map[string]*block{}
	}
	s.byCookie[string(b.cookie)] = b
	s.mu.Unlock()
	fl.Owner = append([]byte(nil), fl.Owner...)
	s.wg.Add(1)
	go s.runBlock(ctx, b, f.fd, fl, rq, monitored)
}

func (s *Server) runBlock(ctx context.Context, b *block, fd *graph.FD, fl graph.Flock, rq req, monitored bool) {
	defer s.wg.Done()
	f := b.f
	host := f.key.host
	_, _, err := s.top.Lk(s.lockCtx(ctx, host, b.svid), fd, graph.SetLkW, &fl, nil)
	b.stop()
	f.mu.Lock()
	granted := false
	switch {
	case err == nil && b.cancelled:
		f.owners[b.svid] = f.owners[b.svid].add(b.sp.start, b.sp.end)
		s.unlockRangeLocked(f, b.svid, b.sp)
		b.state = blockDone
	case err == nil:
		f.owners[b.svid] = f.owners[b.svid].add(b.sp.start, b.sp.end)
		b.state = blockGranted
		granted = true
	default:
		// The wait gave up the owner's own locks in the range first (features/locks releases
		// them before waiting, as GlusterFS does); they stay released.
		f.owners[b.svid] = f.owners[b.svid].sub(b.sp.start, b.sp.end)
		b.state = blockDone
		if !b.cancelled {
			s.log.Info("blocked lock request failed", zap.String("host", host), zap.Stringer("gfid", f.key.gfid), zap.Error(err))
		}
	}
	if !granted {
		f.removeBlockLocked(b)
	}
	close(b.done)
	f.mu.Unlock()
	if granted {
		if monitored {
			s.ensureMonitored(rq, host)
		}
		s.sendGranted(b)
	}
	s.mu.Lock()
	delete(s.byCookie, string(b.cookie))
	s.mu.Unlock()
	f.mu.Lock()
	f.removeBlockLocked(b)
	s.put(f)
}

func (f *fileState) removeBlockLocked(b *block) {
	for i, x := range f.blocks {
		if x == b {
			f.blocks = append(f.blocks[:i], f.blocks[i+1:]...)
			return
		}
	}
}

// sendGranted calls NLM_GRANTED on the client's lock manager until it answers, the client
// polls (LOCK again, answered GRANTED), the request is cancelled, or the attempts run out; the
// lock stays held in every case but an explicit refusal by the client.
func (s *Server) sendGranted(b *block) {
	f := b.f
	l := b.lock
	l.CallerName = s.cfg.Hostname
	args := AppendTestArgs(nil, b.vers, &TestArgs{Cookie: b.cookie, Exclusive: b.exclusive, Lock: l})
	var lastErr error
	for _, d := range s.cfg.CallbackDelays {
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return
			}
		}
		f.mu.Lock()
		pending := b.state == blockGranted && !b.cancelled
		f.mu.Unlock()
		if !pending || !b.addr.IsValid() {
			return
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CallTimeout)
		res, err := s.call(ctx, b.addr, b.vers, ProcGranted, args)
		cancel()
		if err == nil {
			var r Res
			if r, err = DecodeRes(res); err == nil {
				if r.Stat == DeniedGracePeriod {
					continue // the client is recovering from a reboot of its own: try later
				}
				s.grantAnswered(b, r.Stat)
				return
			}
		}
		lastErr = err
	}
	s.log.Info("GRANTED callback not delivered; the lock stays held for the client's next LOCK poll",
		zap.String("host", f.key.host), zap.Stringer("addr", b.addr), zap.Error(lastErr))
}

// grantAnswered applies the client's answer to a GRANTED callback: accepted, or refused (it
// no longer waits: the lock is released, as Linux's lockd does).
func (s *Server) grantAnswered(b *block, st Stat) {
	f := b.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if b.state != blockGranted {
		return
	}
	if st == Granted {
		b.state = blockConfirmed
		return
	}
	s.log.Info("client refused a granted lock; releasing it", zap.String("host", f.key.host), zap.Stringer("status", st))
	s.unlockRangeLocked(f, b.svid, b.sp)
	b.state = blockDone
}

// grantedReply handles GRANTED_RES, the asynchronous answer to a GRANTED callback.
func (s *Server) grantedReply(cookie []byte, st Stat) {
	s.mu.Lock()
	b := s.byCookie[string(cookie)]
	s.mu.Unlock()
	if b != nil {
		s.grantAnswered(b, st)
	}
}
