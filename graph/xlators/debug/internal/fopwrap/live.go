package fopwrap

import (
	"sync/atomic"

	"github.com/weftfs/weft/graph"
)

// Live is a translator's configuration parsed from its options and replaced atomically when the
// options change, so fops read it without a lock. Parse is the translator's option parser; it
// serves CheckOptions, Init and Reconfigure alike.
type Live[T any] struct {
	Parse func(*graph.Options) (*T, error)
	p     atomic.Pointer[T]
}

// Check parses opts without applying them (graph.OptionChecker).
func (l *Live[T]) Check(opts *graph.Options) error {
	_, err := l.Parse(opts)
	return err
}

// Apply parses opts and, when they are valid, makes them the configuration.
func (l *Live[T]) Apply(opts *graph.Options) error {
	c, err := l.Parse(opts)
	if err != nil {
		return err
	}
	l.p.Store(c)
	return nil
}

// Load returns the configuration (nil before the first Apply).
func (l *Live[T]) Load() *T { return l.p.Load() }

// EnabledFops parses the list option key into a fop set; an empty list means every fop.
func EnabledFops(opts *graph.Options, key string) (FopSet, error) {
	set, given, err := ParseFopList(opts, key)
	if err != nil || given {
		return set, err
	}
	return AllFops(), nil
}
