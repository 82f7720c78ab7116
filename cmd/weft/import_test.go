package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/glusterd"
)

// runCLI runs the weft command line with args and returns what it printed and its error.
func runCLI(args ...string) (string, error) {
	resetFlags(rootCmd)
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(args)
	err := rootCmd.Execute()
	return out.String(), err
}

// resetFlags puts every flag of c and its subcommands back to its default: cobra keeps the
// values of one Execute for the next, and a repeatable flag would accumulate.
func resetFlags(c *cobra.Command) {
	reset := func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			_ = sv.Replace(nil)
		} else {
			_ = f.Value.Set(f.DefValue)
		}
		f.Changed = false
	}
	c.Flags().VisitAll(reset)
	c.PersistentFlags().VisitAll(reset)
	for _, s := range c.Commands() {
		resetFlags(s)
	}
}

// TestImportDryRun reads glusterd's own files (fixtures from a real GlusterFS 10) and prints
// the volume it would create: the bricks in order with their brick-ids — kept with their gaps
// after a GlusterFS remove-brick — hosts renamed, the options Weft has carried over and the
// others listed with the reason; nothing is sent to a daemon.
func TestImportDryRun(t *testing.T) {
	out, err := runCLI("volume", "import", "gfx", "--glusterd-dir", "../../membership/glusterd/testdata/after-remove-brick",
		"--host", "vm=127.0.0.1", "--dry-run", "--socket", "/nonexistent/weft.sock")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"GlusterFS volume gfx, id 5561f175-e5f4-41c6-97ec-806b7940345d, 2 x 2 = 4, started in GlusterFS",
		"  Brick1: 127.0.0.1:/tmp/gfx/b2 (gfx-client-2)\n",
		"  Brick4: 127.0.0.1:/tmp/gfx/b5 (gfx-client-5)\n",
		"Options carried over:\n  cluster.favorite-child-policy mtime\n  cluster.granular-entry-heal on\n  network.ping-timeout 17\n  storage.reserve 2\n",
		"  nfs.disable on: it switched off GlusterFS's own NFS server",
		"  auth.allow 127.0.0.1: it listed the volume's GlusterFS (FUSE) clients",
		"  performance.write-behind off: Weft has no such option\n",
		"dry run: nothing created\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// TestImportOptionReasons: features whose absence changes what clients may do are named with
// what it means when they were on, and plainly when off.
func TestImportOptionReasons(t *testing.T) {
	def := &glusterd.Volume{Name: "v", ID: "5561f175-e5f4-41c6-97ec-806b7940345d", Replica: 1,
		Bricks:  []glusterd.Brick{{Host: "h", Path: "/b", ID: "v-client-0"}},
		Options: map[string]string{"features.read-only": "on", "features.quota": "off", "auth.addr.allow": "10.0.0.*", "network.ping-timeout": "9"}}
	p, err := planImport(def, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(p.skipped, "\n")
	for _, want := range []string{
		"features.read-only on: Weft has no read-only translator: the volume is WRITABLE through Weft",
		"features.quota off: off in GlusterFS, and Weft has no such feature",
		"auth.addr.allow 10.0.0.*: it listed the volume's GlusterFS (FUSE) clients",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in:\n%s", want, got)
		}
	}
	if len(p.req.Options) != 1 || p.req.Options["network.ping-timeout"] != "9" {
		t.Errorf("carried %v", p.req.Options)
	}
}

func TestImportErrors(t *testing.T) {
	dir := "../../membership/glusterd/testdata/glusterd"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"gdisp", "--glusterd-dir", dir}, "dispersed (erasure-coded) volume"},
		{[]string{"nosuch", "--glusterd-dir", dir}, "not found under"},
		{[]string{"gfx", "--glusterd-dir", dir, "--host", "vm"}, `--host "vm": want OLD=NEW`},
		{[]string{"gfx", "--glusterd-dir", dir, "--host", "other=1.2.3.4"}, "no brick of gfx is on host other"},
		{[]string{"gfx", "--glusterd-dir", dir, "--socket", "/nonexistent/weft.sock"}, "weft.sock"},
	} {
		out, err := runCLI(append([]string{"volume", "import", "--dry-run=false"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q\n%s", tc.args, err, tc.want, out)
		}
	}
}

// TestCreateForceChecksGlusterdDefinition: `volume create NAME ... force` over a GlusterFS
// volume whose definition glusterd still has is refused when creating it by position would
// get it wrong (bricks out of GlusterFS's order, or brick-ids that are not positions after a
// GlusterFS remove-brick), pointing at `weft volume import`; when it matches, or without force,
// or without a definition of that name, the create goes ahead.
func TestCreateForceChecksGlusterdDefinition(t *testing.T) {
	const td = "../../membership/glusterd/testdata/"
	create := func(args ...string) *api.CreateRequest {
		req, err := parseCreateArgs(args)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	for _, tc := range []struct {
		dir  string
		req  *api.CreateRequest
		want string
	}{
		{td + "glusterd", create("gfx", "replica", "2", "h:/tmp/gfx/b0", "h:/tmp/gfx/b1", "h:/tmp/gfx/b2", "h:/tmp/gfx/b3", "force"), ""},
		{td + "glusterd", create("gfx", "replica", "2", "h:/tmp/gfx/b0", "h:/tmp/gfx/b2", "h:/tmp/gfx/b1", "h:/tmp/gfx/b3", "force"), "brick 2 is vm:/tmp/gfx/b1 in GlusterFS's definition"},
		{td + "glusterd", create("gfx", "h:/tmp/gfx/b0", "h:/tmp/gfx/b1", "h:/tmp/gfx/b2", "h:/tmp/gfx/b3", "force"), "has 4 bricks, replica 2"},
		{td + "glusterd", create("gfx", "replica", "2", "h:/tmp/gfx/b0", "h:/tmp/gfx/b2", "h:/tmp/gfx/b1", "h:/tmp/gfx/b3"), ""},
		{td + "after-remove-brick", create("gfx", "replica", "2", "h:/tmp/gfx/b2", "h:/tmp/gfx/b3", "h:/tmp/gfx/b4", "h:/tmp/gfx/b5", "force"), "has brick-id gfx-client-2 in GlusterFS's definition"},
		{td + "after-remove-brick", create("other", "h:/tmp/x", "force"), ""},
	} {
		err := checkAgainstGlusterd(tc.dir, tc.req)
		if (tc.want == "") != (err == nil) || (err != nil && (!strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "weft volume import"))) {
			t.Errorf("%s %v: %v, want %q", tc.dir, tc.req.Bricks, err, tc.want)
		}
	}
}
