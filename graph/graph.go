package graph

import (
	"context"
	"fmt"
	"sync"
)

// EventHandler receives the events that leave the top of a graph (CHILD_UP and friends as seen
// by the graph's user: the NFS gateway, protocol/server, billyfs).
type EventHandler func(ctx context.Context, ev Event, from Xlator)

// Graph is an assembled translator graph: its top, every translator bottom-up, and the inode
// table used by its top.
type Graph struct {
	Top     Xlator
	Xlators []Xlator // bottom-up: every child before its parents
	Inodes  *InodeTable

	mu      sync.Mutex
	handler EventHandler
	active  bool
	fini    bool
}

// NewGraph collects the translators below top, checks the result is a DAG with one top, and binds
// them to the new graph. Translators must not belong to another graph.
func NewGraph(top Xlator) (*Graph, error) {
	g := &Graph{Top: top, Inodes: NewInodeTable(0)}
	state := map[Xlator]int{} // 1 visiting, 2 done
	var visit func(x Xlator) error
	visit = func(x Xlator) error {
		switch state[x] {
		case 1:
			return fmt.Errorf("graph: cycle through volume %s", x.Name())
		case 2:
			return nil
		}
		state[x] = 1
		for _, c := range x.Children() {
			if err := visit(c); err != nil {
				return err
			}
		}
		state[x] = 2
		g.Xlators = append(g.Xlators, x)
		return nil
	}
	if err := visit(top); err != nil {
		return nil, err
	}
	for _, x := range g.Xlators {
		b := x.base()
		if b.graph != nil && b.graph != g {
			return nil, fmt.Errorf("graph: volume %s already belongs to another graph", x.Name())
		}
		b.graph = g
	}
	return g, nil
}

// SetEventHandler installs the handler for events that leave the top.
func (g *Graph) SetEventHandler(h EventHandler) {
	g.mu.Lock()
	g.handler = h
	g.mu.Unlock()
}

func (g *Graph) topEvent(ctx context.Context, ev Event, from Xlator) {
	g.mu.Lock()
	h := g.handler
	g.mu.Unlock()
	if h != nil {
		h(ctx, ev, from)
	}
}

// Activate initialises every translator bottom-up, then sends PARENT_UP from the top. On an Init
// error, the translators already initialised are finalised and the error names the volume.
func (g *Graph) Activate(ctx context.Context) error {
	g.mu.Lock()
	if g.active || g.fini {
		g.mu.Unlock()
		return fmt.Errorf("graph: already activated")
	}
	g.active = true
	g.mu.Unlock()
	for i, x := range g.Xlators {
		if err := x.Init(ctx); err != nil {
			for j := i - 1; j >= 0; j-- {
				g.Xlators[j].Fini()
			}
			g.mu.Lock()
			g.fini = true
			g.mu.Unlock()
			return fmt.Errorf("volume %s (%s): init: %w", x.Name(), x.Type(), err)
		}
	}
	g.Top.Notify(ctx, EventParentUp, nil)
	return nil
}

// Fini sends PARENT_DOWN from the top and finalises every translator top-down. It is idempotent.
func (g *Graph) Fini() {
	g.mu.Lock()
	if g.fini {
		g.mu.Unlock()
		return
	}
	g.fini = true
	wasActive := g.active
	g.mu.Unlock()
	if !wasActive {
		return
	}
	g.Top.Notify(context.Background(), EventParentDown, nil)
	for i := len(g.Xlators) - 1; i >= 0; i-- {
		g.Xlators[i].Fini()
	}
}

// Find returns the translator with the given volume name.
func (g *Graph) Find(name string) Xlator {
	for _, x := range g.Xlators {
		if x.Name() == name {
			return x
		}
	}
	return nil
}
