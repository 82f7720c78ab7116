package graph

import (
	"container/list"
	"sync"
)

// Inode is a file or directory known to a graph's top (GlusterFS's inode_t): its GFID, the names
// it is linked under, a reference count and per-translator context. Inodes live in an
// InodeTable; unreferenced inodes stay cached on an LRU list until the table's limit is reached.
type Inode struct {
	table *InodeTable
	gfid  GFID
	ia    uint32 // S_IFMT bits, when known

	// protected by table.mu
	ref      int
	dentries []dentry
	lruElem  *list.Element
	linked   bool
	ctx      ctxSlots
}

type dentry struct {
	parent *Inode
	name   string
}

type dentryKey struct {
	parent GFID
	name   string
}

// GFID returns the inode's GFID (zero until linked).
func (in *Inode) GFID() GFID {
	in.table.mu.Lock()
	defer in.table.mu.Unlock()
	return in.gfid
}

// Type returns the S_IFMT bits recorded when the inode was linked.
func (in *Inode) Type() uint32 {
	in.table.mu.Lock()
	defer in.table.mu.Unlock()
	return in.ia
}

// Ref takes a reference and returns in.
func (in *Inode) Ref() *Inode {
	t := in.table
	t.mu.Lock()
	t.refLocked(in)
	t.mu.Unlock()
	return in
}

// Unref drops a reference.
func (in *Inode) Unref() {
	t := in.table
	t.mu.Lock()
	purged := t.unrefLocked(in)
	t.mu.Unlock()
	releaseInodes(purged)
}

// Ctx returns the context value stored under key.
func (in *Inode) Ctx(key any) (any, bool) { return in.ctx.get(key) }

// SetCtx stores a context value under key.
func (in *Inode) SetCtx(key, v any) { in.ctx.set(key, v) }

// CtxOrSet returns the value under key, storing mk() first if there is none.
func (in *Inode) CtxOrSet(key any, mk func() any) any { return in.ctx.getOrSet(key, mk) }

// DelCtx removes and returns the value under key.
func (in *Inode) DelCtx(key any) (any, bool) { return in.ctx.del(key) }

// Path returns one path of the inode from the root, if its ancestry is linked ("" otherwise).
func (in *Inode) Path() string {
	t := in.table
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	cur := in
	for i := 0; i < 4096; i++ {
		if cur.gfid == RootGFID {
			p := ""
			for j := len(parts) - 1; j >= 0; j-- {
				p += "/" + parts[j]
			}
			if p == "" {
				p = "/"
			}
			return p
		}
		if len(cur.dentries) == 0 {
			return ""
		}
		parts = append(parts, cur.dentries[0].name)
		cur = cur.dentries[0].parent
	}
	return ""
}

// InodeTable maps GFIDs and (parent, name) pairs to inodes (GlusterFS's inode_table_t).
type InodeTable struct {
	mu       sync.Mutex
	byGFID   map[GFID]*Inode
	byName   map[dentryKey]*Inode
	lru      *list.List
	lruLimit int
	root     *Inode
}

// NewInodeTable returns a table whose root inode is linked and pinned. lruLimit bounds the number
// of cached unreferenced inodes (0: a default of 65536).
func NewInodeTable(lruLimit int) *InodeTable {
	if lruLimit <= 0 {
		lruLimit = 65536
	}
	t := &InodeTable{byGFID: map[GFID]*Inode{}, byName: map[dentryKey]*Inode{}, lru: list.New(), lruLimit: lruLimit}
	t.root = &Inode{table: t, gfid: RootGFID, ia: 0o040000, linked: true, ref: 1}
	t.byGFID[RootGFID] = t.root
	return t
}

// Root returns the root inode (pinned; the caller need not unref it).
func (t *InodeTable) Root() *Inode { return t.root }

// NewInode returns a fresh, unlinked inode with one reference (before a lookup or create tells
// its GFID).
func (t *InodeTable) NewInode() *Inode {
	return &Inode{table: t, ref: 1}
}

// Find returns the inode with gfid, referenced, or nil.
func (t *InodeTable) Find(gfid GFID) *Inode {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.byGFID[gfid]
	if in != nil {
		t.refLocked(in)
	}
	return in
}

// Grep returns the inode linked as name in parent, referenced, or nil.
func (t *InodeTable) Grep(parent *Inode, name string) *Inode {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := t.byName[dentryKey{parent.gfid, name}]
	if in != nil {
		t.refLocked(in)
	}
	return in
}

// Link records that the file with attributes st is named name in parent (parent may be nil for
// a nameless link). If the table already has an inode with that GFID, that inode is used and in
// is left unlinked. It returns the linked inode with one extra reference.
func (t *InodeTable) Link(in *Inode, parent *Inode, name string, st *Iatt) *Inode {
	t.mu.Lock()
	target := in
	if existing, ok := t.byGFID[st.GFID]; ok {
		target = existing
	} else {
		target.gfid = st.GFID
		target.linked = true
		t.byGFID[st.GFID] = target
	}
	if st.Mode != 0 {
		target.ia = st.Type()
	}
	var purged []*Inode
	if parent != nil && name != "" {
		key := dentryKey{parent.gfid, name}
		if old, ok := t.byName[key]; ok && old != target {
			purged = append(purged, t.removeDentryLocked(old, parent, name)...)
		}
		if t.byName[key] != target {
			t.byName[key] = target
			target.dentries = append(target.dentries, dentry{parent, name})
			t.refLocked(parent) // a dentry holds its parent
		}
	}
	t.refLocked(target)
	t.mu.Unlock()
	releaseInodes(purged)
	return target
}

// Unlink removes the name name in parent from in.
func (t *InodeTable) Unlink(in *Inode, parent *Inode, name string) {
	t.mu.Lock()
	purged := t.removeDentryLocked(in, parent, name)
	t.mu.Unlock()
	releaseInodes(purged)
}

// Rename moves in from (srcParent, srcName) to (dstParent, dstName), replacing whatever was there.
func (t *InodeTable) Rename(in *Inode, srcParent *Inode, srcName string, dstParent *Inode, dstName string) {
	t.mu.Lock()
	var purged []*Inode
	key := dentryKey{dstParent.gfid, dstName}
	if old, ok := t.byName[key]; ok && old != in {
		purged = append(purged, t.removeDentryLocked(old, dstParent, dstName)...)
	}
	t.refLocked(in) // keep it alive across the move
	purged = append(purged, t.removeDentryLocked(in, srcParent, srcName)...)
	if _, ok := t.byName[key]; !ok {
		t.byName[key] = in
		in.dentries = append(in.dentries, dentry{dstParent, dstName})
		t.refLocked(dstParent)
	}
	purged = append(purged, t.unrefLocked(in)...)
	t.mu.Unlock()
	releaseInodes(purged)
}

// Forget removes the GFID mapping of in (the file is gone everywhere); its names are unlinked.
func (t *InodeTable) Forget(in *Inode) {
	t.mu.Lock()
	var purged []*Inode
	for len(in.dentries) > 0 {
		d := in.dentries[0]
		purged = append(purged, t.removeDentryLocked(in, d.parent, d.name)...)
	}
	if in != t.root && t.byGFID[in.gfid] == in {
		delete(t.byGFID, in.gfid)
		in.linked = false
		if in.lruElem != nil {
			t.lru.Remove(in.lruElem)
			in.lruElem = nil
			purged = append(purged, in)
		}
	}
	t.mu.Unlock()
	releaseInodes(purged)
}

// Stats returns the number of referenced (active) and cached (LRU) inodes, root excluded.
func (t *InodeTable) Stats() (active, lru int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byGFID) - 1 - t.lru.Len(), t.lru.Len()
}

// Prune drops every cached unreferenced inode.
func (t *InodeTable) Prune() {
	t.mu.Lock()
	purged := t.pruneLocked(0)
	t.mu.Unlock()
	releaseInodes(purged)
}

func (t *InodeTable) refLocked(in *Inode) {
	if in.lruElem != nil {
		t.lru.Remove(in.lruElem)
		in.lruElem = nil
	}
	in.ref++
}

// unrefLocked drops a reference and returns inodes whose context must be released.
func (t *InodeTable) unrefLocked(in *Inode) []*Inode {
	if in.ref <= 0 {
		return nil
	}
	in.ref--
	if in.ref > 0 || in == t.root {
		return nil
	}
	if !in.linked {
		return []*Inode{in}
	}
	in.lruElem = t.lru.PushBack(in)
	return t.pruneLocked(t.lruLimit)
}

func (t *InodeTable) pruneLocked(limit int) []*Inode {
	var purged []*Inode
	for t.lru.Len() > limit {
		e := t.lru.Front()
		in := e.Value.(*Inode)
		t.lru.Remove(e)
		in.lruElem = nil
		purged = append(purged, t.purgeLocked(in)...)
	}
	return purged
}

// purgeLocked removes an unreferenced inode from the table entirely.
func (t *InodeTable) purgeLocked(in *Inode) []*Inode {
	purged := []*Inode{in}
	if t.byGFID[in.gfid] == in {
		delete(t.byGFID, in.gfid)
	}
	in.linked = false
	ds := in.dentries
	in.dentries = nil
	for _, d := range ds {
		key := dentryKey{d.parent.gfid, d.name}
		if t.byName[key] == in {
			delete(t.byName, key)
		}
		purged = append(purged, t.unrefLocked(d.parent)...)
	}
	return purged
}

func (t *InodeTable) removeDentryLocked(in *Inode, parent *Inode, name string) []*Inode {
	for i, d := range in.dentries {
		if d.parent == parent && d.name == name {
			in.dentries = append(in.dentries[:i], in.dentries[i+1:]...)
			key := dentryKey{parent.gfid, name}
			if t.byName[key] == in {
				delete(t.byName, key)
			}
			return t.unrefLocked(parent)
		}
	}
	return nil
}

func releaseInodes(ins []*Inode) {
	for _, in := range ins {
		in.ctx.releaseAll()
	}
}
