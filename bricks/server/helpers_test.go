package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	_ "github.com/weftfs/weft/bricks/posix"
	"github.com/weftfs/weft/bricks/server"
	"github.com/weftfs/weft/bricks/server/servertest"
	"github.com/weftfs/weft/graph"
	_ "github.com/weftfs/weft/graph/xlators/features/locks"
	"github.com/weftfs/weft/graph/xlators/protocol/client"
)

// brick is an in-process brick: storage/posix → features/locks → protocol/server.
type brick struct {
	g   *graph.Graph
	srv *server.Server
	dir string
}

func startBrick(t testing.TB, transport string, extra map[string]string) *brick {
	t.Helper()
	var log *zap.Logger
	if testing.Verbose() {
		log = zaptest.NewLogger(t)
	}
	b := servertest.Start(t, servertest.Options{Transport: transport, Server: extra, Log: log})
	return &brick{g: b.Graph, srv: b.Server, dir: b.Dir}
}

// events records the events leaving the top of a client graph.
type events struct{ ch chan graph.Event }

func newClient(t testing.TB, addr string, transport string, extra map[string]string) (*client.Client, *events) {
	t.Helper()
	host, port := splitAddr(t, addr)
	opts := map[string]string{"remote-host": host, "remote-port": port, "remote-subvolume": "brick-locks",
		"transport": transport, "network.ping-timeout": "2s", "reconnect-backoff-max": "200ms", "reconnect-backoff-min": "20ms"}
	for k, v := range extra {
		if v == "" {
			delete(opts, k)
		} else {
			opts[k] = v
		}
	}
	log := zap.NewNop()
	if testing.Verbose() {
		log = zaptest.NewLogger(t)
	}
	x, err := graph.Construct(client.Type, "test-client-0", opts, log)
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.NewGraph(x)
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{ch: make(chan graph.Event, 64)}
	g.SetEventHandler(func(_ context.Context, e graph.Event, _ graph.Xlator) {
		select {
		case ev.ch <- e:
		default:
		}
	})
	if err := g.Activate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Fini)
	return x.(*client.Client), ev
}

func (ev *events) wait(t testing.TB, want graph.Event, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e := <-ev.ch:
			if e == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %s within %v", want, within)
		}
	}
}

func splitAddr(t testing.TB, addr string) (string, string) {
	var host string
	var port int
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			host = addr[:i]
			if _, err := fmt.Sscan(addr[i+1:], &port); err != nil {
				t.Fatalf("bad addr %q", addr)
			}
			break
		}
	}
	return host, fmt.Sprint(port)
}
