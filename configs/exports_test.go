package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExportsValidate(t *testing.T) {
	u := uint32(1000)
	good := ExportsConfig{Exports: []Export{
		{Path: "/gv0", Clients: []ClientRule{{Match: "10.0.0.0/8"}, {Match: "*.example.com", Access: "ro"}, {Match: "::1"}, {Match: "*"}}},
		{Path: "/gv0/sub", Squash: SquashAll, AnonUID: &u, Clients: []ClientRule{{Match: "host1"}}, NFSVersions: []int{3}},
	}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if good.Exports[1].Volume != "gv0" {
		t.Fatalf("volume default %q", good.Exports[1].Volume)
	}
	o := good.Exports[1].Options(nil)
	if o.Squash != SquashAll || o.AnonUID != 1000 || o.AnonGID != DefaultAnonID || !o.Secure || o.ReadOnly {
		t.Fatalf("options %+v", o)
	}
	if !good.Exports[0].Options(&good.Exports[0].Clients[1]).ReadOnly {
		t.Fatal("client override of access ignored")
	}
	if good.Exports[1].AllowsVersion(4) || !good.Exports[0].AllowsVersion(4) {
		t.Fatal("AllowsVersion")
	}

	bad := []struct {
		e    Export
		want string
	}{
		{Export{Path: "gv0", Clients: []ClientRule{{Match: "*"}}}, "must be absolute"},
		{Export{Path: "/", Clients: []ClientRule{{Match: "*"}}}, "not a clean"},
		{Export{Path: "/gv0/../x", Clients: []ClientRule{{Match: "*"}}}, "not a clean"},
		{Export{Path: "/gv0", Volume: "gv1", Clients: []ClientRule{{Match: "*"}}}, "does not match"},
		{Export{Path: "/gv0", Access: "rwx", Clients: []ClientRule{{Match: "*"}}}, `access "rwx"`},
		{Export{Path: "/gv0", Squash: "squash_all", Clients: []ClientRule{{Match: "*"}}}, `squash "squash_all"`},
		{Export{Path: "/gv0"}, "clients: none listed"},
		{Export{Path: "/gv0", Clients: []ClientRule{{Match: "10.0.0.0/33"}}}, "bad CIDR"},
		{Export{Path: "/gv0", Clients: []ClientRule{{Match: "bad host!"}}}, "not allowed"},
		{Export{Path: "/gv0", Clients: []ClientRule{{Match: ""}}}, "match is empty"},
		{Export{Path: "/gv0", NFSVersions: []int{2}, Clients: []ClientRule{{Match: "*"}}}, "nfs_versions"},
	}
	for _, b := range bad {
		c := ExportsConfig{Exports: []Export{b.e}}
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: err %v, want %q", b.e, err, b.want)
		}
	}
	dup := ExportsConfig{Exports: []Export{{Path: "/a", Clients: []ClientRule{{Match: "*"}}}, {Path: "/a", Clients: []ClientRule{{Match: "*"}}}}}
	if err := dup.Validate(); err == nil || !strings.Contains(err.Error(), "exported twice") {
		t.Fatalf("dup: %v", err)
	}
	if err := (&ExportsConfig{}).Validate(); err == nil {
		t.Fatal("empty table accepted")
	}
}

func TestLoadExports(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "exports.yaml")
	if err := os.WriteFile(f, []byte(`exports:
  - path: /gv0
    squash: no_root_squash
    secure: false
    clients:
      - match: 127.0.0.1
      - match: "*.example.com"
        access: ro
        anonuid: 99
`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadExports(f)
	if err != nil {
		t.Fatal(err)
	}
	e := c.Exports[0]
	if e.Volume != "gv0" || e.Squash != SquashNoRoot || len(e.Clients) != 2 || *e.Clients[1].AnonUID != 99 {
		t.Fatalf("%+v", e)
	}
	if e.Options(nil).Secure {
		t.Fatal("secure: false ignored")
	}
	if err := os.WriteFile(f, []byte("exports:\n  - path: /gv0\n    typo: 1\n    clients: [{match: '*'}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadExports(f); err == nil || !strings.Contains(err.Error(), "typo") {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := LoadExports(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
}
