package drc

import (
	"container/list"
	"hash/crc32"
	"net/netip"
	"sync"
)

// Key identifies one call.
type Key struct {
	Client netip.Addr // the client's address (not its port: a reconnect may change the port)
	XID    uint32
	Prog   uint32
	Vers   uint32
	Proc   uint32
	Len    uint32 // the length of the arguments
	Sum    uint32 // CRC-32C of the first SumLen bytes of the arguments
}

// SumLen is how much of the arguments the key checksums. Like Linux nfsd (RC_CSUMLEN), only the
// head: it holds the file handle, offset and name that tell calls apart, and a 1 MiB WRITE then
// costs no pass over its data. XID, client, procedure and length complete the key.
const SumLen = 256

// NewKey builds a key, checksumming the head of args.
func NewKey(client netip.Addr, xid, prog, vers, proc uint32, args []byte) Key {
	head := args
	if len(head) > SumLen {
		head = head[:SumLen]
	}
	return Key{Client: client.Unmap(), XID: xid, Prog: prog, Vers: vers, Proc: proc, Len: uint32(len(args)), Sum: crc32.Checksum(head, castagnoli)}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// State is the outcome of Begin.
type State int

// Begin outcomes.
const (
	Miss       State = iota // not seen: execute it, then call Finish (or Abort)
	InProgress              // being executed now: drop this retransmission
	Done                    // completed: send the saved reply
)

func (s State) String() string {
	return [...]string{"miss", "in-progress", "done"}[s]
}

// Cache is a bounded duplicate request cache. It is safe for concurrent use.
type Cache struct {
	max int

	mu  sync.Mutex
	m   map[Key]*entry
	lru *list.List // completed entries, front = most recent

	hits, drops, misses uint64
}

type entry struct {
	key   Key
	done  bool
	reply []byte
	elem  *list.Element
}

// New returns a cache holding at most max completed replies (default 8192 when max <= 0).
func New(max int) *Cache {
	if max <= 0 {
		max = 8192
	}
	return &Cache{max: max, m: map[Key]*entry{}, lru: list.New()}
}

// Begin looks k up. For Miss, the key is now in progress; the caller must Finish or Abort it.
// For Done, reply is the saved reply (the caller must not modify it).
func (c *Cache) Begin(k Key) (State, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		if !e.done {
			c.drops++
			return InProgress, nil
		}
		c.hits++
		c.lru.MoveToFront(e.elem)
		return Done, e.reply
	}
	c.misses++
	c.m[k] = &entry{key: k}
	return Miss, nil
}

// Finish saves the reply of a call begun with Miss (a copy is kept).
func (c *Cache) Finish(k Key, reply []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || e.done {
		return
	}
	e.done = true
	e.reply = append([]byte(nil), reply...)
	e.elem = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		old := c.lru.Remove(c.lru.Back()).(*entry)
		delete(c.m, old.key)
	}
}

// Abort forgets a call begun with Miss that produced no reply to save.
func (c *Cache) Abort(k Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok && !e.done {
		delete(c.m, k)
	}
}

// Stats returns the number of replays (hits), dropped in-progress retransmissions and misses.
func (c *Cache) Stats() (hits, drops, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.drops, c.misses
}

// Len returns the number of entries (in progress and completed).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
