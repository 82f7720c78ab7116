package trace

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/xlators/debug/internal/fopwrap"
)

func init() {
	graph.Register(graph.Registration{
		Type:        "debug/trace",
		New:         New,
		Description: "log every fop call and its result at debug level",
		MinChildren: 1,
		MaxChildren: 1,
		Options: []graph.OptionSpec{
			{Key: "include-ops", Type: graph.OptList, Description: "log only these fops (names as in the Fops interface, any case)"},
			{Key: "exclude-ops", Type: graph.OptList, Description: "do not log these fops"},
		},
	})
}

// Trace is the translator.
type Trace struct {
	fopwrap.Wrapper
	ops atomic.Pointer[fopwrap.FopSet] // the fops that are logged
}

// New returns an unconfigured Trace (the registry's constructor).
func New() graph.Xlator {
	t := &Trace{}
	t.Hooks = t
	return t
}

// CheckOptions implements graph.OptionChecker: the fop lists must name fops and not both be given.
func (t *Trace) CheckOptions(opts *graph.Options) error {
	_, err := opsFrom(opts)
	return err
}

func opsFrom(opts *graph.Options) (*fopwrap.FopSet, error) {
	inc, incGiven, err := fopwrap.ParseFopList(opts, "include-ops")
	if err != nil {
		return nil, err
	}
	exc, excGiven, err := fopwrap.ParseFopList(opts, "exclude-ops")
	if err != nil {
		return nil, err
	}
	if incGiven && excGiven {
		return nil, graph.OptionErr(opts, "exclude-ops", errors.New("give include-ops or exclude-ops, not both"))
	}
	set := fopwrap.AllFops()
	if incGiven {
		set = inc
	}
	for f, ex := range exc {
		if ex {
			set[f] = false
		}
	}
	return &set, nil
}

// Init implements graph.Xlator.
func (t *Trace) Init(ctx context.Context) error {
	set, err := opsFrom(t.Options())
	if err != nil {
		return err
	}
	t.ops.Store(set)
	return nil
}

// Reconfigure implements graph.Xlator: the fop selection changes live.
func (t *Trace) Reconfigure(opts *graph.Options) error {
	set, err := opsFrom(opts)
	if err != nil {
		return err
	}
	t.ops.Store(set)
	return t.Wrapper.Reconfigure(opts)
}

// Traced reports whether fop f is currently logged.
func (t *Trace) Traced(f graph.Fop) bool {
	set := t.ops.Load()
	return set != nil && set.Has(f)
}

func (t *Trace) enabled(f graph.Fop) bool {
	return t.Traced(f) && t.Logger().Core().Enabled(zapcore.DebugLevel)
}

func target(c *fopwrap.Call) zap.Field {
	switch {
	case c.Loc != nil:
		return zap.Stringer("loc", c.Loc)
	case c.FD != nil:
		return zap.Stringer("fd", c.FD.GFID)
	}
	return zap.Skip()
}

// Before implements fopwrap.Hooks: it logs the call.
func (t *Trace) Before(ctx context.Context, c *fopwrap.Call) error {
	if t.enabled(c.Fop) {
		t.Logger().Debug("fop call", zap.Stringer("fop", c.Fop), target(c))
	}
	return nil
}

// After implements fopwrap.Hooks: it logs the result.
func (t *Trace) After(ctx context.Context, c *fopwrap.Call, n int64, err error) {
	if !t.enabled(c.Fop) {
		return
	}
	fields := []zap.Field{zap.Stringer("fop", c.Fop), target(c), zap.Duration("took", time.Since(c.Start))}
	if err != nil {
		e := graph.Errno(err)
		fields = append(fields, zap.Int("errno", int(e)), zap.String("error", e.Error()))
	} else {
		fields = append(fields, zap.Int("errno", 0))
	}
	if c.Fop == graph.FopReadv || c.Fop == graph.FopWritev {
		fields = append(fields, zap.Int64("bytes", n))
	}
	t.Logger().Debug("fop result", fields...)
}
