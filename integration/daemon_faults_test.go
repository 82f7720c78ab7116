//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv3"

	"github.com/weftfs/weft/gateway/nfstest"
	"github.com/weftfs/weft/membership/api"
)

// cluster is what the daemon fault tests share with TestDaemonCluster.
type cluster struct {
	ns, dir string
	top     *testing.T
	nodes   []*daemonNode
	brick   func(n *daemonNode, name string) string
}

// nfsConn is an NFS client of one gateway that, like a hard-mounted kernel client, reconnects
// and retries a call whose connection broke (a gateway restarted for a new volfile); an NFS
// error status is not retried.
type nfsConn struct {
	t          *testing.T
	ns, addr   string
	export     string
	mu         sync.Mutex
	c          *nfstest.Client
	root       []byte
	reconnects atomic.Int32
	jukebox    atomic.Int32 // NFS3ERR_JUKEBOX replies retried
}

func dialNFS(ctx context.Context, t *testing.T, ns, addr, export string) *nfsConn {
	n := &nfsConn{t: t, ns: ns, addr: addr, export: export}
	if err := n.connect(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.c != nil {
			n.c.Close()
		}
	})
	return n
}

func (n *nfsConn) connect(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := dialNFSInNS(ctx, n.ns, n.addr)
		if err == nil {
			root, st, merr := c.Mnt(ctx, n.export)
			if merr == nil && st == 0 {
				if n.root != nil && !bytes.Equal(root, n.root) {
					c.Close()
					return fmt.Errorf("the root handle of %s changed across a gateway restart", n.export)
				}
				n.c, n.root = c, root
				return nil
			}
			c.Close()
			err = fmt.Errorf("mount %s via %s: status %d %v", n.export, n.addr, st, merr)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// do runs f, reconnecting and retrying while the transport fails.
func (n *nfsConn) do(ctx context.Context, f func(c *nfstest.Client, root []byte) error) error {
	for attempt := 0; ; attempt++ {
		n.mu.Lock()
		c, root := n.c, n.root
		n.mu.Unlock()
		err := f(c, root)
		var st nfsStatusError
		if errors.As(err, &st) && st.st == nfsv3.NFS3ERR_JUKEBOX && attempt < 50 {
			n.jukebox.Add(1)
			time.Sleep(100 * time.Millisecond) // "try again later": clients retry
			continue
		}
		if err == nil || errors.As(err, &st) || attempt >= 20 || ctx.Err() != nil {
			return err
		}
		n.mu.Lock()
		if n.c == c {
			c.Close()
			n.reconnects.Add(1)
			if cerr := n.connect(ctx); cerr != nil {
				n.mu.Unlock()
				return fmt.Errorf("%v; reconnecting: %w", err, cerr)
			}
		}
		n.mu.Unlock()
	}
}

type nfsStatusError struct {
	op string
	st nfsv3.Nfsstat3
}

func (e nfsStatusError) Error() string { return fmt.Sprintf("%s: NFS status %d", e.op, e.st) }

func fileData(name string, gen int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("%s generation %d\n", name, gen)), 200)
}

// putFile writes name whole with FILE_SYNC as a kernel client does: LOOKUP, and CREATE
// (UNCHECKED, so a retry is harmless) only when the name does not exist.
func (n *nfsConn) putFile(ctx context.Context, name string, data []byte) error {
	return n.do(ctx, func(c *nfstest.Client, root []byte) error {
		var fh []byte
		lr, err := c.Lookup(ctx, root, name)
		if err != nil {
			return err
		}
		switch r := lr.(type) {
		case *nfsv3.Lookup3res_NFS3_OK:
			fh = r.Resok.Object.Data
		default:
			if lr.GetStatus() != nfsv3.NFS3ERR_NOENT {
				return nfsStatusError{"lookup " + name, lr.GetStatus()}
			}
			res, err := c.Create(ctx, root, name, &nfsv3.Createhow3_UNCHECKED{ObjAttributes: nfstest.ModeAttrs(0o644)})
			if err != nil {
				return err
			}
			if fh, err = nfstest.CreatedFH(res); err != nil {
				return nfsStatusError{"create " + name, res.GetStatus()}
			}
		}
		w, err := c.Write(ctx, fh, 0, data, nfsv3.FILE_SYNC)
		if err != nil {
			return err
		}
		if s := nfstest.Status(w); s != nfsv3.NFS3_OK {
			return nfsStatusError{"write " + name, s}
		}
		return nil
	})
}

// getFile reads name whole.
func (n *nfsConn) getFile(ctx context.Context, name string, size int) ([]byte, error) {
	var out []byte
	err := n.do(ctx, func(c *nfstest.Client, root []byte) error {
		lr, err := c.Lookup(ctx, root, name)
		if err != nil {
			return err
		}
		ok, isOK := lr.(*nfsv3.Lookup3res_NFS3_OK)
		if !isOK {
			return nfsStatusError{"lookup " + name, lr.GetStatus()}
		}
		out = out[:0]
		for len(out) < size {
			r, err := c.Read(ctx, ok.Resok.Object.Data, uint64(len(out)), 64<<10)
			if err != nil {
				return err
			}
			rr, isOK := r.(*nfsv3.Read3res_NFS3_OK)
			if !isOK {
				return nfsStatusError{"read " + name, r.GetStatus()}
			}
			out = append(out, rr.Resok.Data...)
			if rr.Resok.Eof || len(rr.Resok.Data) == 0 {
				break
			}
		}
		return nil
	})
	return out, err
}

func volStatus(t *testing.T, n *daemonNode, vol string) api.VolumeStatus {
	t.Helper()
	var vs []api.VolumeStatus
	cliJSON(t, n, &vs, "volume", "status", vol)
	if len(vs) != 1 {
		t.Fatalf("status of %s: %+v", vol, vs)
	}
	return vs[0]
}

func allOnline(ps []api.ProcessStatus, want int) bool {
	if len(ps) != want {
		return false
	}
	for _, p := range ps {
		if !p.Online || p.Pid == 0 {
			return false
		}
	}
	return true
}

// grepLines returns the last n lines of s containing sub.
func grepLines(s, sub string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, "\n")
}

// waitVolume waits until vol has bricks online bricks and gws online gateways serving it.
func waitVolume(t *testing.T, n *daemonNode, vol string, bricks, gws int) {
	t.Helper()
	var last api.VolumeStatus
	deadline := time.Now().Add(60 * time.Second)
	for {
		last = volStatus(t, n, vol)
		if allOnline(last.Bricks, bricks) && allOnline(last.Gateways, gws) {
			return
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(last, "", "  ")
			t.Fatalf("%s: want %d bricks and %d gateways online; status:\n%s", vol, bricks, gws, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// brickSums returns the SHA-256 of every regular file under a brick directory (without
// .glusterfs and link files), by relative path.
func brickSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".glusterfs" {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSticky != 0 && fi.Mode().Perm() == 0 {
			return nil // a distribute link file
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		s := sha256.Sum256(b)
		out[rel] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// killNode SIGKILLs a node's daemon and every process it supervises (pids from volume status).
func killNode(t *testing.T, from, n *daemonNode, vol string) {
	t.Helper()
	vs := volStatus(t, from, vol)
	var pids []int
	for _, p := range append(append(vs.Bricks, vs.Gateways...), vs.SelfHeal...) {
		if p.Host == n.ip && p.Pid > 0 {
			pids = append(pids, p.Pid)
		}
	}
	if len(pids) < 3 {
		t.Fatalf("expected a brick, a gateway and a self-heal daemon on %s: %+v", n.ip, vs)
	}
	_ = n.p.cmd.Process.Signal(syscall.SIGKILL)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	<-n.p.done
	for _, pid := range pids {
		for i := 0; syscall.Kill(pid, 0) == nil && i < 50; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// testKillNodeDuringWrites: replica 3 keeps taking writes through gateway 1 while node 3 is
// killed outright; node 3 comes back, the self-heal daemons drain the backlog, and the three
// bricks hold identical files.
func testKillNodeDuringWrites(t *testing.T, cl *cluster) {
	a, c := cl.nodes[0], cl.nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn := dialNFS(ctx, t, cl.ns, a.ip+":2049", "/rv")
	var written atomic.Int32
	stop := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("w%04d", i)
			if err := conn.putFile(ctx, name, fileData(name, 0)); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				return
			}
			// Rewrite an older file too: it gets pending changelogs while node 3 is away.
			if i >= 5 {
				old := fmt.Sprintf("w%04d", i-5)
				if err := conn.putFile(ctx, old, fileData(old, 1)); err != nil {
					errc <- fmt.Errorf("rewrite %s: %w", old, err)
					return
				}
			}
			written.Add(1)
		}
	}()
	waitWritten := func(n int32, what string) {
		deadline := time.Now().Add(60 * time.Second)
		for written.Load() < n {
			select {
			case err := <-errc:
				gl, _ := os.ReadFile(filepath.Join(a.state, "logs", "gateway.log"))
				t.Fatalf("%s: writer stopped: %v\ngateway log of %s:\n%s", what, err, a.ip, grepLines(string(gl), "rror", 40))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: only %d files written", what, written.Load())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitWritten(10, "before the kill")
	killNode(t, a, c, "rv")
	at := written.Load()
	waitWritten(at+15, "with node 3 dead")
	// The writes node 3 missed are listed by heal info (node 3's brick shown down).
	var down api.HealReply
	cliJSON(t, a, &down, "volume", "heal", "rv", "info")
	if down.Pending == 0 || len(down.Bricks) != 3 || down.Bricks[2].Up {
		t.Fatalf("heal info with node 3 dead: pending %d, bricks %+v", down.Pending, down.Bricks)
	}
	c.start(t, cl.top, cl.ns)
	eventually(t, 40*time.Second, "node 3's brick back online", func() bool {
		vs := volStatus(t, a, "rv")
		return allOnline(vs.Bricks, 3)
	})
	waitWritten(written.Load()+5, "after node 3 returned")
	close(stop)
	if err := <-errc; err != nil {
		t.Fatalf("writer: %v", err)
	}
	t.Logf("%d files written (%d while node 3 was dead), %d reconnects, %d JUKEBOX retries", written.Load(), 15, conn.reconnects.Load(), conn.jukebox.Load())
	var last api.HealReply
	eventually(t, 90*time.Second, "heal info drains to empty", func() bool {
		s, err := weftCLI(a, "volume", "heal", "rv", "info", "--json")
		if err != nil {
			return false
		}
		last = api.HealReply{}
		if jerr := json.Unmarshal([]byte(s), &last); jerr != nil {
			return false
		}
		for _, b := range last.Bricks {
			if !b.Up {
				return false
			}
		}
		return last.Pending == 0 && len(last.Bricks) == 3
	})
	if vs := volStatus(t, a, "rv"); vs.HealBacklog == nil || *vs.HealBacklog != 0 {
		t.Errorf("volume status heal backlog: %v", vs.HealBacklog)
	}
	sums := make([]map[string]string, 3)
	for i, n := range cl.nodes {
		sums[i] = brickSums(t, filepath.Join(cl.dir, "bricks", n.ip, "r"))
	}
	if len(sums[0]) < int(written.Load()) {
		t.Fatalf("brick 1 has %d files, %d were written", len(sums[0]), written.Load())
	}
	for i := 1; i < 3; i++ {
		for name, s := range sums[0] {
			if sums[i][name] != s {
				t.Errorf("%s differs on brick %d (%s vs %s)", name, i+1, sums[i][name], s)
			}
		}
		if len(sums[i]) != len(sums[0]) {
			t.Errorf("brick %d has %d files, brick 1 %d", i+1, len(sums[i]), len(sums[0]))
		}
	}
	// The data read back through another gateway is the last generation written.
	conn2 := dialNFS(ctx, t, cl.ns, cl.nodes[1].ip+":2049", "/rv")
	w := int(written.Load())
	for i := 0; i < w; i += 7 {
		name := fmt.Sprintf("w%04d", i)
		gen := 0
		if i+5 < w {
			gen = 1 // rewritten in iteration i+5
		}
		got, err := conn2.getFile(ctx, name, len(fileData(name, gen)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, fileData(name, gen)) {
			t.Fatalf("%s: read %d bytes, not generation %d", name, len(got), gen)
		}
	}
}

// testAddBrickRebalance: on a 2×2 volume a client reads and writes through gateway 1 while a
// replica pair is added and a rebalance runs; nothing fails and no file is lost. Then the
// original first pair is removed with remove-brick start/status/commit, again under load.
func testAddBrickRebalance(t *testing.T, cl *cluster) {
	a, b, c := cl.nodes[0], cl.nodes[1], cl.nodes[2]
	dv := []string{cl.brick(a, "d1"), cl.brick(b, "d1"), cl.brick(c, "d1"), cl.brick(a, "d2")}
	if _, err := weftCLI(a, append([]string{"volume", "create", "dv", "replica", "2"}, dv...)...); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"volume", "set", "dv", "nfs.ports-insecure", "on"},
		{"volume", "start", "dv"},
		{"volume", "set", "rv", "nfs.disable", "on"}, // the gateways move to dv
	} {
		if _, err := weftCLI(a, args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	waitVolume(t, a, "dv", 4, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn := dialNFS(ctx, t, cl.ns, a.ip+":2049", "/dv")
	const initial = 60
	for i := 0; i < initial; i++ {
		name := fmt.Sprintf("f%03d", i)
		if err := conn.putFile(ctx, name, fileData(name, 0)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	files := map[string]int{} // name → generation
	for i := 0; i < initial; i++ {
		files[fmt.Sprintf("f%03d", i)] = 0
	}
	stop := make(chan struct{})
	errc := make(chan error, 1)
	var ops atomic.Int32
	go func() { // the client: verify a file, rewrite another, create a new one, in turn
		defer close(errc)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("f%03d", i%initial)
			mu.Lock()
			gen := files[name]
			mu.Unlock()
			got, err := conn.getFile(ctx, name, len(fileData(name, gen)))
			if err != nil {
				errc <- err
				return
			}
			if !bytes.Equal(got, fileData(name, gen)) {
				errc <- fmt.Errorf("%s: read %d bytes, not generation %d", name, len(got), gen)
				return
			}
			other := fmt.Sprintf("f%03d", (i*7+3)%initial)
			mu.Lock()
			ng := files[other] + 1
			mu.Unlock()
			if err := conn.putFile(ctx, other, fileData(other, ng)); err != nil {
				errc <- err
				return
			}
			newName := fmt.Sprintf("n%04d", i)
			if err := conn.putFile(ctx, newName, fileData(newName, 0)); err != nil {
				errc <- err
				return
			}
			mu.Lock()
			files[other] = ng
			files[newName] = 0
			mu.Unlock()
			ops.Add(1)
		}
	}()
	check := func(what string) {
		select {
		case err := <-errc:
			t.Fatalf("%s: client: %v", what, err)
		default:
		}
	}
	waitOps := func(n int32, what string) {
		deadline := time.Now().Add(60 * time.Second)
		for ops.Load() < n {
			check(what)
			if time.Now().After(deadline) {
				t.Fatalf("%s: client made only %d rounds", what, ops.Load())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitOps(5, "before add-brick")
	if _, err := weftCLI(a, "volume", "add-brick", "dv", cl.brick(b, "d2"), cl.brick(c, "d2")); err != nil {
		t.Fatal(err)
	}
	waitVolume(t, a, "dv", 6, 3)
	waitOps(ops.Load()+5, "after add-brick")
	runTask := func(args []string, status []string) *api.TaskStatus {
		t.Helper()
		var r api.TaskReply
		cliJSON(t, a, &r, args...)
		if r.Task == nil || r.Task.State != api.TaskRunning && r.Task.State != api.TaskCompleted {
			t.Fatalf("%v: %+v", args, r)
		}
		var last *api.TaskStatus
		eventually(t, 90*time.Second, "the task ends", func() bool {
			check("during " + args[1])
			var r api.TaskReply
			cliJSON(t, b, &r, status...) // status from another node than the one running it
			last = r.Task
			return last != nil && last.State != api.TaskRunning
		})
		if last.State != api.TaskCompleted || last.Failed != 0 || last.Node != a.ip {
			var dbg strings.Builder
			for _, n := range []*daemonNode{a, b, c} {
				for _, d := range []string{"d1", "d2"} {
					p := filepath.Join(cl.dir, "bricks", n.ip, d)
					out, _ := exec.Command("bash", "-c", "cd "+p+" && ls -la | head -20; for f in f0[0-3]*; do getfattr -d -m . -e hex $f 2>/dev/null | grep -v '^$'; done | head -40").CombinedOutput()
					fmt.Fprintf(&dbg, "== %s\n%s\n", p, out)
				}
			}
			t.Fatalf("%v: %+v\n%s", args, last, dbg.String())
		}
		return last
	}
	rb := runTask([]string{"volume", "rebalance", "dv", "start"}, []string{"volume", "rebalance", "dv", "status"})
	if rb.Migrated == 0 || rb.Scanned < initial {
		t.Fatalf("rebalance moved nothing: %+v", rb)
	}
	newPair := []string{filepath.Join(cl.dir, "bricks", b.ip, "d2"), filepath.Join(cl.dir, "bricks", c.ip, "d2")}
	if n := len(brickSums(t, newPair[0])); n == 0 {
		t.Fatalf("the added pair holds no file after the rebalance")
	}
	waitOps(ops.Load()+5, "after the rebalance")

	// remove-brick of the first pair, with the client still running. The gateways build the
	// volume new graphs when the layouts are rewritten, and keep running: the same pids.
	gwBefore := gatewayPids(t, a, "dv")
	first := dv[:2]
	rm := runTask(append(append([]string{"volume", "remove-brick", "dv"}, first...), "start"),
		append(append([]string{"volume", "remove-brick", "dv"}, first...), "status"))
	t.Logf("rebalance: %+v; remove-brick: %+v", rb, rm)
	if _, err := weftCLI(a, append(append([]string{"volume", "remove-brick", "dv"}, first...), "commit")...); err != nil {
		t.Fatal(err)
	}
	waitVolume(t, a, "dv", 4, 3)
	waitOps(ops.Load()+5, "after remove-brick commit")
	if gwAfter := gatewayPids(t, a, "dv"); len(gwBefore) != 3 || !reflect.DeepEqual(gwAfter, gwBefore) {
		t.Fatalf("gateway pids by host went from %v to %v across remove-brick: a gateway restarted", gwBefore, gwAfter)
	}
	close(stop)
	if err := <-errc; err != nil {
		t.Fatalf("client: %v", err)
	}
	// Every file the client wrote is there with its last content, read through gateway 2.
	conn2 := dialNFS(ctx, t, cl.ns, b.ip+":2049", "/dv")
	mu.Lock()
	defer mu.Unlock()
	for name, gen := range files {
		got, err := conn2.getFile(ctx, name, len(fileData(name, gen)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got, fileData(name, gen)) {
			t.Fatalf("%s: generation %d lost (read %d bytes)", name, gen, len(got))
		}
	}
	for _, p := range first {
		dir := p[strings.Index(p, ":/")+1:]
		if left := brickSums(t, dir); len(left) != 0 {
			t.Errorf("data left on removed brick %s: %d files", p, len(left))
		}
	}
	t.Logf("%d files verified after %d client rounds, %d reconnects", len(files), ops.Load(), conn.reconnects.Load())
}

// gatewayPids returns the pid of every gateway serving vol, by host.
func gatewayPids(t *testing.T, n *daemonNode, vol string) map[string]int {
	t.Helper()
	return pidsBy(volStatus(t, n, vol).Gateways, func(p api.ProcessStatus) string { return p.Host })
}

// brickPids returns the pid of every brick of vol, by path.
func brickPids(t *testing.T, n *daemonNode, vol string) map[string]int {
	t.Helper()
	return pidsBy(volStatus(t, n, vol).Bricks, func(p api.ProcessStatus) string { return p.Path })
}

func pidsBy(ps []api.ProcessStatus, key func(api.ProcessStatus) string) map[string]int {
	out := map[string]int{}
	for _, p := range ps {
		out[key(p)] = p.Pid
	}
	return out
}

// TestDaemonLiveOps runs one daemon (a real process, with its bricks and gateway) and checks:
// `volume set` of a brick-side option reaches the running bricks without a restart (same pids;
// the statedump shows the new value); `volume profile` start/info/stop collects io-stats from
// every brick while the bricks keep their pids; a rebalance's status survives a restart of the
// daemon, which resumes a rebalance it interrupted.
func TestDaemonLiveOps(t *testing.T) {
	ns := newNetNS(t)
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp") // the bricks' statedumps land here
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	a := &daemonNode{ip: "127.0.0.1", state: filepath.Join(dir, "state"), sock: filepath.Join(dir, "weft.sock")}
	a.start(t, t, ns)
	brick := func(name string) string {
		p := filepath.Join(dir, "bricks", name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return a.ip + ":" + p
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := weftCLI(a, args...)
		if err != nil {
			t.Fatalf("%v: %v\ndaemon log:\n%s", args, err, tail(a.p.log(), 30))
		}
		return out
	}
	must("volume", "create", "pv", brick("p1"), brick("p2"))
	must("volume", "set", "pv", "nfs.ports-insecure", "on")
	must("volume", "start", "pv")
	waitVolume(t, a, "pv", 2, 1)
	pids := brickPids(t, a, "pv")

	t.Run("SetReachesRunningBricks", func(t *testing.T) {
		must("volume", "set", "pv", "features.revocation-secs", "7")
		// The statedump shows the new value once the bricks applied it.
		eventually(t, 20*time.Second, "both bricks' statedumps show revocation-secs=7", func() bool {
			must("volume", "statedump", "pv")
			time.Sleep(200 * time.Millisecond)
			seen := 0
			for _, b := range []string{"p1", "p2"} {
				ms, _ := filepath.Glob(filepath.Join(tmp, strings.Trim(strings.ReplaceAll(filepath.Join(dir, "bricks", b), "/", "-"), "-")+".*.dump.*"))
				for _, m := range ms {
					if d, err := os.ReadFile(m); err == nil && strings.Contains(string(d), "option.revocation-secs=7") {
						seen++
						break
					}
				}
			}
			return seen == 2
		})
		if got := brickPids(t, a, "pv"); fmt.Sprint(got) != fmt.Sprint(pids) {
			t.Fatalf("brick pids changed: %v → %v", pids, got)
		}
	})

	t.Run("Profile", func(t *testing.T) {
		if _, err := weftCLI(a, "volume", "profile", "pv", "info"); err == nil || !strings.Contains(err.Error(), "not started") {
			t.Fatalf("info before start: %v", err)
		}
		must("volume", "profile", "pv", "start")
		if _, err := weftCLI(a, "volume", "profile", "pv", "start"); err == nil || !strings.Contains(err.Error(), "already started") {
			t.Fatalf("second start: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		nc := dialNFS(ctx, t, ns, a.ip+":2049", "/pv")
		var written uint64
		for i := 0; i < 10; i++ {
			data := fileData(fmt.Sprintf("prof%d", i), 1)
			if err := nc.putFile(ctx, fmt.Sprintf("prof%d", i), data); err != nil {
				t.Fatal(err)
			}
			written += uint64(len(data))
		}
		var rep api.ProfileReply
		cliJSON(t, a, &rep, "volume", "profile", "pv", "info")
		if len(rep.Bricks) != 2 {
			t.Fatalf("profile info: %+v", rep)
		}
		var got, writes uint64
		for _, b := range rep.Bricks {
			if b.Error != "" || !b.LatencyOn || !b.CountOn {
				t.Fatalf("brick %s: %+v", b.Brick, b)
			}
			got += b.Cumulative.WrittenBytes
			for _, f := range b.Cumulative.Fops {
				if f.Fop == "Writev" {
					writes += f.Calls
					if f.AvgLatencyUs <= 0 || f.MaxLatencyUs < f.AvgLatencyUs && f.MaxLatencyUs >= 0 {
						t.Errorf("brick %s writev latency figures: %+v", b.Brick, f)
					}
				}
			}
		}
		if got != written || writes < 10 {
			t.Fatalf("bricks counted %d bytes in %d writes, want %d bytes in ≥ 10", got, writes, written)
		}
		// The text form, as gluster prints it; a second info starts interval 2 with no writes.
		out := must("volume", "profile", "pv", "info")
		for _, want := range []string{"Brick: " + a.ip + ":" + filepath.Join(dir, "bricks", "p1"), "Cumulative Stats:", "Interval 2 Stats:", "Data Written:", "WRITE"} {
			if !strings.Contains(out, want) {
				t.Fatalf("profile info lacks %q:\n%s", want, out)
			}
		}
		must("volume", "profile", "pv", "stop")
		if _, err := weftCLI(a, "volume", "profile", "pv", "info"); err == nil {
			t.Fatal("info after stop succeeded")
		}
		if got := brickPids(t, a, "pv"); fmt.Sprint(got) != fmt.Sprint(pids) {
			t.Fatalf("profile start/stop restarted bricks: %v → %v", pids, got)
		}
	})

	t.Run("RebalanceSurvivesRestart", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		nc := dialNFS(ctx, t, ns, a.ip+":2049", "/pv")
		const files = 300
		for i := 0; i < files; i++ {
			if err := nc.putFile(ctx, fmt.Sprintf("r%03d", i), fileData(fmt.Sprintf("r%03d", i), 1)); err != nil {
				t.Fatal(err)
			}
		}
		must("volume", "add-brick", "pv", brick("p3"))
		waitVolume(t, a, "pv", 3, 1)
		must("volume", "rebalance", "pv", "start")
		a.p.stop(10 * time.Second)
		a.start(t, t, ns)
		var r api.TaskReply
		cliJSON(t, a, &r, "volume", "rebalance", "pv", "status")
		if r.Task == nil || r.Task.Kind != "rebalance" {
			t.Fatalf("status after restart: %+v", r)
		}
		t.Logf("after the restart: %s, resumed %d, scanned %d", r.Task.State, r.Task.Resumed, r.Task.Scanned)
		eventually(t, 90*time.Second, "the rebalance completes", func() bool {
			cliJSON(t, a, &r, "volume", "rebalance", "pv", "status")
			if r.Task.State == api.TaskFailed {
				t.Fatalf("rebalance failed: %+v\n%s", r.Task, tail(a.p.log(), 30))
			}
			return r.Task.State == api.TaskCompleted
		})
		if r.Task.Scanned < files {
			t.Fatalf("completed rebalance scanned %d of %d files: %+v", r.Task.Scanned, files, r.Task)
		}
		t.Logf("final: resumed %d, scanned %d, migrated %d", r.Task.Resumed, r.Task.Scanned, r.Task.Migrated)
		// No file lost: every one reads back.
		waitVolume(t, a, "pv", 3, 1)
		for i := 0; i < files; i += 7 {
			name := fmt.Sprintf("r%03d", i)
			want := fileData(name, 1)
			got, err := nc.getFile(ctx, name, len(want))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s after the rebalance: %v (%d bytes)", name, err, len(got))
			}
		}
	})
}
