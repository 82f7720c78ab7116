package portmap

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/weftfs/weft/gateway/xdr"
)

func rpcb(t *testing.T, s *Server, vers, proc uint32, args []byte, local, from netip.AddrPort) []byte {
	t.Helper()
	w := xdr.NewWriter(nil)
	if err := s.DispatchRPCB(&RPCBCall{Vers: vers, Proc: proc, Args: args, Local: local, Remote: from}, w); err != nil {
		t.Fatalf("rpcbind v%d proc %d: %v", vers, proc, err)
	}
	return w.Bytes()
}

func TestUniversalAddr(t *testing.T) {
	for _, c := range []struct {
		a    string
		port uint16
		want string
	}{
		{"127.0.0.1", 2049, "127.0.0.1.8.1"}, {"::1", 111, "::1.0.111"}, {"::ffff:10.1.2.3", 65535, "10.1.2.3.255.255"},
		{"0.0.0.0", 0, "0.0.0.0.0.0"},
	} {
		got := UniversalAddr(netip.MustParseAddr(c.a), c.port)
		if got != c.want {
			t.Errorf("UniversalAddr(%s, %d) = %q, want %q", c.a, c.port, got, c.want)
		}
		a, p, err := ParseUniversalAddr(got)
		if err != nil || p != c.port || a != netip.MustParseAddr(c.a).Unmap() {
			t.Errorf("ParseUniversalAddr(%q) = %v %d %v", got, a, p, err)
		}
	}
	for _, bad := range []string{"", "1.2.3.4", "1.2.3.4.5", "1.2.3.4.256.1", "x.1.2", "1.2.3.4.-1.2", "::1.8"} {
		if _, _, err := ParseUniversalAddr(bad); err == nil {
			t.Errorf("ParseUniversalAddr(%q) accepted", bad)
		}
	}
}

// TestRPCB covers rpcbind versions 3 and 4 over the portmap table (RFC 1833 §2.2).
func TestRPCB(t *testing.T) {
	s := NewServer()
	lo := netip.MustParseAddrPort("127.0.0.1:111")
	s.Set(Mapping{100003, 3, ProtoTCP, 2049})
	s.Set(Mapping{100005, 1, ProtoUDP, 20048})
	s.Set(Mapping{100005, 3, ProtoUDP, 20048})

	getaddr := func(vers, proc uint32, b RPCB, at netip.AddrPort) string {
		return xdr.NewReader(rpcb(t, s, vers, proc, b.Encode(), at, local)).String(1024)
	}
	// GETADDR answers with the address the call came to.
	if got := getaddr(4, RPCBProcGetaddr, RPCB{Prog: 100003, Vers: 3, Netid: "tcp"}, lo); got != "127.0.0.1.8.1" {
		t.Errorf("GETADDR nfs tcp: %q", got)
	}
	if got := getaddr(3, RPCBProcGetaddr, RPCB{Prog: 100003, Vers: 3, Netid: "tcp6"}, netip.MustParseAddrPort("[::1]:111")); got != "::1.8.1" {
		t.Errorf("GETADDR nfs tcp6: %q", got)
	}
	if got := getaddr(4, RPCBProcGetaddr, RPCB{Prog: 100003, Vers: 3, Netid: "udp"}, lo); got != "" {
		t.Errorf("GETADDR nfs udp (not registered): %q", got)
	}
	// Another version: GETADDR gives the program's address (the server answers PROG_MISMATCH),
	// GETVERSADDR only an exact match.
	if got := getaddr(4, RPCBProcGetaddr, RPCB{Prog: 100003, Vers: 4, Netid: "tcp"}, lo); got != "127.0.0.1.8.1" {
		t.Errorf("GETADDR nfs v4: %q", got)
	}
	if got := getaddr(4, RPCBProcGetversaddr, RPCB{Prog: 100003, Vers: 4, Netid: "tcp"}, lo); got != "" {
		t.Errorf("GETVERSADDR nfs v4: %q", got)
	}
	if got := getaddr(4, RPCBProcGetaddr, RPCB{Prog: 100003, Vers: 3, Netid: "rdma"}, lo); got != "" {
		t.Errorf("GETADDR with an unknown netid: %q", got)
	}
	if err := s.DispatchRPCB(&RPCBCall{Vers: 3, Proc: RPCBProcGetversaddr, Args: RPCB{}.Encode()}, xdr.NewWriter(nil)); !errors.Is(err, xdr.ErrProcUnavail) {
		t.Errorf("GETVERSADDR in version 3: %v", err)
	}

	// SET/UNSET from loopback only, by netid.
	set := RPCB{Prog: 100021, Vers: 4, Netid: "tcp", Addr: "0.0.0.0.128.3", Owner: "nlm"}
	if xdr.NewReader(rpcb(t, s, 4, RPCBProcSet, set.Encode(), lo, remote)).Bool() {
		t.Error("SET from a remote address accepted")
	}
	if !xdr.NewReader(rpcb(t, s, 4, RPCBProcSet, set.Encode(), lo, local)).Bool() || s.Getport(100021, 4, ProtoTCP) != 32771 {
		t.Error("SET from loopback")
	}
	bad := set
	bad.Addr = "nonsense"
	if xdr.NewReader(rpcb(t, s, 4, RPCBProcSet, bad.Encode(), lo, local)).Bool() {
		t.Error("SET with a bad universal address accepted")
	}
	if !xdr.NewReader(rpcb(t, s, 3, RPCBProcUnset, RPCB{Prog: 100005, Vers: 3, Netid: "udp"}.Encode(), lo, local)).Bool() ||
		s.Getport(100005, 3, ProtoUDP) != 0 || s.Getport(100005, 1, ProtoUDP) == 0 {
		t.Error("UNSET of one netid")
	}
	if !xdr.NewReader(rpcb(t, s, 4, RPCBProcUnset, RPCB{Prog: 100021, Vers: 4}.Encode(), lo, local)).Bool() || s.Getport(100021, 4, ProtoTCP) != 0 {
		t.Error("UNSET with an empty netid")
	}

	// DUMP: both families when listening everywhere, one when bound to an address.
	r := xdr.NewReader(rpcb(t, s, 4, RPCBProcDump, nil, lo, local))
	var got []RPCB
	for r.Bool() {
		got = append(got, ReadRPCB(r))
	}
	if r.Err() != nil || len(got) != 4 || got[0] != (RPCB{100003, 3, "tcp", "0.0.0.0.8.1", Owner}) || got[1].Netid != "tcp6" || got[3].Netid != "udp6" {
		t.Errorf("DUMP: %+v %v", got, r.Err())
	}
	w := xdr.NewWriter(nil)
	if err := s.DispatchRPCB(&RPCBCall{Vers: 4, Proc: RPCBProcDump, Listen: netip.MustParseAddr("192.0.2.5")}, w); err != nil {
		t.Fatal(err)
	}
	r = xdr.NewReader(w.Bytes())
	got = got[:0]
	for r.Bool() {
		got = append(got, ReadRPCB(r))
	}
	if len(got) != 2 || got[0].Addr != "192.0.2.5.8.1" || got[1].Netid != "udp" {
		t.Errorf("DUMP bound to one address: %+v", got)
	}

	// GETADDRLIST (v4): the transports of MOUNT v1.
	r = xdr.NewReader(rpcb(t, s, 4, RPCBProcGetaddrlist, RPCB{Prog: 100005, Vers: 1}.Encode(), lo, local))
	n := 0
	for r.Bool() {
		addr, netid, sem, fam, proto := r.String(64), r.String(64), r.Uint32(), r.String(64), r.String(64)
		if addr != "127.0.0.1.78.80" || netid != "udp" || sem != 1 || fam != "inet" || proto != "udp" {
			t.Errorf("GETADDRLIST entry %q %q %d %q %q", addr, netid, sem, fam, proto)
		}
		n++
	}
	if n != 1 || r.Err() != nil {
		t.Errorf("GETADDRLIST: %d entries, %v", n, r.Err())
	}

	// Truncated arguments are GARBAGE_ARGS; forwarding procedures are unavailable.
	if err := s.DispatchRPCB(&RPCBCall{Vers: 4, Proc: RPCBProcGetaddr, Args: []byte{0, 0, 0}}, xdr.NewWriter(nil)); !errors.Is(err, xdr.ErrGarbageArgs) {
		t.Errorf("truncated GETADDR: %v", err)
	}
	for _, p := range []uint32{RPCBProcCallit, RPCBProcIndirect, RPCBProcGetstat, 99} {
		if err := s.DispatchRPCB(&RPCBCall{Vers: 4, Proc: p}, xdr.NewWriter(nil)); !errors.Is(err, xdr.ErrProcUnavail) {
			t.Errorf("proc %d: %v", p, err)
		}
	}
}

// FuzzRPCB: any rpcbind v3/v4 procedure and arguments give a reply or GARBAGE_ARGS /
// PROC_UNAVAIL; a SET that is accepted is found by GETADDR afterwards; the table stays bounded.
//
//	go test -run '^$' -fuzz FuzzRPCB -fuzztime 5m ./gateway/portmap/
func FuzzRPCB(f *testing.F) {
	s := NewServer()
	s.Set(Mapping{100003, 3, ProtoTCP, 2049})
	f.Add(uint8(4), uint8(RPCBProcGetaddr), true, RPCB{Prog: 100003, Vers: 3, Netid: "tcp"}.Encode())
	f.Add(uint8(3), uint8(RPCBProcSet), true, RPCB{Prog: 7, Vers: 1, Netid: "udp", Addr: "0.0.0.0.4.1"}.Encode())
	f.Add(uint8(4), uint8(RPCBProcUnset), false, RPCB{Prog: 100003, Vers: 3}.Encode())
	f.Add(uint8(4), uint8(RPCBProcDump), true, []byte(nil))
	f.Add(uint8(4), uint8(RPCBProcGetaddrlist), true, RPCB{Prog: 100003, Vers: 3}.Encode())
	f.Add(uint8(3), uint8(RPCBProcSet), true, RPCB{Prog: 7, Vers: 1, Netid: "tcp6", Addr: "::1.255.255"}.Encode())
	f.Fuzz(func(t *testing.T, vers, proc uint8, loopback bool, args []byte) {
		from := remote
		if loopback {
			from = local
		}
		c := &RPCBCall{Vers: 3 + uint32(vers%2), Proc: uint32(proc % 14), Args: args, Local: netip.MustParseAddrPort("127.0.0.1:111"), Remote: from}
		w := xdr.NewWriter(nil)
		err := s.DispatchRPCB(c, w)
		if err != nil {
			if !errors.Is(err, xdr.ErrGarbageArgs) && !errors.Is(err, xdr.ErrProcUnavail) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if c.Proc == RPCBProcSet && xdr.NewReader(w.Bytes()).Bool() {
			b := ReadRPCB(xdr.NewReader(args))
			w2 := xdr.NewWriter(nil)
			if err := s.DispatchRPCB(&RPCBCall{Vers: 4, Proc: RPCBProcGetversaddr, Args: b.Encode(), Local: c.Local, Remote: local}, w2); err != nil {
				t.Fatal(err)
			}
			_, port, _ := ParseUniversalAddr(b.Addr)
			_, got, err := ParseUniversalAddr(xdr.NewReader(w2.Bytes()).String(1024))
			if err != nil || got != port {
				t.Fatalf("SET %+v then GETVERSADDR gave port %d (%v)", b, got, err)
			}
		}
		if len(s.Dump()) > maxMappings {
			t.Fatal("table unbounded")
		}
	})
}
