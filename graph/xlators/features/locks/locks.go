package locks

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/weftfs/weft/graph"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Type is the volfile type of the translator.
const Type = "features/locks"

// Options of features/locks, as GlusterFS names them.
const (
	OptMandatoryLocking   = "mandatory-locking"
	OptTrace              = "trace"
	OptNotifyContention   = "notify-contention"
	OptRevocationSecs     = "revocation-secs"
	OptRevocationClearAll = "revocation-clear-all"
)

var optionSpecs = []graph.OptionSpec{
	{Key: OptMandatoryLocking, Type: graph.OptEnum, Default: "off", Enum: []string{"off", "file", "forced", "optimal"},
		Description: "mandatory locking mode; only off (advisory locks) is implemented, other values are rejected"},
	{Key: OptTrace, Type: graph.OptBool, Default: "off",
		Description: "log every lock request and its verdict at info level"},
	{Key: OptNotifyContention, Type: graph.OptBool, Default: "off",
		Description: "send contention upcalls to lock holders; not implemented (no upcall channel), on is rejected"},
	{Key: OptRevocationSecs, Type: graph.OptInt, Default: "0", Min: 0, Max: 1 << 31,
		Description: "revoke granted inodelks/entrylks older than this many seconds when another request conflicts with them (0: never)"},
	{Key: OptRevocationClearAll, Type: graph.OptBool, Default: "off",
		Description: "on revocation also fail the blocked requests of the domain, not only the granted locks"},
}

func init() {
	graph.Register(graph.Registration{
		Type:        Type,
		New:         func() graph.Xlator { return New() },
		Options:     optionSpecs,
		Description: "POSIX byte-range locks, inodelk and entrylk: the brick's lock server",
		MinChildren: 1,
		MaxChildren: 1,
	})
}

// ClientReleaser is implemented by translators that hold state on behalf of client connections.
// protocol/server calls ReleaseClient on every translator of its graph that implements it when a
// connection goes away.
type ClientReleaser interface {
	ReleaseClient(clientID string)
}

// Locks is the features/locks translator. It answers Lk, Inodelk, Finodelk, Entrylk and
// Fentrylk itself (they are never wound to the child), drops POSIX locks on Flush and on the
// release of the FD they were taken through, and passes every other fop through.
type Locks struct {
	graph.Passthrough

	tab        *table
	trace      atomic.Bool
	revocation atomic.Int64 // nanoseconds; 0 disables
	revokeAll  atomic.Bool
	now        func() time.Time
}

var _ ClientReleaser = (*Locks)(nil)

// New returns an unconfigured translator; the registry (graph.Construct) or graph.Wrap sets it up.
func New() *Locks {
	return &Locks{tab: newTable(), now: time.Now}
}

// Init implements graph.Xlator: it validates the options.
func (x *Locks) Init(ctx context.Context) error {
	return x.configure(x.Options())
}

// Reconfigure implements graph.Xlator: trace and revocation change live.
func (x *Locks) Reconfigure(opts *graph.Options) error {
	if err := x.configure(opts); err != nil {
		return err
	}
	return x.Passthrough.Reconfigure(opts)
}

func (x *Locks) configure(o *graph.Options) error {
	if o.IsSet(OptMandatoryLocking) {
		if m := o.String(OptMandatoryLocking); m != "off" {
			return fmt.Errorf("%s: option %s %q: not supported (only advisory locking, \"off\", is implemented): %w",
				x.Name(), OptMandatoryLocking, m, unix.EOPNOTSUPP)
		}
	}
	if o.IsSet(OptNotifyContention) && o.Bool(OptNotifyContention) {
		return fmt.Errorf("%s: option %s on: not supported (the graph has no upcall channel to notify lock holders): %w",
			x.Name(), OptNotifyContention, unix.EOPNOTSUPP)
	}
	var rev time.Duration
	if o.IsSet(OptRevocationSecs) {
		rev = time.Duration(o.Int(OptRevocationSecs)) * time.Second
	}
	x.trace.Store(o.IsSet(OptTrace) && o.Bool(OptTrace))
	x.revocation.Store(int64(rev))
	x.revokeAll.Store(o.IsSet(OptRevocationClearAll) && o.Bool(OptRevocationClearAll))
	return nil
}

// Fini implements graph.Xlator: every lock is dropped and every blocked request fails with
// ENOTCONN, so no goroutine stays blocked in the translator.
func (x *Locks) Fini() {
	x.tab.close()
	err := graph.Errorf(unix.ENOTCONN, "locks: %s: translator shut down", x.Name())
	for _, p := range x.tab.all() {
		p.mu.Lock()
		p.closed = true
		x.dropLocked(p, func(owner) bool { return true }, err)
		p.mu.Unlock()
		x.tab.put(p)
	}
}

// ReleaseClient drops every POSIX lock, inodelk and entrylk held by the client connection
// clientID (graph.Creds.ClientID), fails its blocked requests with EAGAIN (as GlusterFS's
// client cleanup does), and grants what the release unblocks for other clients. Call it after
// the connection's in-flight fops have returned or been cancelled: a lock granted to a request
// that is still in flight after ReleaseClient would outlive its client.
func (x *Locks) ReleaseClient(clientID string) {
	err := graph.Errorf(unix.EAGAIN, "locks: client %q disconnected", clientID)
	n := 0
	for _, p := range x.tab.all() {
		p.mu.Lock()
		n += x.dropLocked(p, func(o owner) bool { return o.client == clientID }, err)
		p.mu.Unlock()
		x.tab.put(p)
	}
	if n > 0 {
		x.Logger().Info("released locks of disconnected client", zap.String("client", clientID), zap.Int("locks", n))
	}
}

// dropLocked removes the granted locks and fails the blocked requests of the owners selected by
// sel, in every lock kind of p, and grants what becomes grantable. It returns how many granted
// locks were dropped.
func (x *Locks) dropLocked(p *pinode, sel func(owner) bool, err error) int {
	n := p.posixDropLocked(func(l *plock) bool { return sel(l.owner) }, func(w *pwaiter) bool { return sel(w.req.owner) }, err)
	now := x.now()
	for _, d := range p.idoms {
		n += d.dropLocked(sel, err, now)
		p.idoms.tidyLocked(d)
	}
	for _, d := range p.edoms {
		n += d.dropLocked(sel, err, now)
		p.edoms.tidyLocked(d)
	}
	return n
}

// Stats counts the lock state the translator holds.
type Stats struct {
	Inodes          int // inodes with lock state
	Posix           int // granted POSIX lock pieces
	PosixBlocked    int
	Inodelks        int
	InodelksBlocked int
	Entrylks        int
	EntrylksBlocked int
}

// Stats returns the current counts (for statedump, metrics and tests).
func (x *Locks) Stats() Stats {
	var s Stats
	ps := x.tab.all()
	for _, p := range ps {
		p.mu.Lock()
		if !p.emptyLocked() {
			s.Inodes++
		}
		s.Posix += len(p.posix)
		s.PosixBlocked += len(p.pwait)
		for _, d := range p.idoms {
			s.Inodelks += len(d.granted)
			s.InodelksBlocked += len(d.blocked)
		}
		for _, d := range p.edoms {
			s.Entrylks += len(d.granted)
			s.EntrylksBlocked += len(d.blocked)
		}
		p.mu.Unlock()
	}
	for _, p := range ps {
		x.tab.put(p)
	}
	return s
}

// trackedInodes returns how many inodes the table holds (tests: no unbounded growth).
func (x *Locks) trackedInodes() int { return x.tab.size() }

// ownerOf returns the lock owner of a request: the client connection of the caller and the
// lock-owner bytes (the Flock's own when given, otherwise the caller's lk-owner).
func ownerOf(ctx context.Context, lkOwner []byte) (owner, *graph.Creds) {
	c := graph.CredsFrom(ctx)
	if len(lkOwner) == 0 {
		lkOwner = c.LkOwner
	}
	return owner{client: c.ClientID, lk: string(lkOwner)}, c
}

func fdGFID(fd *graph.FD) (graph.GFID, error) {
	if fd == nil {
		return graph.GFID{}, graph.Errorf(unix.EBADF, "locks: no fd")
	}
	g := fd.GFID
	if g.IsZero() && fd.Inode != nil {
		g = fd.Inode.GFID()
	}
	if g.IsZero() {
		return graph.GFID{}, graph.Errorf(unix.EINVAL, "locks: fd has no gfid")
	}
	return g, nil
}

// locGFID returns the GFID of the file loc names, looking it up in the child when the loc only
// has a parent and a name.
func (x *Locks) locGFID(ctx context.Context, loc *graph.Loc) (graph.GFID, error) {
	if loc == nil {
		return graph.GFID{}, graph.Errorf(unix.EINVAL, "locks: no loc")
	}
	if !loc.GFID.IsZero() {
		return loc.GFID, nil
	}
	if loc.Inode != nil {
		if g := loc.Inode.GFID(); !g.IsZero() {
			return g, nil
		}
	}
	if loc.ParentGFID.IsZero() || loc.Name == "" {
		return graph.GFID{}, graph.Errorf(unix.EINVAL, "locks: loc %s has no gfid", loc)
	}
	c := x.FirstChild()
	if c == nil {
		return graph.GFID{}, graph.Errorf(unix.ENOTCONN, "locks: no subvolume to resolve %s", loc)
	}
	r, err := c.Lookup(ctx, loc, nil)
	if err != nil {
		return graph.GFID{}, fmt.Errorf("locks: resolving %s: %w", loc, err)
	}
	if r.Stat.GFID.IsZero() {
		return graph.GFID{}, graph.Errorf(unix.EINVAL, "locks: lookup of %s returned no gfid", loc)
	}
	return r.Stat.GFID, nil
}

func errClosed(gfid graph.GFID) error {
	return graph.Errorf(unix.ENOTCONN, "locks: %s: translator shut down", gfid)
}

// fdLocks is the per-FD context: releasing the FD drops the POSIX locks taken through it
// (GlusterFS pl_release → delete_locks_of_fd).
type fdLocks struct {
	x    *Locks
	fd   *graph.FD
	gfid graph.GFID
}

// Release implements graph.Releaser.
func (f *fdLocks) Release() {
	f.x.dropFD(f.fd, f.gfid, graph.Errorf(unix.EBADF, "locks: fd released"))
}

func (x *Locks) trackFD(fd *graph.FD, gfid graph.GFID) {
	fd.CtxOrSet(x, func() any { return &fdLocks{x: x, fd: fd, gfid: gfid} })
}

// dropFD drops the POSIX locks taken through fd and fails the requests blocked on it with err.
func (x *Locks) dropFD(fd *graph.FD, gfid graph.GFID, err error) int {
	p := x.tab.find(gfid)
	if p == nil {
		return 0
	}
	defer x.tab.put(p)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.posixDropLocked(func(l *plock) bool { return l.fd == fd }, func(w *pwaiter) bool { return w.req.fd == fd }, err)
}

// Lk implements graph.Fops: POSIX byte-range locks (GETLK, SETLK, SETLKW) with fcntl(2)
// semantics per owner (client connection, lock owner).
func (x *Locks) Lk(ctx context.Context, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Flock, graph.Xdata, error) {
	fl, err := x.lk(ctx, fd, cmd, lock)
	if x.trace.Load() {
		var fields []zap.Field
		if lock != nil {
			fields = flockFields(lock)
		}
		x.traceOut(ctx, "lk", fd, cmd.String(), err, fields...)
	}
	return fl, nil, err
}

func (x *Locks) lk(ctx context.Context, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock) (graph.Flock, error) {
	gfid, err := fdGFID(fd)
	if err != nil {
		return graph.Flock{}, err
	}
	if lock == nil {
		return graph.Flock{}, graph.Errorf(unix.EINVAL, "locks: lk on %s without a lock", gfid)
	}
	start, end, err := rangeOf(lock)
	if err != nil {
		return graph.Flock{}, err
	}
	own, creds := ownerOf(ctx, lock.Owner)
	pid := lock.Pid
	if pid == 0 {
		pid = creds.Pid
	}
	req := &plock{owner: own, typ: lock.Type, start: start, end: end, pid: pid, fd: fd}
	switch cmd {
	case graph.GetLk:
		if req.typ != graph.LockRead && req.typ != graph.LockWrite {
			return graph.Flock{}, graph.Errorf(unix.EINVAL, "locks: GETLK on %s with lock type %d", gfid, req.typ)
		}
		p := x.tab.find(gfid)
		if p == nil {
			return unlocked(lock), nil
		}
		defer x.tab.put(p)
		p.mu.Lock()
		defer p.mu.Unlock()
		if c := p.posixConflictLocked(req); c != nil {
			return c.flock(), nil
		}
		return unlocked(lock), nil
	case graph.SetLk, graph.SetLkW:
	default:
		return graph.Flock{}, graph.Errorf(unix.EINVAL, "locks: lk on %s: bad command %v", gfid, cmd)
	}
	if req.typ != graph.LockRead && req.typ != graph.LockWrite && req.typ != graph.LockUnlock {
		return graph.Flock{}, graph.Errorf(unix.EINVAL, "locks: %v on %s with lock type %d", cmd, gfid, req.typ)
	}
	p := x.tab.get(gfid)
	defer x.tab.put(p)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return graph.Flock{}, errClosed(gfid)
	}
	c := p.posixConflictLocked(req)
	if c == nil {
		p.posixApplyLocked(req)
		if req.typ == graph.LockUnlock || len(p.pwait) > 0 {
			p.posixGrantLocked() // an unlock or a downgrade may unblock waiters
		}
		p.mu.Unlock()
		if req.typ != graph.LockUnlock {
			x.trackFD(fd, gfid)
		}
		return *lock, nil
	}
	if cmd == graph.SetLk {
		p.mu.Unlock()
		return graph.Flock{}, errAgain("SETLK "+typeName(req.typ), gfid, c.String())
	}
	if err := ctx.Err(); err != nil {
		p.mu.Unlock()
		return graph.Flock{}, fmt.Errorf("locks: SETLKW on %s: cancelled before waiting: %w: %w", gfid, unix.EINTR, err)
	}
	// A SETLKW that must wait first gives up the owner's own locks in its range, as GlusterFS's
	// pl_send_prelock_unlock does: two readers upgrading the same range would otherwise wait for
	// each other forever.
	p.posixApplyLocked(&plock{owner: own, typ: graph.LockUnlock, start: start, end: end})
	p.posixGrantLocked()
	w := &pwaiter{waiter: newWaiter(x.now()), req: req}
	p.pwait = append(p.pwait, w)
	p.mu.Unlock()
	x.trackFD(fd, gfid)
	if err := block(ctx, p, &w.waiter, "SETLKW "+typeName(req.typ), func() bool { return p.posixDequeueLocked(w) }); err != nil {
		return graph.Flock{}, err
	}
	return *lock, nil
}

func unlocked(lock *graph.Flock) graph.Flock {
	f := *lock
	f.Type = graph.LockUnlock
	f.Owner = append([]byte(nil), lock.Owner...)
	return f
}

// Flush implements graph.Fops. Closing a file releases the POSIX locks of the caller's lock
// owner on it (fcntl(2): closing any descriptor drops the process's locks), then the flush is
// wound. A flush without a lock owner (protocol/server flushing for a gone client) drops the
// locks taken through the FD instead (GlusterFS pl_flush).
func (x *Locks) Flush(ctx context.Context, fd *graph.FD, xdata graph.Xdata) (graph.Xdata, error) {
	if gfid, err := fdGFID(fd); err == nil {
		c := graph.CredsFrom(ctx)
		if len(c.LkOwner) == 0 {
			x.dropFD(fd, gfid, graph.Errorf(unix.EAGAIN, "locks: fd flushed without a lock owner"))
		} else if p := x.tab.find(gfid); p != nil {
			own := owner{client: c.ClientID, lk: string(c.LkOwner)}
			p.mu.Lock()
			p.posixDropLocked(func(l *plock) bool { return l.owner == own }, nil, nil)
			p.mu.Unlock()
			x.tab.put(p)
		}
	}
	return x.Passthrough.Flush(ctx, fd, xdata)
}

// Inodelk implements graph.Fops: range locks in a named domain, for translators (AFR, DHT,
// EC) to serialise their own work on an inode.
func (x *Locks) Inodelk(ctx context.Context, volume string, loc *graph.Loc, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Xdata, error) {
	gfid, err := x.locGFID(ctx, loc)
	if err == nil {
		err = x.inodelk(ctx, volume, gfid, cmd, lock)
	}
	if x.trace.Load() {
		fields := []zap.Field{zap.String("domain", volume), zap.Stringer("loc", loc)}
		if lock != nil {
			fields = append(fields, flockFields(lock)...)
		}
		x.traceOut(ctx, "inodelk", nil, cmd.String(), err, fields...)
	}
	return nil, err
}

// Finodelk implements graph.Fops: Inodelk on the inode of an FD.
func (x *Locks) Finodelk(ctx context.Context, volume string, fd *graph.FD, cmd graph.LkCmd, lock *graph.Flock, xdata graph.Xdata) (graph.Xdata, error) {
	gfid, err := fdGFID(fd)
	if err == nil {
		err = x.inodelk(ctx, volume, gfid, cmd, lock)
	}
	if x.trace.Load() {
		fields := []zap.Field{zap.String("domain", volume)}
		if lock != nil {
			fields = append(fields, flockFields(lock)...)
		}
		x.traceOut(ctx, "finodelk", fd, cmd.String(), err, fields...)
	}
	return nil, err
}

func (x *Locks) inodelk(ctx context.Context, volume string, gfid graph.GFID, cmd graph.LkCmd, lock *graph.Flock) error {
	if lock == nil {
		return graph.Errorf(unix.EINVAL, "locks: inodelk on %s without a lock", gfid)
	}
	if volume == "" {
		return graph.Errorf(unix.EINVAL, "locks: inodelk on %s without a domain", gfid)
	}
	if lock.Start < 0 || lock.Len < 0 {
		return graph.Errorf(unix.EINVAL, "locks: inodelk on %s: bad range (start %d, len %d)", gfid, lock.Start, lock.Len)
	}
	start, end, err := rangeOf(lock)
	if err != nil {
		return err
	}
	switch cmd {
	case graph.SetLk, graph.SetLkW:
	case graph.GetLk:
		return graph.Errorf(unix.ENOTSUP, "locks: GETLK is not supported for inodelk (%s)", gfid)
	default:
		return graph.Errorf(unix.EINVAL, "locks: inodelk on %s: bad command %v", gfid, cmd)
	}
	if lock.Type != graph.LockRead && lock.Type != graph.LockWrite && lock.Type != graph.LockUnlock {
		return graph.Errorf(unix.EINVAL, "locks: inodelk on %s with lock type %d", gfid, lock.Type)
	}
	own, creds := ownerOf(ctx, lock.Owner)
	pid := lock.Pid
	if pid == 0 {
		pid = creds.Pid
	}
	dom := inodelkDomain(volume, lock)
	req := &ilock{owner: own, typ: lock.Type, start: start, end: end, pid: pid}

	return run(ctx, x, domainRequest[*ilock]{
		gfid: gfid, doms: func(p *pinode) *domains[*ilock] { return &p.idoms }, domain: dom, req: req,
		unlock: req.typ == graph.LockUnlock, blocking: cmd == graph.SetLkW, same: sameRange,
		kind: "inodelk", what: "inodelk " + typeName(req.typ),
		noLock: func() error {
			return graph.Errorf(unix.EINVAL, "locks: inodelk unlock on %s in domain %q: %s holds no lock on exactly that range", gfid, dom, own)
		},
	})
}

// Entrylk implements graph.Fops: locks on names in the directory loc (basename "" locks every
// name in it).
func (x *Locks) Entrylk(ctx context.Context, volume string, loc *graph.Loc, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (graph.Xdata, error) {
	gfid, err := x.locGFID(ctx, loc)
	if err == nil {
		err = x.entrylk(ctx, volume, gfid, basename, cmd, typ)
	}
	if x.trace.Load() {
		x.traceOut(ctx, "entrylk", nil, fmt.Sprint(cmd), err, zap.String("domain", volume), zap.Stringer("loc", loc),
			zap.String("basename", basename), zap.Int("type", int(typ)))
	}
	return nil, err
}

// Fentrylk implements graph.Fops: Entrylk in the directory of an FD.
func (x *Locks) Fentrylk(ctx context.Context, volume string, fd *graph.FD, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType, xdata graph.Xdata) (graph.Xdata, error) {
	gfid, err := fdGFID(fd)
	if err == nil {
		err = x.entrylk(ctx, volume, gfid, basename, cmd, typ)
	}
	if x.trace.Load() {
		x.traceOut(ctx, "fentrylk", fd, fmt.Sprint(cmd), err, zap.String("domain", volume),
			zap.String("basename", basename), zap.Int("type", int(typ)))
	}
	return nil, err
}

func (x *Locks) entrylk(ctx context.Context, volume string, gfid graph.GFID, basename string, cmd graph.EntrylkCmd, typ graph.EntrylkType) error {
	if volume == "" {
		return graph.Errorf(unix.EINVAL, "locks: entrylk on %s without a domain", gfid)
	}
	if typ != graph.EntrylkRdlck && typ != graph.EntrylkWrlck {
		return graph.Errorf(unix.EINVAL, "locks: entrylk on %s with lock type %d", gfid, typ)
	}
	if strings.ContainsRune(basename, '/') {
		return graph.Errorf(unix.EINVAL, "locks: entrylk on %s: basename %q contains '/'", gfid, basename)
	}
	switch cmd {
	case graph.EntrylkLock, graph.EntrylkLockNB, graph.EntrylkUnlock:
	default:
		return graph.Errorf(unix.EINVAL, "locks: entrylk on %s: bad command %d", gfid, cmd)
	}
	own, creds := ownerOf(ctx, nil)
	req := &elock{owner: own, name: basename, typ: typ, pid: creds.Pid}

	return run(ctx, x, domainRequest[*elock]{
		gfid: gfid, doms: func(p *pinode) *domains[*elock] { return &p.edoms }, domain: volume, req: req,
		unlock: cmd == graph.EntrylkUnlock, blocking: cmd == graph.EntrylkLock, same: sameEntry,
		kind: "entrylk", what: "entrylk",
		noLock: func() error {
			return graph.Errorf(unix.EINVAL, "locks: entrylk unlock on %s in domain %q: %s holds no such lock on %q", gfid, volume, own, basename)
		},
	})
}

// revokeLocked applies revocation-secs to a new request in domain d of p (inodelk or entrylk):
// see lockDomain.revokeLocked; POSIX locks are never revoked.
func revokeLocked[L domainLock[L]](x *Locks, p *pinode, d *lockDomain[L], req L, what string, now time.Time) {
	err := graph.Errorf(unix.EAGAIN, "locks: %s revoked (revocation-secs)", what)
	age, g, b, ok := d.revokeLocked(req, now, time.Duration(x.revocation.Load()), x.revokeAll.Load(), err)
	if ok {
		x.Logger().Warn("lock revocation: "+what+"s revoked", zap.Stringer("gfid", p.gfid), zap.String("domain", d.name),
			zap.Duration("age", age), zap.Int("granted", g), zap.Int("blocked", b))
	}
}

func flockFields(l *graph.Flock) []zap.Field {
	return []zap.Field{zap.String("type", typeName(l.Type)), zap.Int64("start", l.Start), zap.Int64("len", l.Len),
		zap.Int32("pid", l.Pid), zap.Binary("owner", l.Owner)}
}

func (x *Locks) traceOut(ctx context.Context, op string, fd *graph.FD, cmd string, err error, fields ...zap.Field) {
	c := graph.CredsFrom(ctx)
	fields = append(fields, zap.String("cmd", cmd), zap.String("client", c.ClientID), zap.Binary("lk-owner", c.LkOwner))
	if fd != nil {
		fields = append(fields, zap.Stringer("gfid", fd.GFID))
	}
	if err != nil {
		fields = append(fields, zap.Error(err))
	} else {
		fields = append(fields, zap.String("verdict", "ok"))
	}
	x.Logger().Info(op, fields...)
}
