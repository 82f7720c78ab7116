package nlm_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/weftfs/weft/gateway/nlm"
	"github.com/weftfs/weft/gateway/nsm"
	"github.com/weftfs/weft/gateway/server"
)

// TestThroughGatewayServer wires NLM and NSM into a real gateway (gateway/server.StartLocking)
// and reaches them the way a client does: through the gateway's embedded port mapper.
func TestThroughGatewayServer(t *testing.T) {
	top := volume(t)
	fh := file(t, top, "img") // the handle codec of the tests uses the gateway's volume id and secret
	ctx := context.Background()
	g, err := server.Start(ctx, server.Config{Top: top, Volume: "vol", Secret: secret, Listen: "127.0.0.1",
		NFSPort: -1, MountPort: -1, PortmapPort: -1, Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	lk, err := g.StartLocking(ctx, server.LockingConfig{StateDir: t.TempDir(), NLMPort: -1, NSMPort: -1, Hostname: "gw"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = g.Close(cctx)
		lk.Close()
	}()
	pm := g.PortmapAddr().(*net.TCPAddr).Port
	nlmPort, err := nsm.LookupPort(ctx, transport, "127.0.0.1", pm, nlm.Program, nlm.V4)
	if err != nil || nlmPort != lk.NLMAddr().(*net.TCPAddr).Port {
		t.Fatalf("port mapper NLM v4: %d %v, listening on %v", nlmPort, err, lk.NLMAddr())
	}
	nsmPort, err := nsm.LookupPort(ctx, transport, "127.0.0.1", pm, nsm.Program, nsm.Version)
	if err != nil || nsmPort != lk.NSMAddr().(*net.TCPAddr).Port {
		t.Fatalf("port mapper NSM: %d %v", nsmPort, err)
	}
	a := dial(t, nlmPort, "hostA")
	b := dial(t, nlmPort, "hostB")
	want(t, "A", a.lock(fh, 1, 100, 100, true, false, false), nlm.Granted)
	want(t, "B", b.lock(fh, 1, 150, 1, false, false, false), nlm.Denied)
	want(t, "A unlock", a.unlock(fh, 1, 0, 0), nlm.Granted)
	want(t, "B", b.lock(fh, 1, 150, 1, false, false, false), nlm.Granted)
}
