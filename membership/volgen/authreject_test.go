package volgen

import (
	"net/netip"
	"strings"
	"testing"
)

// matches reports whether addr is let in by the client matches (addresses and CIDRs, "*").
func matches(t *testing.T, clients []string, addr string) bool {
	t.Helper()
	a := netip.MustParseAddr(addr).Unmap()
	for _, c := range clients {
		if c == "*" {
			return true
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			t.Fatalf("client match %q is not a CIDR: %v", c, err)
		}
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func TestRejectWinsOverAllow(t *testing.T) {
	for _, c := range []struct {
		allow, reject string
		in, out       []string
	}{
		{"all", "none", []string{"10.0.0.1", "::1"}, nil},
		{"all", "10.0.0.5", []string{"10.0.0.4", "10.0.0.6", "192.168.1.1", "::1", "0.0.0.0", "255.255.255.255"}, []string{"10.0.0.5"}},
		{"all", "10.0.0.0/8, 192.168.7.7", []string{"11.0.0.0", "9.255.255.255", "192.168.7.6", "fe80::1"}, []string{"10.1.2.3", "10.255.255.255", "192.168.7.7"}},
		{"10.0.0.0/8", "10.9.0.0/16", []string{"10.8.255.255", "10.10.0.0"}, []string{"10.9.1.1", "11.0.0.1"}},
		{"10.1.1.1,10.2.2.2", "10.2.2.2", []string{"10.1.1.1"}, []string{"10.2.2.2", "10.3.3.3"}},
		{"all", "2001:db8::/32", []string{"2001:db9::1", "1.2.3.4"}, []string{"2001:db8::1"}},
		{"all", "::ffff:10.0.0.1", []string{"10.0.0.2"}, []string{"10.0.0.1", "::ffff:10.0.0.1"}},
		{"10.0.0.0/24", "10.0.0.0/8", nil, []string{"10.0.0.1"}}, // empty: refused by CheckClientOptions
	} {
		got := allowedClients(c.allow, c.reject)
		for _, a := range c.in {
			if !matches(t, got, a) {
				t.Errorf("allow %q reject %q: %s refused (clients %v)", c.allow, c.reject, a, got)
			}
		}
		for _, a := range c.out {
			if matches(t, got, a) {
				t.Errorf("allow %q reject %q: %s let in (clients %v)", c.allow, c.reject, a, got)
			}
		}
	}
	// Deterministic, and as short as the cut needs: "all" minus one IPv4 address is 32 IPv4
	// prefixes plus ::/0.
	if got := allowedClients("all", "10.0.0.5"); len(got) != 33 || got[len(got)-1] != "::/0" {
		t.Errorf("all minus one address: %d prefixes %v", len(got), got)
	}
}

func TestRejectOptionChecks(t *testing.T) {
	v := &Volume{Name: "gv0", Bricks: []Brick{{Host: "h", Path: "/b", Port: 1}}}
	for _, ok := range []string{"none", "10.0.0.1", "10.0.0.0/8, 192.168.1.1", "::1"} {
		if err := CheckOption(v, "nfs.rpc-auth-reject", ok, Params{}); err != nil {
			t.Errorf("reject %q: %v", ok, err)
		}
	}
	for _, bad := range []string{"all", "*", "host.example.com", "*.example.com", "10.0.0.0/99"} {
		if err := CheckOption(v, "nfs.rpc-auth-reject", bad, Params{}); err == nil {
			t.Errorf("reject %q accepted", bad)
		}
	}
	for _, c := range []struct {
		opts map[string]string
		want string
	}{
		{map[string]string{"nfs.rpc-auth-allow": "host1.example.com", "nfs.rpc-auth-reject": "10.0.0.1"}, "addresses, CIDRs or all"},
		{map[string]string{"nfs.rpc-auth-allow": "10.0.0.1", "nfs.rpc-auth-reject": "10.0.0.0/8"}, "nfs.disable"},
	} {
		v.Options = c.opts
		if err := CheckClientOptions(v); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.opts, err, c.want)
		}
	}
	v.Options = map[string]string{"nfs.rpc-auth-allow": "host1.example.com"}
	if err := CheckClientOptions(v); err != nil {
		t.Errorf("host names without a reject list: %v", err)
	}
	v.Options = map[string]string{"nfs.rpc-auth-reject": "10.0.0.1"}
	e := Exports(v).Exports[0]
	if len(e.Clients) != 33 {
		t.Fatalf("export clients %+v", e.Clients)
	}
}
