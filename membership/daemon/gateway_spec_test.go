package daemon

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/gateway/server"
	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/store"
	"github.com/weftfs/weft/membership/volgen"
)

// The gateway spec serves every started volume with nfs.disable off through one manifest that
// `weft gateway --volumes` loads (each volume's volfile and exports as generated); its command
// line stays the same when volumes are started, stopped or changed, so that the supervisor
// reloads it (SIGHUP) instead of restarting it.
func TestGatewaySpecManifest(t *testing.T) {
	dir := t.TempDir()
	d := &Daemon{cfg: configs.Daemon{StateDir: dir, Advertise: "127.0.0.1", NFSPort: 2049, MountPort: 20048, PortmapPort: 111}}
	vol := func(name string, opts map[string]string) *store.Volume {
		return &store.Volume{Name: name, ID: name + "-id", Status: "started", Replica: 1, Options: opts,
			Bricks: []store.Brick{{Host: "127.0.0.1", Path: "/b/" + name + "0", Port: 49152}, {Host: "127.0.0.1", Path: "/b/" + name + "1", Port: 49153}}}
	}
	st := &store.State{Volumes: map[string]*store.Volume{
		"alpha": vol("alpha", nil),
		"beta":  vol("beta", map[string]string{"server.root-squash": "on"}),
		"gamma": vol("gamma", map[string]string{"nfs.disable": "on"}),
	}}
	p := volgen.Params{Secret: "0123456789abcdef0123"}
	one, ok, err := d.gatewaySpec(st, []string{"alpha"}, p)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	sp, ok, err := d.gatewaySpec(st, []string{"alpha", "beta", "gamma"}, p)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if !reflect.DeepEqual(one.args, sp.args) {
		t.Fatalf("the command line depends on the volumes:\n%q\n%q", one.args, sp.args)
	}
	if one.volfile == sp.volfile || len(sp.files) != 2 {
		t.Fatalf("the manifest did not change with the volumes, or files %v", sp.files)
	}
	// The volume status of each served volume lists the gateway.
	ps := api.ProcessStatus{Kind: "gateway", Volume: sp.volume, Volumes: sp.volumes}
	if !ps.Serves("alpha") || !ps.Serves("beta") || ps.Serves("gamma") {
		t.Fatalf("gateway status %+v: want alpha and beta, not gamma", ps)
	}
	if _, ok, _ := d.gatewaySpec(st, []string{"gamma"}, p); ok {
		t.Fatal("a gateway for a volume with nfs.disable")
	}
	// What the supervisor writes loads in the gateway.
	if err := writeFiles(sp); err != nil {
		t.Fatal(err)
	}
	manifest := ""
	for i, a := range sp.args {
		if a == "--volumes" {
			manifest = sp.args[i+1]
		}
	}
	if manifest != sp.volfilePath {
		t.Fatalf("--volumes %q, manifest written to %q", manifest, sp.volfilePath)
	}
	specs, err := server.LoadManifest(manifest)
	if err != nil {
		b, _ := os.ReadFile(manifest)
		t.Fatalf("%v\n%s", err, b)
	}
	if len(specs) != 2 || specs[0].Name != "alpha" || specs[1].Name != "beta" {
		t.Fatalf("manifest volumes %+v", specs)
	}
	for _, s := range specs {
		if s.Volfile.Top() == nil || len(s.Exports) != 1 || s.Exports[0].Path != "/"+s.Name {
			t.Fatalf("volume %s: volfile %v exports %+v", s.Name, s.Volfile.Top(), s.Exports)
		}
	}
	if o := specs[1].Exports[0].Options(&specs[1].Exports[0].Clients[0]); o.Squash != configs.SquashRoot {
		t.Fatalf("beta's server.root-squash not in its export: %+v", o)
	}
	if filepath.Dir(sp.volfilePath) != filepath.Join(dir, "gateway") {
		t.Fatalf("manifest at %s", sp.volfilePath)
	}
}

// A remove-brick layout rewrite changes the volume's generation in the gateway manifest and
// nothing that restarts the gateway: the supervisor reloads it (SIGHUP) and the gateway builds
// the volume a new graph live. What the gateway reports having applied is read back for the
// running pid only.
func TestGatewaySpecRemoveBrickGeneration(t *testing.T) {
	dir := t.TempDir()
	d := &Daemon{cfg: configs.Daemon{StateDir: dir, Advertise: "127.0.0.1", NFSPort: 2049, MountPort: 20048, PortmapPort: 111}}
	v := &store.Volume{Name: "dv", ID: "dv-id", Status: "started", Replica: 1,
		Bricks: []store.Brick{{Host: "127.0.0.1", Path: "/b/0", Port: 49152}, {Host: "127.0.0.1", Path: "/b/1", Port: 49153}}}
	st := &store.State{Volumes: map[string]*store.Volume{"dv": v}}
	p := volgen.Params{Secret: "0123456789abcdef0123"}
	before, _, err := d.gatewaySpec(st, []string{"dv"}, p)
	if err != nil {
		t.Fatal(err)
	}
	v.RemoveBrick = &store.RemoveBrick{Bricks: []string{"127.0.0.1:/b/1"}, LayoutEpoch: 2}
	after, _, err := d.gatewaySpec(st, []string{"dv"}, p)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]spec{"before": before, "after": after}
	finishSpecs(m)
	before, after = m["before"], m["after"]
	if before.argsKey != after.argsKey || before.contentKey == after.contentKey || !after.reload {
		t.Fatalf("a layout rewrite must reload the gateway, not restart it: args %q → %q, content changed %v, reload %v",
			before.argsKey, after.argsKey, before.contentKey != after.contentKey, after.reload)
	}
	if err := writeFiles(after); err != nil {
		t.Fatal(err)
	}
	loaded, err := server.LoadManifest(after.volfilePath)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0].Generation != "remove-brick layout 2" || loaded[0].Generation != gatewayGeneration(v) {
		t.Fatalf("manifest generation %+v, want %q", loaded, gatewayGeneration(v))
	}

	// The gateway's report, as `weft gateway` writes it, where the spec says.
	if after.appliedPath != filepath.Join(dir, "gateway", server.AppliedFile) {
		t.Fatalf("applied report at %s", after.appliedPath)
	}
	if got := readApplied(after.appliedPath, 4242); got != nil {
		t.Fatalf("no report yet, read %v", got)
	}
	if err := server.WriteApplied(after.appliedPath, server.Applied{Pid: 4242, Generations: map[string]string{"dv": "remove-brick layout 2"}}); err != nil {
		t.Fatal(err)
	}
	if got := readApplied(after.appliedPath, 4242); !reflect.DeepEqual(got, map[string]string{"dv": "remove-brick layout 2"}) {
		t.Fatalf("report read back as %v", got)
	}
	if got := readApplied(after.appliedPath, 4343); got != nil {
		t.Fatalf("a report by another pid (the gateway before a restart) was taken: %v", got)
	}
}
