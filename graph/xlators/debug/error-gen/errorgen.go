package errorgen

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/xlators/debug/internal/fopwrap"
)

func init() {
	graph.Register(graph.Registration{
		Type:        "debug/error-gen",
		New:         New,
		Description: "fail chosen fops with a chosen errno at a chosen rate",
		MinChildren: 1,
		MaxChildren: 1,
		Options: []graph.OptionSpec{
			{Key: "failure", Type: graph.OptPercent, Default: "100", Description: "percentage of enabled fops that fail"},
			{Key: "error-no", Type: graph.OptString, Default: "EIO", Description: "errno name returned by failed fops (ENOSPC, EIO, ...)"},
			{Key: "enable", Type: graph.OptList, Description: "fops that may fail (names, any case; empty or \"all\": every fop)"},
			{Key: "random-failure", Type: graph.OptBool, Default: "off", Description: "fail at random with probability failure% instead of evenly"},
			{Key: "seed", Type: graph.OptInt, Default: "0", Description: "random-failure seed (0: from the clock)"},
		},
	})
}

// config is the live configuration, swapped atomically on reconfigure.
type config struct {
	percent float64
	errno   unix.Errno
	fops    fopwrap.FopSet
	random  bool

	spread fopwrap.Spreader
	mu     sync.Mutex
	rnd    *rand.Rand
}

// ErrorGen is the translator.
type ErrorGen struct {
	fopwrap.Wrapper
	cfg      fopwrap.Live[config]
	injected atomic.Uint64
}

// New returns an unconfigured ErrorGen (the registry's constructor).
func New() graph.Xlator {
	x := &ErrorGen{}
	x.Hooks = x
	x.cfg.Parse = parse
	return x
}

func parse(opts *graph.Options) (*config, error) {
	c := &config{percent: opts.Float("failure"), random: opts.Bool("random-failure")}
	e, ok := fopwrap.ErrnoByName(opts.String("error-no"))
	if !ok {
		return nil, graph.OptionErr(opts, "error-no", errors.New("not an errno name (like EIO or ENOSPC)"))
	}
	c.errno = e
	set, err := fopwrap.EnabledFops(opts, "enable")
	if err != nil {
		return nil, err
	}
	c.fops = set
	seed := uint64(opts.Int("seed"))
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	c.rnd = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return c, nil
}

// CheckOptions implements graph.OptionChecker: error-no must name an errno and enable fops.
func (x *ErrorGen) CheckOptions(opts *graph.Options) error {
	return x.cfg.Check(opts)
}

// Init implements graph.Xlator.
func (x *ErrorGen) Init(ctx context.Context) error {
	return x.cfg.Apply(x.Options())
}

// Reconfigure implements graph.Xlator: every option changes live (the rate restarts).
func (x *ErrorGen) Reconfigure(opts *graph.Options) error {
	if err := x.cfg.Apply(opts); err != nil {
		return err
	}
	return x.Wrapper.Reconfigure(opts)
}

// Injected returns the number of fops failed so far.
func (x *ErrorGen) Injected() uint64 { return x.injected.Load() }

func (c *config) hit() bool {
	if !c.random {
		return c.spread.Hit(c.percent)
	}
	c.mu.Lock()
	r := c.rnd.Float64() * 100
	c.mu.Unlock()
	return r < c.percent
}

// Before implements fopwrap.Hooks: it fails the fop when it is enabled and its turn comes.
func (x *ErrorGen) Before(ctx context.Context, call *fopwrap.Call) error {
	c := x.cfg.Load()
	if c == nil || !c.fops.Has(call.Fop) || !c.hit() {
		return nil
	}
	x.injected.Add(1)
	return graph.Errorf(c.errno, "error-gen %s: injected %s", x.Name(), call.Fop)
}

// After implements fopwrap.Hooks.
func (x *ErrorGen) After(ctx context.Context, call *fopwrap.Call, n int64, err error) {}
