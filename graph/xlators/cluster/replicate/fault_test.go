package replicate_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/graphtest"
	_ "github.com/weftfs/weft/graph/xlators/all"
	"github.com/weftfs/weft/graph/xlators/cluster/replicate"
	"github.com/weftfs/weft/internal/testbin"
)

// TestMain removes the weft binary built (once) for the tests that run real brick processes.
func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// brickProc is one `weft brick` process: storage/posix → features/locks → features/index →
// protocol/server, GlusterFS's brick order.
type brickProc struct {
	t      testing.TB
	dir    string // the brick directory
	vol    string
	addr   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	log    strings.Builder
	exited chan struct{}
}

func newBrick(t testing.TB, root string, n int) *brickProc {
	t.Helper()
	testbin.Weft(t) // fail now, not at the first exec
	dir := filepath.Join(root, fmt.Sprintf("b%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	vf := fmt.Sprintf(`volume b-posix
    type storage/posix
    option directory %s
    option health-check-interval 0
end-volume

volume b-locks
    type features/locks
    subvolumes b-posix
end-volume

volume b-index
    type features/index
    option index-base %s/.glusterfs/indices
    option xattrop-pending-watchlist trusted.afr.gv0-
    subvolumes b-locks
end-volume

volume b-server
    type protocol/server
    option listen 127.0.0.1:1
    subvolumes b-index
end-volume
`, dir, dir)
	vol := filepath.Join(root, fmt.Sprintf("b%d.vol", n))
	if err := os.WriteFile(vol, []byte(vf), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &brickProc{t: t, dir: dir, vol: vol, addr: fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t))}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *brickProc) start() {
	t := b.t
	b.exited = make(chan struct{})
	b.cmd = exec.Command(testbin.Weft(t), "brick", "--volfile", b.vol, "--listen", b.addr, "--log-level", "warn")
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := b.exited
	cmd := b.cmd
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			b.mu.Lock()
			b.log.WriteString(sc.Text() + "\n")
			b.mu.Unlock()
		}
		_ = cmd.Wait()
		close(exited)
	}()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("brick exited at start:\n%s", b.logs())
		default:
		}
		if c, err := net.DialTimeout("tcp", b.addr, 100*time.Millisecond); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("brick did not listen on %s", b.addr)
}

func (b *brickProc) logs() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}

func (b *brickProc) kill9() {
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.exited
}

func (b *brickProc) stop() {
	select {
	case <-b.exited:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
}

// clientGraph writes a client volfile (protocol/client per brick under cluster/replicate, as
// glusterd's volgen names them) and activates it.
func clientGraph(t testing.TB, root string, bricks []*brickProc, afrOpts map[string]string) *replicate.AFR {
	a, _ := clientGraphFile(t, root, bricks, afrOpts)
	return a
}

// clientGraphFile is clientGraph that also returns the volfile's path.
func clientGraphFile(t testing.TB, root string, bricks []*brickProc, afrOpts map[string]string) (*replicate.AFR, string) {
	var sb strings.Builder
	var names []string
	for i, b := range bricks {
		host, port, _ := net.SplitHostPort(b.addr)
		name := fmt.Sprintf("gv0-client-%d", i)
		names = append(names, name)
		fmt.Fprintf(&sb, "volume %s\n    type protocol/client\n    option remote-host %s\n    option remote-port %s\n    option remote-subvolume b-index\n    option network.ping-timeout 2\n    option reconnect-backoff-min 20ms\n    option reconnect-backoff-max 200ms\nend-volume\n\n", name, host, port)
	}
	fmt.Fprintf(&sb, "volume gv0-replicate-0\n    type cluster/replicate\n    option afr-pending-xattr %s\n", strings.Join(names, ","))
	keys := make([]string, 0, len(afrOpts))
	for k := range afrOpts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&sb, "    option %s %s\n", k, afrOpts[k])
	}
	fmt.Fprintf(&sb, "    subvolumes %s\nend-volume\n", strings.Join(names, " "))
	p := filepath.Join(root, fmt.Sprintf("client-%d.vol", time.Now().UnixNano()))
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := graph.BuildFile(p, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Activate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Fini)
	a := g.Top.(*replicate.AFR)
	waitUp(t, a, len(bricks))
	return a, p
}

func waitUp(t testing.TB, a *replicate.AFR, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		up := 0
		for i := 0; i < len(a.Children()); i++ {
			if a.ChildUp(i) {
				up++
			}
		}
		if up >= n {
			return
		}
	}
	t.Fatalf("%d children not up within 20s", n)
}

func waitDown(t testing.TB, a *replicate.AFR, i int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !a.ChildUp(i) {
			return
		}
	}
	t.Fatalf("child %d still up 20s after its brick died", i)
}

// brickTree describes a brick directory directly, .glusterfs excluded: path → type, mode,
// owner, size, GFID xattr, symlink target, sha256 of the data.
func brickTree(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".glusterfs" {
			return filepath.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		gfid := make([]byte, 16)
		n, _ := unix.Lgetxattr(p, "trusted.gfid", gfid)
		desc := fmt.Sprintf("mode=%o uid=%d gid=%d gfid=%x", st.Mode, st.Uid, st.Gid, gfid[:n])
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" size=%d sha=%x", st.Size, h.Sum(nil)[:8])
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func treeDiff(a, b map[string]string) []string {
	var d []string
	for k, v := range a {
		if b[k] != v {
			d = append(d, fmt.Sprintf("%s: %s | %s", k, v, b[k]))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			d = append(d, fmt.Sprintf("%s: (missing) | %s", k, v))
		}
	}
	sort.Strings(d)
	return d
}

// indexEntries counts the GFID entries in a brick's indices/<sub> (base files excluded).
func indexEntries(t *testing.T, dir, sub string) int {
	ents, err := os.ReadDir(filepath.Join(dir, ".glusterfs/indices", sub))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), sub+"-") {
			n++
		}
	}
	return n
}

func healUntilClean(t *testing.T, a *replicate.AFR) {
	t.Helper()
	ctx := context.Background()
	for round := 0; round < 10; round++ {
		sum, err := replicate.HealAll(ctx, a)
		if err != nil {
			t.Fatalf("heal: %v", err)
		}
		if len(sum.SplitBrain) > 0 || len(sum.Failed) > 0 {
			t.Fatalf("heal round %d: %+v", round, sum)
		}
		infos, err := replicate.HealInfo(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		left := 0
		for _, ci := range infos {
			left += len(ci.Entries)
		}
		t.Logf("heal round %d: scanned %d healed %d; %d entries left", round, sum.Scanned, sum.Healed, left)
		if left == 0 {
			return
		}
	}
	t.Fatal("heal did not converge in 10 rounds")
}

// TestKillBrickDuringWritesThenHeal: a brick process is killed (SIGKILL) while a large file is
// written and ~1000 creates, renames and unlinks run; after it restarts, an index heal brings
// every brick to the same names, GFIDs, modes, owners and data.
func TestKillBrickDuringWritesThenHeal(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	root := t.TempDir()
	var bricks []*brickProc
	for i := 0; i < 3; i++ {
		bricks = append(bricks, newBrick(t, root, i))
	}
	a := clientGraph(t, root, bricks, map[string]string{"data-self-heal": "off"})
	ctx := context.Background()
	rootLoc := graph.RootLoc()
	big, bigLoc, err := graphtest.Create(ctx, a, rootLoc, "big")
	if err != nil {
		t.Fatal(err)
	}
	defer big.Unref()
	dirs := make([]*graph.Loc, 4)
	for i := range dirs {
		if dirs[i], err = graphtest.Mkdir(ctx, a, rootLoc, fmt.Sprintf("d%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Names that exist before the kill, so unlinks and renames while it is down hit them.
	for i := 0; i < 100; i++ {
		if _, err := graphtest.WriteFile(ctx, a, dirs[i%4], fmt.Sprintf("old%d", i), []byte(fmt.Sprintf("old %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	killAt := (size / 3) &^ (1<<20 - 1)
	chunk := make([]byte, 1<<20)
	var wg sync.WaitGroup
	killed := make(chan struct{})
	var metaErr error
	wg.Add(1)
	go func() { // creates, renames, unlinks
		defer wg.Done()
		rng := rand.New(rand.NewSource(1))
		<-killed
		for i := 0; i < 1000; i++ {
			d := dirs[rng.Intn(4)]
			var err error
			switch i % 4 {
			case 0, 1:
				_, err = graphtest.WriteFile(ctx, a, d, fmt.Sprintf("new%d", i), []byte(fmt.Sprintf("new %d", i)))
			case 2:
				k := rng.Intn(100)
				_, err = a.Rename(ctx, dirs[k%4].Child(fmt.Sprintf("old%d", k)), d.Child(fmt.Sprintf("moved%d", i)), nil)
				if graph.Errno(err) == unix.ENOENT {
					err = nil // already moved or removed
				}
			case 3:
				k := rng.Intn(100)
				_, err = a.Unlink(ctx, dirs[k%4].Child(fmt.Sprintf("old%d", k)), 0, nil)
				if graph.Errno(err) == unix.ENOENT {
					err = nil
				}
			}
			if err != nil {
				metaErr = fmt.Errorf("op %d: %w", i, err)
				return
			}
		}
	}()
	for off := int64(0); off < size; off += int64(len(chunk)) {
		for i := range chunk {
			chunk[i] = byte(off>>20) ^ byte(i)
		}
		if off == killAt {
			bricks[2].kill9()
			waitDown(t, a, 2)
			close(killed)
		}
		if err := graphtest.WriteAll(ctx, a, big, chunk, off); err != nil {
			t.Fatalf("write at %d: %v", off, err)
		}
	}
	if _, err := a.Fsync(ctx, big, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Setattr(ctx, bigLoc, &graph.Iatt{Mode: 0o640}, graph.SetAttrMode, nil); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if metaErr != nil {
		t.Fatal(metaErr)
	}
	if d := treeDiff(brickTree(t, bricks[0].dir), brickTree(t, bricks[2].dir)); len(d) == 0 {
		t.Fatal("the killed brick missed nothing: the test is void")
	}
	if indexEntries(t, bricks[0].dir, "xattrop") == 0 {
		t.Fatal("surviving brick's xattrop index is empty while a brick missed writes")
	}
	bricks[2].start()
	waitUp(t, a, 3)
	start := time.Now()
	healUntilClean(t, a)
	t.Logf("healed %d MiB file and ~1000 entry changes in %v", size>>20, time.Since(start).Round(time.Millisecond))
	want := brickTree(t, bricks[0].dir)
	for _, b := range bricks[1:] {
		if d := treeDiff(want, brickTree(t, b.dir)); len(d) > 0 {
			if len(d) > 20 {
				d = d[:20]
			}
			t.Errorf("%s differs from b0 after heal:\n%s", b.dir, strings.Join(d, "\n"))
		}
	}
	for _, b := range bricks {
		if n := indexEntries(t, b.dir, "xattrop"); n != 0 {
			t.Errorf("%s: %d xattrop index entries left after heal", b.dir, n)
		}
	}
}

// TestQuorumLossNoDivergence: with two of three bricks dead, writes fail with EROFS and the
// surviving copy is not changed; after the bricks return nothing needs heal.
func TestQuorumLossNoDivergence(t *testing.T) {
	root := t.TempDir()
	var bricks []*brickProc
	for i := 0; i < 3; i++ {
		bricks = append(bricks, newBrick(t, root, i))
	}
	a := clientGraph(t, root, bricks, nil)
	ctx := context.Background()
	f, err := graphtest.WriteFile(ctx, a, graph.RootLoc(), "f", []byte("before"))
	if err != nil {
		t.Fatal(err)
	}
	fd, err := graphtest.Open(ctx, a, f, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	if _, err := a.Flush(ctx, fd, nil); err != nil {
		t.Fatal(err)
	}
	before := brickTree(t, bricks[0].dir)
	bricks[1].kill9()
	bricks[2].kill9()
	waitDown(t, a, 1)
	waitDown(t, a, 2)
	if err := graphtest.WriteAll(ctx, a, fd, []byte("lost!"), 0); graph.Errno(err) != unix.EROFS {
		t.Fatalf("write without quorum: %v, want EROFS", err)
	}
	if _, err := graphtest.WriteFile(ctx, a, graph.RootLoc(), "g", []byte("x")); graph.Errno(err) != unix.EROFS {
		t.Fatalf("create without quorum: %v, want EROFS", err)
	}
	if d := treeDiff(before, brickTree(t, bricks[0].dir)); len(d) > 0 {
		t.Fatalf("surviving brick changed without quorum:\n%s", strings.Join(d, "\n"))
	}
	bricks[1].start()
	bricks[2].start()
	waitUp(t, a, 3)
	infos, err := replicate.HealInfo(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range infos {
		if len(ci.Entries) != 0 {
			t.Errorf("%s lists %d entries after a quorum loss that changed nothing", ci.Child, len(ci.Entries))
		}
	}
	for _, b := range bricks[1:] {
		if d := treeDiff(before, brickTree(t, b.dir)); len(d) > 0 {
			t.Errorf("%s diverged:\n%s", b.dir, strings.Join(d, "\n"))
		}
	}
}

// TestSplitBrainReportedThenResolved: two bricks each written while the other was down blame
// each other; heal info reports the split-brain, an index heal leaves both copies alone, and a
// client with favorite-child-policy mtime resolves it.
func TestSplitBrainReportedThenResolved(t *testing.T) {
	root := t.TempDir()
	bricks := []*brickProc{newBrick(t, root, 0), newBrick(t, root, 1)}
	a, vol := clientGraphFile(t, root, bricks, map[string]string{"quorum-type": "none", "data-self-heal": "off"})
	ctx := context.Background()
	f, err := graphtest.WriteFile(ctx, a, graph.RootLoc(), "f", []byte("base"))
	if err != nil {
		t.Fatal(err)
	}
	for i, data := range []string{"first copy, longer", "second"} {
		down := bricks[1-i]
		down.kill9()
		waitDown(t, a, 1-i)
		fd, err := graphtest.Open(ctx, a, f, unix.O_RDWR)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Ftruncate(ctx, fd, 0, nil); err != nil {
			t.Fatal(err)
		}
		if err := graphtest.WriteAll(ctx, a, fd, []byte(data), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Flush(ctx, fd, nil); err != nil {
			t.Fatal(err)
		}
		fd.Unref()
		down.start()
		waitUp(t, a, 2)
		time.Sleep(10 * time.Millisecond) // mtimes of the two writes differ
	}
	infos, err := replicate.HealInfo(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range infos {
		if len(ci.Entries) != 1 || ci.Entries[0].GFID != f.GFID || ci.Entries[0].Status != "split-brain" {
			t.Fatalf("heal info of %s: %+v, want %s in split-brain", ci.Child, ci.Entries, f.GFID)
		}
	}
	// The command line shows the same, GlusterFS's heal-info style.
	out, err := exec.Command(testbin.Weft(t), "heal", "--volfile", vol, "info").CombinedOutput()
	if err != nil {
		t.Fatalf("weft heal info: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "<gfid:"+f.GFID.String()+"> - Is in split-brain"); n != 2 {
		t.Fatalf("weft heal info lists the split-brain %d times, want 2 (one per brick):\n%s", n, out)
	}
	out, err = exec.Command(testbin.Weft(t), "heal", "--volfile", vol, "index").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "split-brain 1") {
		t.Fatalf("weft heal index on a split-brain: %v\n%s", err, out)
	}
	sum, err := replicate.HealAll(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.SplitBrain) != 1 {
		t.Fatalf("heal summary %+v, want one split-brain", sum)
	}
	read := func(b *brickProc) string {
		d, err := os.ReadFile(filepath.Join(b.dir, "f"))
		if err != nil {
			t.Fatal(err)
		}
		return string(d)
	}
	if r0, r1 := read(bricks[0]), read(bricks[1]); r0 != "first copy, longer" || r1 != "second" {
		t.Fatalf("split-brain copies overwritten: %q %q", r0, r1)
	}
	if _, err := a.Lookup(ctx, f, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := graphtest.ReadFile(ctx, a, f); !errors.Is(err, unix.EIO) {
		t.Fatalf("read in split-brain: %v, want EIO", err)
	}
	// A second client with a policy settles it: mtime picks the later write.
	b := clientGraph(t, root, bricks, map[string]string{"quorum-type": "none", "favorite-child-policy": "mtime", "data-self-heal": "off"})
	if _, err := replicate.HealAll(ctx, b); err != nil {
		t.Fatal(err)
	}
	if r0, r1 := read(bricks[0]), read(bricks[1]); r0 != "second" || r1 != "second" {
		t.Fatalf("after favorite-child-policy mtime: %q %q, want both \"second\"", r0, r1)
	}
	infos, _ = replicate.HealInfo(ctx, b)
	for _, ci := range infos {
		if len(ci.Entries) != 0 {
			t.Errorf("%s still lists %+v", ci.Child, ci.Entries)
		}
	}
}

// TestHealDaemonOnChildUp: the self-heal daemon heals by itself when a killed brick returns.
func TestHealDaemonOnChildUp(t *testing.T) {
	root := t.TempDir()
	var bricks []*brickProc
	for i := 0; i < 3; i++ {
		bricks = append(bricks, newBrick(t, root, i))
	}
	a := clientGraph(t, root, bricks, map[string]string{"data-self-heal": "off", "metadata-self-heal": "off", "entry-self-heal": "off"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { replicate.RunHealDaemon(ctx, a, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()
	bricks[1].kill9()
	waitDown(t, a, 1)
	d, err := graphtest.Mkdir(ctx, a, graph.RootLoc(), "dir")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if _, err := graphtest.WriteFile(ctx, a, d, fmt.Sprintf("f%d", i), []byte(strings.Repeat("x", i*1000))); err != nil {
			t.Fatal(err)
		}
	}
	bricks[1].start()
	waitUp(t, a, 3)
	want := brickTree(t, bricks[0].dir)
	var diff []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if diff = treeDiff(want, brickTree(t, bricks[1].dir)); len(diff) == 0 && indexEntries(t, bricks[0].dir, "xattrop") == 0 {
			return
		}
	}
	sum, err := replicate.HealAll(context.Background(), a)
	infos, _ := replicate.HealInfo(context.Background(), a)
	t.Fatalf("daemon did not heal the returned brick within 30s:\n%s\nmanual heal now: %+v %v\nheal info: %+v", strings.Join(diff, "\n"), sum, err, infos)
}
