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

	ctx := context.Background()
	ns := newNetNS(t)
	dir := t.TempDir()
	const vol = "gadopt"
	var bricks []string
	for i := 1; i <= 4; i++ {
		b := filepath.Join(dir, fmt.Sprintf("b%d", i))
		if err := os.Mkdir(b, 0o755); err != nil {
			t.Fatal(err)
		}
		bricks = append(bricks, b)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}

	// GlusterFS: glusterd in the namespace, the volume, a FUSE mount.
	var gd *proc
	killGluster := func() {
		// glusterd, and whatever it started in the namespace (bricks, self-heal daemon).
		if gd != nil {
			gd.stop(5 * time.Second)
		}
		if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
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
	t.Cleanup(killGluster)
	gluster := func(args ...string) string {
		t.Helper()
		out, err := nsCommand(ctx, ns, "gluster", append([]string{"--mode=script"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("gluster %s: %v\n%s\nglusterd:\n%s", strings.Join(args, " "), err, out, gd.log())
		}
		return string(out)
	}
	unmount := func() { _ = exec.Command("umount", mnt).Run() }
	t.Cleanup(unmount)
	// serveWithGluster starts glusterd, creates and starts the volume over the bricks, and
	// mounts it on mnt.
	serveWithGluster := func() {
		t.Helper()
		gd = startProc(t, nsCommand(ctx, ns, "glusterd", "-N", "--log-level", "WARNING"))
		t.Cleanup(func() { // before glusterd stops: its state (/var/lib/glusterd) forgets the volume
			unmount()
			_ = nsCommand(ctx, ns, "gluster", "--mode=script", "volume", "stop", vol, "force").Run()
			_ = nsCommand(ctx, ns, "gluster", "--mode=script", "volume", "delete", vol).Run()
		})
		eventually(t, 20*time.Second, "glusterd answers", func() bool {
			return nsCommand(ctx, ns, "gluster", "--mode=script", "volume", "list").Run() == nil
		})
		create := []string{"volume", "create", vol, "replica", "2"}
		for _, b := range bricks {
			create = append(create, host+":"+b)
		}
		gluster(append(create, "force")...)
		gluster("volume", "start", vol)
		// nsenter, not ip netns exec: the latter runs the command in a mount namespace of its
		// own, where the FUSE mount would be invisible to this test.
		if out, err := exec.Command("nsenter", "--net=/var/run/netns/"+ns, "glusterfs", "--volfile-server="+host, "--volfile-id=/"+vol, mnt).CombinedOutput(); err != nil {
			t.Fatalf("glusterfs FUSE mount: %v\n%s", err, out)
		}
		eventually(t, 20*time.Second, "the FUSE mount", func() bool {
			b, _ := os.ReadFile("/proc/self/mounts")
			return strings.Contains(string(b), mnt+" fuse.glusterfs")
		})
	}
	serveWithGluster()

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
	unmount()
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
	gluster("volume", "stop", vol)
	gluster("volume", "delete", vol) // the bricks keep their data and xattrs
	killGluster()

	// Weft over the same bricks (glusterd's port 24007 is free again).
	node := &daemonNode{ip: "127.0.0.1", state: filepath.Join(dir, "weft"), sock: filepath.Join(dir, "weft.sock")}
	node.start(t, t, ns)
	wcreate := []string{"volume", "create", vol, "replica", "2"}
	for _, b := range bricks {
		wcreate = append(wcreate, node.ip+":"+b)
	}
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

	c, err := dialNFSInNS(ctx, ns, node.ip+":2049")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root, st, err := c.Mnt(ctx, "/"+vol)
	if err != nil || st != 0 {
		t.Fatalf("MNT /%s: %v %d", vol, err, st)
	}
	lookup := func(p string) []byte {
		t.Helper()
		h := root
		for _, comp := range strings.Split(p, "/") {
			var err error
			if h, err = c.LookupFH(ctx, h, comp); err != nil {
				t.Fatalf("LOOKUP %s (%s): %v", p, comp, err)
			}
		}
		return h
	}
	readAll := func(h []byte) []byte {
		t.Helper()
		var got []byte
		for {
			data, eof, st, err := c.ReadFast(ctx, h, uint64(len(got)), 64<<10)
			if err != nil || st != 0 {
				t.Fatalf("READ: %v %d", err, st)
			}
			got = append(got, data...)
			if eof || len(data) == 0 {
				return got
			}
		}
	}
	for name, data := range want {
		if got := readAll(lookup(name)); !bytes.Equal(got, data) {
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
	if got := readAll(lookup("a/b/from-weft")); !bytes.Equal(got, data) {
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
	serveWithGluster()
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
