//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImportGlusterFSVolume takes a GlusterFS volume over with `weft volume import`, from
// glusterd's own definition of it, after the volume went through what long-lived GlusterFS
// volumes go through: real GlusterFS creates a 2 × 2 volume with options set, writes files,
// adds a replica set and removes the first one (the data migrates; glusterd keeps the
// remaining bricks' brick-ids, 2 to 5, and their replicas' changelogs name them so), then
// rewrites files while the brick with brick-id 3 is down, so that its replica's changelogs
// blame gimport-client-3 for stale copies. glusterd is then stopped the way a service stop
// does it, leaving its brick processes running: the import is refused, naming them. Once they
// are gone, the import creates and starts the volume with the same bricks, brick-ids, id and
// the options Weft has (listing the others); every file reads back through Weft's NFS gateway
// as GlusterFS last wrote it, never from the stale copies, which the heal then repairs — the
// proof that the changelogs were read under the names GlusterFS wrote them by.
func TestImportGlusterFSVolume(t *testing.T) {
	ctx := context.Background()
	ns := newNetNS(t)
	gl := newGlusterEnv(t, ns)
	dir := t.TempDir()
	const vol = "gimport"
	const glusterdDir = "/var/lib/glusterd"
	bricks := makeDirs(t, dir, "b0", "b1", "b2", "b3", "b4", "b5")
	mnt := makeDirs(t, dir, "mnt")[0]
	spec := func(i int) string { return gl.host + ":" + bricks[i] }

	gl.start()
	gl.serve(vol, []string{"replica", "2"}, bricks[:4], mnt)
	// glusterd is not running when the test ends; its definition of the volume goes with the test.
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Join(glusterdDir, "vols", vol)) })
	gl.cli("volume", "set", vol, "network.ping-timeout", "17")
	gl.cli("volume", "set", vol, "cluster.favorite-child-policy", "mtime")
	gl.cli("volume", "set", vol, "performance.write-behind", "off")

	want := map[string][]byte{}
	if err := os.Mkdir(filepath.Join(mnt, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		name := fmt.Sprintf("f%02d", i)
		if i%2 == 1 {
			name = "d/" + name
		}
		data := bytes.Repeat([]byte(fmt.Sprintf("%s by GlusterFS;", name)), 1+i*61)
		if err := os.WriteFile(filepath.Join(mnt, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		want[name] = data
	}

	// A replica set in, the first one out, its files migrated by GlusterFS's rebalance.
	gl.cli("volume", "add-brick", vol, spec(4), spec(5), "force")
	gl.cli("volume", "remove-brick", vol, spec(0), spec(1), "start")
	eventually(t, 90*time.Second, "GlusterFS's remove-brick migration to complete", func() bool {
		out, err := nsCommand(ctx, ns, "gluster", "--mode=script", "volume", "remove-brick", vol, spec(0), spec(1), "status").CombinedOutput()
		return err == nil && strings.Contains(string(out), "completed") && !strings.Contains(string(out), "in progress")
	})
	gl.cli("volume", "remove-brick", vol, spec(0), spec(1), "commit")
	for name, data := range want {
		if got, err := os.ReadFile(filepath.Join(mnt, name)); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s after GlusterFS's remove-brick: %d bytes, %v", name, len(got), err)
		}
	}
	ids, err := os.ReadFile(filepath.Join(glusterdDir, "vols", vol, "bricks", strings.ReplaceAll(spec(3), "/", "-")))
	if err != nil || !strings.Contains(string(ids), "brick-id="+vol+"-client-3\n") {
		t.Fatalf("glusterd's file of brick %s: %v\n%s", spec(3), err, ids)
	}

	// Stale copies on the brick with brick-id 3 (b3), its replica (b2) blaming it.
	if out, err := exec.Command("pkill", "-KILL", "-f", "glusterfsd.*"+bricks[3]+" ").CombinedOutput(); err != nil {
		t.Fatalf("killing the brick process of %s: %v %s", bricks[3], err, out)
	}
	for name := range want {
		if strings.HasPrefix(name, "d/") {
			data := bytes.Repeat([]byte("rewritten with gimport-client-3 down;"), 40)
			if err := os.WriteFile(filepath.Join(mnt, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
			want[name] = data
		}
	}
	gl.unmount(mnt)
	stale := 0
	for name, data := range want {
		if got, ok := dataCopy(filepath.Join(bricks[3], name)); ok && !bytes.Equal(got, data) {
			stale++
		}
	}
	if stale == 0 {
		t.Fatal("no stale copy on the brick that was down: the heal below would prove nothing")
	}

	// glusterd stopped, its brick processes not (what stopping the glusterd service does):
	// Weft refuses the bricks GlusterFS still serves.
	gl.gd.stop(5 * time.Second)
	gl.gd = nil
	node := weftNode(t, ns, dir)
	importArgs := []string{"volume", "import", vol, "--glusterd-dir", glusterdDir, "--host", gl.host + "=" + node.ip}
	if out, err := weftCLI(node, importArgs...); err == nil || !strings.Contains(err.Error(), "GlusterFS still serves it (glusterfsd pid") {
		t.Fatalf("import while GlusterFS's brick processes run: %v\n%s", err, out)
	}
	if out, _ := weftCLI(node, "volume", "list"); strings.Contains(out, vol) {
		t.Fatal("a refused import left a volume")
	}
	gl.kill()

	out, err := weftCLI(node, append(importArgs, "--start")...)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, w := range []string{
		fmt.Sprintf("  Brick1: %s:%s (%s-client-2)", node.ip, bricks[2], vol),
		fmt.Sprintf("  Brick4: %s:%s (%s-client-5)", node.ip, bricks[5], vol),
		"  network.ping-timeout 17\n", "  cluster.favorite-child-policy mtime\n",
		"  performance.write-behind off: Weft has no such option\n",
		"the bricks' data is kept", "volume start: " + vol + ": success",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("import printed no %q:\n%s", w, out)
		}
	}
	vf, err := weftCLI(node, "volume", "volfile", vol)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"afr-pending-xattr " + vol + "-client-2," + vol + "-client-3", "afr-pending-xattr " + vol + "-client-4," + vol + "-client-5", "option network.ping-timeout 17"} {
		if !strings.Contains(vf, w) {
			t.Fatalf("the client volfile has no %q:\n%s", w, vf)
		}
	}
	if _, err := weftCLI(node, "volume", "set", vol, "nfs.ports-insecure", "on", "cluster.heal-timeout", "5"); err != nil { // the test client's port; sweep often
		t.Fatal(err)
	}
	waitVolume(t, node, vol, 4, 1)

	c, err := dialNFSInNS(ctx, ns, node.ip+":2049")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var root []byte
	eventually(t, 30*time.Second, "MNT /"+vol+" (the export allows unprivileged ports once the gateway reloaded)", func() bool {
		r, st, err := c.Mnt(ctx, "/"+vol)
		root = r
		return err == nil && st == 0
	})
	for name, data := range want {
		if got := nfsReadAll(ctx, t, c, lookupPath(ctx, t, c, root, name)); !bytes.Equal(got, data) {
			t.Errorf("%s: read %d bytes through Weft, GlusterFS last wrote %d (or other bytes)", name, len(got), len(data))
		}
	}
	eventually(t, 60*time.Second, "the stale copies on "+bricks[3]+" healed", func() bool {
		for name, data := range want {
			if got, ok := dataCopy(filepath.Join(bricks[3], name)); ok && !bytes.Equal(got, data) {
				return false
			}
		}
		return true
	})
}

// dataCopy returns the content of a file on a brick, and false when the brick has no data
// copy of it there (no file, or a DHT link file: sticky and empty).
func dataCopy(p string) ([]byte, bool) {
	fi, err := os.Stat(p)
	if err != nil || (fi.Mode()&os.ModeSticky != 0 && fi.Size() == 0) {
		return nil, false
	}
	b, err := os.ReadFile(p)
	return b, err == nil
}

// TestShardedGlusterFSVolumeRefused: a volume with GlusterFS's shard translator on (the virt
// profile oVirt and Proxmox hyperconverged setups use) keeps a large file's blocks past the
// first under .shard on the bricks. Neither `weft volume import` nor `volume create ... force`
// takes it: served by Weft, which has no shard translator, such a file would read back cut at
// its first block.
func TestShardedGlusterFSVolumeRefused(t *testing.T) {
	ns := newNetNS(t)
	gl := newGlusterEnv(t, ns)
	dir := t.TempDir()
	const vol = "gshard"
	const glusterdDir = "/var/lib/glusterd"
	bricks := makeDirs(t, dir, "b0")
	mnt := makeDirs(t, dir, "mnt")[0]
	gl.start()
	gl.serve(vol, nil, bricks, mnt)
	t.Cleanup(func() { _ = os.RemoveAll(filepath.Join(glusterdDir, "vols", vol)) })
	gl.cli("volume", "set", vol, "features.shard", "on")
	gl.cli("volume", "set", vol, "features.shard-block-size", "4MB")
	data := bytes.Repeat([]byte("a VM image, sharded;"), 10<<20/20)
	if err := os.WriteFile(filepath.Join(mnt, "disk.img"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	gl.unmount(mnt)
	if fi, err := os.Stat(filepath.Join(bricks[0], "disk.img")); err != nil || fi.Size() >= int64(len(data)) {
		t.Fatalf("the base file on the brick: %v, %v; GlusterFS did not shard it", fi, err)
	}
	if shards, err := os.ReadDir(filepath.Join(bricks[0], ".shard")); err != nil || len(shards) < 2 {
		t.Fatalf("the brick's .shard directory: %d entries, %v", len(shards), err)
	}
	gl.kill()

	node := weftNode(t, ns, dir)
	if out, err := weftCLI(node, "volume", "import", vol, "--glusterd-dir", glusterdDir, "--host", gl.host+"="+node.ip); err == nil || !strings.Contains(err.Error(), "a sharded volume (features.shard=on") {
		t.Fatalf("import of a sharded volume: %v\n%s", err, out)
	}
	if err := os.RemoveAll(filepath.Join(glusterdDir, "vols", vol)); err != nil { // as after `gluster volume delete`
		t.Fatal(err)
	}
	if out, err := weftCLI(node, "volume", "create", vol, node.ip+":"+bricks[0], "force"); err == nil || !strings.Contains(err.Error(), "holds GlusterFS shards (.shard)") {
		t.Fatalf("create force over a sharded volume's brick: %v\n%s", err, out)
	}
	if out, _ := weftCLI(node, "volume", "list"); strings.Contains(out, vol) {
		t.Fatal("a refused create left a volume")
	}
}
