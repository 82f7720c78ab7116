package daemon

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/store"
)

// freePorts returns n TCP ports free on 127.0.0.1 (and, for gossip, UDP).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	var held []io.Closer // keep every chosen port bound until all are chosen, so none repeats
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for len(out) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		p := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		held = append(held, u)
		out = append(out, p)
	}
	return out
}

type node struct {
	d    *Daemon
	cfg  configs.Daemon
	cli  *api.Client
	name string
}

// newNode configures a daemon on 127.0.0.1 with its own ports and state; no processes
// (gateway off; volumes in these tests are not started unless the test sets exe).
func newNode(t *testing.T, name string) *node {
	t.Helper()
	dir := t.TempDir()
	ps := freePorts(t, 3)
	cfg := configs.DefaultDaemon()
	cfg.Bind, cfg.Name = "127.0.0.1", name
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.Socket = filepath.Join(dir, "weft.sock")
	cfg.MgmtPort, cfg.RaftPort, cfg.GossipPort = ps[0], ps[1], ps[2]
	cfg.Gateway = false
	cfg.RaftTimeoutScale = 0.05
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &node{cfg: cfg, name: name, cli: api.UnixClient(cfg.Socket, 30*time.Second)}
}

func (n *node) start(t *testing.T) {
	t.Helper()
	d, err := New(n.cfg, Options{Executable: "/bin/false"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.d = d
	t.Cleanup(func() { d.Close() })
	waitFor(t, 10*time.Second, func() bool {
		st, _ := d.fsm.State()
		return st.ClusterID != ""
	}, n.name+": store initialised")
}

func (n *node) stop() { n.d.Close() }

func (n *node) addr() string { return fmt.Sprintf("127.0.0.1:%d", n.cfg.MgmtPort) }

func (n *node) post(path string, in any) (string, error) {
	var m api.Message
	err := n.cli.Do(context.Background(), http.MethodPost, path, in, &m)
	return m.Message, err
}

func (n *node) volumes(t *testing.T) map[string]api.VolumeInfo {
	t.Helper()
	var vs []api.VolumeInfo
	if err := n.cli.Do(context.Background(), http.MethodGet, "/v1/volumes", nil, &vs); err != nil {
		t.Fatal(err)
	}
	out := map[string]api.VolumeInfo{}
	for _, v := range vs {
		out[v.Name] = v
	}
	return out
}

func waitFor(t *testing.T, d time.Duration, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mkBricks(t *testing.T, n int) []string {
	t.Helper()
	dir := t.TempDir()
	var out []string
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("b%d", i))
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func TestSingleNodeVolumeOps(t *testing.T) {
	a := newNode(t, "a")
	a.start(t)
	bs := mkBricks(t, 4)
	spec := func(p string) string { return "127.0.0.1:" + p }
	// Errors: one line each, nothing created.
	for _, tc := range []struct {
		req  api.CreateRequest
		want string
	}{
		{api.CreateRequest{Name: "v", Replica: 2, Bricks: []string{spec(bs[0]), spec(bs[1]), spec(bs[2])}}, "not a multiple of replica count 2"},
		{api.CreateRequest{Name: "v", Bricks: []string{"10.9.9.9:/x"}}, "not a peer of this cluster"},
		{api.CreateRequest{Name: "v", Bricks: []string{spec(bs[0] + "/missing")}}, "does not exist"},
		{api.CreateRequest{Name: "v", Bricks: []string{"nocolon"}}, "expected HOST:/absolute/path"},
		{api.CreateRequest{Name: "-bad", Bricks: []string{spec(bs[0])}}, "invalid volume name"},
		{api.CreateRequest{Name: "v", Bricks: []string{spec(bs[0]), spec(bs[0])}}, "given twice"},
	} {
		_, err := a.post("/v1/volumes/create", &tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("create %+v: err %v, want %q", tc.req, err, tc.want)
		}
	}
	if err := os.WriteFile(filepath.Join(bs[3], "junk"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := a.post("/v1/volumes/create", &api.CreateRequest{Name: "v", Bricks: []string{spec(bs[3])}}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("non-empty brick: %v", err)
	}
	if len(a.volumes(t)) != 0 {
		t.Fatal("a failed create left a volume")
	}
	if _, err := a.post("/v1/volumes/create", &api.CreateRequest{Name: "v", Replica: 2, Bricks: []string{spec(bs[0]), spec(bs[1])}}); err != nil {
		t.Fatal(err)
	}
	v := a.volumes(t)["v"]
	if v.Type != store.TypeReplicate || v.Status != store.StatusCreated || v.Bricks[1].Port != configs.DefaultBrickPortBase+1 {
		t.Fatalf("created %+v", v)
	}
	// Options: validated against specs.
	if _, err := a.post("/v1/volumes/set", &api.SetRequest{Name: "v", Options: map[string]string{"network.ping-timeout": "never"}}); err == nil {
		t.Fatal("bad option value accepted")
	}
	if _, err := a.post("/v1/volumes/set", &api.SetRequest{Name: "v", Options: map[string]string{"no.such": "1"}}); err == nil {
		t.Fatal("unknown option accepted")
	}
	if _, err := a.post("/v1/volumes/set", &api.SetRequest{Name: "v", Options: map[string]string{"network.ping-timeout": "7"}}); err != nil {
		t.Fatal(err)
	}
	var vf map[string]string
	if err := a.cli.Do(context.Background(), http.MethodGet, "/v1/volfile?volume=v", nil, &vf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(vf["volfile"], "option network.ping-timeout 7") || !strings.Contains(vf["volfile"], "afr-pending-xattr v-client-0,v-client-1") {
		t.Fatalf("client volfile:\n%s", vf["volfile"])
	}
	if _, err := a.post("/v1/volumes/reset", &api.ResetRequest{Name: "v"}); err != nil {
		t.Fatal(err)
	}
	if len(a.volumes(t)["v"].Options) != 0 {
		t.Fatal("reset left options")
	}
	if _, err := a.post("/v1/volumes/stop", &api.VolumeRequest{Name: "v"}); err == nil || !strings.Contains(err.Error(), "not in the started state") {
		t.Fatalf("stop of a created volume: %v", err)
	}
	if _, err := a.post("/v1/volumes/unsupported", &api.BrickRequest{Name: "v", Action: "rebalance start"}); err == nil || !strings.Contains(err.Error(), "not available") {
		t.Fatalf("rebalance: %v", err)
	}
	if _, err := a.post("/v1/volumes/delete", &api.VolumeRequest{Name: "v"}); err != nil {
		t.Fatal(err)
	}
	// State survives a restart.
	if _, err := a.post("/v1/volumes/create", &api.CreateRequest{Name: "w", Bricks: []string{spec(bs[2])}}); err != nil {
		t.Fatal(err)
	}
	a.stop()
	a.start(t)
	if vs := a.volumes(t); len(vs) != 1 || vs["w"].Bricks[0].Path != bs[2] {
		t.Fatalf("after restart: %+v", vs)
	}
}

func TestPeerAPIAuthentication(t *testing.T) {
	a := newNode(t, "a")
	a.start(t)
	// Unsigned and wrongly signed peer requests are refused.
	for _, secret := range [][]byte{nil, []byte("wrong-secret-wrong-secret-wrong!")} {
		err := api.PeerClient(a.addr(), secret, 5*time.Second).Do(context.Background(), http.MethodGet, "/v1/internal/local-status", nil, nil)
		if err == nil || !strings.Contains(err.Error(), "not authenticated") {
			t.Fatalf("secret %q: err %v", secret, err)
		}
	}
	var ls api.LocalStatus
	if err := api.PeerClient(a.addr(), a.d.secret(), 5*time.Second).Do(context.Background(), http.MethodGet, "/v1/internal/local-status", nil, &ls); err != nil || ls.PeerID != a.d.local.NodeID {
		t.Fatalf("signed request: %v %+v", err, ls)
	}
	// Garbage bodies get an error reply.
	resp, err := http.Post("http://"+a.addr()+"/v1/internal/join", "application/json", strings.NewReader("{{{"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("garbage join: %s", resp.Status)
	}
	// The CLI routes are not on TCP.
	resp, err = http.Post("http://"+a.addr()+"/v1/volumes/create", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("CLI route over TCP: %s", resp.Status)
	}
}

func TestThreeNodeCluster(t *testing.T) {
	ns := []*node{newNode(t, "a"), newNode(t, "b"), newNode(t, "c")}
	for _, n := range ns {
		n.start(t)
	}
	a := ns[0]
	for _, n := range ns[1:] {
		if _, err := a.post("/v1/peers/probe", &api.ProbeRequest{Host: n.addr()}); err != nil {
			t.Fatalf("probe %s: %v", n.name, err)
		}
	}
	// Probing again is a no-op message, not an error.
	if m, err := a.post("/v1/peers/probe", &api.ProbeRequest{Host: ns[1].addr()}); err != nil || !strings.Contains(m, "already in peer list") {
		t.Fatalf("re-probe: %q %v", m, err)
	}
	for _, n := range ns {
		waitFor(t, 10*time.Second, func() bool {
			st, _ := n.d.fsm.State()
			return len(st.Peers) == 3
		}, n.name+" sees 3 peers")
	}
	// All three share one secret and cluster id.
	s0, _ := a.d.fsm.State()
	for _, n := range ns[1:] {
		s, _ := n.d.fsm.State()
		if s.ClusterID != s0.ClusterID || s.Secret != s0.Secret {
			t.Fatalf("%s: cluster %s, want %s", n.name, s.ClusterID, s0.ClusterID)
		}
	}
	// All peers' bricks are addressed by address; they all use 127.0.0.1 here, so use
	// per-peer names to pick the peer.
	bs := mkBricks(t, 6)
	// Concurrent conflicting creates of the same name from two nodes: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, n := range ns[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = n.post("/v1/volumes/create", &api.CreateRequest{Name: "rep", Replica: 3,
				Bricks: []string{"a:" + bs[i*3], "b:" + bs[i*3+1], "c:" + bs[i*3+2]}})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else if !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("loser's error: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d creates won: %v", won, errs)
	}
	// Every node sees the same volume.
	for _, n := range ns {
		waitFor(t, 5*time.Second, func() bool { _, ok := n.volumes(t)["rep"]; return ok }, n.name+" sees rep")
	}
	// Concurrent set with a stale version: one wins, the other is told to retry or wins after.
	// Stop node c: the cluster keeps a majority; changes made meanwhile reach c when it
	// returns.
	c := ns[2]
	c.stop()
	if _, err := a.post("/v1/volumes/set", &api.SetRequest{Name: "rep", Options: map[string]string{"network.ping-timeout": "9"}}); err != nil {
		t.Fatal(err)
	}
	c.start(t)
	waitFor(t, 10*time.Second, func() bool { return c.volumes(t)["rep"].Options["network.ping-timeout"] == "9" }, "c catches up")
	// A write issued on a follower is forwarded to the leader.
	if _, err := c.post("/v1/volumes/reset", &api.ResetRequest{Name: "rep", Keys: []string{"network.ping-timeout"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return len(a.volumes(t)["rep"].Options) == 0 }, "reset reaches a")
	// A fresh node that already holds a volume refuses to join.
	d := newNode(t, "d")
	d.start(t)
	db := mkBricks(t, 1)
	if _, err := d.post("/v1/volumes/create", &api.CreateRequest{Name: "own", Bricks: []string{"127.0.0.1:" + db[0]}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.post("/v1/peers/probe", &api.ProbeRequest{Host: d.addr()}); err == nil || !strings.Contains(err.Error(), "another cluster") {
		t.Fatalf("probe of a node with volumes: %v", err)
	}
	// A peer holding bricks cannot be detached.
	if _, err := a.post("/v1/peers/detach", &api.DetachRequest{Host: "b"}); err == nil || !strings.Contains(err.Error(), "holds brick") {
		t.Fatalf("detach of a brick holder: %v", err)
	}
	var ps []api.PeerStatus
	if err := a.cli.Do(context.Background(), http.MethodGet, "/v1/peers", nil, &ps); err != nil || len(ps) != 3 {
		t.Fatalf("peers: %v %+v", err, ps)
	}
}
