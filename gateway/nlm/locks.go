package nlm

import (
	"context"
	"math"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/graph"
)

// fileID names a file among every volume the gateway serves: a GFID is unique within a volume
// only (every volume's root has the same one, and a volume cloned from another's bricks shares
// all of them), so the volume its handle names is part of it.
type fileID struct {
	vol  handle.VolumeID
	gfid graph.GFID
}

// fileKey identifies the lock state of one client host on one file.
type fileKey struct {
	host string
	fileID
}

// fileState is the lock state of one host on one file: the FD its locks are taken through
// (one per host and file, so that closing it releases exactly that host's locks), the byte
// ranges each of its owners holds, and its blocked requests. mu serialises the host's
// requests on the file; refs (under Server.mu) counts the requests and blocked-lock goroutines
// using the entry, which is dropped, and its FD closed, when refs is zero and nothing is held.
type fileState struct {
	key    fileKey
	mu     sync.Mutex
	fd     *graph.FD
	owners map[int32]ranges
	blocks []*block
	refs   int // under Server.mu
}

func (f *fileState) idleLocked() bool {
	if len(f.blocks) > 0 {
		return false
	}
	for _, r := range f.owners {
		if len(r) > 0 {
			return false
		}
	}
	return true
}

// acquire returns the state of (host, id) with a reference, creating it when create is set
// (nil otherwise, when there is none). The caller locks f.mu as needed and calls put.
func (s *Server) acquire(host string, id fileID, create bool) *fileState {
	k := fileKey{host, id}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[k]
	if f == nil {
		if !create || s.closed {
			return nil
		}
		f = &fileState{key: k, owners: map[int32]ranges{}}
		s.files[k] = f
		s.hostFiles[host]++
	}
	f.refs++
	return f
}

// put drops a reference taken by acquire. The caller holds f.mu, which put unlocks. When the
// entry is idle and unreferenced it is removed, its FD closed (releasing whatever the graph
// still holds through it), and the host unmonitored if it has no other state.
func (s *Server) put(f *fileState) {
	idle := f.idleLocked()
	var fd *graph.FD
	s.mu.Lock()
	f.refs--
	gone := f.refs == 0 && idle
	if gone {
		delete(s.files, f.key)
		fd, f.fd = f.fd, nil
		if s.hostFiles[f.key.host]--; s.hostFiles[f.key.host] <= 0 {
			delete(s.hostFiles, f.key.host)
		}
	}
	s.mu.Unlock()
	f.mu.Unlock()
	if fd != nil {
		fd.Unref()
	}
	if gone {
		s.maybeUnmonitor(f.key.host)
	}
}

// ensureMonitored records the host with the NSM before a lock is reported granted (XNFS
// chapter 11: the server's NLM registers its client hosts with its NSM).
func (s *Server) ensureMonitored(rq req, host string) {
	if s.cfg.NSM == nil {
		return
	}
	s.monMu.Lock()
	defer s.monMu.Unlock()
	if err := s.cfg.NSM.Monitor(host, rq.addr); err != nil {
		s.log.Warn("cannot record the client host with the status monitor; it will not be told of a restart",
			zap.String("host", host), zap.Error(err))
	}
}

func (s *Server) maybeUnmonitor(host string) {
	if s.cfg.NSM == nil {
		return
	}
	s.monMu.Lock()
	defer s.monMu.Unlock()
	s.mu.Lock()
	n, closed := s.hostFiles[host], s.closed
	s.mu.Unlock()
	// On Close the hosts stay monitored: their locks go with the gateway, and they must hear
	// of the restart to reclaim them.
	if n == 0 && !closed {
		if err := s.cfg.NSM.Unmonitor(host); err != nil {
			s.log.Warn("status monitor", zap.Error(err))
		}
	}
}

// open returns the entry's FD, opening the file through the graph the first time (read-write,
// or read-only when that is refused, as a read lock needs no more).
func (s *Server) open(ctx context.Context, f *fileState) (*graph.FD, error) {
	if f.fd != nil {
		return f.fd, nil
	}
	octx := graph.WithCreds(ctx, &graph.Creds{ClientID: clientID(f.key.host)})
	loc := &graph.Loc{GFID: f.key.gfid}
	var err error
	for _, flags := range []int{unix.O_RDWR, unix.O_RDONLY} {
		fd := graph.NewFD(nil, f.key.gfid, flags)
		if _, err = s.top.Open(octx, loc, flags, fd, nil); err == nil {
			f.fd = fd
			return fd, nil
		}
		fd.Unref()
		if e := graph.Errno(err); e != unix.EACCES && e != unix.EROFS && e != unix.EPERM && e != unix.ETXTBSY && e != unix.EISDIR {
			break
		}
	}
	return nil, err
}

// target decodes the file handle and range of a lock.
func (s *Server) target(l *Lock) (fileID, span, int64, int64, Stat) {
	h, err := s.cfg.Handles.Decode(l.FH)
	if err != nil {
		return fileID{}, span{}, 0, 0, StaleFH
	}
	sp, start, flen, ok := rangeOf(l.Offset, l.Len)
	if !ok {
		return fileID{}, span{}, 0, 0, FBig
	}
	return fileID{h.Volume, h.GFID}, sp, start, flen, Granted
}

func lockType(exclusive bool) int16 {
	if exclusive {
		return graph.LockWrite
	}
	return graph.LockRead
}

// test is TEST (XNFS chapter 10, NLM_TEST): GETLK through the graph.
func (s *Server) test(ctx context.Context, a *TestArgs) TestRes {
	res := TestRes{Cookie: a.Cookie}
	if s.InGrace() {
		res.Stat = DeniedGracePeriod
		return res
	}
	id, _, start, flen, st := s.target(&a.Lock)
	if st != Granted {
		res.Stat = st
		return res
	}
	host := a.Lock.CallerName
	f := s.acquire(host, id, true)
	if f == nil {
		res.Stat = DeniedNoLocks
		return res
	}
	f.mu.Lock()
	defer s.put(f)
	fd, err := s.open(ctx, f)
	if err != nil {
		res.Stat = statOf(err)
		return res
	}
	fl := graph.Flock{Type: lockType(a.Exclusive), Start: start, Len: flen, Pid: a.Lock.Svid, Owner: ownerBytes(host, a.Lock.Svid)}
	got, _, err := s.top.Lk(s.lockCtx(ctx, host, a.Lock.Svid), fd, graph.GetLk, &fl, nil)
	if err != nil {
		res.Stat = statOf(err)
		return res
	}
	if got.Type == graph.LockUnlock {
		res.Stat = Granted
		return res
	}
	res.Stat = Denied
	res.Holder = Holder{Exclusive: got.Type == graph.LockWrite, Svid: got.Pid, OH: got.Owner}
	if len(res.Holder.OH) > MaxNetobj {
		res.Holder.OH = res.Holder.OH[:MaxNetobj]
	}
	if got.Start >= 0 {
		res.Holder.Offset = uint64(got.Start)
	}
	if got.Len > 0 {
		res.Holder.Len = uint64(got.Len)
	}
	return res
}

// lock is LOCK and NM_LOCK (XNFS chapter 10, NLM_LOCK): SETLK through the graph; when that
// conflicts and the client may wait, a SETLKW runs in the background and the answer is
// BLOCKED, followed by a GRANTED callback once the lock is held.
func (s *Server) lock(ctx context.Context, rq req, a *LockArgs, monitored bool) Stat {
	if s.InGrace() && !a.Reclaim {
		return DeniedGracePeriod
	}
	id, sp, start, flen, st := s.target(&a.Lock)
	if st != Granted {
		return st
	}
	host := a.Lock.CallerName
	f := s.acquire(host, id, true)
	if f == nil {
		return DeniedNoLocks
	}
	f.mu.Lock()
	defer s.put(f)
	svid := a.Lock.Svid
	for _, b := range f.blocks {
		if b.matches(svid, sp, a.Exclusive) && b.state == blockWaiting {
			return Blocked // a retransmission or a poll of a request already waiting
		}
	}
	fd, err := s.open(ctx, f)
	if err != nil {
		return statOf(err)
	}
	fl := graph.Flock{Type: lockType(a.Exclusive), Start: start, Len: flen, Pid: svid, Owner: ownerBytes(host, svid)}
	_, _, err = s.top.Lk(s.lockCtx(ctx, host, svid), fd, graph.SetLk, &fl, nil)
	if err == nil {
		f.owners[svid] = f.owners[svid].add(sp.start, sp.end)
		for _, b := range f.blocks {
			if b.matches(svid, sp, a.Exclusive) {
				b.state = blockConfirmed // polled and answered GRANTED: no callback needed
			}
		}
		if monitored {
			s.ensureMonitored(rq, host)
		}
		return Granted
	}
	stat := statOf(err)
	if stat != Denied || !a.Block {
		return stat
	}
	if s.ctx.Err() != nil {
		return DeniedNoLocks
	}
	s.startBlock(f, rq, a, sp, fl, monitored)
	return Blocked
}

// unlock is UNLOCK (XNFS chapter 10, NLM_UNLOCK); accepted during the grace period.
func (s *Server) unlock(ctx context.Context, a *UnlockArgs) Stat {
	id, sp, start, flen, st := s.target(&a.Lock)
	if st != Granted {
		if st == StaleFH {
			return Granted // nothing can be locked on a file that is gone
		}
		return st
	}
	host := a.Lock.CallerName
	f := s.acquire(host, id, false)
	if f == nil {
		return Granted // nothing held
	}
	f.mu.Lock()
	defer s.put(f)
	svid := a.Lock.Svid
	for _, b := range f.blocks {
		if b.svid == svid && b.sp == sp && b.state == blockWaiting {
			b.cancelLocked()
		}
	}
	if len(f.owners[svid]) == 0 || f.fd == nil {
		return Granted
	}
	fl := graph.Flock{Type: graph.LockUnlock, Start: start, Len: flen, Pid: svid, Owner: ownerBytes(host, svid)}
	if _, _, err := s.top.Lk(s.lockCtx(ctx, host, svid), f.fd, graph.SetLk, &fl, nil); err != nil {
		s.log.Warn("unlock failed", zap.String("host", host), zap.Stringer("gfid", id.gfid), zap.Error(err))
		return statOf(err)
	}
	f.owners[svid] = f.owners[svid].sub(sp.start, sp.end)
	return Granted
}

// cancel is CANCEL (XNFS chapter 10, NLM_CANCEL): the blocked request is withdrawn; if it was
// granted meanwhile and its GRANTED not yet acknowledged, the lock is released again.
func (s *Server) cancel(ctx context.Context, a *CancArgs) Stat {
	id, sp, _, _, st := s.target(&a.Lock)
	if st != Granted {
		return st
	}
	f := s.acquire(a.Lock.CallerName, id, false)
	if f == nil {
		return Denied
	}
	f.mu.Lock()
	var found *block
	for _, b := range f.blocks {
		if b.matches(a.Lock.Svid, sp, a.Exclusive) && b.state != blockConfirmed {
			found = b
			break
		}
	}
	if found == nil {
		s.put(f)
		return Denied
	}
	found.cancelLocked()
	done := found.done
	f.mu.Unlock()
	select { // let the background SETLKW finish, so the answer is final
	case <-done:
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
	}
	f.mu.Lock()
	if found.state == blockGranted { // granted before the cancel took effect: give it back
		s.unlockRangeLocked(f, found.svid, found.sp)
		found.state = blockDone
	}
	s.put(f)
	return Granted
}

// unlockRangeLocked releases the owner's locks in sp (f.mu held).
func (s *Server) unlockRangeLocked(f *fileState, svid int32, sp span) {
	if f.fd == nil {
		return
	}
	fl := graph.Flock{Type: graph.LockUnlock, Start: sp.start, Pid: svid, Owner: ownerBytes(f.key.host, svid)}
	if sp.end != math.MaxInt64 {
		fl.Len = sp.end - sp.start + 1
	}
	if _, _, err := s.top.Lk(s.lockCtx(context.Background(), f.key.host, svid), f.fd, graph.SetLk, &fl, nil); err != nil {
		s.log.Warn("unlock failed", zap.String("host", f.key.host), zap.Stringer("gfid", f.key.gfid), zap.Error(err))
		return
	}
	f.owners[svid] = f.owners[svid].sub(sp.start, sp.end)
}

// releaseHost drops everything the host holds or waits for.
func (s *Server) releaseHost(host string, logIt bool) {
	s.mu.Lock()
	var fs []*fileState
	for k, f := range s.files {
		if k.host == host {
			f.refs++
			fs = append(fs, f)
		}
	}
	s.mu.Unlock()
	n := 0
	for _, f := range fs {
		f.mu.Lock()
		for _, b := range f.blocks {
			b.cancelLocked()
		}
		for svid, r := range f.owners {
			if len(r) == 0 {
				continue
			}
			n++
			if f.fd != nil {
				fl := graph.Flock{Type: graph.LockUnlock, Start: 0, Len: 0, Pid: svid, Owner: ownerBytes(host, svid)}
				if _, _, err := s.top.Lk(s.lockCtx(context.Background(), host, svid), f.fd, graph.SetLk, &fl, nil); err != nil {
					s.log.Warn("releasing a host's lock", zap.String("host", host), zap.Error(err))
				}
			}
			delete(f.owners, svid)
		}
		s.put(f)
	}
	if logIt {
		s.log.Info("released the locks of a client host", zap.String("host", host), zap.Int("owners", n))
	}
}
