package nfs3

import (
	"container/list"
	"context"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weftfs/weft/graph"
	"golang.org/x/sys/unix"
)

// fdCache keeps one open FD per file GFID for READ, WRITE and COMMIT, released after idle
// expiry, on eviction (LRU, bounded) and on removal of the file.
type fdCache struct {
	top  graph.Xlator
	max  int
	idle time.Duration

	// epoch counts flushes: an entry opened in an earlier epoch (before a graph switch) is not
	// reused.
	epoch atomic.Uint64

	mu  sync.Mutex
	m   map[graph.GFID]*fdEntry
	lru *list.List // front = most recently used
}

type fdEntry struct {
	gfid     graph.GFID
	fd       *graph.FD
	epoch    uint64
	writable bool
	last     time.Time
	elem     *list.Element
}

func newFDCache(top graph.Xlator, max int, idle time.Duration) *fdCache {
	return &fdCache{top: top, max: max, idle: idle, m: map[graph.GFID]*fdEntry{}, lru: list.New()}
}

// get returns an open FD for gfid with a reference the caller drops (Unref). write asks for a
// writable FD.
func (c *fdCache) get(ctx context.Context, gfid graph.GFID, write bool) (*graph.FD, error) {
	ep := c.epoch.Load()
	c.mu.Lock()
	if e, ok := c.m[gfid]; ok && e.epoch == ep && (e.writable || !write) {
		e.last = time.Now()
		c.lru.MoveToFront(e.elem)
		fd := e.fd.Ref()
		c.mu.Unlock()
		return fd, nil
	}
	c.mu.Unlock()

	octx := rootCtx(ctx)
	fd := graph.NewFD(nil, gfid, unix.O_RDWR)
	_, err := c.top.Open(octx, &graph.Loc{GFID: gfid}, unix.O_RDWR, fd, nil)
	writable := true
	if err != nil {
		fd.Unref()
		errno := graph.Errno(err)
		if write || (errno != unix.EACCES && errno != unix.EROFS && errno != unix.EPERM && errno != unix.ETXTBSY) {
			return nil, staleErr(err)
		}
		fd = graph.NewFD(nil, gfid, unix.O_RDONLY)
		if _, err := c.top.Open(octx, &graph.Loc{GFID: gfid}, unix.O_RDONLY, fd, nil); err != nil {
			fd.Unref()
			return nil, staleErr(err)
		}
		writable = false
	}
	var evict []*graph.FD
	c.mu.Lock()
	if old, ok := c.m[gfid]; ok {
		if old.epoch == c.epoch.Load() && old.epoch >= ep && (old.writable || !writable) {
			// Another call opened it meanwhile: use that one, drop ours.
			old.last = time.Now()
			c.lru.MoveToFront(old.elem)
			res := old.fd.Ref()
			c.mu.Unlock()
			c.release(fd)
			return res, nil
		}
		c.removeLocked(old)
		evict = append(evict, old.fd)
	}
	if c.epoch.Load() != ep {
		// A flush (a graph switch) came while this FD was being opened, most likely on the
		// graph being replaced: it serves this call only. Cached, it would hold the old graph
		// until this file's next access or its idle expiry, and the switch would wait out its
		// drain timeout for it.
		c.mu.Unlock()
		for _, f := range evict {
			c.release(f)
		}
		res := fd.Ref()
		c.release(fd) // flush now; the caller's reference keeps it open until the call is done
		return res, nil
	}
	e := &fdEntry{gfid: gfid, fd: fd, epoch: ep, writable: writable, last: time.Now()}
	e.elem = c.lru.PushFront(e)
	c.m[gfid] = e
	for c.lru.Len() > c.max {
		old := c.lru.Back().Value.(*fdEntry)
		c.removeLocked(old)
		evict = append(evict, old.fd)
	}
	res := fd.Ref()
	c.mu.Unlock()
	for _, f := range evict {
		c.release(f)
	}
	return res, nil
}

func (c *fdCache) removeLocked(e *fdEntry) {
	c.lru.Remove(e.elem)
	delete(c.m, e.gfid)
}

// release flushes and drops the cache's reference (GlusterFS close: flush, then release).
func (c *fdCache) release(fd *graph.FD) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_, _ = c.top.Flush(rootCtx(ctx), fd, nil)
	cancel()
	fd.Unref()
}

// drop releases the cached FD of gfid, if any (the file was removed or replaced).
func (c *fdCache) drop(gfid graph.GFID) {
	c.mu.Lock()
	e, ok := c.m[gfid]
	if ok {
		c.removeLocked(e)
	}
	c.mu.Unlock()
	if ok {
		c.release(e.fd)
	}
}

func (c *fdCache) expire(now time.Time) {
	var out []*graph.FD
	c.mu.Lock()
	for el := c.lru.Back(); el != nil; {
		e := el.Value.(*fdEntry)
		prev := el.Prev()
		if now.Sub(e.last) < c.idle {
			break
		}
		c.removeLocked(e)
		out = append(out, e.fd)
		el = prev
	}
	c.mu.Unlock()
	for _, fd := range out {
		c.release(fd)
	}
}

// flush starts a new epoch and releases every cached FD.
func (c *fdCache) flush() {
	c.epoch.Add(1)
	c.closeAll()
}

func (c *fdCache) closeAll() {
	c.mu.Lock()
	var out []*graph.FD
	for _, e := range c.m {
		out = append(out, e.fd)
	}
	c.m = map[graph.GFID]*fdEntry{}
	c.lru.Init()
	c.mu.Unlock()
	for _, fd := range out {
		c.release(fd)
	}
}

// dirCache keeps an open directory FD per (directory GFID, cookie verifier), with the entries
// read ahead but not yet sent, so that READDIR(PLUS) continues where the previous call stopped.
type dirCache struct {
	top  graph.Xlator
	max  int
	idle time.Duration

	epoch atomic.Uint64 // as fdCache's

	mu  sync.Mutex
	m   map[dirKey]*dirEntry
	lru *list.List
}

type dirKey struct {
	gfid graph.GFID
	verf uint64
}

type dirEntry struct {
	key   dirKey
	epoch uint64
	elem  *list.Element
	last  time.Time // protected by dirCache.mu

	mu      sync.Mutex // serialises readers of this stream
	fd      *graph.FD
	pending []graph.Dirent // read, not yet sent; they follow cookie pendAt
	pendAt  uint64
	eof     bool // pending ends the directory
}

func newDirCache(top graph.Xlator, max int, idle time.Duration) *dirCache {
	return &dirCache{top: top, max: max, idle: idle, m: map[dirKey]*dirEntry{}, lru: list.New()}
}

func newVerf() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	v := binary.BigEndian.Uint64(b[:])
	if v == 0 {
		v = 1
	}
	return v
}

// acquire returns the stream for (gfid, verf), opening a directory FD when there is none: a new
// verifier when the client starts at cookie 0, else the client's own verifier (after a restart
// or an expiry, the client's cookies remain valid positions for the graph). The entry comes with
// its mutex held and an FD reference the caller drops with releaseEntry.
func (c *dirCache) acquire(ctx context.Context, gfid graph.GFID, cookie, verf uint64) (*dirEntry, error) {
	if cookie == 0 {
		verf = newVerf()
	}
	key := dirKey{gfid, verf}
	ep := c.epoch.Load()
	c.mu.Lock()
	e, ok := c.m[key]
	if ok && e.epoch == ep {
		e.last = time.Now()
		c.lru.MoveToFront(e.elem)
		e.fd.Ref()
		c.mu.Unlock()
		e.mu.Lock()
		return e, nil
	}
	c.mu.Unlock()
	fd := graph.NewFD(nil, gfid, unix.O_RDONLY|unix.O_DIRECTORY)
	fd.IsDir = true
	if _, err := c.top.Opendir(rootCtx(ctx), &graph.Loc{GFID: gfid}, fd, nil); err != nil {
		fd.Unref()
		return nil, staleErr(err)
	}
	e = &dirEntry{key: key, epoch: ep, fd: fd, last: time.Now()}
	var evict []*graph.FD
	c.mu.Lock()
	if c.epoch.Load() != ep {
		// A flush came while the directory was being opened (see fdCache.get): this stream
		// serves this call only; the caller's releaseEntry drops the one reference.
		c.mu.Unlock()
		e.mu.Lock()
		return e, nil
	}
	if old, ok := c.m[key]; ok {
		c.lru.Remove(old.elem)
		evict = append(evict, old.fd)
	}
	e.elem = c.lru.PushFront(e)
	c.m[key] = e
	for c.lru.Len() > c.max {
		old := c.lru.Back().Value.(*dirEntry)
		c.lru.Remove(old.elem)
		delete(c.m, old.key)
		evict = append(evict, old.fd)
	}
	e.fd.Ref()
	c.mu.Unlock()
	for _, f := range evict {
		f.Unref()
	}
	e.mu.Lock()
	return e, nil
}

func (c *dirCache) releaseEntry(e *dirEntry) {
	fd := e.fd
	e.mu.Unlock()
	fd.Unref()
}

func (c *dirCache) expire(now time.Time) {
	var out []*graph.FD
	c.mu.Lock()
	for el := c.lru.Back(); el != nil; {
		e := el.Value.(*dirEntry)
		prev := el.Prev()
		if now.Sub(e.last) < c.idle {
			break
		}
		c.lru.Remove(el)
		delete(c.m, e.key)
		out = append(out, e.fd)
		el = prev
	}
	c.mu.Unlock()
	for _, fd := range out {
		fd.Unref()
	}
}

// flush starts a new epoch and releases every cached directory FD.
func (c *dirCache) flush() {
	c.epoch.Add(1)
	c.closeAll()
}

func (c *dirCache) closeAll() {
	c.mu.Lock()
	var out []*graph.FD
	for _, e := range c.m {
		out = append(out, e.fd)
	}
	c.m = map[dirKey]*dirEntry{}
	c.lru.Init()
	c.mu.Unlock()
	for _, fd := range out {
		fd.Unref()
	}
}
