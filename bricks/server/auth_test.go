package server

import (
	"net"
	"testing"
)

func TestAuthorize(t *testing.T) {
	cases := []struct {
		allow, reject []string
		addr          string
		want          bool
	}{
		{[]string{"*"}, nil, "10.1.2.3:5", true},
		{[]string{"192.168.*.*"}, nil, "192.168.7.9:1", true},
		{[]string{"192.168.*.*"}, nil, "192.169.7.9:1", false},
		{[]string{"10.0.0.0/8"}, nil, "10.200.0.1:1", true},
		{[]string{"10.0.0.0/8"}, nil, "11.0.0.1:1", false},
		{[]string{"*"}, []string{"127.0.0.1"}, "127.0.0.1:9", false},
		{[]string{"127.0.0.1"}, []string{"127.0.0.0/8"}, "127.0.0.1:9", false}, // reject wins
		{[]string{"127.0.0.?"}, nil, "127.0.0.5:9", true},
		{nil, nil, "127.0.0.1:9", false},
		{[]string{"::1"}, nil, "[::1]:9", true},
		{[]string{"10.0.0.0/8"}, nil, "[::ffff:10.0.0.1]:9", true}, // v4-mapped
	}
	for _, c := range cases {
		allow, err := parseRules(c.allow)
		if err != nil {
			t.Fatal(err)
		}
		reject, err := parseRules(c.reject)
		if err != nil {
			t.Fatal(err)
		}
		addr, err := net.ResolveTCPAddr("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := authorize(allow, reject, addr); got != c.want {
			t.Errorf("allow %v reject %v addr %s: %v, want %v", c.allow, c.reject, c.addr, got, c.want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "host.example", "1.2.3.[", "300.1.1.1"} {
		if _, err := parseRules([]string{bad}); err == nil {
			t.Errorf("rule %q accepted", bad)
		}
	}
}
