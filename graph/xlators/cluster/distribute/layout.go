package distribute

import (
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// On-disk names, as GlusterFS spells them.
const (
	// XattrLayout holds a directory's hash range on one brick (16 bytes, see EncodeRange).
	XattrLayout = "trusted.glusterfs.dht"
	// XattrLinkto names, in a link file, the subvolume that holds the data (NUL-terminated).
	XattrLinkto = "trusted.glusterfs.dht.linkto"
	// XattrCommitHash is set on the root by rebalance (a decimal string, NUL-terminated).
	XattrCommitHash = "trusted.glusterfs.dht.commithash"
	// LayoutHealDomain is the inodelk domain that serialises layout writes.
	LayoutHealDomain = "dht.layout.heal"
	// EntrySyncDomain is the entrylk domain that protects a name during dir ops.
	EntrySyncDomain = "dht.entry.sync"
	// FileMigrateDomain is the inodelk domain held while a file migrates.
	FileMigrateDomain = "dht.file.migrate"
)

// Layout hash types (dht_hashfn_type_t).
const (
	HashTypeDM     uint32 = 0
	HashTypeDMUser uint32 = 1
)

// LayoutHashInvalid is the commit hash of a layout that rebalance has not certified
// (DHT_LAYOUT_HASH_INVALID); GlusterFS writes it on the root's first layout.
const LayoutHashInvalid uint32 = 1

// Range is one subvolume's piece of a directory layout. Err mirrors GlusterFS's list[i].err:
// 0 the directory exists and the range came from disk, -1 the directory exists without a range
// (or a range is to be assigned), a positive errno the directory could not be looked up there
// (ENOENT missing, ENOTCONN down).
type Range struct {
	Subvol     int // index among the translator's children
	Name       string
	Start      uint32
	Stop       uint32
	CommitHash uint32
	Err        int
}

// Empty reports whether the range holds no hashes (a subvolume outside directory-layout-spread).
func (r *Range) Empty() bool { return r.Start == r.Stop }

// Layout is a directory's layout: one Range per subvolume.
type Layout struct {
	Type       uint32
	CommitHash uint32
	Ranges     []Range
	// at is when the layout was read from the subvolumes (zero: written by this client); set
	// before the layout is cached, never after.
	at time.Time
}

// EncodeRange returns the 16-byte trusted.glusterfs.dht value of one range: four big-endian
// uint32s — commit hash, hash type, start, stop (dht_disk_layout_extract).
func EncodeRange(commitHash, typ, start, stop uint32) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint32(b[0:], commitHash)
	binary.BigEndian.PutUint32(b[4:], typ)
	binary.BigEndian.PutUint32(b[8:], start)
	binary.BigEndian.PutUint32(b[12:], stop)
	return b
}

// DecodeRange parses a trusted.glusterfs.dht value; it rejects any length but 16 and unknown
// hash types (dht_disk_layout_merge).
func DecodeRange(b []byte) (commitHash, typ, start, stop uint32, err error) {
	if len(b) != 16 {
		return 0, 0, 0, 0, fmt.Errorf("dht layout xattr: %d bytes, want 16: %w", len(b), unix.EINVAL)
	}
	commitHash = binary.BigEndian.Uint32(b[0:])
	typ = binary.BigEndian.Uint32(b[4:])
	start = binary.BigEndian.Uint32(b[8:])
	stop = binary.BigEndian.Uint32(b[12:])
	if typ != HashTypeDM && typ != HashTypeDMUser {
		return 0, 0, 0, 0, fmt.Errorf("dht layout xattr: hash type %d: %w", typ, unix.EINVAL)
	}
	return commitHash, typ, start, stop, nil
}

// Clone returns a deep copy.
func (l *Layout) Clone() *Layout {
	c := *l
	c.Ranges = append([]Range(nil), l.Ranges...)
	return &c
}

// Search returns the subvolume whose range holds hash, or -1 (dht_layout_search).
func (l *Layout) Search(hash uint32) int {
	for i := range l.Ranges {
		r := &l.Ranges[i]
		// A down subvolume keeps its range: fops hashed there fail with ENOTCONN (as in
		// GlusterFS) instead of finding a hole.
		if (r.Err == 0 || r.Err == int(unix.ENOTCONN)) && !r.Empty() && r.Start <= hash && hash <= r.Stop {
			return r.Subvol
		}
	}
	// Entries with Err -1 may still carry a freshly assigned range (mkdir before write-back).
	for i := range l.Ranges {
		r := &l.Ranges[i]
		if r.Err <= 0 && r.Start <= hash && hash <= r.Stop && !(r.Start == 0 && r.Stop == 0) {
			return r.Subvol
		}
	}
	return -1
}

// For returns the range of subvolume sv, or nil.
func (l *Layout) For(sv int) *Range {
	for i := range l.Ranges {
		if l.Ranges[i].Subvol == sv {
			return &l.Ranges[i]
		}
	}
	return nil
}

// SortByStart orders ranges as dht_layout_sort does (by start; all-zero ranges by stop).
func (l *Layout) SortByStart() {
	sort.SliceStable(l.Ranges, func(i, j int) bool {
		x, y := &l.Ranges[i], &l.Ranges[j]
		if y.Start == 0 && y.Stop == 0 {
			return int64(x.Stop)-int64(y.Stop) < 0
		}
		return int64(x.Start)-int64(y.Start) < 0
	})
}

// SortByName orders ranges by subvolume name (strcmp), as GlusterFS does before assigning.
func (l *Layout) SortByName() {
	sort.SliceStable(l.Ranges, func(i, j int) bool { return l.Ranges[i].Name < l.Ranges[j].Name })
}

// Anomalies counts what dht_layout_anomalies counts, on a copy sorted by start.
type Anomalies struct {
	Holes, Overlaps, Missing, Down, Misc, NoSpace int
}

// Anomalies scans the layout for holes and overlaps in the 32-bit hash space.
func (l *Layout) Anomalies() Anomalies {
	s := l.Clone()
	s.SortByStart()
	var a Anomalies
	if len(s.Ranges) == 0 {
		a.Holes = 1
		return a
	}
	lastStop := s.Ranges[0].Start - 1
	prevStop := lastStop
	virgin := true
	for i := range s.Ranges {
		r := &s.Ranges[i]
		switch r.Err {
		case -1, int(unix.ENOENT), int(unix.ESTALE):
			a.Missing++
			continue
		case int(unix.ENOTCONN):
			a.Down++
			continue
		case int(unix.ENOSPC):
			a.NoSpace++
			continue
		case 0:
			if r.Start == r.Stop {
				continue
			}
		default:
			a.Misc++
			continue
		}
		virgin = false
		if prevStop+1 < r.Start {
			a.Holes++
		}
		if prevStop+1 > r.Start {
			a.Overlaps++
		}
		prevStop = r.Stop
	}
	if lastStop != prevStop || virgin {
		a.Holes++
	}
	return a
}

// NeedsHeal reports whether a looked-up directory layout must be rewritten: a hole or an
// overlap, or a subvolume where the directory is missing (dht_layout_normalize).
func (l *Layout) NeedsHeal() bool {
	a := l.Anomalies()
	if a.Holes > 0 || a.Overlaps > 0 {
		return true
	}
	for i := range l.Ranges {
		r := &l.Ranges[i]
		if r.Err == int(unix.ENOENT) || (r.Err == -1 && r.Start == 0 && r.Stop == 0) {
			return true
		}
	}
	return false
}

// AssignParams are the inputs of a new directory's layout that come from the volume.
type AssignParams struct {
	Hasher *Hasher
	// Path is the directory's path from the volume root ("/a/b"); its hash picks the first
	// subvolume of the rotation (randomize-hash-range-by-gfid off). With ByGFID set, the
	// canonical text of GFID is hashed instead.
	Path   string
	ByGFID bool
	GFID   string
	// Chunks are the subvolumes' sizes in 1 MiB chunks (from statfs) by subvolume index; nil or
	// any zero among the used ones disables weighting (weighted-rebalance).
	Chunks []uint32
	Weight bool
	// Spread is directory-layout-spread (0: every eligible subvolume).
	Spread int
}

// AssignNew gives the layout fresh ranges the way dht_selfheal_layout_new_directory does: the
// ranges are sorted by subvolume name, the first one to receive a range is hash(path) modulo the
// number of subvolumes, and the 32-bit space is split evenly (or by brick size when weighting)
// among the eligible subvolumes (Err -1 or ENOENT; Err 0 is first turned into -1), the last one
// ending at 0xffffffff. Ineligible subvolumes get 0-0.
func (l *Layout) AssignNew(p AssignParams) {
	l.SortByName()
	count := 0
	for i := range l.Ranges {
		e := l.Ranges[i].Err
		if e == -1 || e == 0 || e == int(unix.ENOENT) {
			count++
			if e == 0 {
				l.Ranges[i].Err = -1
			}
		}
	}
	if count == 0 {
		for i := range l.Ranges {
			if l.Ranges[i].Err == int(unix.ENOSPC) {
				l.Ranges[i].Err = -1
				count++
			}
		}
	}
	if p.Spread > 0 && p.Spread <= count {
		count = p.Spread
	} else if count == 0 {
		count = 1
	}
	eligible := func(r *Range) bool { return r.Err == -1 || r.Err == int(unix.ENOENT) }
	weight := p.Weight
	var total uint64
	used := 0
	for i := range l.Ranges {
		r := &l.Ranges[i]
		if !eligible(r) {
			continue
		}
		var c uint32
		if r.Subvol < len(p.Chunks) {
			c = p.Chunks[r.Subvol]
		}
		if c == 0 {
			weight = false
			break
		}
		total += uint64(c)
		used++
		if used >= count {
			break
		}
	}
	var chunk float64
	if weight && total > 0 {
		chunk = float64(0xffffffff) / float64(total)
	} else {
		weight = false
		chunk = float64(0xffffffff) / float64(count)
	}
	str := p.Path
	if p.ByGFID {
		str = p.GFID
	}
	startSub := 0
	if len(l.Ranges) > 0 {
		startSub = int(p.Hasher.Hash(str) % uint32(len(l.Ranges)))
	}
	for i := range l.Ranges {
		l.Ranges[i].Start, l.Ranges[i].Stop = 0, 0
	}
	var start uint32
	used = 0
	for ri := 0; ri < len(l.Ranges); ri++ {
		i := (ri + startSub) % len(l.Ranges)
		r := &l.Ranges[i]
		if !eligible(r) {
			continue
		}
		cur := uint32(1)
		if weight {
			if r.Subvol < len(p.Chunks) {
				cur = p.Chunks[r.Subvol]
			} else {
				cur = 0
			}
			if cur == 0 {
				continue
			}
		}
		size := uint32(chunk * float64(cur))
		r.Start = start
		r.Stop = start + size - 1
		r.CommitHash = l.CommitHash
		used++
		if used >= count {
			r.Stop = 0xffffffff
			return
		}
		start += size
	}
}

func overlap(o, n *Range) uint32 {
	if o.Err > 0 || n.Err > 0 || o.Start == o.Stop || n.Start == n.Stop {
		return 0
	}
	if o.Start > n.Stop || o.Stop < n.Start {
		return 0
	}
	return min(o.Stop, n.Stop) - max(o.Start, n.Start) + 1
}

// Fix computes the layout fix-layout writes (dht_fix_layout_of_directory): a new-directory
// assignment over the current subvolumes, then ranges swapped between subvolumes where that
// keeps more of the old ranges in place (maximize overlap), so fewer files move. old must have
// one range per subvolume (missing ones with Err set). It returns nil for a user-set layout.
func Fix(old *Layout, p AssignParams) *Layout {
	if old.Type == HashTypeDMUser {
		return nil
	}
	o := old.Clone()
	n := &Layout{Type: HashTypeDM, CommitHash: old.CommitHash}
	for _, r := range o.Ranges {
		nr := Range{Subvol: r.Subvol, Name: r.Name, Err: r.Err}
		if r.Err == int(unix.ENOSPC) {
			nr.Err = -1
		}
		n.Ranges = append(n.Ranges, nr)
	}
	n.SortByName()
	n.AssignNew(p)
	o.SortByName()
	cnt := len(n.Ranges)
	table := make([]uint32, cnt*len(o.Ranges))
	ov := func(i, j int) *uint32 { return &table[i*cnt+j] }
	for i := 0; i < cnt; i++ {
		for j := range o.Ranges {
			*ov(i, j) = overlap(&o.Ranges[j], &n.Ranges[i])
		}
	}
	for i := 0; i < cnt; i++ {
		if n.Ranges[i].Err > 0 {
			continue
		}
		var best uint32
		bestIdx := i
		for j := i + 1; j < cnt; j++ {
			if n.Ranges[j].Err > 0 {
				continue
			}
			cur := *ov(i, i) + *ov(j, j)
			sw := *ov(i, j) + *ov(j, i)
			if sw > cur {
				sw -= cur
				if sw > best {
					best = sw
					bestIdx = j
				}
			}
		}
		if bestIdx != i {
			a, b := &n.Ranges[i], &n.Ranges[bestIdx]
			a.Start, b.Start = b.Start, a.Start
			a.Stop, b.Stop = b.Stop, a.Stop
			for j := range o.Ranges {
				*ov(i, j), *ov(bestIdx, j) = *ov(bestIdx, j), *ov(i, j)
			}
		}
	}
	return n
}
