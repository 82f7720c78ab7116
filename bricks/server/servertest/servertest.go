package servertest

import (
	"context"
	"testing"

	"go.uber.org/zap"

	"github.com/weftfs/weft/bricks/server"
	"github.com/weftfs/weft/graph"

	_ "github.com/weftfs/weft/bricks/posix"                 // storage/posix
	_ "github.com/weftfs/weft/graph/xlators/features/locks" // features/locks
)

// Subvolume is the name clients give as remote-subvolume: the translator under protocol/server.
const Subvolume = "brick-locks"

// Options configure Start; the zero value is a brick on the default transport with no-op logs.
type Options struct {
	Transport string            // "epoll" or "net" ("": the server's default)
	Server    map[string]string // further protocol/server options
	Log       *zap.Logger       // nil: no-op
	// Tap, when set, is the type of a translator put between features/locks (then named
	// "locks") and protocol/server, under the name Subvolume, so clients reach the brick through it.
	Tap string
}

// Brick is a running in-process brick, finalised when the test ends.
type Brick struct {
	Graph  *graph.Graph
	Server *server.Server
	Dir    string       // the brick's directory
	Tap    graph.Xlator // the Options.Tap translator, if any
}

// Start builds and activates a brick in a new temporary directory.
func Start(t testing.TB, o Options) *Brick {
	t.Helper()
	dir := t.TempDir()
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	px, err := graph.Construct("storage/posix", dir, map[string]string{"directory": dir, "health-check-interval": "0"}, log)
	if err != nil {
		t.Fatal(err)
	}
	lkName := Subvolume
	if o.Tap != "" {
		lkName = "locks"
	}
	top, err := graph.Construct("features/locks", lkName, nil, log, px)
	if err != nil {
		t.Fatal(err)
	}
	b := &Brick{Dir: dir}
	if o.Tap != "" {
		if top, err = graph.Construct(o.Tap, Subvolume, nil, log, top); err != nil {
			t.Fatal(err)
		}
		b.Tap = top
	}
	opts := map[string]string{"listen": "127.0.0.1:0"}
	if o.Transport != "" {
		opts["transport"] = o.Transport
	}
	for k, v := range o.Server {
		opts[k] = v
	}
	sx, err := graph.Construct(server.Type, "brick-server", opts, log, top)
	if err != nil {
		t.Fatal(err)
	}
	if b.Graph, err = graph.NewGraph(sx); err != nil {
		t.Fatal(err)
	}
	if err := b.Graph.Activate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Graph.Fini)
	b.Server = sx.(*server.Server)
	return b
}

// Addr returns the brick's listening address (host:port).
func (b *Brick) Addr() string { return b.Server.Addr().String() }
