package mount

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/gateway/export"
	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph"
	_ "github.com/weftfs/weft/graph/xlators/storage/memory"
)

// newServer returns a MOUNT server for volume gv0 over a memory leaf holding /sub, exporting
// /gv0 to everyone and /gv0/sub to 10.0.0.0/8 read-only.
func newServer(tb testing.TB) (*Server, *handle.Codec) {
	tb.Helper()
	x, err := graph.Construct("storage/memory", "gv0-memory", nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	g, err := graph.NewGraph(x)
	if err != nil {
		tb.Fatal(err)
	}
	if err := g.Activate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(g.Fini)
	if _, err := x.Mkdir(context.Background(), &graph.Loc{Path: "/sub", Name: "sub", ParentGFID: graph.RootGFID}, 0o40755, 0, nil); err != nil {
		tb.Fatal(err)
	}
	ro := "ro"
	cfg := &configs.ExportsConfig{Exports: []configs.Export{
		{Path: "/gv0", Clients: []configs.ClientRule{{Match: "*"}}},
		{Path: "/gv0/sub", Clients: []configs.ClientRule{{Match: "10.0.0.0/8", Access: ro}}},
	}}
	tab, err := export.NewTable(cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	codec, err := handle.NewCodec(handle.VolumeIDFromName("gv0"), []byte("mount-test-secret-0123456789"))
	if err != nil {
		tb.Fatal(err)
	}
	return New(x, codec, tab, "gv0"), codec
}

// FuzzDispatch: any version, procedure and argument bytes give a reply or GARBAGE_ARGS /
// PROC_UNAVAIL, never a panic or a hang; MNT replies that succeed carry a handle that decodes.
//
//	go test -run '^$' -fuzz FuzzDispatch -fuzztime 5m ./gateway/mount/
func FuzzDispatch(f *testing.F) {
	s, codec := newServer(f)
	str := func(v string) []byte { w := xdr.NewWriter(nil); w.String(v); return w.Bytes() }
	for _, seed := range []struct {
		vers, proc uint8
		args       []byte
	}{
		{3, ProcNull, nil}, {3, ProcMnt, str("/gv0")}, {3, ProcMnt, str("/gv0/sub")}, {3, ProcMnt, str("/gv0/../etc")},
		{1, ProcMnt, str("/gv0")}, {3, ProcDump, nil}, {3, ProcUmnt, str("/gv0")}, {3, ProcUmntall, nil},
		{1, ProcExport, nil}, {3, ProcExport, nil}, {3, 6, nil}, {3, ProcMnt, []byte{0, 0, 4, 1}},
		{3, ProcMnt, str("/gv0/sub/none")}, {3, ProcMnt, str("relative")},
	} {
		for _, port := range []uint16{700, 40000} {
			f.Add(seed.vers, seed.proc, []byte{127, 0, 0, 1}, port, seed.args)
		}
	}
	f.Fuzz(func(t *testing.T, vers, proc uint8, ip []byte, port uint16, a []byte) {
		addr, ok := netip.AddrFromSlice(ip)
		if !ok {
			addr = netip.MustParseAddr("10.1.2.3")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w := xdr.NewWriter(nil)
		c := &Call{Vers: uint32(vers), Proc: uint32(proc), Args: a, Addr: netip.AddrPortFrom(addr, port)}
		done := make(chan error, 1)
		go func() { done <- s.Dispatch(ctx, c, w) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("no reply after 20s")
		}
		if err != nil {
			if !errors.Is(err, xdr.ErrGarbageArgs) && !errors.Is(err, xdr.ErrProcUnavail) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(w.Bytes())%4 != 0 {
			t.Fatalf("reply of %d bytes", len(w.Bytes()))
		}
		if proc == ProcMnt && vers == V3 {
			r := xdr.NewReader(w.Bytes())
			if r.Uint32() == MNT3_OK {
				if _, err := codec.Decode(r.Opaque(handle.MaxSize)); err != nil {
					t.Fatalf("MNT handle: %v", err)
				}
			}
		}
		if s.Mounts() > 65536 {
			t.Fatal("mount list unbounded")
		}
	})
}
