package daemon

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/membership/api"
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
	// nfs.rpc-auth-reject: the table the gateway loads lets in the allowed minus the rejected.
	{
		v := &volgen.Volume{Name: "gv0", Options: map[string]string{"nfs.rpc-auth-allow": "10.0.0.0/8", "nfs.rpc-auth-reject": "10.0.0.7"}}
		f := filepath.Join(t.TempDir(), "exports.json")
		if err := os.WriteFile(f, []byte(exportsJSON(volgen.Exports(v))), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := configs.LoadExports(f)
		if err != nil {
			t.Fatal(err)
		}
		var in, out int
		for _, a := range []string{"10.0.0.6", "10.0.0.8", "10.200.0.7"} {
			for _, r := range c.Exports[0].Clients {
				if netip.MustParsePrefix(r.Match).Contains(netip.MustParseAddr(a)) {
					in++
					break
				}
			}
		}
		for _, r := range c.Exports[0].Clients {
			if netip.MustParsePrefix(r.Match).Contains(netip.MustParseAddr("10.0.0.7")) || netip.MustParsePrefix(r.Match).Contains(netip.MustParseAddr("11.0.0.1")) {
				out++
			}
		}
		if in != 3 || out != 0 {
			t.Fatalf("reject 10.0.0.7 from 10.0.0.0/8: %d of 3 allowed addresses in, %d refused ones in; clients %+v", in, out, c.Exports[0].Clients)
		}
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
		"nfs.disable": "2", "nfs.rpc-auth-reject": "host.example.com"} {
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

// volume set checks nfs.rpc-auth-allow and nfs.rpc-auth-reject together, including both in one
// request.
func TestSetRejectWithAllow(t *testing.T) {
	a := newNode(t, "a")
	a.start(t)
	bs := mkBricks(t, 1)
	if _, err := a.post("/v1/volumes/create", &api.CreateRequest{Name: "v", Bricks: []string{"127.0.0.1:" + bs[0]}}); err != nil {
		t.Fatal(err)
	}
	set := func(kv ...string) error {
		req := &api.SetRequest{Name: "v", Options: map[string]string{}}
		for i := 0; i < len(kv); i += 2 {
			req.Options[kv[i]] = kv[i+1]
		}
		_, err := a.post("/v1/volumes/set", req)
		return err
	}
	if err := set("nfs.rpc-auth-allow", "host1.example.com", "nfs.rpc-auth-reject", "10.0.0.1"); err == nil || !strings.Contains(err.Error(), "addresses, CIDRs or all") {
		t.Fatalf("host allow + reject in one set: %v", err)
	}
	if err := set("nfs.rpc-auth-reject", "10.0.0.0/8"); err != nil {
		t.Fatal(err)
	}
	if err := set("nfs.rpc-auth-allow", "10.1.0.0/16"); err == nil || !strings.Contains(err.Error(), "nfs.disable") {
		t.Fatalf("allow inside the rejected range: %v", err)
	}
	if got := a.volumes(t)["v"].Options; got["nfs.rpc-auth-reject"] != "10.0.0.0/8" || got["nfs.rpc-auth-allow"] != "" {
		t.Fatalf("options %v", got)
	}
}
