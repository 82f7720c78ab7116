//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv3"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/gateway/nfstest"
)

// TestAdoptGlusterFSVolume moves a volume off GlusterFS in place: real GlusterFS (glusterd,
// its brick processes, its FUSE client) creates a distribute 2 × replicate 2 volume and writes
// files, directories, a symlink and a hard link into it, renames files (leaving DHT link files
// on the bricks), and rewrites files while one brick of each replica set is down (leaving
// stale copies and its changelogs blaming them); GlusterFS is stopped; `weft volume create ...
// force` over the same bricks, in the same order and under the same name, keeps their data (it
// takes the bricks' volume id, which its brick processes check). Every file then reads back
// through Weft's NFS gateway as GlusterFS last wrote it, through the link files and never from
// a stale copy; the root lists no GlusterFS internals; the stale copies are healed; and files
// written through Weft read back. Then the way back: Weft is stopped, GlusterFS takes the bricks
// again, and serves everything, including a directory Weft made and files Weft renamed (its
// link files).
func TestAdoptGlusterFSVolume(t *testing.T) {
	ctx := context.Background()
	ns := newNetNS(t)
	gl := newGlusterEnv(t, ns)
	dir := t.TempDir()
	const vol = "gadopt"
	bricks := makeDirs(t, dir, "b1", "b2", "b3", "b4")
	mnt := makeDirs(t, dir, "mnt")[0]
	layout := []string{"replica", "2"}

	// GlusterFS: glusterd in the namespace, the volume, a FUSE mount.
	gl.start()
	gl.serve(vol, layout, bricks, mnt)

	// Content through GlusterFS.
	want := map[string][]byte{}
	for _, d := range []string{"a", "a/b", "c"} {
		if err := os.Mkdir(filepath.Join(mnt, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 60; i++ {
		name := fmt.Sprintf("f%02d", i)
		switch i % 3 {
		case 1:
			name = "a/" + name
		case 2:
			name = "a/b/" + name
		}
		data := bytes.Repeat([]byte(fmt.Sprintf("%s:%d;", name, i)), 1+i*97)
		if err := os.WriteFile(filepath.Join(mnt, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		want[name] = data
	}
	if err := os.Symlink("f00", filepath.Join(mnt, "sym")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(mnt, "f03"), filepath.Join(mnt, "c/hard")); err != nil {
		t.Fatal(err)
	}
	want["c/hard"] = want["f03"]
	// Renames: a new name that hashes to the other replica set leaves a link file on it
	// (GlusterFS's dht linkto, naming the set that holds the data).
	for i := 0; i < 60; i += 3 {
		from, to := fmt.Sprintf("f%02d", i), fmt.Sprintf("renamed-%02d", i)
		if err := os.Rename(filepath.Join(mnt, from), filepath.Join(mnt, to)); err != nil {
			t.Fatal(err)
		}
		want[to] = want[from]
		delete(want, from)
	}
	if i := slices.IndexFunc(bricks, func(b string) bool { return len(linkFiles(t, b)) > 0 }); i < 0 {
		t.Fatal("no GlusterFS link file on any brick after 20 renames")
	}
	// A pending heal: with the second brick of each replica set down, the files in a/ are
	// rewritten; the copies on those bricks stay stale, GlusterFS's changelogs on the others
	// (trusted.afr.gadopt-client-N) blaming them.
	for _, b := range []string{bricks[1], bricks[3]} {
		if out, err := exec.Command("pkill", "-KILL", "-f", "glusterfsd.*"+b+" ").CombinedOutput(); err != nil {
			t.Fatalf("killing the brick process of %s: %v %s", b, err, out)
		}
	}
	for name := range want {
		if strings.HasPrefix(name, "a/") && !strings.HasPrefix(name, "a/b/") {
			data := bytes.Repeat([]byte("rewritten with a brick down;"), 50)
			if err := os.WriteFile(filepath.Join(mnt, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
			want[name] = data
		}
	}
	gl.unmount(mnt)
	stale := 0
	for name, data := range want {
		for _, b := range []string{bricks[1], bricks[3]} {
			if got, err := os.ReadFile(filepath.Join(b, name)); err == nil && !bytes.Equal(got, data) {
				stale++
			}
		}
	}
	if stale == 0 {
		t.Fatal("no stale copy on the bricks that were down: the heal below would prove nothing")
	}
	gl.drop(vol, mnt) // the bricks keep their data and xattrs
	gl.kill()

	// Weft over the same bricks (glusterd's port 24007 is free again).
	node := weftNode(t, ns, dir)
	wcreate := createArgs(vol, layout, node.ip, bricks)
	if _, err := weftCLI(node, wcreate...); err == nil || !strings.Contains(err.Error(), "already part of a volume") {
		t.Fatalf("create over GlusterFS bricks without force: %v, want a refusal", err)
	}
	out, err := weftCLI(node, append(wcreate, "force")...)
	if err != nil {
		t.Fatal(err)
	}
	gid := make([]byte, 16)
	if n, err := unix.Getxattr(bricks[0], "trusted.glusterfs.volume-id", gid); err != nil || n != 16 {
		t.Fatalf("GlusterFS's volume id on %s: %d bytes, %v", bricks[0], n, err)
	}
	hexID := hex.EncodeToString(gid)
	if !strings.Contains(strings.ReplaceAll(out, "-", ""), hexID) {
		t.Fatalf("create with force said %q; the bricks carry volume id %s", out, hexID)
	}
	if _, err := weftCLI(node, "volume", "set", vol, "nfs.ports-insecure", "on", "cluster.heal-timeout", "5"); err != nil { // the test client's port; sweep often
		t.Fatal(err)
	}
	if _, err := weftCLI(node, "volume", "start", vol); err != nil {
		t.Fatal(err)
	}
	waitVolume(t, node, vol, 4, 1)

	c, root := mountNFS(ctx, t, ns, node.ip+":2049", vol)
	lookup := func(p string) []byte { return lookupPath(ctx, t, c, root, p) }
	for name, data := range want {
		if got := nfsReadAll(ctx, t, c, lookup(name)); !bytes.Equal(got, data) {
			t.Errorf("%s: read %d bytes through Weft, GlusterFS wrote %d (or other bytes)", name, len(got), len(data))
		}
	}
	names, err := c.ReadDirAll(ctx, root, 4096)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var top []string
	for _, n := range names {
		if n != "." && n != ".." {
			top = append(top, n)
		}
	}
	if len(top) != 23 || top[0] != "a" || top[1] != "c" || top[2] != "renamed-00" || top[len(top)-1] != "sym" {
		t.Errorf("root lists %d entries %v, want a, c, 20 renamed files and sym", len(top), top)
	}
	rl, err := c.Readlink(ctx, lookup("sym"))
	if err != nil {
		t.Fatal(err)
	}
	if ok, isOK := rl.(*nfsv3.Readlink3res_NFS3_OK); !isOK || ok.Resok.Data != "f00" {
		t.Errorf("READLINK sym: %+v, want f00", rl)
	}
	// The stale copies are healed from GlusterFS's changelogs.
	eventually(t, 60*time.Second, "the stale copies healed", func() bool {
		for name, data := range want {
			if !strings.HasPrefix(name, "a/") || strings.HasPrefix(name, "a/b/") {
				continue
			}
			for _, b := range bricks {
				got, err := os.ReadFile(filepath.Join(b, name))
				if err == nil && !bytes.Equal(got, data) {
					return false
				}
			}
		}
		return true
	})
	// New data through Weft, in an adopted directory, reads back.
	fh, err := c.CreateFH(ctx, lookup("a/b"), "from-weft", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("weft wrote this;"), 5000)
	if st, n, _, err := c.WriteFast(ctx, fh, 0, data, uint32(nfsv3.FILE_SYNC)); err != nil || st != 0 || int(n) != len(data) {
		t.Fatalf("WRITE: %v status %d count %d", err, st, n)
	}
	if got := nfsReadAll(ctx, t, c, lookup("a/b/from-weft")); !bytes.Equal(got, data) {
		t.Fatalf("the file written through Weft reads back as %d bytes", len(got))
	}
	want["a/b/from-weft"] = data
	// A directory made by Weft, with files, some renamed (Weft's link files).
	mres, err := c.Mkdir(ctx, root, "weftdir", nfstest.ModeAttrs(0o755))
	if err != nil {
		t.Fatal(err)
	}
	wd, err := nfstest.CreatedFH(mres)
	if err != nil {
		t.Fatalf("MKDIR weftdir: %v", err)
	}
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("w%02d", i)
		fh, err := c.CreateFH(ctx, wd, name, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		data := bytes.Repeat([]byte(name+" from weft;"), 100+i*50)
		if st, n, _, err := c.WriteFast(ctx, fh, 0, data, uint32(nfsv3.FILE_SYNC)); err != nil || st != 0 || int(n) != len(data) {
			t.Fatalf("WRITE %s: %v status %d count %d", name, err, st, n)
		}
		if i%2 == 0 {
			to := fmt.Sprintf("wr%02d", i)
			if res, err := c.Rename(ctx, wd, name, wd, to); err != nil || nfstest.Status(res) != nfsv3.NFS3_OK {
				t.Fatalf("RENAME %s: %v %v", name, err, res)
			}
			name = to
		}
		want["weftdir/"+name] = data
	}

	if !slices.ContainsFunc(bricks, func(b string) bool { return len(linkFiles(t, filepath.Join(b, "weftdir"))) > 0 }) {
		t.Fatal("no Weft link file on any brick after 10 renames in weftdir")
	}

	// And back: GlusterFS serves what Weft wrote (a way back for a cautious move). glusterd
	// takes bricks carrying a volume id only once it is removed; the data and .glusterfs stay.
	if _, err := weftCLI(node, "volume", "stop", vol); err != nil {
		t.Fatal(err)
	}
	node.p.stop(10 * time.Second)
	for _, b := range bricks {
		if err := unix.Removexattr(b, "trusted.glusterfs.volume-id"); err != nil {
			t.Fatal(err)
		}
	}
	gl.start()
	gl.serve(vol, layout, bricks, mnt)
	for name, data := range want {
		if got, err := os.ReadFile(filepath.Join(mnt, name)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s through GlusterFS after Weft: %d bytes, %v (want %d bytes)", name, len(got), err, len(data))
		}
	}
	ents, err := os.ReadDir(filepath.Join(mnt, "weftdir"))
	if err != nil || len(ents) != 20 {
		t.Errorf("GlusterFS lists %d entries in weftdir (%v), want 20", len(ents), err)
	}
}

// linkFiles returns the DHT link files directly in brick directory dir: sticky, empty, with a
// trusted.glusterfs.dht.linkto xattr.
func linkFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || fi.Mode()&os.ModeSticky == 0 || fi.Size() != 0 {
			continue
		}
		if n, err := unix.Getxattr(filepath.Join(dir, e.Name()), "trusted.glusterfs.dht.linkto", make([]byte, 256)); err == nil && n > 0 {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestAdoptGlusterFSArbiterVolume adopts a GlusterFS replica 3 arbiter 1 volume (the layout
// hyperconverged Proxmox and oVirt setups use): GlusterFS's arbiter brick holds the files
// without their data. Through Weft every file reads back whole, and a file written through Weft
// lands with its data on the two data bricks and none on the arbiter.
func TestAdoptGlusterFSArbiterVolume(t *testing.T) {
	ctx := context.Background()
	ns := newNetNS(t)
	gl := newGlusterEnv(t, ns)
	dir := t.TempDir()
	const vol = "garb"
	bricks := makeDirs(t, dir, "d1", "d2", "arb")
	mnt := makeDirs(t, dir, "mnt")[0]
	layout := []string{"replica", "3", "arbiter", "1"}
	gl.start()
	gl.serve(vol, layout, bricks, mnt)
	if err := os.Mkdir(filepath.Join(mnt, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for i := 0; i < 12; i++ {
		name := fmt.Sprintf("images/disk%02d.raw", i)
		data := bytes.Repeat([]byte(name), 1+i*700)
		if err := os.WriteFile(filepath.Join(mnt, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		want[name] = data
	}
	gl.unmount(mnt)
	if fi, err := os.Stat(filepath.Join(bricks[2], "images/disk11.raw")); err != nil || fi.Size() != 0 {
		t.Fatalf("GlusterFS's arbiter brick copy: %v, %v (want an empty file)", fi, err)
	}
	gl.drop(vol, mnt)
	gl.kill()

	node := weftNode(t, ns, dir)
	if _, err := weftCLI(node, append(createArgs(vol, layout, node.ip, bricks), "force")...); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"volume", "set", vol, "nfs.ports-insecure", "on"}, {"volume", "start", vol}} {
		if _, err := weftCLI(node, args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	waitVolume(t, node, vol, 3, 1)
	c, root := mountNFS(ctx, t, ns, node.ip+":2049", vol)
	images := lookupPath(ctx, t, c, root, "images")
	for name, data := range want {
		if got := nfsReadAll(ctx, t, c, lookupPath(ctx, t, c, root, name)); !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes through Weft, GlusterFS wrote %d", name, len(got), len(data))
		}
	}
	fh, err := c.CreateFH(ctx, images, "new.raw", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("written through weft;"), 3000)
	if st, n, _, err := c.WriteFast(ctx, fh, 0, data, uint32(nfsv3.FILE_SYNC)); err != nil || st != 0 || int(n) != len(data) {
		t.Fatalf("WRITE: %v status %d count %d", err, st, n)
	}
	for i, b := range bricks {
		fi, err := os.Stat(filepath.Join(b, "images/new.raw"))
		if err != nil {
			t.Fatal(err)
		}
		if arbiter := i == 2; !arbiter && fi.Size() != int64(len(data)) || arbiter && fi.Size() != 0 {
			t.Errorf("new.raw on %s: %d bytes (the data bricks want %d, the arbiter none)", b, fi.Size(), len(data))
		}
	}
}

// glusterEnv is a glusterd in a network namespace, for the adoption tests.
type glusterEnv struct {
	t    *testing.T
	ns   string
	host string
	gd   *proc
}

// newGlusterEnv checks that GlusterFS can run here (its binaries, no other glusterd, a host name
// that resolves to loopback) and makes sure that everything it starts is gone at the end.
func newGlusterEnv(t *testing.T, ns string) *glusterEnv {
	t.Helper()
	for _, bin := range []string{"glusterd", "gluster", "glusterfs"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: make deps installs glusterfs-server and glusterfs-client", bin)
		}
	}
	if out, err := exec.Command("pgrep", "-x", "glusterd").Output(); err == nil && len(out) > 0 {
		t.Fatalf("a glusterd already runs on this machine (pid %s); this test runs its own and would share its state", strings.TrimSpace(string(out)))
	}
	// glusterd takes bricks only by a host name that resolves to one of its addresses; inside
	// the test's namespace that is loopback.
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := net.LookupHost(host)
	loop := false
	for _, a := range addrs {
		loop = loop || net.ParseIP(a).IsLoopback()
	}
	if err != nil || !loop {
		t.Fatalf("host name %s resolves to %v (%v), not to a loopback address: glusterd in the test's network namespace could not take bricks by name", host, addrs, err)
	}
	g := &glusterEnv{t: t, ns: ns, host: host}
	t.Cleanup(g.kill)
	return g
}

// start runs glusterd and waits until it answers.
func (g *glusterEnv) start() {
	g.t.Helper()
	g.gd = startProc(g.t, nsCommand(context.Background(), g.ns, "glusterd", "-N", "--log-level", "WARNING"))
	eventually(g.t, 20*time.Second, "glusterd answers", func() bool {
		return nsCommand(context.Background(), g.ns, "gluster", "--mode=script", "volume", "list").Run() == nil
	})
}

// cli runs a gluster command, failing the test when it fails.
func (g *glusterEnv) cli(args ...string) string {
	g.t.Helper()
	out, err := nsCommand(context.Background(), g.ns, "gluster", append([]string{"--mode=script"}, args...)...).CombinedOutput()
	if err != nil {
		log := ""
		if g.gd != nil {
			log = g.gd.log()
		}
		g.t.Fatalf("gluster %s: %v\n%s\nglusterd:\n%s", strings.Join(args, " "), err, out, log)
	}
	return string(out)
}

// serve creates volume vol (layout: "replica", "2" and the like) over bricks with force, starts
// it and mounts it on mnt with GlusterFS's FUSE client. The volume is dropped at the end of the
// test if it still exists then.
func (g *glusterEnv) serve(vol string, layout, bricks []string, mnt string) {
	g.t.Helper()
	g.t.Cleanup(func() { // before glusterd stops (cleanups run last first)
		g.unmount(mnt)
		_ = nsCommand(context.Background(), g.ns, "gluster", "--mode=script", "volume", "stop", vol, "force").Run()
		_ = nsCommand(context.Background(), g.ns, "gluster", "--mode=script", "volume", "delete", vol).Run()
	})
	g.cli(append(createArgs(vol, layout, g.host, bricks), "force")...)
	g.cli("volume", "start", vol)
	// nsenter, not ip netns exec: the latter runs the command in a mount namespace of its own,
	// where the FUSE mount would be invisible to this test.
	if out, err := exec.Command("nsenter", "--net=/var/run/netns/"+g.ns, "glusterfs", "--volfile-server="+g.host, "--volfile-id=/"+vol, mnt).CombinedOutput(); err != nil {
		g.t.Fatalf("glusterfs FUSE mount: %v\n%s", err, out)
	}
	eventually(g.t, 20*time.Second, "the FUSE mount", func() bool {
		b, _ := os.ReadFile("/proc/self/mounts")
		return strings.Contains(string(b), mnt+" fuse.glusterfs")
	})
}

func (g *glusterEnv) unmount(mnt string) { _ = exec.Command("umount", mnt).Run() }

// drop unmounts, stops and deletes the volume; its bricks keep their data and xattrs.
func (g *glusterEnv) drop(vol, mnt string) {
	g.t.Helper()
	g.unmount(mnt)
	g.cli("volume", "stop", vol)
	g.cli("volume", "delete", vol)
}

// kill stops glusterd and whatever it started in the namespace (bricks, self-heal daemon).
func (g *glusterEnv) kill() {
	if g.gd != nil {
		g.gd.stop(5 * time.Second)
		g.gd = nil
	}
	if out, err := exec.Command("ip", "netns", "pids", g.ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err != nil {
				continue
			}
			if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.HasPrefix(string(comm), "gluster") {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// weftNode starts a weft daemon on 127.0.0.1 in namespace ns, its state under dir.
func weftNode(t *testing.T, ns, dir string) *daemonNode {
	t.Helper()
	n := &daemonNode{ip: "127.0.0.1", state: filepath.Join(dir, "weft"), sock: filepath.Join(dir, "weft.sock")}
	n.start(t, t, ns)
	return n
}

// createArgs is `volume create vol LAYOUT... host:brick...`, for gluster and weft alike.
func createArgs(vol string, layout []string, host string, bricks []string) []string {
	out := append([]string{"volume", "create", vol}, layout...)
	for _, b := range bricks {
		out = append(out, host+":"+b)
	}
	return out
}

// makeDirs makes the named directories under dir and returns their paths.
func makeDirs(t *testing.T, dir string, names ...string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// mountNFS connects an NFS client inside namespace ns to addr and mounts /vol; the client is
// closed at the end of the test.
func mountNFS(ctx context.Context, t *testing.T, ns, addr, vol string) (*nfstest.Client, []byte) {
	t.Helper()
	c, err := dialNFSInNS(ctx, ns, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	root, st, err := c.Mnt(ctx, "/"+vol)
	if err != nil || st != 0 {
		t.Fatalf("MNT /%s: %v %d", vol, err, st)
	}
	return c, root
}

// lookupPath looks a slash-separated path up from dir, component by component.
func lookupPath(ctx context.Context, t *testing.T, c *nfstest.Client, dir []byte, p string) []byte {
	t.Helper()
	h := dir
	for _, comp := range strings.Split(p, "/") {
		var err error
		if h, err = c.LookupFH(ctx, h, comp); err != nil {
			t.Fatalf("LOOKUP %s (%s): %v", p, comp, err)
		}
	}
	return h
}

// nfsReadAll reads a whole file over NFS.
func nfsReadAll(ctx context.Context, t *testing.T, c *nfstest.Client, fh []byte) []byte {
	t.Helper()
	var got []byte
	for {
		data, eof, st, err := c.ReadFast(ctx, fh, uint64(len(got)), 64<<10)
		if err != nil || st != 0 {
			t.Fatalf("READ: %v %d", err, st)
		}
		got = append(got, data...)
		if eof || len(data) == 0 {
			return got
		}
	}
}
