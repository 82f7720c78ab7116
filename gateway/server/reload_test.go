package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/weftfs/weft/gateway/server"
	"github.com/weftfs/weft/internal/testbin"
)

// syncBuffer is a log sink safe for the process's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `weft gateway --volumes` as a real process: a client mounts the first volume and writes to
// it continuously over one connection while the manifest gains a second volume and the first
// volume's volfile changes, each applied on SIGHUP; the second volume becomes mountable on the
// same connection, the writes never fail, and the process is never restarted.
func TestGatewaySIGHUPAddsVolume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the weft binary")
	}
	bin := testbin.Weft(t)
	ctx := context.Background()
	a1, b1 := startBrick(t), startBrick(t)
	dir := t.TempDir()
	writeFile := func(name, content string) {
		t.Helper()
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	gens := map[string]string{} // each volume's generation in the manifest
	manifest := func(vols ...string) string {
		var m struct {
			Volumes []map[string]any `json:"volumes"`
		}
		for _, v := range vols {
			m.Volumes = append(m.Volumes, map[string]any{"name": v, "volfile": v + ".vol", "generation": gens[v],
				"exports": []map[string]any{{"path": "/" + v, "squash": "no_root_squash", "secure": false, "clients": []map[string]any{{"match": "*"}}}}})
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	writeFile("alpha.vol", clientVolfile("alpha", 5, a1))
	writeFile("beta.vol", clientVolfile("beta", 5, b1))
	writeFile("volumes.json", manifest("alpha"))
	writeFile("secret", string(nfstest.TestSecret)+"\n")
	port := testbin.FreePort(t)
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "gateway", "--volumes", filepath.Join(dir, "volumes.json"), "--secret-file", filepath.Join(dir, "secret"),
		"--listen", "127.0.0.1", "--nfs-port", fmt.Sprint(port), "--mount-port", "0", "--no-portmap", "--no-locking", "--state-dir", filepath.Join(dir, "state"))
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var c *nfstest.Client
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		if c, err = nfstest.Dial(ctx, addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not listening: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer c.Close()
	// What the gateway reports having applied (for the daemon that writes the manifest).
	waitApplied := func(want map[string]string) {
		t.Helper()
		var a server.Applied
		deadline := time.Now().Add(20 * time.Second)
		for {
			a = server.Applied{}
			b, err := os.ReadFile(filepath.Join(dir, "state", server.AppliedFile))
			if err == nil {
				err = json.Unmarshal(b, &a)
			}
			if err == nil && a.Pid == cmd.Process.Pid && reflect.DeepEqual(a.Generations, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("applied state %+v (%v), want pid %d and generations %v", a, err, cmd.Process.Pid, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitApplied(map[string]string{"alpha": ""})
	rootA := mnt(t, c, "/alpha")
	fa, err := c.CreateFH(ctx, rootA, "held", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, st, _ := c.Mnt(ctx, "/beta"); st == 0 {
		t.Fatal("beta mounted before it was added")
	}

	var stop atomic.Bool
	var n atomic.Int64
	var wErr atomic.Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			st, cnt, _, err := c.WriteFast(ctx, fa, uint64(i)*512, bytes.Repeat([]byte{byte('a' + i%26)}, 512), uint32(nfsv3.FILE_SYNC))
			if err != nil || st != 0 || cnt != 512 {
				wErr.Store(fmt.Sprintf("WRITE #%d: status %d count %d err %v", i, st, cnt, err))
				return
			}
			n.Store(int64(i + 1))
		}
	}()
	waitWrites := func(k int64) {
		t.Helper()
		start := n.Load()
		deadline := time.Now().Add(20 * time.Second)
		for n.Load() < start+k {
			if time.Now().After(deadline) || wErr.Load() != nil {
				t.Fatalf("writes stalled at %d: %v", n.Load(), wErr.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitLog := func(s string, count int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for strings.Count(logs.String(), s) < count {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the gateway log", s)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitWrites(20)

	// A second volume, on SIGHUP.
	writeFile("volumes.json", manifest("alpha", "beta"))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(`"reloaded"`, 1)
	rootB := mnt(t, c, "/beta")
	fb, err := c.CreateFH(ctx, rootB, "new", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	write(t, c, fb, 0, []byte("beta data"))
	if got := onBricks(t, "new", b1, a1); len(got) != 1 || string(got[0]) != "beta data" || len(onBricks(t, "new", b1)) != 1 {
		t.Fatalf("beta's file on the bricks: %q", got)
	}
	waitWrites(20)

	// alpha's volfile changes (an option): applied in place on SIGHUP.
	writeFile("alpha.vol", clientVolfile("alpha", 9, a1))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(`"reloaded"`, 2)
	waitLog("volume graph reconfigured in place", 1)
	waitWrites(20)

	// alpha's generation changes, its volfile does not (what the daemon does once remove-brick
	// has rewritten the layouts): a new graph, built live under the writes, without a restart.
	switched := strings.Count(logs.String(), "volume graph switched to a new graph")
	gens["alpha"] = "remove-brick layout 1"
	writeFile("volumes.json", manifest("alpha", "beta"))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(`"reloaded"`, 3)
	waitLog("volume graph switched to a new graph", switched+1)
	waitApplied(map[string]string{"alpha": "remove-brick layout 1", "beta": ""})
	waitWrites(20)
	stop.Store(true)
	<-done
	if e := wErr.Load(); e != nil {
		t.Fatal(e)
	}
	select {
	case err := <-exited:
		t.Fatalf("the gateway exited: %v", err)
	default:
	}
	// Every write is on alpha's brick.
	total := n.Load()
	got := onBricks(t, "held", a1)
	if len(got) != 1 || int64(len(got[0])) != total*512 {
		t.Fatalf("held on alpha's brick: %d bytes, want %d", len(got[0]), total*512)
	}
	for i := int64(0); i < total; i++ {
		if got[0][i*512] != byte('a'+i%26) {
			t.Fatalf("held: block %d wrong", i)
		}
	}
}

// TestMain removes the weft binary built (once) for the process tests.
func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}
