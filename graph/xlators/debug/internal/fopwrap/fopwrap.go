// Package fopwrap is the shared body of the debug translators: Wrapper implements every fop as
// "Before hook, the first child's fop, After hook", so trace, io-stats, error-gen and delay-gen
// see every fop without each writing 45 methods. The fops are generated from graph/fops.go
// (go generate), so a fop added to the contract is wrapped on the next generate. It plays the
// role of GlusterFS's per-fop boilerplate in xlators/debug/*.
package fopwrap

//go:generate go run gen.go

import (
	"context"
	"time"

	"github.com/weftfs/weft/graph"
)

// Call describes one fop as it passes through a Wrapper.
type Call struct {
	Fop   graph.Fop
	Loc   *graph.Loc // the first Loc argument, if any
	FD    *graph.FD  // the first FD argument, if any
	Start time.Time  // when the fop was wound to the child (after Before)
}

// Hooks are the translator's share of every fop.
type Hooks interface {
	// Before runs before the fop is wound to the child; a non-nil error fails the fop with that
	// error without winding it (After still runs).
	Before(ctx context.Context, c *Call) error
	// After runs when the fop has returned. n is the number of bytes read (Readv) or written
	// (a successful Writev), else 0.
	After(ctx context.Context, c *Call, n int64, err error)
}

// Wrapper implements every fop by calling Hooks around the first child (graph.Passthrough, so
// with no child a fop fails with ENOTCONN). Embed it and set Hooks in the constructor.
type Wrapper struct {
	graph.Passthrough
	Hooks Hooks
}

func (w *Wrapper) before(ctx context.Context, c *Call) error {
	if w.Hooks == nil {
		c.Start = time.Now()
		return nil
	}
	err := w.Hooks.Before(ctx, c)
	c.Start = time.Now()
	if err != nil {
		w.Hooks.After(ctx, c, 0, err)
	}
	return err
}

func (w *Wrapper) after(ctx context.Context, c *Call, n int64, err error) {
	if w.Hooks != nil {
		w.Hooks.After(ctx, c, n, err)
	}
}

func written(data []byte, err error) int64 {
	if err != nil {
		return 0
	}
	return int64(len(data))
}
