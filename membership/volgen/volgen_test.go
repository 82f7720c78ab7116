package volgen

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/volfile"
	_ "github.com/weftfs/weft/graph/xlators/all"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fakes stand in for translator types not registered in this binary (yet): their option specs
// as GlusterFS declares them, enough to place options. Registered types always win.
var fakes = map[string]*graph.Registration{
	TypeReplicate: {Type: TypeReplicate, Options: []graph.OptionSpec{
		{Key: "afr-pending-xattr", Type: graph.OptString},
		{Key: "arbiter-count", Type: graph.OptInt},
		{Key: "data-self-heal", Type: graph.OptBool, Default: "on"},
	}},
	TypeDistribute: {Type: TypeDistribute, Options: []graph.OptionSpec{
		{Key: "min-free-disk", Type: graph.OptPercent, Default: "10"},
	}},
	"performance/write-behind": {Type: "performance/write-behind", Options: []graph.OptionSpec{
		{Key: "window-size", Aliases: []string{"performance.write-behind-window-size"}, Type: graph.OptSize, Min: 512 << 10, Max: 1 << 30},
		{Key: "flush-behind", Type: graph.OptBool, Default: "on"},
	}},
	"performance/io-cache": {Type: "performance/io-cache", Options: []graph.OptionSpec{
		{Key: "cache-size", Type: graph.OptSize, Default: "32MB", Min: 4 << 20, Max: 32 << 30},
	}},
}

func testParams() Params {
	return Params{
		Secret: "SECRET",
		Lookup: func(t string) (*graph.Registration, bool) {
			if r, ok := graph.LookupType(t); ok {
				return r, true
			}
			r, ok := fakes[t]
			return r, ok
		},
		Types: func() []string {
			ts := graph.Types()
			for t := range fakes {
				if _, ok := graph.LookupType(t); !ok {
					ts = append(ts, t)
				}
			}
			sort.Strings(ts)
			return ts
		},
	}
}

func mkVolume(name string, replica, arbiter, n int, opts map[string]string) *Volume {
	v := &Volume{Name: name, ID: "6f1c2d9e-0000-4000-8000-" + fmt.Sprintf("%012d", n), Replica: replica, Arbiter: arbiter, Options: opts}
	for i := 0; i < n; i++ {
		v.Bricks = append(v.Bricks, Brick{Host: fmt.Sprintf("10.0.0.%d", i%3+1), Path: fmt.Sprintf("/bricks/%s/b%d", name, i), Port: 49152 + i/3})
	}
	return v
}

func TestGolden(t *testing.T) {
	cases := []struct {
		file string
		vol  *Volume
	}{
		{"distribute.vol", mkVolume("dist", 1, 0, 3, nil)},
		{"replicate3.vol", mkVolume("rep", 3, 0, 3, nil)},
		{"dist-rep-2x2.vol", mkVolume("dr", 2, 0, 4, nil)},
		{"arbiter.vol", mkVolume("arb", 3, 1, 6, nil)},
		{"performance.vol", mkVolume("perf", 2, 0, 4, map[string]string{
			"performance.write-behind":             "on",
			"performance.io-cache":                 "on",
			"performance.read-ahead":               "off", // not registered: not a switch; see TestOptions
			"performance.cache-size":               "64MB",
			"performance.write-behind-window-size": "4MB",
			"diagnostics.latency-measurement":      "off",
			"network.ping-timeout":                 "10",
			"cluster.min-free-disk":                "5%",
			"storage.reserve":                      "2",
			"features.revocation-secs":             "30",
		})},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			p := testParams()
			if _, ok := perfToggle("performance.read-ahead", &p); !ok {
				delete(tc.vol.Options, "performance.read-ahead")
			}
			for k, val := range tc.vol.Options {
				if err := CheckOption(tc.vol, k, val, p); err != nil {
					t.Fatalf("CheckOption: %v", err)
				}
			}
			var b strings.Builder
			cv, err := ClientVolfile(tc.vol, p)
			if err != nil {
				t.Fatal(err)
			}
			txt, err := Text(cv)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "# client volfile of %s\n%s", tc.vol.Name, txt)
			for i, br := range tc.vol.Bricks {
				bv, err := BrickVolfile(tc.vol, i, p)
				if err != nil {
					t.Fatal(err)
				}
				txt, err := Text(bv)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "\n# brick %d %s:%s\n%s", i, br.Host, br.Path, txt)
				// The text reads back to the same graph.
				back, err := volfile.ParseString(txt)
				if err != nil || !volfile.Equal(back, bv) {
					t.Fatalf("brick volfile does not read back: %v", err)
				}
				// Brick graphs use only registered types: they must build.
				if _, err := graph.Build(back, nil); err != nil {
					t.Fatalf("brick %d volfile does not build: %v", i, err)
				}
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != string(want) {
				t.Fatalf("%s differs from the golden file (run with -update after checking):\n%s", tc.file, b.String())
			}
		})
	}
}

func TestClientStructure(t *testing.T) {
	v := mkVolume("v", 2, 0, 4, nil)
	vf, err := ClientVolfile(v, testParams())
	if err != nil {
		t.Fatal(err)
	}
	if top := vf.Top(); top.Name != "v" || top.Type != TypeIOStats || top.Subvolumes[0] != "v-dht" {
		t.Fatalf("top %+v", top)
	}
	if r := vf.Lookup("v-replicate-1"); r == nil || r.Options["afr-pending-xattr"] != "v-client-2,v-client-3" || strings.Join(r.Subvolumes, " ") != "v-client-2 v-client-3" {
		t.Fatalf("replicate-1 %+v", r)
	}
	if c := vf.Lookup("v-client-3"); c.Options["remote-subvolume"] != "/bricks/v/b3" || c.Options["remote-port"] != "49153" || c.Options["remote-host"] != "10.0.0.1" {
		t.Fatalf("client-3 %+v", c.Options)
	}
	// Deterministic: the same definition prints the same bytes.
	a, _ := Text(vf)
	vf2, _ := ClientVolfile(v, testParams())
	b, _ := Text(vf2)
	if a != b {
		t.Fatal("client volfile is not deterministic")
	}
}

// TestClientNamesFromBrickIDs: bricks that carry IDs (kept across remove-brick, or a GlusterFS
// volume's brick-ids with gaps) are named by them, in the clients and in afr-pending-xattr,
// which is what their replicas' changelog xattrs are named by.
func TestClientNamesFromBrickIDs(t *testing.T) {
	v := mkVolume("v", 2, 0, 4, nil)
	for i, id := range []string{"v-client-2", "v-client-3", "v-client-6", "v-client-7"} {
		v.Bricks[i].ID = id
	}
	vf, err := ClientVolfile(v, testParams())
	if err != nil {
		t.Fatal(err)
	}
	if r := vf.Lookup("v-replicate-0"); r == nil || r.Options["afr-pending-xattr"] != "v-client-2,v-client-3" || strings.Join(r.Subvolumes, " ") != "v-client-2 v-client-3" {
		t.Fatalf("replicate-0 %+v", r)
	}
	if r := vf.Lookup("v-replicate-1"); r == nil || r.Options["afr-pending-xattr"] != "v-client-6,v-client-7" {
		t.Fatalf("replicate-1 %+v", r)
	}
	if c := vf.Lookup("v-client-6"); c == nil || c.Options["remote-subvolume"] != "/bricks/v/b2" {
		t.Fatalf("client-6 %+v", c)
	}
	if vf.Lookup("v-client-0") != nil {
		t.Fatal("a positional client name next to the bricks' own")
	}
}

func TestOptions(t *testing.T) {
	p := testParams()
	dist := mkVolume("d", 1, 0, 2, nil)
	rep := mkVolume("r", 3, 0, 3, nil)
	for _, tc := range []struct {
		v          *Volume
		key, value string
		want       string // "" ok; else substring of the error
	}{
		{dist, "network.ping-timeout", "5", ""},
		{dist, "ping-timeout", "5", ""},
		{dist, "network.ping-timeout", "forever", "not a duration"},
		{dist, "storage.reserve", "200", "percentage"},
		{dist, "posix.health-check-interval", "10", ""},
		{dist, "features.mandatory-locking", "file", ""},
		{dist, "diagnostics.count-fop-hits", "maybe", "boolean"},
		{dist, "cluster.no-such-thing", "1", "no such volume option"},
		{dist, "nonsense", "1", "no such volume option"},
		{dist, "cluster.data-self-heal", "on", "no such volume option"}, // replicate option on a distribute volume
		{rep, "cluster.data-self-heal", "off", ""},
		{rep, "cluster.afr-pending-xattr", "x", "managed by the daemon"},
		{dist, "storage.directory", "/x", "managed by the daemon"},
		{dist, "server.listen", "0.0.0.0:1", "managed by the daemon"},
		{dist, "performance.write-behind", "on", ""},
		{dist, "performance.write-behind", "sometimes", "boolean"},
		{dist, "performance.cache-size", "1KB", "out of range"},
	} {
		err := CheckOption(tc.v, tc.key, tc.value, p)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s=%s: %v", tc.key, tc.value, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s=%s: err %v, want %q", tc.key, tc.value, err, tc.want)
		}
	}
	if err := CheckOption(dist, "nonsense", "1", p); !errors.Is(err, ErrNoSuchOption) {
		t.Fatalf("not ErrNoSuchOption: %v", err)
	}
	// Bad definitions are errors, not panics.
	if _, err := ClientVolfile(&Volume{Name: "x"}, p); err == nil {
		t.Fatal("volume without bricks: no error")
	}
	if _, err := ClientVolfile(&Volume{Name: "x", Replica: 2, Bricks: []Brick{{Host: "h", Path: "/p", Port: 1}}}, p); err == nil {
		t.Fatal("bad replica: no error")
	}
	if _, err := BrickVolfile(dist, 7, p); err == nil {
		t.Fatal("brick out of range: no error")
	}
}

func TestTopologyIgnoresOptionsButNotShapeOrListen(t *testing.T) {
	v := &Volume{Name: "tv", ID: "00000000-0000-0000-0000-000000000001", Bricks: []Brick{{Host: "127.0.0.1", Path: "/b1", Port: 49152}}}
	brick := func(v *Volume) string {
		t.Helper()
		vf, err := BrickVolfile(v, 0, Params{Secret: "s"})
		if err != nil {
			t.Fatal(err)
		}
		return Topology(vf)
	}
	base := brick(v)
	v.Options = map[string]string{"diagnostics.latency-measurement": "off", "features.revocation-secs": "5"}
	if got := brick(v); got != base {
		t.Fatalf("an option change changed the topology:\n%s\n%s", base, got)
	}
	v.Bricks[0].Port = 49153
	if got := brick(v); got == base {
		t.Fatal("a new listen port kept the topology")
	}
	v.Bricks[0].Port = 49152
	v.Replica, v.Bricks = 2, append(v.Bricks, Brick{Host: "127.0.0.2", Path: "/b2", Port: 49152})
	if got := brick(v); got == base {
		t.Fatal("replicate (features/index added) kept the topology")
	}
}
