package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/membership/volgen"
)

// The generated export table loads in the gateway's loader with GlusterFS's gNFS defaults and
// follows the volume options.
func TestExportsFromVolumeOptions(t *testing.T) {
	load := func(opts map[string]string) configs.ClientOptions {
		t.Helper()
		v := &volgen.Volume{Name: "gv0", Options: opts}
		f := filepath.Join(t.TempDir(), "exports.json")
		if err := os.WriteFile(f, []byte(exportsJSON(volgen.Exports(v))), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := configs.LoadExports(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Exports) != 1 || c.Exports[0].Path != "/gv0" || c.Exports[0].Volume != "gv0" {
			t.Fatalf("exports %+v", c.Exports)
		}
		return c.Exports[0].Options(&c.Exports[0].Clients[0])
	}
	def := load(nil)
	if def.Squash != configs.SquashNoRoot || !def.Secure || def.ReadOnly || def.AnonUID != 65534 {
		t.Fatalf("defaults: %+v (want no_root_squash, secure, rw)", def)
	}
	o := load(map[string]string{"server.root-squash": "on", "server.anonuid": "1000", "server.anongid": "1001", "nfs.ports-insecure": "on"})
	if o.Squash != configs.SquashRoot || o.Secure || o.AnonUID != 1000 || o.AnonGID != 1001 {
		t.Fatalf("root-squash on: %+v", o)
	}
	if o := load(map[string]string{"server.all-squash": "yes", "server.root-squash": "on"}); o.Squash != configs.SquashAll {
		t.Fatalf("all-squash: %+v", o)
	}
	v := &volgen.Volume{Name: "gv0", Options: map[string]string{"nfs.rpc-auth-allow": "10.0.0.0/8, host1.example.com"}}
	e := volgen.Exports(v).Exports[0]
	if len(e.Clients) != 2 || e.Clients[0].Match != "10.0.0.0/8" || e.Clients[1].Match != "host1.example.com" {
		t.Fatalf("allow list: %+v", e.Clients)
	}
}

func TestDaemonOptionChecks(t *testing.T) {
	v := &volgen.Volume{Name: "gv0", Bricks: []volgen.Brick{{Host: "h", Path: "/b", Port: 1}}}
	for k, val := range map[string]string{"server.root-squash": "on", "server.anonuid": "0", "nfs.rpc-auth-allow": "all",
		"nfs.ports-insecure": "off", "nfs.disable": "true", "nfs.rpc-auth-reject": "none"} {
		if err := volgen.CheckOption(v, k, val, volgen.Params{}); err != nil {
			t.Errorf("%s %s: %v", k, val, err)
		}
	}
	for k, val := range map[string]string{"server.root-squash": "maybe", "server.anonuid": "-1", "nfs.rpc-auth-allow": "bad/cidr",
		"nfs.disable": "2", "nfs.rpc-auth-reject": "10.0.0.1"} {
		if err := volgen.CheckOption(v, k, val, volgen.Params{}); err == nil {
			t.Errorf("%s %s accepted", k, val)
		}
	}
	// Daemon options never reach a volfile.
	v.Options = map[string]string{"nfs.disable": "on", "server.root-squash": "on"}
	if _, err := volgen.ClientVolfile(v, volgen.Params{}); err != nil {
		t.Fatal(err)
	}
	if _, err := volgen.BrickVolfile(v, 0, volgen.Params{}); err != nil {
		t.Fatal(err)
	}
	if !volgen.NFSDisabled(v) {
		t.Fatal("nfs.disable on not seen")
	}
}
