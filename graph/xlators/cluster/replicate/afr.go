package replicate

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Type is the registered translator type.
const Type = "cluster/replicate"

// Changelog indices inside a trusted.afr.<name> value: three big-endian int32 counters.
const (
	IdxData     = 0
	IdxMetadata = 1
	IdxEntry    = 2
)

// XattrPrefix prefixes the pending xattr of each child: trusted.afr.<afr-pending-xattr name>.
const XattrPrefix = "trusted.afr."

// XattrDirty is GlusterFS's own-copy dirty counter: raised by the pre-op, lowered by the post-op.
const XattrDirty = "trusted.afr.dirty"

func init() {
	graph.Register(graph.Registration{
		Type:        Type,
		New:         func() graph.Xlator { return &AFR{} },
		Description: "synchronous replication with changelogs (GlusterFS AFR)",
		MinChildren: 1,
		MaxChildren: -1,
		Options: []graph.OptionSpec{
			{Key: "afr-pending-xattr", Type: graph.OptList, Description: "names of the children's pending xattrs (default: the children's volume names)"},
			{Key: "quorum-type", Type: graph.OptEnum, Default: "auto", Enum: []string{"none", "auto", "fixed"}},
			{Key: "quorum-count", Type: graph.OptInt, Default: "0", Min: 0, Max: 64},
			{Key: "arbiter-count", Type: graph.OptInt, Default: "0", Min: 0, Max: 1},
			{Key: "read-subvolume-index", Type: graph.OptInt, Default: "-1", Min: -1, Max: 64},
			{Key: "eager-lock", Type: graph.OptBool, Default: "on", Description: "one lock and one pre-op for a stream of writes on a file"},
			{Key: "post-op-delay-secs", Type: graph.OptInt, Default: "1", Min: 0, Max: 3600, Description: "delay of the batched post-op after the last write of an eager-lock epoch"},
			{Key: "data-self-heal", Type: graph.OptString, Default: "on", Description: "on|off|open: heal data in the background when lookup finds it pending"},
			{Key: "metadata-self-heal", Type: graph.OptBool, Default: "on", Description: "heal metadata inline when lookup finds it pending"},
			{Key: "entry-self-heal", Type: graph.OptBool, Default: "on", Description: "heal directory entries inline when lookup finds them pending"},
			{Key: "data-self-heal-algorithm", Type: graph.OptEnum, Default: "diff", Enum: []string{"full", "diff"}, Description: "full copies every block; diff compares checksums per 128 KiB block"},
			{Key: "data-self-heal-window-size", Aliases: []string{"self-heal-window-size"}, Type: graph.OptInt, Default: "1", Min: 1, Max: 1024, Description: "128 KiB blocks healed per round"},
			{Key: "background-self-heal-count", Type: graph.OptInt, Default: "8", Min: 0, Max: 256, Description: "data heals lookups may run in the background at once"},
			{Key: "self-heal-daemon", Type: graph.OptBool, Default: "on", Description: "accepted (the daemon is `weft heal` / RunHealDaemon)"},
			{Key: "favorite-child-policy", Type: graph.OptEnum, Default: "none", Enum: []string{"none", "size", "mtime", "ctime", "majority"}},
			{Key: "volume-id", Type: graph.OptString},
			{Key: "use-anonymous-inode", Type: graph.OptBool, Default: "yes"},
			{Key: "use-compound-fops", Type: graph.OptBool, Default: "off"},
			{Key: "granular-entry-heal", Type: graph.OptBool, Default: "on"},
		},
	})
}

// AFR is the cluster/replicate translator.
type AFR struct {
	graph.Base

	kids    []graph.Xlator
	keys    []string // pending xattr per child
	arbiter int      // index of the arbiter child or -1
	qType   string
	qCount  int
	readIdx int

	up      []atomic.Bool
	evMu    sync.Mutex
	upState graph.Event
	// evGen is the event generation (GlusterFS priv->event_generation): bumped whenever a child
	// goes down or comes up. A cached inodeState of an older generation is refreshed before a
	// read child is chosen from it.
	evGen atomic.Uint64
	// healGen counts heals that repaired something (fix-open retries after one).
	healGen atomic.Uint64

	mu    sync.Mutex
	state map[graph.GFID]*inodeState

	favorite    string
	dataHeal    bool
	metaHeal    bool
	entryHeal   bool
	healAlgo    string
	healWindow  int
	eagerOn     bool
	postOpDelay time.Duration

	emu   sync.Mutex
	eager map[graph.GFID]*eagerLock

	bgMu     sync.Mutex
	bgBusy   map[graph.GFID]bool
	bgMax    int
	bgWG     sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc

	childCameUp chan struct{}
}

// inodeState is what lookup learned about a file: which copies are readable per changelog type,
// and whether the copies blame each other (split-brain).
type inodeState struct {
	readable   [3][]bool
	splitBrain [3]bool
	needHeal   [3]bool // some counter of the type is non-zero
	accused    [3]bool // some copy is blamed (or split-brain)
	isDir      bool
	seq        uint64 // when the inspection began (stateSeq)
	gen        uint64 // the event generation when the inspection began (evGen)
	stale      bool   // a transaction failed on a copy since: refresh before reading
}

// Init implements graph.Xlator.
func (a *AFR) Init(ctx context.Context) error {
	o := a.Options()
	a.kids = a.Children()
	n := len(a.kids)
	a.keys = make([]string, n)
	if names := o.List("afr-pending-xattr"); len(names) > 0 {
		if len(names) != n {
			return graph.Errorf(unix.EINVAL, "replicate %s: afr-pending-xattr has %d names for %d children", a.Name(), len(names), n)
		}
		for i, nm := range names {
			a.keys[i] = XattrPrefix + nm
		}
	} else {
		for i, k := range a.kids {
			a.keys[i] = XattrPrefix + k.Name()
		}
	}
	a.arbiter = -1
	if o.Int("arbiter-count") == 1 {
		if n != 3 {
			return graph.Errorf(unix.EINVAL, "replicate %s: arbiter needs 3 children, has %d", a.Name(), n)
		}
		a.arbiter = n - 1
	}
	a.qType = o.String("quorum-type")
	a.qCount = int(o.Int("quorum-count"))
	if a.qType == "fixed" && (a.qCount < 1 || a.qCount > n) {
		return graph.Errorf(unix.EINVAL, "replicate %s: quorum-count %d out of 1..%d", a.Name(), a.qCount, n)
	}
	a.readIdx = int(o.Int("read-subvolume-index"))
	if a.readIdx >= n {
		return graph.Errorf(unix.EINVAL, "replicate %s: read-subvolume-index %d ≥ %d children", a.Name(), a.readIdx, n)
	}
	a.up = make([]atomic.Bool, n)
	a.state = map[graph.GFID]*inodeState{}
	a.favorite = o.String("favorite-child-policy")
	dsh := strings.ToLower(o.String("data-self-heal"))
	switch dsh {
	case "on", "open", "yes", "true", "enable", "1":
		a.dataHeal = true
	case "off", "no", "false", "disable", "0":
	default:
		return graph.Errorf(unix.EINVAL, "replicate %s: data-self-heal %q is not on, off or open", a.Name(), dsh)
	}
	a.metaHeal = o.Bool("metadata-self-heal")
	a.entryHeal = o.Bool("entry-self-heal")
	a.healAlgo = o.String("data-self-heal-algorithm")
	a.healWindow = int(o.Int("data-self-heal-window-size"))
	a.eagerOn = o.Bool("eager-lock")
	a.postOpDelay = time.Duration(o.Int("post-op-delay-secs")) * time.Second
	a.eager = map[graph.GFID]*eagerLock{}
	a.bgBusy = map[graph.GFID]bool{}
	a.bgMax = int(o.Int("background-self-heal-count"))
	a.bgCtx, a.bgCancel = context.WithCancel(context.Background())
	a.childCameUp = make(chan struct{}, 1)
	return nil
}

// Fini implements graph.Xlator: ends every eager-lock epoch (post-op, unlock) and stops the
// background heals.
func (a *AFR) Fini() {
	if a.bgCancel == nil {
		return
	}
	a.eagerFlushAll()
	a.bgCancel()
	a.bgWG.Wait()
}

// SetPostOpDelay changes post-op-delay-secs at run time (tests use sub-second delays).
func (a *AFR) SetPostOpDelay(d time.Duration) {
	a.emu.Lock()
	a.postOpDelay = d
	a.emu.Unlock()
}

func (a *AFR) dataHealOn() bool  { return a.dataHeal && a.bgMax > 0 }
func (a *AFR) metaHealOn() bool  { return a.metaHeal }
func (a *AFR) entryHealOn() bool { return a.entryHeal }

// PendingKeys returns the pending xattr name of each child.
func (a *AFR) PendingKeys() []string { return append([]string(nil), a.keys...) }

// ---- quorum and events ----------------------------------------------------------------------

func (a *AFR) upSet() []bool {
	s := make([]bool, len(a.kids))
	for i := range s {
		s[i] = a.up[i].Load()
	}
	return s
}

// quorumMet applies quorum-type to a set of children (up ones, or ones where a fop succeeded):
// auto — more than half, or exactly half including the first child; fixed — at least
// quorum-count; none — at least one.
func (a *AFR) quorumMet(set []bool) bool {
	cnt := 0
	for _, b := range set {
		if b {
			cnt++
		}
	}
	n := len(set)
	switch a.qType {
	case "fixed":
		return cnt >= a.qCount
	case "auto":
		if 2*cnt > n {
			return true
		}
		return 2*cnt == n && set[0]
	}
	return cnt > 0
}

// Notify implements graph.Xlator: CHILD_UP goes up once quorum is up (the first child with
// quorum none), CHILD_DOWN when none is up.
func (a *AFR) Notify(ctx context.Context, ev graph.Event, from graph.Xlator) {
	if ev.IsDownward() {
		a.ForwardEvent(ctx, ev)
		return
	}
	idx := -1
	for i, k := range a.kids {
		if k == from {
			idx = i
		}
	}
	if idx < 0 || (ev != graph.EventChildUp && ev != graph.EventChildDown) {
		a.ForwardEvent(ctx, ev)
		return
	}
	a.evMu.Lock()
	cameUp := ev == graph.EventChildUp && !a.up[idx].Load()
	wentDown := ev == graph.EventChildDown && a.up[idx].Load()
	a.up[idx].Store(ev == graph.EventChildUp)
	if cameUp || wentDown {
		a.evGen.Add(1)
	}
	if cameUp && a.childCameUp != nil {
		select {
		case a.childCameUp <- struct{}{}:
		default:
		}
	}
	set := a.upSet()
	anyUp := false
	for _, b := range set {
		anyUp = anyUp || b
	}
	var send graph.Event
	switch {
	case a.qType != "none" && a.quorumMet(set) || a.qType == "none" && anyUp:
		send = graph.EventChildUp
	case !anyUp:
		send = graph.EventChildDown
	}
	if send != 0 && send != a.upState {
		a.upState = send
	} else {
		send = 0
	}
	a.evMu.Unlock()
	if wentDown {
		a.eagerChildDown(idx)
	}
	if send != 0 {
		a.ForwardEvent(ctx, send)
	}
}

// ---- changelog helpers ----------------------------------------------------------------------

// EncodePending returns a 12-byte changelog value.
func EncodePending(data, meta, entry int32) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint32(b[0:], uint32(data))
	binary.BigEndian.PutUint32(b[4:], uint32(meta))
	binary.BigEndian.PutUint32(b[8:], uint32(entry))
	return b
}

// DecodePending parses a changelog value (12 bytes; shorter GlusterFS values are zero-padded).
func DecodePending(b []byte) (c [3]int32, err error) {
	if len(b) > 12 || len(b)%4 != 0 {
		return c, graph.Errorf(unix.EINVAL, "afr changelog of %d bytes", len(b))
	}
	for i := 0; i*4 < len(b); i++ {
		c[i] = int32(binary.BigEndian.Uint32(b[i*4:]))
	}
	return c, nil
}

func (a *AFR) changelogRequest(x graph.Xdata) graph.Xdata {
	nx := x.Clone()
	if nx == nil {
		nx = graph.Xdata{}
	}
	for _, k := range a.keys {
		nx[k] = nil
	}
	nx[XattrDirty] = nil
	return nx
}

// ---- fan-out --------------------------------------------------------------------------------

type res[T any] struct {
	v   T
	err error
	ok  bool // the child was asked
}

func fan[T any](set []bool, f func(i int) (T, error)) []res[T] {
	out := make([]res[T], len(set))
	var wg sync.WaitGroup
	for i, b := range set {
		if !b {
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			v, err := f(i)
			out[i] = res[T]{v: v, err: err, ok: true}
		}(i)
	}
	wg.Wait()
	return out
}

func errDown(op string) error { return graph.Errorf(unix.ENOTCONN, "replicate: %s: no child up", op) }

// ---- read child -----------------------------------------------------------------------------

func (a *AFR) getState(g graph.GFID) *inodeState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state[g]
}

func (a *AFR) setState(g graph.GFID, s *inodeState) {
	a.mu.Lock()
	if len(a.state) > 1<<18 {
		a.state = map[graph.GFID]*inodeState{}
	}
	if old := a.state[g]; old == nil || old.seq <= s.seq {
		a.state[g] = s // an older inspection finishing late never replaces a newer one
	}
	a.mu.Unlock()
}

var stateSeq atomic.Uint64

// readChild picks the child to read gfid from: an up child not blamed for typ (per the last
// inspection of the file, refreshed first when children went down or came up since, or a
// transaction failed on a copy), read-subvolume-index if it qualifies, otherwise spread by a
// hash of the GFID. The arbiter never serves data. Split-brain → EIO.
func (a *AFR) readChild(ctx context.Context, g graph.GFID, typ int) (int, error) {
	return a.readChildExcept(ctx, g, typ, nil)
}

// currentState returns g's cached state, first refreshing it (an inspection of every up copy's
// changelog, as GlusterFS's afr_inode_refresh) when it is of an older event generation or was
// made stale by a failed transaction. A child that came back is so considered again once it is
// in sync, and one that missed changes while it was away is never read from.
func (a *AFR) currentState(ctx context.Context, g graph.GFID) (*inodeState, error) {
	st := a.getState(g)
	if g.IsZero() || st != nil && st.gen == a.evGen.Load() && !st.stale {
		return st, nil
	}
	cs := a.inspect(ctx, a.upSet(), g)
	if ctx.Err() != nil {
		return nil, graph.Errorf(unix.EINTR, "replicate %s: refreshing %s: %v", a.Name(), g, ctx.Err())
	}
	a.refreshState(g, cs)
	if nst := a.getState(g); nst != nil {
		st = nst
	}
	return st, nil
}

// invalidateState marks g's cached state stale (a transaction failed on an up copy): the next
// read refreshes it. Inspections that began before cannot overwrite the mark.
func (a *AFR) invalidateState(g graph.GFID) {
	if g.IsZero() {
		return
	}
	a.mu.Lock()
	if st := a.state[g]; st != nil && !st.stale {
		c := *st
		c.stale = true
		c.seq = stateSeq.Add(1)
		a.state[g] = &c
	}
	a.mu.Unlock()
}

// readChildExcept is readChild among the children not in skip (ones already tried).
func (a *AFR) readChildExcept(ctx context.Context, g graph.GFID, typ int, skip map[int]bool) (int, error) {
	st, err := a.currentState(ctx, g)
	if err != nil {
		return -1, err
	}
	n := len(a.kids)
	ok := func(i int) bool {
		if skip[i] || !a.up[i].Load() || (typ == IdxData && i == a.arbiter) {
			return false
		}
		return st == nil || st.readable[typ] == nil || st.readable[typ][i]
	}
	if st != nil && st.splitBrain[typ] {
		return -1, graph.Errorf(unix.EIO, "replicate %s: gfid %s is in %s split-brain", a.Name(), g, typName(typ))
	}
	if a.readIdx >= 0 && a.readIdx != a.arbiter && ok(a.readIdx) {
		return a.readIdx, nil
	}
	h := fnv.New32a()
	h.Write(g[:])
	start := int(h.Sum32() % uint32(n))
	// The arbiter (zero-size files) answers only when no data brick can: its stat has no size.
	for pass := 0; pass < 2; pass++ {
		for k := 0; k < n; k++ {
			if i := (start + k) % n; ok(i) && (pass == 1 || i != a.arbiter) {
				return i, nil
			}
		}
	}
	return -1, graph.Errorf(unix.EIO, "replicate %s: gfid %s: no readable copy up", a.Name(), g)
}

func typName(t int) string { return [...]string{"data", "metadata", "entry"}[t] }

// ChildUp reports whether child i is up as this translator sees it.
func (a *AFR) ChildUp(i int) bool { return i >= 0 && i < len(a.up) && a.up[i].Load() }
