package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
