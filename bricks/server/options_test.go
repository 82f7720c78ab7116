package server_test

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/weftfs/weft/bricks/server"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/xlators/protocol/client"
)

// TestBadOptions: bad option values fail Construct or Init with a clear error, never a panic.
func TestBadOptions(t *testing.T) {
	child := func() graph.Xlator {
		x, err := graph.Construct("storage/posix", "p", map[string]string{"directory": t.TempDir(), "health-check-interval": "0"}, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for _, c := range []struct {
		opts map[string]string
		want string
	}{
		{map[string]string{"transport": "carrier-pigeon"}, "transport"},
		{map[string]string{"auth.allow": "10.0.0.0/99", "listen": "127.0.0.1:0"}, "auth.allow"},
		{map[string]string{"auth.reject": "not-an-address", "listen": "127.0.0.1:0"}, "auth.reject"},
		{map[string]string{"listen": "127.0.0.1:99999"}, "listen"},
	} {
		x, err := graph.Construct(server.Type, "s", c.opts, zap.NewNop(), child())
		if err == nil {
			var g *graph.Graph
			if g, err = graph.NewGraph(x); err == nil {
				err = g.Activate(context.Background())
				g.Fini()
			}
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("server options %v: error %v, want one naming %q", c.opts, err, c.want)
		}
	}
	for _, c := range []struct {
		opts map[string]string
		want string
	}{
		{map[string]string{"remote-port": "1", "remote-subvolume": "v"}, "remote-host"},
		{map[string]string{"remote-host": "h", "remote-port": "70000", "remote-subvolume": "v"}, "remote-port"},
		{map[string]string{"remote-host": "h", "remote-port": "1"}, "remote-subvolume"},
		{map[string]string{"remote-host": "h", "remote-port": "1", "remote-subvolume": "v", "network.ping-timeout": "soon"}, "ping-timeout"},
		{map[string]string{"remote-host": "h", "remote-port": "1", "remote-subvolume": "v", "auth.secret-file": "/nonexistent/secret"}, "secret-file"},
	} {
		x, err := graph.Construct(client.Type, "c", c.opts, zap.NewNop())
		if err == nil {
			var g *graph.Graph
			if g, err = graph.NewGraph(x); err == nil {
				err = g.Activate(context.Background())
				g.Fini()
			}
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("client options %v: error %v, want one naming %q", c.opts, err, c.want)
		}
	}
}
