package portmap

import (
	"fmt"
	"net/netip"
	"sort"
	"sync"

	"github.com/weftfs/weft/gateway/xdr"
)

// Program and version (RFC 1833 §3).
const (
	Program = 100000
	Version = 2
)

// Procedures (RFC 1833 §3.2).
const (
	ProcNull    = 0
	ProcSet     = 1
	ProcUnset   = 2
	ProcGetport = 3
	ProcDump    = 4
	ProcCallit  = 5
)

// Protocols (IPPROTO_*).
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// Mapping is struct mapping (RFC 1833 §3.1).
type Mapping struct {
	Prog, Vers, Prot, Port uint32
}

// ReadMapping decodes a mapping.
func ReadMapping(r *xdr.Reader) Mapping {
	return Mapping{Prog: r.Uint32(), Vers: r.Uint32(), Prot: r.Uint32(), Port: r.Uint32()}
}

// Put encodes m.
func (m Mapping) Put(w *xdr.Writer) {
	w.Uint32(m.Prog)
	w.Uint32(m.Vers)
	w.Uint32(m.Prot)
	w.Uint32(m.Port)
}

// Encode returns the XDR encoding of m (the arguments of SET, UNSET and GETPORT).
func (m Mapping) Encode() []byte {
	w := xdr.NewWriter(make([]byte, 0, 16))
	m.Put(w)
	return w.Bytes()
}

// maxMappings bounds the table (SET from loopback only, but still bounded).
const maxMappings = 1024

// Server is an embedded port mapper.
type Server struct {
	mu sync.Mutex
	m  map[[3]uint32]uint32 // (prog, vers, prot) → port
}

// NewServer returns an empty port mapper; the mapper itself (100000 v2 on TCP and UDP at its
// port) is added by the caller with Set.
func NewServer() *Server { return &Server{m: map[[3]uint32]uint32{}} }

// Set registers a mapping; it replaces an existing one for the same (prog, vers, prot).
func (s *Server) Set(m Mapping) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [3]uint32{m.Prog, m.Vers, m.Prot}
	if _, ok := s.m[k]; !ok && len(s.m) >= maxMappings {
		return false
	}
	s.m[k] = m.Port
	return true
}

// Unset removes every mapping of (prog, vers), whatever the protocol (RFC 1833 §3.2).
func (s *Server) Unset(prog, vers uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for k := range s.m {
		if k[0] == prog && k[1] == vers {
			delete(s.m, k)
			found = true
		}
	}
	return found
}

// Getport returns the port of (prog, vers, prot), 0 when unregistered.
func (s *Server) Getport(prog, vers, prot uint32) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[[3]uint32{prog, vers, prot}]
}

// Dump returns every mapping, sorted.
func (s *Server) Dump() []Mapping {
	s.mu.Lock()
	out := make([]Mapping, 0, len(s.m))
	for k, p := range s.m {
		out = append(out, Mapping{k[0], k[1], k[2], p})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Prog != b.Prog {
			return a.Prog < b.Prog
		}
		if a.Vers != b.Vers {
			return a.Vers < b.Vers
		}
		return a.Prot < b.Prot
	})
	return out
}

// Dispatch executes one portmap call from addr and appends the result to w.
func (s *Server) Dispatch(proc uint32, args []byte, addr netip.AddrPort, w *xdr.Writer) error {
	r := xdr.NewReader(args)
	switch proc {
	case ProcNull:
		return nil
	case ProcSet, ProcUnset:
		m := ReadMapping(r)
		if r.Err() != nil {
			return xdr.ErrGarbageArgs
		}
		if !addr.Addr().Unmap().IsLoopback() {
			w.Bool(false)
			return nil
		}
		if proc == ProcSet {
			if m.Prot != ProtoTCP && m.Prot != ProtoUDP || m.Port == 0 || m.Port > 65535 {
				w.Bool(false)
				return nil
			}
			w.Bool(s.Set(m))
		} else {
			w.Bool(s.Unset(m.Prog, m.Vers))
		}
		return nil
	case ProcGetport:
		m := ReadMapping(r)
		if r.Err() != nil {
			return xdr.ErrGarbageArgs
		}
		w.Uint32(s.Getport(m.Prog, m.Vers, m.Prot))
		return nil
	case ProcDump:
		for _, m := range s.Dump() {
			w.Bool(true)
			m.Put(w)
		}
		w.Bool(false)
		return nil
	}
	// CALLIT (5) and anything else.
	return xdr.ErrProcUnavail
}

// DecodeDump decodes a DUMP reply (pmaplist).
func DecodeDump(b []byte) ([]Mapping, error) {
	r := xdr.NewReader(b)
	var out []Mapping
	for r.Bool() {
		out = append(out, ReadMapping(r))
		if len(out) > 1<<16 {
			return nil, fmt.Errorf("portmap: DUMP reply with too many mappings")
		}
	}
	return out, r.Err()
}
