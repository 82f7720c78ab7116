package graphtest

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Call is one fop a Recorder forwarded.
type Call struct {
	Fop     graph.Fop
	Summary string     // the main arguments, e.g. "/a/b flags=0x42 mode=0644" or "fd=<gfid> len=5 off=0"
	Errno   unix.Errno // the result: 0 on success
}

// Recorder is a pass-through translator that records every fop it forwards to its child (a
// test's view of what a translator above sends down). It is not registered; build it with
// NewRecorder, which wires it above child with graph.Wrap. All methods are safe for
// concurrent use.
type Recorder struct {
	graph.Base
	tap

	mu    sync.Mutex
	calls []Call
}

// NewRecorder returns a Recorder named name above child (not yet part of a graph: put the
// translators above it, then Activate the top).
func NewRecorder(name string, child graph.Xlator) *Recorder {
	r := &Recorder{}
	r.tap = tap{
		next: func() (graph.Fops, error) {
			c := r.FirstChild()
			if c == nil {
				return nil, graph.Errorf(unix.ENOTCONN, "recorder %s: no subvolume", r.Name())
			}
			return c, nil
		},
		on: func(f graph.Fop, summary string, err error) {
			r.mu.Lock()
			r.calls = append(r.calls, Call{Fop: f, Summary: summary, Errno: graph.Errno(err)})
			r.mu.Unlock()
		},
	}
	graph.Wrap(r, "debug/recorder", name, nil, nil, child)
	return r
}

// Calls returns a copy of the calls recorded so far, in completion order.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// Count returns how many times f was forwarded.
func (r *Recorder) Count(f graph.Fop) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c.Fop == f {
			n++
		}
	}
	return n
}

// Fops returns the sequence of recorded fops.
func (r *Recorder) Fops() []graph.Fop {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]graph.Fop, len(r.calls))
	for i, c := range r.calls {
		out[i] = c.Fop
	}
	return out
}

// Reset forgets the recorded calls.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.calls = nil
	r.mu.Unlock()
}

var _ graph.Xlator = (*Recorder)(nil)
