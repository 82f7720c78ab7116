package graph

import (
	"context"
	"fmt"
	"sync"

	"go.uber.org/zap"
)

// Xlator is a translator: a node of a volume graph. Every translator embeds Base (usually via
// Passthrough), which supplies the identity methods; the unexported base method makes embedding
// mandatory.
type Xlator interface {
	Fops
	// Name is the volume name from the volfile ("gv0-client-1").
	Name() string
	// Type is the registered type, which is also the package path ("storage/posix").
	Type() string
	// Children are the subvolumes in volfile order.
	Children() []Xlator
	// Parents are the translators that have this one as a subvolume.
	Parents() []Xlator
	// Options are the validated options (defaults applied).
	Options() *Options
	// Logger is this translator's logger, named after it.
	Logger() *zap.Logger
	// Graph is the graph the translator belongs to (nil when built standalone).
	Graph() *Graph

	// Init is called once, bottom-up, after children are initialised and options validated.
	Init(ctx context.Context) error
	// Fini releases everything Init acquired; called top-down when a graph is torn down.
	Fini()
	// Notify delivers an event. PARENT_UP/DOWN travel down (from is the parent), CHILD_* travel up
	// (from is the child). A translator updates its state, then forwards (Base.Notify forwards).
	Notify(ctx context.Context, ev Event, from Xlator)
	// Reconfigure applies new option values in place (same topology). Translators that have no
	// live-changeable state can keep Base's implementation, which stores the options.
	Reconfigure(opts *Options) error

	base() *Base
}

// Event is a graph event (glusterfs_event_t subset).
type Event int

// Events. PARENT_* go down the graph, CHILD_* go up.
const (
	EventParentUp Event = iota + 1
	EventParentDown
	EventChildConnecting
	EventChildUp
	EventChildDown
	EventChildModified
)

func (e Event) String() string {
	switch e {
	case EventParentUp:
		return "PARENT_UP"
	case EventParentDown:
		return "PARENT_DOWN"
	case EventChildConnecting:
		return "CHILD_CONNECTING"
	case EventChildUp:
		return "CHILD_UP"
	case EventChildDown:
		return "CHILD_DOWN"
	case EventChildModified:
		return "CHILD_MODIFIED"
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// IsDownward reports whether the event travels from parents to children.
func (e Event) IsDownward() bool { return e == EventParentUp || e == EventParentDown }

// Base carries what every translator has: identity, topology, options, logger. Embed it (or
// Passthrough, which embeds it).
type Base struct {
	name     string
	typ      string
	children []Xlator
	mu       sync.RWMutex
	parents  []Xlator
	opts     *Options
	log      *zap.Logger
	graph    *Graph
	self     Xlator
}

func (b *Base) base() *Base { return b }

// Name implements Xlator.
func (b *Base) Name() string { return b.name }

// Type implements Xlator.
func (b *Base) Type() string { return b.typ }

// Children implements Xlator.
func (b *Base) Children() []Xlator { return b.children }

// Parents implements Xlator.
func (b *Base) Parents() []Xlator {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return append([]Xlator(nil), b.parents...)
}

// Options implements Xlator.
func (b *Base) Options() *Options {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.opts
}

// Logger implements Xlator.
func (b *Base) Logger() *zap.Logger {
	if b.log == nil {
		return zap.NewNop()
	}
	return b.log
}

// Graph implements Xlator.
func (b *Base) Graph() *Graph { return b.graph }

// Self returns the outermost translator value that embeds this Base (for passing as "from").
func (b *Base) Self() Xlator { return b.self }

// FirstChild returns the first subvolume, or nil.
func (b *Base) FirstChild() Xlator {
	if len(b.children) == 0 {
		return nil
	}
	return b.children[0]
}

// Init implements Xlator; the default does nothing.
func (b *Base) Init(ctx context.Context) error { return nil }

// Fini implements Xlator; the default does nothing.
func (b *Base) Fini() {}

// Reconfigure implements Xlator; the default stores the new options.
func (b *Base) Reconfigure(opts *Options) error {
	b.mu.Lock()
	b.opts = opts
	b.mu.Unlock()
	return nil
}

// Notify implements Xlator: downward events go to every child, upward events to every parent;
// at the top of a graph, upward events reach the graph's event handler.
func (b *Base) Notify(ctx context.Context, ev Event, from Xlator) {
	b.ForwardEvent(ctx, ev)
}

// ForwardEvent sends ev onward in its direction, with this translator as the sender. Translators
// that override Notify call it after updating their state (or send their own aggregated event).
func (b *Base) ForwardEvent(ctx context.Context, ev Event) {
	if ev.IsDownward() {
		for _, c := range b.children {
			c.Notify(ctx, ev, b.self)
		}
		return
	}
	parents := b.Parents()
	for _, p := range parents {
		p.Notify(ctx, ev, b.self)
	}
	if len(parents) == 0 && b.graph != nil {
		b.graph.topEvent(ctx, ev, b.self)
	}
}

// setup fills a freshly constructed translator's Base.
func setup(x Xlator, name, typ string, opts *Options, children []Xlator, log *zap.Logger) {
	b := x.base()
	b.name = name
	b.typ = typ
	b.opts = opts
	b.children = children
	b.self = x
	if log == nil {
		log = zap.NewNop()
	}
	b.log = log.Named(name)
	for _, c := range children {
		cb := c.base()
		cb.mu.Lock()
		cb.parents = append(cb.parents, x)
		cb.mu.Unlock()
	}
}
