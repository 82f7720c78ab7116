package delaygen

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/xlators/debug/internal/fopwrap"
)

func init() {
	graph.Register(graph.Registration{
		Type:        "debug/delay-gen",
		New:         New,
		Description: "delay chosen fops by a fixed duration",
		MinChildren: 1,
		MaxChildren: 1,
		Options: []graph.OptionSpec{
			{Key: "delay-percentage", Type: graph.OptPercent, Default: "10", Description: "percentage of enabled fops that are delayed"},
			{Key: "delay-duration", Type: graph.OptDuration, Default: "100ms", Min: 0, Max: 3600, Description: "how long a delayed fop waits"},
			{Key: "enable", Type: graph.OptList, Description: "fops that may be delayed (names, any case; empty or \"all\": every fop)"},
		},
	})
}

type config struct {
	percent float64
	delay   time.Duration
	fops    fopwrap.FopSet
	spread  fopwrap.Spreader
}

// DelayGen is the translator.
type DelayGen struct {
	fopwrap.Wrapper
	cfg     fopwrap.Live[config]
	delayed atomic.Uint64
}

// New returns an unconfigured DelayGen (the registry's constructor).
func New() graph.Xlator {
	x := &DelayGen{}
	x.Hooks = x
	x.cfg.Parse = parse
	return x
}

func parse(opts *graph.Options) (*config, error) {
	c := &config{percent: opts.Float("delay-percentage"), delay: opts.Duration("delay-duration")}
	set, err := fopwrap.EnabledFops(opts, "enable")
	if err != nil {
		return nil, err
	}
	c.fops = set
	return c, nil
}

// CheckOptions implements graph.OptionChecker: enable must name fops.
func (x *DelayGen) CheckOptions(opts *graph.Options) error {
	return x.cfg.Check(opts)
}

// Init implements graph.Xlator.
func (x *DelayGen) Init(ctx context.Context) error {
	return x.cfg.Apply(x.Options())
}

// Reconfigure implements graph.Xlator: every option changes live.
func (x *DelayGen) Reconfigure(opts *graph.Options) error {
	if err := x.cfg.Apply(opts); err != nil {
		return err
	}
	return x.Wrapper.Reconfigure(opts)
}

// Delayed returns the number of fops delayed so far.
func (x *DelayGen) Delayed() uint64 { return x.delayed.Load() }

// Before implements fopwrap.Hooks: it waits when the fop is enabled and its turn comes.
func (x *DelayGen) Before(ctx context.Context, call *fopwrap.Call) error {
	c := x.cfg.Load()
	if c == nil || c.delay <= 0 || !c.fops.Has(call.Fop) || !c.spread.Hit(c.percent) {
		return nil
	}
	x.delayed.Add(1)
	t := time.NewTimer(c.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("delay-gen %s: %s interrupted: %w: %w", x.Name(), call.Fop, unix.EINTR, ctx.Err())
	}
}

// After implements fopwrap.Hooks.
func (x *DelayGen) After(ctx context.Context, call *fopwrap.Call, n int64, err error) {}
