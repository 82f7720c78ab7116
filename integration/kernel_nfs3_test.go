//go:build integration

package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gatewayOnPosix starts `weft gateway` inside ns over a one-brick graph (storage/posix +
// features/locks) on brickDir, exporting /vol without root squash and /vol/sq with it.
type gatewayOnPosix struct {
	t        testing.TB
	ns       string
	dir      string
	brickDir string
	proc     *proc
}

func newGatewayOnPosix(t testing.TB, ns string) *gatewayOnPosix {
	dir := t.TempDir()
	g := &gatewayOnPosix{t: t, ns: ns, dir: dir, brickDir: filepath.Join(dir, "brick")}
	if err := os.Mkdir(g.brickDir, 0o755); err != nil {
		t.Fatal(err)
	}
	vol := fmt.Sprintf(`volume vol-posix
    type storage/posix
    option directory %s
end-volume

volume vol-locks
    type features/locks
    subvolumes vol-posix
end-volume
`, g.brickDir)
	exports := `exports:
  - path: /vol
    squash: no_root_squash
    secure: false
    clients:
      - match: "*"
  - path: /vol/sq
    squash: root_squash
    secure: false
    clients:
      - match: "*"
`
	for name, data := range map[string]string{"vol.vol": vol, "exports.yaml": exports, "secret": "integration-test-cluster-secret\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	g.start()
	return g
}

func (g *gatewayOnPosix) start() {
	g.proc = startProc(g.t, nsCommand(context.Background(), g.ns, bins.weft, "gateway",
		"--volfile", filepath.Join(g.dir, "vol.vol"), "--export-config", filepath.Join(g.dir, "exports.yaml"),
		"--secret-file", filepath.Join(g.dir, "secret"), "--listen", "127.0.0.1",
		"--nfs-port", "2049", "--mount-port", "20048", "--portmap-port", "111",
		"--nlm-port", "32803", "--nsm-port", "32765", "--state-dir", filepath.Join(g.dir, "state")))
	waitTCP(g.t, g.ns, "127.0.0.1:2049", 20*time.Second)
	waitTCP(g.t, g.ns, "127.0.0.1:111", 5*time.Second)
}

func fileSHA256(t testing.TB, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// waitPhase waits until the guest's /job/phase names the step.
func waitPhase(jobParent, step string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		m, _ := filepath.Glob(filepath.Join(jobParent, "weft-vm-job-*", "phase"))
		for _, p := range m {
			if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == step {
				return true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

// TestKernelClientNFSv3 is issue 4's acceptance run: a stock Linux kernel mounts the gateway
// with vers=3 and with no options (through portmap, falling back from v4), copies a tree and
// compares checksums, renames, links, changes modes and owners as root and as a user under
// both squash settings, takes flock and fcntl locks, checks QEMU's image locking (a second
// opener refused promptly, the image free once the holder exits or is killed), writes a sparse
// file and a big file with conv=fsync while the gateway is restarted (hard mount), then mounts
// again with no options and takes flock and fcntl locks from the restarted gateway, and
// unmounts.
func TestKernelClientNFSv3(t *testing.T) {
	ns := newNetNS(t)
	g := newGatewayOnPosix(t, ns)
	m := guestMachine(t)
	jobParent := t.TempDir()
	env := map[string]string{"SQUASH_EXPORT": "/vol/sq", "NFILES": "2000", "BIG_MB": "1024"}
	if testing.Short() {
		env["NFILES"], env["BIG_MB"] = "200", "64"
	}
	env["SRC"] = makeTree(t, atoi(env["NFILES"]))
	job := vmJob(t, guestScript(t, "kernel-nfs3.sh", env), ns, 111, 2049, 20048, 32803, 32765)
	job.Dir = jobParent

	restarted := make(chan error, 1)
	go func() {
		if !waitPhase(jobParent, "big write", 20*time.Minute) {
			restarted <- fmt.Errorf("guest never reached the big write")
			return
		}
		time.Sleep(3 * time.Second)
		g.proc.stop(10 * time.Second)
		time.Sleep(time.Second)
		g.start()
		restarted <- nil
	}()
	res, err := m.Run(context.Background(), job)
	if err != nil {
		t.Fatalf("%v\nguest output:\n%s\ngateway log:\n%s", err, res.Output, g.proc.log())
	}
	if res.Status != 0 {
		t.Fatalf("guest script failed (exit %d):\n%s\ngateway log:\n%s", res.Status, res.Output, g.proc.log())
	}
	select {
	case err := <-restarted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gateway restart did not complete")
	}
	out := func(name string) string {
		m, _ := filepath.Glob(filepath.Join(jobParent, "weft-vm-job-*", name))
		if len(m) != 1 {
			t.Fatalf("guest left no %s", name)
		}
		b, _ := os.ReadFile(m[0])
		return strings.TrimSpace(string(b))
	}
	if pm := out("plain-mount.out"); !strings.Contains(pm, "vers=3") {
		t.Errorf("a mount with no options did not fall back to NFSv3: %s", pm)
	}
	if pm := out("plain-mount-restarted.out"); !strings.Contains(pm, "vers=3") {
		t.Errorf("after the gateway restart, a mount with no options did not fall back to NFSv3: %s", pm)
	}
	if sq := out("squash.out"); sq != "65534:65534" {
		t.Errorf("root_squash: a file created by root is owned by %s, want 65534:65534", sq)
	}
	if got, want := out("big.out"), fileSHA256(t, filepath.Join(g.brickDir, "big")); got != want {
		t.Errorf("big file checksum through NFS %s != on the brick %s", got, want)
	}
	// The guest's step lines and measurements, without the -x trace of the QEMU step.
	var steps []string
	for _, l := range strings.Split(res.Output, "\n") {
		if l != "" && !strings.HasPrefix(l, "+") {
			steps = append(steps, l)
		}
	}
	t.Logf("guest run took %v:\n%s", res.Elapsed, strings.Join(steps, "\n"))
}

// makeTree writes n files of pseudo-random content and sizes (1 B to 20 KB) in 7 directories,
// one of them nested, for the guest to copy; the guest reads it through the host root share.
func makeTree(t testing.TB, n int) string {
	root := filepath.Join(t.TempDir(), "src")
	rng := rand.New(rand.NewPCG(uint64(n), 7919))
	for i := 0; i < n; i++ {
		d := filepath.Join(root, fmt.Sprintf("d%d", i%7))
		if i%7 == 1 {
			d = filepath.Join(d, "d2")
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, (i*7919)%20000+1)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err) // test-table constant
	}
	return n
}
