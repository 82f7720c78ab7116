package portmap

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/weftfs/weft/gateway/xdr"
)

// rpcbind versions 3 and 4 (RFC 1833 §2): the same program number as portmap, with transport
// independent universal addresses. libtirpc clients (showmount, mount.nfs, rpcinfo without -p)
// ask version 4, then 3, then fall back to portmap version 2.
const (
	RPCBVersion3 = 3
	RPCBVersion4 = 4
)

// rpcbind procedures (RFC 1833 §2.2; version 4 adds 9-12).
const (
	RPCBProcNull        = 0
	RPCBProcSet         = 1
	RPCBProcUnset       = 2
	RPCBProcGetaddr     = 3
	RPCBProcDump        = 4
	RPCBProcCallit      = 5 // BCAST in version 4
	RPCBProcGettime     = 6
	RPCBProcUaddr2taddr = 7
	RPCBProcTaddr2uaddr = 8
	RPCBProcGetversaddr = 9
	RPCBProcIndirect    = 10
	RPCBProcGetaddrlist = 11
	RPCBProcGetstat     = 12
)

// RPCB is struct rpcb (RFC 1833 §2.1).
type RPCB struct {
	Prog, Vers         uint32
	Netid, Addr, Owner string
}

// maxRPCBString bounds the strings of an rpcb (netids, universal addresses, owners are short).
const maxRPCBString = 1024

// ReadRPCB decodes an rpcb.
func ReadRPCB(r *xdr.Reader) RPCB {
	return RPCB{Prog: r.Uint32(), Vers: r.Uint32(), Netid: r.String(maxRPCBString), Addr: r.String(maxRPCBString), Owner: r.String(maxRPCBString)}
}

// Put encodes b.
func (b RPCB) Put(w *xdr.Writer) {
	w.Uint32(b.Prog)
	w.Uint32(b.Vers)
	w.String(b.Netid)
	w.String(b.Addr)
	w.String(b.Owner)
}

// Encode returns the XDR encoding of b (the arguments of SET, UNSET, GETADDR).
func (b RPCB) Encode() []byte {
	w := xdr.NewWriter(nil)
	b.Put(w)
	return w.Bytes()
}

// UniversalAddr formats an address and port as a universal address (RFC 1833 §2.1, RFC 5665
// §5.2.3.3 and §5.2.3.4): "h1.h2.h3.h4.p1.p2" for IPv4, "x:x::x.p1.p2" for IPv6.
func UniversalAddr(a netip.Addr, port uint16) string {
	return fmt.Sprintf("%s.%d.%d", a.Unmap().String(), port>>8, port&0xff)
}

// ParseUniversalAddr parses a universal address into its address and port.
func ParseUniversalAddr(s string) (netip.Addr, uint16, error) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return netip.Addr{}, 0, fmt.Errorf("portmap: universal address %q: no port", s)
	}
	j := strings.LastIndexByte(s[:i], '.')
	if j < 0 {
		return netip.Addr{}, 0, fmt.Errorf("portmap: universal address %q: no port", s)
	}
	hi, err1 := strconv.ParseUint(s[j+1:i], 10, 8)
	lo, err2 := strconv.ParseUint(s[i+1:], 10, 8)
	if err1 != nil || err2 != nil {
		return netip.Addr{}, 0, fmt.Errorf("portmap: universal address %q: bad port", s)
	}
	a, err := netip.ParseAddr(s[:j])
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("portmap: universal address %q: %w", s, err)
	}
	return a, uint16(hi<<8 | lo), nil
}

// netidProto maps a netid to the IP protocol of a mapping (RFC 5665 §5.1: tcp, udp, tcp6, udp6).
func netidProto(netid string) (uint32, bool) {
	switch netid {
	case "tcp", "tcp6":
		return ProtoTCP, true
	case "udp", "udp6":
		return ProtoUDP, true
	}
	return 0, false
}

// Owner is the r_owner the embedded port mapper reports for its mappings.
const Owner = "weft"

// RPCBCall is one rpcbind (version 3 or 4) call.
type RPCBCall struct {
	Vers, Proc uint32
	Args       []byte
	Local      netip.AddrPort // the address the call arrived at (GETADDR answers with it)
	Remote     netip.AddrPort // the caller (SET and UNSET are accepted from loopback only)
	Listen     netip.Addr     // the address the gateway listens on (DUMP); unspecified: all
}

// DispatchRPCB executes an rpcbind version 3 or 4 call over the same table as version 2 and
// appends the result to w. Mappings are per IP protocol: a TCP mapping answers both tcp and
// tcp6, since the gateway listens on both address families with one socket.
func (s *Server) DispatchRPCB(c *RPCBCall, w *xdr.Writer) error {
	r := xdr.NewReader(c.Args)
	switch c.Proc {
	case RPCBProcNull:
		return nil
	case RPCBProcSet, RPCBProcUnset:
		b := ReadRPCB(r)
		if r.Err() != nil {
			return xdr.ErrGarbageArgs
		}
		if !c.Remote.Addr().Unmap().IsLoopback() {
			w.Bool(false)
			return nil
		}
		if c.Proc == RPCBProcUnset {
			// An empty netid removes every transport of (prog, vers) (RFC 1833 §2.2.1).
			if b.Netid == "" {
				w.Bool(s.Unset(b.Prog, b.Vers))
				return nil
			}
			p, ok := netidProto(b.Netid)
			w.Bool(ok && s.unsetProto(b.Prog, b.Vers, p))
			return nil
		}
		p, ok := netidProto(b.Netid)
		_, port, err := ParseUniversalAddr(b.Addr)
		if !ok || err != nil || port == 0 {
			w.Bool(false)
			return nil
		}
		w.Bool(s.Set(Mapping{Prog: b.Prog, Vers: b.Vers, Prot: p, Port: uint32(port)}))
		return nil
	case RPCBProcGetaddr, RPCBProcGetversaddr:
		if c.Proc == RPCBProcGetversaddr && c.Vers < RPCBVersion4 {
			return xdr.ErrProcUnavail
		}
		b := ReadRPCB(r)
		if r.Err() != nil {
			return xdr.ErrGarbageArgs
		}
		p, ok := netidProto(b.Netid)
		var port uint32
		if ok {
			port = s.Getport(b.Prog, b.Vers, p)
			if port == 0 && c.Proc == RPCBProcGetaddr {
				// Another version of the program: the caller learns the supported range from
				// the server's PROG_MISMATCH (what rpcbind does).
				port = s.anyVersion(b.Prog, p)
			}
		}
		if port == 0 {
			w.String("")
			return nil
		}
		w.String(UniversalAddr(c.Local.Addr(), uint16(port)))
		return nil
	case RPCBProcDump:
		for _, m := range s.Dump() {
			for _, b := range dumpEntries(m, c.Listen) {
				w.Bool(true)
				b.Put(w)
			}
		}
		w.Bool(false)
		return nil
	case RPCBProcGetaddrlist:
		if c.Vers < RPCBVersion4 {
			return xdr.ErrProcUnavail
		}
		b := ReadRPCB(r)
		if r.Err() != nil {
			return xdr.ErrGarbageArgs
		}
		// rpcb_entry_list (RFC 1833 §2.1): every transport (prog, vers) is registered on,
		// at the address the call arrived at.
		fam := "inet"
		if c.Local.Addr().Unmap().Is6() {
			fam = "inet6"
		}
		for _, m := range s.Dump() {
			if m.Prog != b.Prog || m.Vers != b.Vers {
				continue
			}
			netid, sem, proto := "tcp", uint32(3), "tcp" // NC_TPI_COTS_ORD
			if m.Prot == ProtoUDP {
				netid, sem, proto = "udp", 1, "udp" // NC_TPI_CLTS
			}
			if fam == "inet6" {
				netid += "6"
			}
			w.Bool(true)
			w.String(UniversalAddr(c.Local.Addr(), uint16(m.Port)))
			w.String(netid)
			w.Uint32(sem)
			w.String(fam)
			w.String(proto)
		}
		w.Bool(false)
		return nil
	case RPCBProcGettime:
		w.Uint32(uint32(time.Now().Unix()))
		return nil
	}
	// CALLIT/BCAST, INDIRECT (no forwarding: they are amplification tools), the address
	// conversions, GETADDRLIST and GETSTAT.
	return xdr.ErrProcUnavail
}

// dumpEntries are the rpcb entries DUMP lists for one mapping: the IPv4 netid, and the IPv6
// one as well when the gateway listens on every address.
func dumpEntries(m Mapping, listen netip.Addr) []RPCB {
	base, v6 := "tcp", "tcp6"
	if m.Prot == ProtoUDP {
		base, v6 = "udp", "udp6"
	}
	if !listen.IsValid() || listen.IsUnspecified() {
		return []RPCB{
			{Prog: m.Prog, Vers: m.Vers, Netid: base, Addr: UniversalAddr(netip.IPv4Unspecified(), uint16(m.Port)), Owner: Owner},
			{Prog: m.Prog, Vers: m.Vers, Netid: v6, Addr: UniversalAddr(netip.IPv6Unspecified(), uint16(m.Port)), Owner: Owner},
		}
	}
	netid := base
	if listen.Unmap().Is6() {
		netid = v6
	}
	return []RPCB{{Prog: m.Prog, Vers: m.Vers, Netid: netid, Addr: UniversalAddr(listen, uint16(m.Port)), Owner: Owner}}
}

// unsetProto removes the mapping of (prog, vers) for one protocol.
func (s *Server) unsetProto(prog, vers, prot uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [3]uint32{prog, vers, prot}
	if _, ok := s.m[k]; !ok {
		return false
	}
	delete(s.m, k)
	return true
}

// anyVersion returns the port of the lowest registered version of prog over prot (0: none).
func (s *Server) anyVersion(prog, prot uint32) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	best, port := uint32(0), uint32(0)
	for k, p := range s.m {
		if k[0] == prog && k[2] == prot && (port == 0 || k[1] < best) {
			best, port = k[1], p
		}
	}
	return port
}
