package glusterd

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The fixtures under testdata are glusterd's own files (GlusterFS 10, Debian), copied from
// /var/lib/glusterd after `gluster volume create/set/add-brick/remove-brick`; only the
// internal username and password were zeroed.

func TestReadDistributedReplicate(t *testing.T) {
	v, err := ReadVolume("testdata/glusterd", "gfx")
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != "5561f175-e5f4-41c6-97ec-806b7940345d" || !v.Started || v.Replica != 2 || v.Arbiter != 0 {
		t.Fatalf("volume %+v", v)
	}
	var got []string
	for _, b := range v.Bricks {
		got = append(got, b.Spec()+"="+b.ID)
	}
	want := []string{"vm:/tmp/gfx/b0=gfx-client-0", "vm:/tmp/gfx/b1=gfx-client-1", "vm:/tmp/gfx/b2=gfx-client-2", "vm:/tmp/gfx/b3=gfx-client-3"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("bricks %v, want %v", got, want)
	}
	wantOpts := map[string]string{
		"storage.reserve": "2", "auth.allow": "127.0.0.1", "performance.write-behind": "off",
		"cluster.favorite-child-policy": "mtime", "network.ping-timeout": "17",
		"cluster.granular-entry-heal": "on", "storage.fips-mode-rchecksum": "on",
		"transport.address-family": "inet", "nfs.disable": "on", "performance.client-io-threads": "off",
	}
	if !reflect.DeepEqual(v.Options, wantOpts) {
		t.Fatalf("options %v, want %v", v.Options, wantOpts)
	}
	if k := v.OptionKeys(); k[0] != "auth.allow" || len(k) != len(wantOpts) {
		t.Fatalf("option keys %v", k)
	}
}

// After add-brick and remove-brick of the first replica set, glusterd keeps the bricks'
// brick-ids (2..5): they must come back as they are, not renumbered by position.
func TestReadKeepsBrickIDsAfterRemoveBrick(t *testing.T) {
	v, err := ReadVolume("testdata/after-remove-brick", "gfx")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range v.Bricks {
		got = append(got, b.Path+"="+b.ID)
	}
	want := []string{"/tmp/gfx/b2=gfx-client-2", "/tmp/gfx/b3=gfx-client-3", "/tmp/gfx/b4=gfx-client-4", "/tmp/gfx/b5=gfx-client-5"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("bricks %v, want %v", got, want)
	}
}

func TestReadArbiter(t *testing.T) {
	v, err := ReadVolume("testdata/glusterd", "garb")
	if err != nil {
		t.Fatal(err)
	}
	if v.Replica != 3 || v.Arbiter != 1 || len(v.Bricks) != 3 || v.Started {
		t.Fatalf("volume %+v", v)
	}
}

func TestReadRefusals(t *testing.T) {
	for _, tc := range []struct{ dir, name, want string }{
		{"testdata/glusterd", "gdisp", "dispersed (erasure-coded) volume"},
		{"testdata/decommissioned", "gfx", "is being removed"},
		{"testdata/glusterd", "nosuch", "not found under testdata/glusterd (it defines: garb, gdisp, gfx)"},
		{"testdata/glusterd", "../glusterd/vols/gfx", "not a GlusterFS volume name"},
		{"testdata/none", "gfx", "no volume is defined there"},
	} {
		_, err := ReadVolume(tc.dir, tc.name)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v, want %q", tc.dir, tc.name, err, tc.want)
		}
	}
}

// TestReadBrokenStores: a store that contradicts itself or points outside the volume is an
// error naming the problem, never a volume with the wrong bricks.
func TestReadBrokenStores(t *testing.T) {
	info, err := os.ReadFile("testdata/glusterd/vols/gfx/info")
	if err != nil {
		t.Fatal(err)
	}
	brick, err := os.ReadFile("testdata/glusterd/vols/gfx/bricks/vm:-tmp-gfx-b1")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(s, from, to string) string {
		if !strings.Contains(s, from) {
			t.Fatalf("fixture has no %q", from)
		}
		return strings.Replace(s, from, to, 1)
	}
	for _, tc := range []struct {
		name, info, brick1, want string
	}{
		{"count", edit(string(info), "count=4", "count=5"), "", "not a multiple of replica_count=2"},
		{"missing brick key", edit(string(info), "brick-3=vm:-tmp-gfx-b3\n", ""), "", "no brick-3"},
		{"extra brick key", edit(string(info), "brick-3=", "brick-7="), "", "brick-7, but count=4"},
		{"escaping brick file", edit(string(info), "brick-1=vm:-tmp-gfx-b1", "brick-1=../../gdisp/info"), "", "not a brick file"},
		{"no volume id", edit(string(info), "volume-id=", "volume-idx="), "", "no volume-id"},
		{"bad volume id", edit(string(info), "volume-id=5561f175", "volume-id=zz61f175"), "", "is not a UUID"},
		{"not key=value", string(info) + "garbage\n", "", `line 34: "garbage" is not key=value`},
		{"arbiter with replica 2", edit(string(info), "replica_count=2", "replica_count=2\narbiter_count=1"), "", "replica 3 arbiter 1 only"},
		{"thin arbiter", edit(string(info), "disperse_count=0", "thin_arbiter_count=1"), "", "thin-arbiter volume"},
		{"stripe", edit(string(info), "disperse_count=0", "stripe_count=2"), "", "striped volume"},
		{"sharded", edit(string(info), "nfs.disable=on", "features.shard=on"), "", "a sharded volume (features.shard=on"},
		{"sharded (enable)", edit(string(info), "nfs.disable=on", "features.shard=enable"), "", "a sharded volume"},
		{"bad brick id", "", edit(string(brick), "brick-id=gfx-client-1", "brick-id=other-client-1"), `brick-id "other-client-1" is not gfx-client-N`},
		{"same brick id twice", "", edit(string(brick), "brick-id=gfx-client-1", "brick-id=gfx-client-0"), "both have brick-id gfx-client-0"},
		{"relative path", "", edit(string(brick), "path=/tmp/gfx/b1", "path=tmp/gfx/b1"), "not a clean absolute path"},
		{"no hostname", "", edit(string(brick), "hostname=vm", "hostname="), "is not a host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			vdir := filepath.Join(dir, "vols", "gfx")
			if err := os.CopyFS(vdir, os.DirFS("testdata/glusterd/vols/gfx")); err != nil {
				t.Fatal(err)
			}
			if tc.info != "" {
				if err := os.WriteFile(filepath.Join(vdir, "info"), []byte(tc.info), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tc.brick1 != "" {
				if err := os.WriteFile(filepath.Join(vdir, "bricks", "vm:-tmp-gfx-b1"), []byte(tc.brick1), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			v, err := ReadVolume(dir, "gfx")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %+v, %v; want an error with %q", v, err, tc.want)
			}
		})
	}
}

// FuzzParseStore: any bytes in a store file give key=value pairs or an error, and parseInfo
// over them gives a consistent volume or an error — never a panic.
func FuzzParseStore(f *testing.F) {
	for _, p := range []string{"testdata/glusterd/vols/gfx/info", "testdata/glusterd/vols/garb/info", "testdata/glusterd/vols/gfx/bricks/vm:-tmp-gfx-b0"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStore(b)
		if err != nil {
			return
		}
		v, bricks, err := parseInfo("gfx", s)
		if err == nil {
			if len(bricks) == 0 || len(bricks)%v.Replica != 0 || (v.Arbiter != 0 && v.Replica != 3) {
				t.Fatalf("inconsistent volume from %q: %+v %v", b, v, bricks)
			}
			for i, bf := range bricks {
				if bf == "" {
					t.Fatalf("brick %d has no file", i)
				}
			}
		}
		_, _ = parseBrick("gfx", 0, s)
	})
}
