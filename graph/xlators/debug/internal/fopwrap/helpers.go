package fopwrap

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// FopSet is a set of fops.
type FopSet [graph.NumFops]bool

// AllFops returns the set of every fop.
func AllFops() FopSet {
	var s FopSet
	for i := range s {
		s[i] = true
	}
	return s
}

// Has reports whether f is in the set.
func (s *FopSet) Has(f graph.Fop) bool { return f >= 0 && f < graph.NumFops && s[f] }

// gfAliases are GlusterFS fop names that differ from the Fops method names.
var gfAliases = map[string]graph.Fop{"read": graph.FopReadv, "write": graph.FopWritev}

// ParseFop returns the fop named name: a Fops method name in any case ("writev", "LOOKUP") or
// GlusterFS's "read"/"write".
func ParseFop(name string) (graph.Fop, bool) {
	if f, ok := gfAliases[strings.ToLower(name)]; ok {
		return f, true
	}
	for f := graph.Fop(0); f < graph.NumFops; f++ {
		if strings.EqualFold(f.String(), name) {
			return f, true
		}
	}
	return 0, false
}

// ParseFopList parses the list option key of opts into a set. "all" (or "*") selects every fop.
// An empty list gives the empty set and ok=false so callers can choose their default.
func ParseFopList(opts *graph.Options, key string) (set FopSet, given bool, err error) {
	words := opts.List(key)
	for _, w := range words {
		if w == "all" || w == "*" {
			set = AllFops()
			continue
		}
		f, ok := ParseFop(w)
		if !ok {
			return FopSet{}, false, graph.OptionErr(opts, key, fmt.Errorf("unknown fop %q", w))
		}
		set[f] = true
	}
	return set, len(words) > 0, nil
}

var (
	errnoOnce  sync.Once
	errnoNames map[string]unix.Errno
)

// ErrnoByName returns the errno with the given name ("ENOSPC", case-insensitive).
func ErrnoByName(name string) (unix.Errno, bool) {
	errnoOnce.Do(func() {
		errnoNames = map[string]unix.Errno{}
		for e := unix.Errno(1); e < 4096; e++ {
			if n := unix.ErrnoName(e); n != "" {
				errnoNames[n] = e
			}
		}
	})
	e, ok := errnoNames[strings.ToUpper(strings.TrimSpace(name))]
	return e, ok
}

// Spreader decides which of a stream of events are hit so that exactly percent of them are,
// spread evenly (event k is hit when floor(k·p/100) grows): deterministic, unlike a coin flip.
type Spreader struct {
	n atomic.Uint64
}

// Hit counts one event and reports whether it is hit at the given percentage.
func (s *Spreader) Hit(percent float64) bool {
	if percent <= 0 {
		return false
	}
	if percent >= 100 {
		return true
	}
	k := float64(s.n.Add(1))
	return math.Floor(k*percent/100) > math.Floor((k-1)*percent/100)
}
