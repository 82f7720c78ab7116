package daemon

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/store"
)

// Bricks that already carry a volume id (GlusterFS's trusted.glusterfs.volume-id, or a deleted
// volume's) are refused without force; with force their ids are reported, a create takes the
// one id they share, and bricks of different volumes, or of a volume of this cluster, are
// refused with the bricks named.
func TestCheckBricksAndAdoptedID(t *testing.T) {
	dir := t.TempDir()
	mk := func(name, id string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if id != "" {
			g, err := graph.ParseGFID(id)
			if err != nil {
				t.Fatal(err)
			}
			if err := unix.Setxattr(p, VolumeIDXattr, g[:], 0); err != nil {
				t.Fatalf("setxattr (needs root): %v", err)
			}
			if err := os.WriteFile(filepath.Join(p, "data"), []byte("kept"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	const gid = "a47925d5-c6a3-4ab8-9a56-1ec7c33bf862"
	const other = "0b7e1d1c-2f6e-4c55-8d43-5b1e0c6a9f10"
	b1, b2, fresh, stranger := mk("b1", gid), mk("b2", gid), mk("fresh", ""), mk("stranger", other)
	newID := "5d1c0f5e-8f4e-4b8a-9a2d-6c3b2e1f0a99"

	if _, err := checkLocalBricks("h", &api.CheckBricksRequest{VolumeID: newID, Paths: []string{b1}}); err == nil ||
		!strings.Contains(err.Error(), "already part of a volume") || !strings.Contains(err.Error(), gid) {
		t.Fatalf("a brick of another volume without force: %v", err)
	}
	found, err := checkLocalBricks("h", &api.CheckBricksRequest{VolumeID: newID, Paths: []string{b1, b2, fresh}, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[b1] != gid || found[b2] != gid {
		t.Fatalf("found %v, want b1 and b2 with %s", found, gid)
	}
	byBrick := map[string]string{"h:" + b1: gid, "h:" + b2: gid}
	st := &store.State{Volumes: map[string]*store.Volume{}}
	if id, err := adoptedID(st, byBrick); err != nil || id != gid {
		t.Fatalf("adopted %q, %v; want %s", id, err, gid)
	}
	if id, err := adoptedID(st, nil); err != nil || id != "" {
		t.Fatalf("no ids on the bricks: adopted %q, %v", id, err)
	}
	byBrick["h:"+stranger] = other
	if _, err := adoptedID(st, byBrick); err == nil || !strings.Contains(err.Error(), "different volumes") {
		t.Fatalf("bricks of two volumes: %v", err)
	}
	st.Volumes["gv0"] = &store.Volume{Name: "gv0", ID: gid}
	if _, err := adoptedID(st, map[string]string{"h:" + b1: gid}); err == nil || !strings.Contains(err.Error(), "volume gv0 of this cluster") {
		t.Fatalf("bricks of a volume of this cluster: %v", err)
	}
	if f := foreignIDs(map[string]string{"h:" + b1: gid, "h:" + stranger: other}, gid); len(f) != 1 || !strings.Contains(f[0], stranger) {
		t.Fatalf("foreign bricks for add-brick: %v", f)
	}
}

// fakeGlusterfsd starts a process whose command line is a GlusterFS brick process's for brick
// (argv[0] glusterfsd, --brick-name BRICK), and returns its pid.
func fakeGlusterfsd(t *testing.T, brick string) int {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: self, Args: []string{"/usr/sbin/glusterfsd", "-s", "vm", "--volfile-id", "gv.vm.b", "--brick-name", brick, "-l", "/dev/null"},
		Env: append(os.Environ(), "WEFT_FAKE_GLUSTERFSD=1")}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// TestGlusterfsdServing finds the GlusterFS brick process of a directory by its command line,
// and only of that directory.
func TestGlusterfsdServing(t *testing.T) {
	dir := t.TempDir()
	b1, b2 := filepath.Join(dir, "b1"), filepath.Join(dir, "b2")
	pid := fakeGlusterfsd(t, b1)
	if got := glusterfsdServing("/proc", b1); len(got) != 1 || got[0] != pid {
		t.Fatalf("serving %s: %v, want [%d]", b1, got, pid)
	}
	if got := glusterfsdServing("/proc", b1+"/"); len(got) != 1 {
		t.Fatalf("serving %s/: %v", b1, got)
	}
	if got := glusterfsdServing("/proc", b2); len(got) != 0 {
		t.Fatalf("serving %s: %v, want none", b2, got)
	}
}

// TestCreateForImport: the create `weft volume import` sends — force, the volume id the bricks
// must carry, the GlusterFS brick-ids, and options — is all or nothing: a brick GlusterFS still
// serves, bricks of another volume, or an invalid option refuse it with nothing created; the
// volume it creates names its clients by the given brick-ids (gaps and all) and has the options.
func TestCreateForImport(t *testing.T) {
	a := newNode(t, "a")
	a.start(t)
	bs := mkBricks(t, 4)
	const gid = "a47925d5-c6a3-4ab8-9a56-1ec7c33bf862"
	g, _ := graph.ParseGFID(gid)
	var specs []string
	for _, b := range bs {
		if err := unix.Setxattr(b, VolumeIDXattr, g[:], 0); err != nil {
			t.Fatalf("setxattr (needs root): %v", err)
		}
		specs = append(specs, "127.0.0.1:"+b)
	}
	req := func() *api.CreateRequest {
		return &api.CreateRequest{Name: "gv", Replica: 2, Bricks: specs, Force: true, VolumeID: gid,
			BrickIDs: []string{"gv-client-2", "gv-client-3", "gv-client-4", "gv-client-5"},
			Options:  map[string]string{"network.ping-timeout": "17", "cluster.favorite-child-policy": "mtime"}}
	}
	pid := fakeGlusterfsd(t, bs[2])
	stopFake := func() {
		_ = unix.Kill(pid, unix.SIGKILL)
		waitFor(t, 5*time.Second, func() bool { return len(glusterfsdServing("/proc", bs[2])) == 0 }, "the fake glusterfsd to exit")
	}
	for _, tc := range []struct {
		edit func(*api.CreateRequest)
		want string
		then func()
	}{
		{func(*api.CreateRequest) {}, fmt.Sprintf("GlusterFS still serves it (glusterfsd pid %d)", pid), stopFake},
		{func(r *api.CreateRequest) { r.VolumeID = "0b7e1d1c-2f6e-4c55-8d43-5b1e0c6a9f10" }, "the bricks carry volume id " + gid + ", and 0b7e1d1c-2f6e-4c55-8d43-5b1e0c6a9f10 was expected", nil},
		{func(r *api.CreateRequest) { r.Options["performance.write-behind"] = "off" }, `option "performance.write-behind": no such volume option`, nil},
		{func(r *api.CreateRequest) { r.Options["network.ping-timeout"] = "never" }, "network.ping-timeout", nil},
		{func(r *api.CreateRequest) { r.BrickIDs = r.BrickIDs[:3] }, "3 brick ids for 4 bricks", nil},
		{func(r *api.CreateRequest) { r.BrickIDs[1] = "gv-client-2" }, "given twice", nil},
	} {
		r := req()
		tc.edit(r)
		if _, err := a.post("/v1/volumes/create", r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("create: %v, want %q", err, tc.want)
		}
		if _, ok := a.volumes(t)["gv"]; ok {
			t.Fatal("a refused create left a volume")
		}
		if tc.then != nil {
			tc.then()
		}
	}
	if _, err := a.post("/v1/volumes/create", req()); err != nil {
		t.Fatal(err)
	}
	v := a.volumes(t)["gv"]
	if v.ID != gid || v.Options["network.ping-timeout"] != "17" || v.Options["cluster.favorite-child-policy"] != "mtime" {
		t.Fatalf("created %+v", v)
	}
	var vf map[string]string
	if err := a.cli.Do(context.Background(), http.MethodGet, "/v1/volfile?volume=gv", nil, &vf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"afr-pending-xattr gv-client-2,gv-client-3", "afr-pending-xattr gv-client-4,gv-client-5", "volume gv-client-5", "option network.ping-timeout 17"} {
		if !strings.Contains(vf["volfile"], want) {
			t.Fatalf("client volfile has no %q:\n%s", want, vf["volfile"])
		}
	}
}

// TestShardedBricksRefused: a brick of a sharded GlusterFS volume (a .shard directory in its
// root) is not adopted, with force or without: its large files are not whole on it.
func TestShardedBricksRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "b")
	if err := os.MkdirAll(filepath.Join(p, ShardDir), 0o755); err != nil {
		t.Fatal(err)
	}
	g, _ := graph.ParseGFID("a47925d5-c6a3-4ab8-9a56-1ec7c33bf862")
	if err := unix.Setxattr(p, VolumeIDXattr, g[:], 0); err != nil {
		t.Fatalf("setxattr (needs root): %v", err)
	}
	for _, force := range []bool{true, false} {
		_, err := checkLocalBricks("h", &api.CheckBricksRequest{VolumeID: "5d1c0f5e-8f4e-4b8a-9a2d-6c3b2e1f0a99", Paths: []string{p}, Force: force})
		if err == nil || (force && !strings.Contains(err.Error(), "holds GlusterFS shards (.shard)")) {
			t.Errorf("force %v: %v", force, err)
		}
	}
}

// TestResolveBricksByName: a brick host that is neither a peer's address nor its name, but
// resolves to a peer's address, is that peer's (GlusterFS volumes name bricks by host names
// the Weft peers may not be probed by); a name that resolves to no peer is still refused.
func TestResolveBricksByName(t *testing.T) {
	if addrs, err := net.LookupHost("localhost"); err != nil || !slices.Contains(addrs, "127.0.0.1") {
		t.Fatalf("localhost resolves to %v, %v: this test needs it to resolve to 127.0.0.1", addrs, err)
	}
	st := &store.State{Peers: map[string]*store.Peer{"a": {ID: "a", Name: "node-a", Address: "127.0.0.1"}}, Volumes: map[string]*store.Volume{}}
	bs, err := resolveBricks(context.Background(), st, []string{"localhost:/b", "node-a:/c", "127.0.0.1:/d"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.PeerID != "a" {
			t.Fatalf("%s: peer %q, want a", b, b.PeerID)
		}
	}
	if bs[0].Host != "localhost" {
		t.Fatalf("the brick keeps the host it was given as: %q", bs[0].Host)
	}
	// remove-brick names a brick by another name of its peer than create did: still that brick.
	v := &store.Volume{Name: "v", Bricks: []store.Brick{{PeerID: "a", Host: "localhost", Path: "/b"}, {PeerID: "a", Host: "node-a", Path: "/c"}}}
	if got := asStored(v, bs); got[0].Host != "localhost" || got[1].Host != "node-a" || got[2].Host != "127.0.0.1" {
		t.Fatalf("as stored: %v", got)
	}
	for _, h := range []string{"no-such-host.invalid", "127.0.0.2"} {
		if _, err := resolveBricks(context.Background(), st, []string{h + ":/b"}); err == nil || !strings.Contains(err.Error(), "is not a peer of this cluster") {
			t.Errorf("%s: %v", h, err)
		}
	}
}
