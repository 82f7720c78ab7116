package export

import (
	"context"
	"net/netip"
	"testing"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/graph"
)

type fakeRes struct {
	ptr map[string][]string
	a   map[string][]netip.Addr
}

func (f *fakeRes) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return f.ptr[addr], nil
}
func (f *fakeRes) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	return append([]netip.Addr(nil), f.a[host]...), nil
}

func TestCheck(t *testing.T) {
	res := &fakeRes{
		ptr: map[string][]string{"192.0.2.7": {"web7.example.com."}, "192.0.2.8": {"liar.example.com."}},
		a: map[string][]netip.Addr{
			"web7.example.com":  {netip.MustParseAddr("192.0.2.7")},
			"liar.example.com":  {netip.MustParseAddr("198.51.100.1")}, // PTR not confirmed
			"admin.example.org": {netip.MustParseAddr("203.0.113.5")},
		},
	}
	ro := "ro"
	cfg := &configs.ExportsConfig{Exports: []configs.Export{{
		Path: "/gv0/sub",
		Clients: []configs.ClientRule{
			{Match: "10.0.0.0/8"},
			{Match: "::1", Squash: configs.SquashNoRoot},
			{Match: "*.example.com", Access: ro},
			{Match: "admin.example.org", Squash: configs.SquashAll},
		},
	}}}
	tab, err := NewTable(cfg, res)
	if err != nil {
		t.Fatal(err)
	}
	e := tab.ByPath("/gv0/sub/")
	if e == nil || e.Volume != "gv0" || e.Sub != "/sub" || tab.ByID(e.ID) != e || tab.ByPath("/gv0") != nil {
		t.Fatalf("lookup by path/id: %+v", e)
	}
	ctx := context.Background()
	cases := []struct {
		addr   string
		ok     bool
		ro     bool
		squash string
	}{
		{"10.1.2.3", true, false, configs.SquashRoot},
		{"::ffff:10.1.2.3", true, false, configs.SquashRoot},
		{"11.1.2.3", false, false, ""},
		{"::1", true, false, configs.SquashNoRoot},
		{"192.0.2.7", true, true, configs.SquashRoot},
		{"192.0.2.8", false, false, ""},
		{"203.0.113.5", true, false, configs.SquashAll},
	}
	for _, c := range cases {
		o, ok := e.Check(ctx, netip.MustParseAddr(c.addr))
		if ok != c.ok || (ok && (o.ReadOnly != c.ro || o.Squash != c.squash)) {
			t.Errorf("%s: ok=%v opts=%+v, want ok=%v ro=%v squash=%s", c.addr, ok, o, c.ok, c.ro, c.squash)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		ok   bool
	}{
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"node?.lab", "node1.lab", true},
		{"node?.lab", "node12.lab", false},
		{"*", "x", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
	} {
		if globMatch(c.p, c.s) != c.ok {
			t.Errorf("glob %q %q", c.p, c.s)
		}
	}
}

func TestSquash(t *testing.T) {
	in := &graph.Creds{UID: 0, GID: 0, Groups: []uint32{0, 5}}
	o := configs.ClientOptions{Squash: configs.SquashRoot, AnonUID: 65534, AnonGID: 65533}
	c := Creds(o, in, false)
	if c.UID != 65534 || c.GID != 65533 || c.Groups[0] != 65533 || c.Groups[1] != 5 || in.Groups[0] != 0 {
		t.Fatalf("root_squash: %+v (in %+v)", c, in)
	}
	user := &graph.Creds{UID: 1000, GID: 1000, Groups: []uint32{27}}
	if c := Creds(o, user, false); c.UID != 1000 || c.GID != 1000 {
		t.Fatalf("root_squash on user: %+v", c)
	}
	o.Squash = configs.SquashAll
	if c := Creds(o, user, false); c.UID != 65534 || c.GID != 65533 || len(c.Groups) != 0 {
		t.Fatalf("all_squash: %+v", c)
	}
	o.Squash = configs.SquashNoRoot
	if c := Creds(o, in, false); c.UID != 0 || c.GID != 0 {
		t.Fatalf("no_root_squash: %+v", c)
	}
	if c := Creds(o, in, true); c.UID != 65534 {
		t.Fatalf("AUTH_NONE not anonymous: %+v", c)
	}
}
