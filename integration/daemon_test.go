//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv3"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/gateway/nfstest"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/membership/api"
)

// daemonNode is one `weft daemon` process on its own loopback address inside a namespace.
type daemonNode struct {
	ip, state, sock string
	p               *proc
}

// start runs the daemon; owner (the whole test, not a subtest) stops it at its end.
func (n *daemonNode) start(t, owner *testing.T, ns string) {
	t.Helper()
	n.p = startProc(owner, nsCommand(context.Background(), ns, bins.weft, "daemon", "--bind", n.ip,
		"--state-dir", n.state, "--socket", n.sock, "--raft-timeout-scale", "0.25", "--log-level", "debug"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		if out, err := weftCLI(n, "peer", "status", "--json"); err == nil && strings.Contains(out, n.ip) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon %s did not come up:\n%s", n.ip, n.p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// weftCLI runs a CLI command against n's socket; on failure the error holds stderr.
func weftCLI(n *daemonNode, args ...string) (string, error) {
	cmd := exec.Command(bins.weft, append(args, "--socket", n.sock)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

func cliJSON(t *testing.T, n *daemonNode, out any, args ...string) {
	t.Helper()
	s, err := weftCLI(n, append(args, "--json")...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	if err := json.Unmarshal([]byte(s), out); err != nil {
		t.Fatalf("%v: %v: %s", args, err, s)
	}
}

func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dialNFSInNS connects an NFS test client to addr inside network namespace ns: the socket is
// created by a thread switched into the namespace, and stays there.
func dialNFSInNS(ctx context.Context, ns, addr string) (*nfstest.Client, error) {
	type res struct {
		c   *nfstest.Client
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is discarded with its namespace
		target, err := os.Open(filepath.Join("/var/run/netns", ns))
		if err != nil {
			ch <- res{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- res{err: err}
			return
		}
		c, err := nfstest.Dial(ctx, addr)
		ch <- res{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func TestDaemonCluster(t *testing.T) {
	ns := newNetNS(t)
	dir := t.TempDir()
	top := t
	nodes := make([]*daemonNode, 3)
	for i := range nodes {
		nodes[i] = &daemonNode{ip: fmt.Sprintf("127.0.0.%d", i+1), state: filepath.Join(dir, fmt.Sprintf("state%d", i+1)), sock: filepath.Join(dir, fmt.Sprintf("weft%d.sock", i+1))}
		nodes[i].start(t, t, ns)
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	for _, n := range nodes[1:] {
		if out, err := weftCLI(a, "peer", "probe", n.ip); err != nil || !strings.Contains(out, "success") {
			t.Fatalf("probe %s: %q %v", n.ip, out, err)
		}
	}
	eventually(t, 20*time.Second, "three connected peers seen from every node", func() bool {
		for _, n := range nodes {
			var ps []api.PeerStatus
			cliJSON(t, n, &ps, "peer", "status")
			connected := 0
			for _, p := range ps {
				if p.State == "Connected" {
					connected++
				}
			}
			if connected != 3 {
				return false
			}
		}
		return true
	})
	brick := func(n *daemonNode, name string) string {
		p := filepath.Join(dir, "bricks", n.ip, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return n.ip + ":" + p
	}
	rv := []string{brick(a, "r"), brick(b, "r"), brick(c, "r")}
	if _, err := weftCLI(a, append([]string{"volume", "create", "rv", "replica", "3"}, rv...)...); err != nil {
		t.Fatal(err)
	}
	// The test's NFS clients use unprivileged source ports (GlusterFS's default refuses them);
	// root is not squashed by default, so root creates files in the 0755 volume root.
	if _, err := weftCLI(a, "volume", "set", "rv", "nfs.ports-insecure", "on", "cluster.heal-timeout", "5"); err != nil {
		t.Fatal(err)
	}

	t.Run("ConcurrentConflicts", func(t *testing.T) {
		// Two nodes create the same volume name on different bricks at once: one wins.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, n := range []*daemonNode{b, c} {
			bs := []string{brick(a, fmt.Sprintf("x%d", i)), brick(b, fmt.Sprintf("x%d", i)), brick(c, fmt.Sprintf("x%d", i))}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = weftCLI(n, append([]string{"volume", "create", "cv", "replica", "3"}, bs...)...)
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("want exactly one winner: %v / %v", errs[0], errs[1])
		}
		for _, err := range errs {
			if err != nil && !strings.Contains(err.Error(), "already exists") {
				t.Fatalf("loser's error: %v", err)
			}
		}
		// Two nodes start and delete the same volume at once: one of each pair wins.
		var mu sync.Mutex
		ok := 0
		for _, n := range []*daemonNode{a, c} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := weftCLI(n, "volume", "delete", "cv"); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				} else if !strings.Contains(err.Error(), "does not exist") {
					t.Errorf("delete loser: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("%d deletes succeeded", ok)
		}
	})

	if _, err := weftCLI(b, "volume", "start", "rv"); err != nil {
		t.Fatal(err)
	}
	if _, err := weftCLI(c, "volume", "start", "rv"); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Fatalf("second start: %v", err)
	}
	eventually(t, 30*time.Second, "bricks and gateways online", func() bool {
		var vs []api.VolumeStatus
		cliJSON(t, a, &vs, "volume", "status", "rv")
		if len(vs) != 1 || len(vs[0].Bricks) != 3 || len(vs[0].Gateways) != 3 {
			return false
		}
		for _, p := range append(vs[0].Bricks, vs[0].Gateways...) {
			if !p.Online || p.Pid == 0 {
				return false
			}
		}
		return true
	})

	t.Run("NFSThroughTwoGateways", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c1, err := dialNFSInNS(ctx, ns, a.ip+":2049")
		if err != nil {
			t.Fatal(err)
		}
		defer c1.Close()
		root, st, err := c1.Mnt(ctx, "/rv")
		if err != nil || st != 0 {
			t.Fatalf("mount via %s: %v %v", a.ip, st, err)
		}
		// A gateway answers as soon as it listens; its bricks may still be connecting (EROFS
		// below quorum): retry for a few seconds as a client would.
		var fh []byte
		for i := 0; i < 50; i++ {
			if fh, err = c1.CreateFH(ctx, root, "hello.txt", 0o644); err == nil || !strings.Contains(err.Error(), "status 30") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if res, err := c1.Write(ctx, fh, 0, []byte("written via gateway 1"), nfsv3.FILE_SYNC); err != nil || nfstest.Status(res) != nfsv3.NFS3_OK {
			t.Fatalf("write: %v %v", err, res)
		}
		c2, err := dialNFSInNS(ctx, ns, b.ip+":2049")
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		root2, st, err := c2.Mnt(ctx, "/rv")
		if err != nil || st != 0 {
			t.Fatalf("mount via %s: %v %v", b.ip, st, err)
		}
		fh2, err := c2.LookupFH(ctx, root2, "hello.txt")
		if err != nil {
			t.Fatalf("lookup via gateway 2: %v", err)
		}
		res, err := c2.Read(ctx, fh2, 0, 100)
		if err != nil || nfstest.Status(res) != nfsv3.NFS3_OK {
			t.Fatalf("read via gateway 2: %v %v", err, res)
		}
		if got := string(res.(*nfsv3.Read3res_NFS3_OK).Resok.Data); got != "written via gateway 1" {
			t.Fatalf("read %q", got)
		}
		// The data is on all three bricks (a brick the gateway had not connected to yet gets
		// it from the self-heal daemons, which sweep every 5 s here).
		eventually(t, 20*time.Second, "hello.txt on all three bricks", func() bool {
			for _, n := range nodes {
				got, err := os.ReadFile(filepath.Join(dir, "bricks", n.ip, "r", "hello.txt"))
				if err != nil || string(got) != "written via gateway 1" {
					return false
				}
			}
			return true
		})
	})

	t.Run("RestartKeepsState", func(t *testing.T) {
		b.p.stop(5 * time.Second)
		b.start(t, top, ns)
		var vs []api.VolumeInfo
		cliJSON(t, b, &vs, "volume", "info")
		if len(vs) != 1 || vs[0].Name != "rv" || vs[0].Status != "Started" || len(vs[0].Bricks) != 3 {
			t.Fatalf("after restart: %+v", vs)
		}
	})

	t.Run("DownNodeCatchesUp", func(t *testing.T) {
		c.p.stop(5 * time.Second)
		if _, err := weftCLI(a, "volume", "set", "rv", "network.ping-timeout", "20"); err != nil {
			out, _ := weftCLI(a, "peer", "status")
			t.Fatalf("%v\npeers:\n%s\nlog of %s:\n%s\nlog of %s:\n%s", err, out, a.ip, tail(a.p.log(), 40), b.ip, tail(b.p.log(), 40))
		}
		c.start(t, top, ns)
		eventually(t, 20*time.Second, "the restarted node sees the option", func() bool {
			var vs []api.VolumeInfo
			cliJSON(t, c, &vs, "volume", "info", "rv")
			return len(vs) == 1 && vs[0].Options["network.ping-timeout"] == "20"
		})
	})

	t.Run("CLIErrors", func(t *testing.T) {
		before, _ := weftCLI(a, "volume", "info", "--json")
		for _, args := range [][]string{
			{"volume", "create", "e1", "replica", "2", brick(a, "e1"), brick(b, "e1"), brick(c, "e1")},
			{"volume", "create", "rv", brick(a, "e2")},
			{"volume", "create", "e3", "10.99.0.1:/nowhere"},
			{"volume", "create", "e4", "notabrick"},
			{"volume", "create", "e5", "replica", "x", brick(a, "e5")},
			{"volume", "create", "e6", brick(a, "e6") + "/missing"},
			{"volume", "start", "nosuch"},
			{"volume", "stop", "nosuch"},
			{"volume", "delete", "rv"},
			{"volume", "set", "rv", "no.such.option", "1"},
			{"volume", "set", "rv", "network.ping-timeout", "soon"},
			{"volume", "set", "rv", "storage.directory", "/etc"},
			{"volume", "reset", "rv", "never-set"},
			{"volume", "info", "nosuch"},
			{"volume", "heal", "rv", "bogus"},
			{"volume", "rebalance", "nosuch", "start"},
			{"volume", "rebalance", "rv", "sideways"},
			{"volume", "set", "rv", "server.root-squash", "perhaps"},
			{"volume", "set", "rv", "nfs.rpc-auth-allow", "10.0.0.0/99"},
			{"peer", "probe", "127.0.0.9"},
			{"peer", "detach", "127.0.0.2"},
			// A bad brick on the third node: nothing is created on the other two.
			{"volume", "create", "e7", "replica", "3", brick(a, "e7"), brick(b, "e7"), c.ip + ":" + filepath.Join(dir, "bricks", c.ip, "e7-missing")},
			{"volume", "bogus"},
			{"volume", "profile", "rv", "info"},
			{"volume", "profile", "nosuch", "start"},
			{"volume", "set", "rv", "nfs.rpc-auth-reject", "all"},
			{"volume", "set", "rv", "nfs.rpc-auth-reject", "host.example.com"},
		} {
			cmd := exec.Command(bins.weft, append(args, "--socket", a.sock)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			msg := strings.TrimSuffix(stderr.String(), "\n")
			if err == nil || !strings.HasPrefix(msg, "weft: ") || strings.Contains(msg, "\n") {
				t.Errorf("%v: err %v, stderr %q (want non-zero exit and one line)", args, err, stderr.String())
			}
		}
		// Not reachable: a wrong socket.
		if _, err := weftCLI(&daemonNode{sock: filepath.Join(dir, "nope.sock")}, "volume", "info"); err == nil || !strings.Contains(err.Error(), "cannot reach the weft daemon") {
			t.Errorf("wrong socket: %v", err)
		}
		after, _ := weftCLI(a, "volume", "info", "--json")
		if before != after {
			t.Errorf("failed commands changed the volumes:\n%s\n→\n%s", before, after)
		}
		for _, n := range []*daemonNode{a, b, c} {
			var vs []api.VolumeInfo
			cliJSON(t, n, &vs, "volume", "info")
			for _, v := range vs {
				if v.Name == "e7" {
					t.Errorf("node %s knows the failed volume e7", n.ip)
				}
			}
		}
		for _, n := range []*daemonNode{a, b} {
			p := filepath.Join(dir, "bricks", n.ip, "e7")
			if ents, err := os.ReadDir(p); err != nil || len(ents) != 0 {
				t.Errorf("brick %s after the failed create: %v %v", p, ents, err)
			}
			if sz, err := unix.Getxattr(p, "trusted.glusterfs.volume-id", nil); err == nil || sz > 0 {
				t.Errorf("brick %s carries a volume id after the failed create", p)
			}
		}
	})

	t.Run("AdoptBricksOnOtherNodes", func(t *testing.T) {
		// Bricks of a volume that no longer exists (as GlusterFS or a deleted volume leaves
		// them: data and a volume id), on the two nodes other than the one asked: their checks
		// report the id over the peer API, and the volume created with force takes it.
		const id = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"
		g, err := graph.ParseGFID(id)
		if err != nil {
			t.Fatal(err)
		}
		old := []string{brick(b, "ad"), brick(c, "ad")}
		stranger := brick(c, "ad-other")
		for i, spec := range append(append([]string{}, old...), stranger) {
			p := spec[strings.Index(spec, ":")+1:]
			vid := g
			if i == 2 {
				vid[0] ^= 0xff // another volume's
			}
			if err := unix.Setxattr(p, "trusted.glusterfs.volume-id", vid[:], 0); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(p, "kept"), []byte("data kept from "+p), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := weftCLI(a, append([]string{"volume", "create", "ad", "replica", "2"}, old...)...); err == nil || !strings.Contains(err.Error(), "already part of a volume") {
			t.Fatalf("create without force over bricks with an id: %v", err)
		}
		if _, err := weftCLI(a, "volume", "create", "ad", old[0], stranger, "force"); err == nil || !strings.Contains(err.Error(), "different volumes") || !strings.Contains(err.Error(), stranger) {
			t.Fatalf("create over bricks of two volumes: %v", err)
		}
		out, err := weftCLI(a, append(append([]string{"volume", "create", "ad", "replica", "2"}, old...), "force")...)
		if err != nil || !strings.Contains(out, id) {
			t.Fatalf("create with force: %q, %v; want the bricks' id %s", out, err, id)
		}
		var vs []api.VolumeInfo
		cliJSON(t, a, &vs, "volume", "info", "ad")
		if len(vs) != 1 || vs[0].ID != id {
			t.Fatalf("volume info ad: %+v", vs)
		}
		if _, err := weftCLI(a, "volume", "start", "ad"); err != nil {
			t.Fatal(err)
		}
		waitVolume(t, a, "ad", 2, 3) // the brick processes accepted the bricks
		for _, args := range [][]string{{"volume", "stop", "ad"}, {"volume", "delete", "ad"}} {
			if _, err := weftCLI(a, args...); err != nil {
				t.Fatalf("%v: %v", args, err)
			}
		}
	})

	cl := &cluster{ns: ns, dir: dir, top: top, nodes: nodes, brick: brick}
	t.Run("KillNodeDuringWrites", func(t *testing.T) { testKillNodeDuringWrites(t, cl) })
	t.Run("AddBrickRebalance", func(t *testing.T) { testAddBrickRebalance(t, cl) })
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
