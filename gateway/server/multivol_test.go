package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/weftfs/weft/bricks/server/servertest"
	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/gateway/nfstest"
	"github.com/weftfs/weft/gateway/server"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/volfile"
	_ "github.com/weftfs/weft/graph/xlators/all"
)

// brick is an in-process brick (storage/posix → features/locks → protocol/server) on a real
// socket, its files in a temporary directory.
type brick struct {
	dir, host, port string
}

func startBrick(t *testing.T) brick {
	t.Helper()
	b := servertest.Start(t, servertest.Options{})
	host, port, _ := net.SplitHostPort(b.Addr())
	return brick{dir: b.Dir, host: host, port: port}
}

// clientVolfile is a distribute graph over bricks (ping timeout in seconds).
func clientVolfile(vol string, ping int, bricks ...brick) string {
	var b strings.Builder
	var subs []string
	for i, br := range bricks {
		name := fmt.Sprintf("%s-client-%d", vol, i)
		subs = append(subs, name)
		fmt.Fprintf(&b, "volume %s\n    type protocol/client\n    option remote-host %s\n    option remote-port %s\n"+
			"    option remote-subvolume brick-locks\n    option network.ping-timeout %d\nend-volume\n\n", name, br.host, br.port, ping)
	}
	fmt.Fprintf(&b, "volume %s-dht\n    type cluster/distribute\n    subvolumes %s\nend-volume\n", vol, strings.Join(subs, " "))
	return b.String()
}

func parseVF(t *testing.T, txt string) *volfile.Volfile {
	t.Helper()
	vf, err := volfile.ParseBytes([]byte(txt))
	if err != nil {
		t.Fatal(err)
	}
	return vf
}

func startMulti(t *testing.T) *server.Gateway {
	t.Helper()
	gw, err := server.Start(context.Background(), server.Config{Secret: nfstest.TestSecret, Listen: "127.0.0.1",
		NFSPort: -1, MountPort: -1, NoPortmap: true, Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
		DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Close(ctx)
	})
	return gw
}

func mnt(t *testing.T, c *nfstest.Client, path string) []byte {
	t.Helper()
	root, st, err := c.Mnt(context.Background(), path)
	if err != nil || st != 0 {
		t.Fatalf("MNT %s: status %d err %v", path, st, err)
	}
	return root
}

func write(t *testing.T, c *nfstest.Client, fh []byte, off uint64, data []byte) {
	t.Helper()
	st, n, _, err := c.WriteFast(context.Background(), fh, off, data, uint32(nfsv3.FILE_SYNC))
	if err != nil || st != 0 || int(n) != len(data) {
		t.Fatalf("WRITE: status %d count %d err %v", st, n, err)
	}
}

// onBricks returns the contents of name (a path in the volume) on each brick that has it.
func onBricks(t *testing.T, name string, bricks ...brick) [][]byte {
	t.Helper()
	var out [][]byte
	for _, b := range bricks {
		if data, err := os.ReadFile(filepath.Join(b.dir, name)); err == nil {
			out = append(out, data)
		}
	}
	return out
}

// One gateway serves two volumes: both mount, files land in their own volume's bricks, a handle
// is served only by the volume it names (tampered → BADHANDLE, unknown volume → STALE, across
// volumes → XDEV), EXPORT lists both, and a removed volume's handles become STALE while the
// other keeps being served on the same connection.
func TestGatewayMultiVolume(t *testing.T) {
	ctx := context.Background()
	a1, a2, b1 := startBrick(t), startBrick(t), startBrick(t)
	gw := startMulti(t)
	specs := []server.VolumeSpec{
		{Name: "alpha", Volfile: parseVF(t, clientVolfile("alpha", 5, a1, a2)), Exports: noSquash("alpha")},
		{Name: "beta", Volfile: parseVF(t, clientVolfile("beta", 5, b1)), Exports: noSquash("beta")},
	}
	if err := gw.SetVolumes(ctx, specs); err != nil {
		t.Fatal(err)
	}
	if got := gw.Volumes(); fmt.Sprint(got) != "[alpha beta]" {
		t.Fatalf("volumes %v", got)
	}
	c, err := nfstest.Dial(ctx, gw.NFSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exps, err := c.Exports(ctx, 3)
	if err != nil || len(exps) != 2 || exps["/alpha"] == nil || exps["/beta"] == nil {
		t.Fatalf("EXPORT: %v %v", exps, err)
	}
	ra, rb := mnt(t, c, "/alpha"), mnt(t, c, "/beta")
	fa, err := c.CreateFH(ctx, ra, "a.txt", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := c.CreateFH(ctx, rb, "b.txt", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	write(t, c, fa, 0, []byte("in alpha"))
	write(t, c, fb, 0, []byte("in beta"))
	if got := onBricks(t, "a.txt", a1, a2, b1); len(got) != 1 || string(got[0]) != "in alpha" || len(onBricks(t, "a.txt", b1)) != 0 {
		t.Fatalf("a.txt on bricks: %q", got)
	}
	if got := onBricks(t, "b.txt", a1, a2, b1); len(got) != 1 || string(got[0]) != "in beta" || len(onBricks(t, "b.txt", b1)) != 1 {
		t.Fatalf("b.txt on bricks: %q", got)
	}
	// alpha's handle with beta's volume id: the MAC no longer matches.
	idB := handle.VolumeIDFromName("beta")
	forged := bytes.Clone(fa)
	copy(forged[4:20], idB[:])
	if res, err := c.Getattr(ctx, forged); err != nil || res.GetStatus() != nfsv3.NFS3ERR_BADHANDLE {
		t.Fatalf("alpha handle with beta's id: %v %v", res, err)
	}
	// A genuine handle of a volume this gateway does not serve.
	other, _ := handle.NewCodec(handle.VolumeIDFromName("gamma"), nfstest.TestSecret)
	if res, err := c.Getattr(ctx, other.Encode(handle.ExportIDFromPath("/gamma"), graph.RootGFID)); err != nil || res.GetStatus() != nfsv3.NFS3ERR_STALE {
		t.Fatalf("handle of an unserved volume: %v %v", res, err)
	}
	// A rename from one volume into the other.
	if res, err := c.Rename(ctx, ra, "a.txt", rb, "moved"); err != nil || res.GetStatus() != nfsv3.NFS3ERR_XDEV {
		t.Fatalf("rename across volumes: %v %v", res, err)
	}
	// MNT of a path of no served volume.
	if _, st, err := c.Mnt(ctx, "/gamma"); err != nil || st == 0 {
		t.Fatalf("MNT /gamma: %d %v", st, err)
	}

	// beta goes away: its handles are STALE, alpha is served on the same connection.
	if err := gw.SetVolumes(ctx, specs[:1]); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Getattr(ctx, fb); err != nil || res.GetStatus() != nfsv3.NFS3ERR_STALE {
		t.Fatalf("handle of a removed volume: %v %v", res, err)
	}
	write(t, c, fa, 8, []byte(" again"))
	if data, _, st, err := c.ReadFast(ctx, fa, 0, 100); err != nil || st != 0 || string(data) != "in alpha again" {
		t.Fatalf("READ alpha after beta's removal: %q %d %v", data, st, err)
	}
	if exps, err := c.Exports(ctx, 3); err != nil || len(exps) != 1 || exps["/alpha"] == nil {
		t.Fatalf("EXPORT after removal: %v %v", exps, err)
	}
	// And back: the same handles work again.
	if err := gw.SetVolumes(ctx, specs); err != nil {
		t.Fatal(err)
	}
	if data, _, st, err := c.ReadFast(ctx, fb, 0, 100); err != nil || st != 0 || string(data) != "in beta" {
		t.Fatalf("READ beta after it came back: %q %d %v", data, st, err)
	}
}

// Invalid volume lists change nothing.
func TestGatewaySetVolumesInvalid(t *testing.T) {
	ctx := context.Background()
	b := startBrick(t)
	gw := startMulti(t)
	vf := parseVF(t, clientVolfile("alpha", 5, b))
	if err := gw.SetVolumes(ctx, []server.VolumeSpec{{Name: "alpha", Volfile: vf}}); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]server.VolumeSpec{
		"duplicate name":        {{Name: "alpha", Volfile: vf}, {Name: "alpha", Volfile: vf}},
		"no volfile":            {{Name: "alpha"}},
		"export of another vol": {{Name: "alpha", Volfile: vf, Exports: nfstestExports("/beta")}},
		"same id":               {{Name: "alpha", Volfile: vf}, {Name: "beta", Volfile: vf, ID: handle.VolumeIDFromName("alpha")}},
	}
	for name, specs := range cases {
		if err := gw.SetVolumes(ctx, specs); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if got := gw.Volumes(); fmt.Sprint(got) != "[alpha]" {
			t.Errorf("%s: volumes now %v", name, got)
		}
		if e := gw.Exports().ByPath("/alpha"); e == nil {
			t.Errorf("%s: /alpha export lost", name)
		}
	}
	// A graph that does not build: the volume keeps its graph.
	before := gw.VolumeGraph("alpha")
	bad := parseVF(t, "volume x\n    type cluster/distribute\nend-volume\n")
	if err := gw.SetVolumes(ctx, []server.VolumeSpec{{Name: "alpha", Volfile: bad}}); err == nil {
		t.Error("a distribute without subvolumes was switched to")
	}
	if gw.VolumeGraph("alpha") != before || before == nil {
		t.Error("the failed switch replaced the graph")
	}
}

// A client writes continuously while the volume's volfile changes twice: an option change
// (applied in place: same graph) and a new subvolume of distribute (a new graph, switched to
// live). No call fails, the connection stays, and every byte written is read back, also from the
// bricks.
func TestGatewayLiveSwitchUnderLoad(t *testing.T) {
	ctx := context.Background()
	b1, b2, b3 := startBrick(t), startBrick(t), startBrick(t)
	gw := startMulti(t)
	spec := func(ping int, bricks ...brick) []server.VolumeSpec {
		return []server.VolumeSpec{{Name: "vol", Volfile: parseVF(t, clientVolfile("vol", ping, bricks...)), Exports: noSquash("vol")}}
	}
	if err := gw.SetVolumes(ctx, spec(5, b1, b2)); err != nil {
		t.Fatal(err)
	}
	g0 := gw.VolumeGraph("vol")
	c, err := nfstest.Dial(ctx, gw.NFSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root := mnt(t, c, "/vol")

	const chunk = 4096
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		errMu   sync.Mutex
		errs    []string
		written = map[string]int{} // file → chunks written
	)
	fail := func(f string, a ...any) {
		errMu.Lock()
		errs = append(errs, fmt.Sprintf(f, a...))
		errMu.Unlock()
	}
	pattern := func(name string, i int) []byte {
		unit := fmt.Sprintf("%s:%06d|", name, i)
		return bytes.Repeat([]byte(unit), chunk/len(unit)+1)[:chunk]
	}
	// Two writers: one appends to a long-lived file (its handle and cached FD cross the
	// switches; UNSTABLE writes with COMMITs), one creates a new file per round.
	big, err := c.CreateFH(ctx, root, "big", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		verf := [8]byte{}
		for i := 0; !stop.Load(); i++ {
			st, n, _, err := c.WriteFast(ctx, big, uint64(i*chunk), pattern("big", i), uint32(nfsv3.UNSTABLE))
			if err != nil || st != 0 || n != chunk {
				fail("WRITE big #%d: status %d count %d err %v", i, st, n, err)
				return
			}
			if i%16 == 15 {
				res, err := c.Commit(ctx, big, 0, 0)
				ok, good := res.(*nfsv3.Commit3res_NFS3_OK)
				if err != nil || !good {
					fail("COMMIT big #%d: %v %v", i, res, err)
					return
				}
				if i > 15 && ok.Resok.Verf != verf {
					fail("COMMIT big #%d: write verifier changed (the gateway lost writes?)", i)
					return
				}
				verf = ok.Resok.Verf
			}
			errMu.Lock()
			written["big"] = i + 1
			errMu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			name := fmt.Sprintf("f%04d", i)
			fh, err := c.CreateFH(ctx, root, name, 0o644)
			if err != nil {
				fail("CREATE %s: %v", name, err)
				return
			}
			st, n, _, err := c.WriteFast(ctx, fh, 0, pattern(name, 0), uint32(nfsv3.FILE_SYNC))
			if err != nil || st != 0 || n != chunk {
				fail("WRITE %s: status %d count %d err %v", name, st, n, err)
				return
			}
			errMu.Lock()
			written[name] = 1
			errMu.Unlock()
		}
	}()
	progress := func() int {
		errMu.Lock()
		defer errMu.Unlock()
		return written["big"]
	}
	waitProgress := func(n int) {
		t.Helper()
		start := progress()
		deadline := time.Now().Add(20 * time.Second)
		for progress() < start+n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitProgress(50)
	// 1: an option change: the same graph, reconfigured.
	if err := gw.SetVolumes(ctx, spec(7, b1, b2)); err != nil {
		t.Fatal(err)
	}
	if gw.VolumeGraph("vol") != g0 {
		t.Fatal("an option change built a new graph")
	}
	if got := g0.Find("vol-client-0").Options().Duration("network.ping-timeout"); got != 7*time.Second {
		t.Fatalf("ping-timeout after reconfigure: %v", got)
	}
	waitProgress(50)
	// 2: a third subvolume: a new graph.
	swStart := time.Now()
	if err := gw.SetVolumes(ctx, spec(7, b1, b2, b3)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(swStart); d > 3*time.Second {
		t.Errorf("the switch took %v: the old graph's FDs were not released at the swap", d)
	}
	g1 := gw.VolumeGraph("vol")
	if g1 == g0 || g1 == nil || len(g1.Find("vol-dht").Children()) != 3 {
		t.Fatal("adding a subvolume did not switch to a new graph")
	}
	waitProgress(50)
	stop.Store(true)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d error(s) during the switches, first: %s", len(errs), errs[0])
	}
	// Everything written is there, through the gateway and on the bricks.
	if _, err := c.Commit(ctx, big, 0, 0); err != nil {
		t.Fatal(err)
	}
	for name, n := range written {
		fh, err := c.LookupFH(ctx, root, name)
		if err != nil {
			t.Fatalf("LOOKUP %s: %v", name, err)
		}
		for i := 0; i < n; i++ {
			data, _, st, err := c.ReadFast(ctx, fh, uint64(i*chunk), chunk)
			if err != nil || st != 0 || !bytes.Equal(data, pattern(name, i)) {
				t.Fatalf("READ %s chunk %d: status %d err %v (%d bytes)", name, i, st, err, len(data))
			}
		}
		copies := onBricks(t, name, b1, b2, b3)
		if len(copies) != 1 || len(copies[0]) != n*chunk {
			t.Fatalf("%s on the bricks: %d copies", name, len(copies))
		}
	}
	// The old graph was finalised once its fops and FDs were done: its bricks disconnected
	// (soon: cached FDs are not kept until their idle expiry).
	deadline := time.Now().Add(3 * time.Second)
	for g0.Find("vol-client-0").(interface{ Connected() bool }).Connected() {
		if time.Now().After(deadline) {
			t.Fatal("the old graph is still connected: not finalised (an FD or fop still holds it)")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d chunks of %q and %d files written across two switches", written["big"], "big", len(written)-1)
}

func nfstestExports(paths ...string) []configs.Export { return configs.DefaultExports(paths).Exports }

// noSquash exports /vol to every client without root squashing (the test runs as root).
func noSquash(vol string) []configs.Export {
	f := false
	return []configs.Export{{Path: "/" + vol, Squash: configs.SquashNoRoot, Secure: &f, Clients: []configs.ClientRule{{Match: "*"}}}}
}
