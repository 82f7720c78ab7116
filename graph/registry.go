package graph

import (
	"fmt"
	"sort"
	"sync"

	"go.uber.org/zap"
)

// Registration describes a translator type. Packages register their type in init().
type Registration struct {
	// Type is the volfile type and the package path under graph/xlators ("cluster/replicate").
	Type string
	// New returns a zero translator; the framework fills its Base, then calls Init.
	New func() Xlator
	// Options are the options the type accepts; unknown options are an error at build time.
	Options []OptionSpec
	// Description is one line for `weft volfile types`.
	Description string
	// MinChildren and MaxChildren bound the number of subvolumes (MaxChildren < 0: unbounded).
	MinChildren, MaxChildren int
}

var (
	regMu    sync.RWMutex
	registry = map[string]*Registration{}
)

// Register adds a translator type. It panics on a duplicate or malformed registration: that is
// a programming error found at process start.
func Register(r Registration) {
	regMu.Lock()
	defer regMu.Unlock()
	if r.Type == "" || r.New == nil {
		panic("graph: Register: empty type or nil constructor")
	}
	if _, dup := registry[r.Type]; dup {
		panic("graph: Register: duplicate translator type " + r.Type)
	}
	if err := checkSpecs(r.Options); err != nil {
		panic(fmt.Sprintf("graph: Register %s: %v", r.Type, err))
	}
	rr := r
	registry[r.Type] = &rr
}

// Lookup returns the registration of a type.
func LookupType(typ string) (*Registration, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	r, ok := registry[typ]
	return r, ok
}

// Types returns the registered type names, sorted.
func Types() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	ts := make([]string, 0, len(registry))
	for t := range registry {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// Construct builds one translator of a registered type: validates raw options against the type's
// specs, checks the child count, and wires the translator above its children. It does not call
// Init; NewGraph + Activate do.
func Construct(typ, name string, raw map[string]string, log *zap.Logger, children ...Xlator) (Xlator, error) {
	r, ok := LookupType(typ)
	if !ok {
		return nil, fmt.Errorf("volume %s: unknown translator type %q", name, typ)
	}
	if len(children) < r.MinChildren {
		return nil, fmt.Errorf("volume %s (%s): needs at least %d subvolume(s), has %d", name, typ, r.MinChildren, len(children))
	}
	if r.MaxChildren >= 0 && len(children) > r.MaxChildren {
		return nil, fmt.Errorf("volume %s (%s): takes at most %d subvolume(s), has %d", name, typ, r.MaxChildren, len(children))
	}
	opts, err := ValidateOptions(r.Options, raw)
	if err != nil {
		return nil, fmt.Errorf("volume %s (%s): %w", name, typ, err)
	}
	x := r.New()
	setup(x, name, typ, opts, children, log)
	return x, nil
}

// Wrap makes an already-allocated translator value (not from the registry) part of a graph, for
// tests and for programs that assemble graphs in Go. typ is informative.
func Wrap(x Xlator, typ, name string, opts *Options, log *zap.Logger, children ...Xlator) Xlator {
	if opts == nil {
		opts = &Options{values: map[string]string{}}
	}
	setup(x, name, typ, opts, children, log)
	return x
}
