package portmap

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/weftfs/weft/gateway/xdr"
)

var local = netip.MustParseAddrPort("127.0.0.1:700")
var remote = netip.MustParseAddrPort("192.0.2.1:700")

func call(t *testing.T, s *Server, proc uint32, args []byte, from netip.AddrPort) []byte {
	t.Helper()
	w := xdr.NewWriter(nil)
	if err := s.Dispatch(proc, args, from, w); err != nil {
		t.Fatalf("proc %d: %v", proc, err)
	}
	return w.Bytes()
}

func TestSetGetUnsetDump(t *testing.T) {
	s := NewServer()
	m := Mapping{100003, 3, ProtoTCP, 2049}
	if b := call(t, s, ProcSet, m.Encode(), remote); xdr.NewReader(b).Bool() {
		t.Fatal("SET from a remote address accepted")
	}
	if b := call(t, s, ProcSet, m.Encode(), local); !xdr.NewReader(b).Bool() {
		t.Fatal("SET from loopback refused")
	}
	call(t, s, ProcSet, Mapping{100005, 3, ProtoTCP, 20048}.Encode(), local)
	if b := call(t, s, ProcGetport, Mapping{100003, 3, ProtoTCP, 0}.Encode(), remote); xdr.NewReader(b).Uint32() != 2049 {
		t.Fatal("GETPORT")
	}
	if b := call(t, s, ProcGetport, Mapping{100003, 4, ProtoTCP, 0}.Encode(), remote); xdr.NewReader(b).Uint32() != 0 {
		t.Fatal("GETPORT of an unregistered version")
	}
	ms, err := DecodeDump(call(t, s, ProcDump, nil, remote))
	if err != nil || len(ms) != 2 || ms[0] != m {
		t.Fatalf("DUMP %v %v", ms, err)
	}
	if b := call(t, s, ProcUnset, Mapping{100003, 3, 0, 0}.Encode(), local); !xdr.NewReader(b).Bool() {
		t.Fatal("UNSET")
	}
	if s.Getport(100003, 3, ProtoTCP) != 0 {
		t.Fatal("still mapped after UNSET")
	}
}

func TestBadCalls(t *testing.T) {
	s := NewServer()
	w := xdr.NewWriter(nil)
	if err := s.Dispatch(ProcSet, []byte{0, 0, 1}, local, w); !errors.Is(err, xdr.ErrGarbageArgs) {
		t.Fatalf("short SET: %v", err)
	}
	if err := s.Dispatch(ProcCallit, make([]byte, 32), local, w); !errors.Is(err, xdr.ErrProcUnavail) {
		t.Fatalf("CALLIT: %v", err)
	}
	if err := s.Dispatch(99, nil, local, w); !errors.Is(err, xdr.ErrProcUnavail) {
		t.Fatalf("proc 99: %v", err)
	}
	if b := call(t, s, ProcSet, Mapping{1, 1, 99, 1}.Encode(), local); xdr.NewReader(b).Bool() {
		t.Fatal("SET with a bad protocol accepted")
	}
}

func FuzzDispatch(f *testing.F) {
	f.Add(uint32(1), Mapping{100003, 3, 6, 2049}.Encode())
	f.Add(uint32(3), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, proc uint32, args []byte) {
		s := NewServer()
		w := xdr.NewWriter(nil)
		err := s.Dispatch(proc%7, args, local, w)
		if err != nil && !errors.Is(err, xdr.ErrGarbageArgs) && !errors.Is(err, xdr.ErrProcUnavail) {
			t.Fatalf("unexpected error %v", err)
		}
		if _, err := DecodeDump(args); err != nil {
			return
		}
	})
}
