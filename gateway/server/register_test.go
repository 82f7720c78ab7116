package server_test

import (
	"context"
	"net"
	"strconv"
	"testing"

	"github.com/weftfs/weft/gateway/nfstest"
	"github.com/weftfs/weft/gateway/portmap"
	"github.com/weftfs/weft/gateway/server"
	"github.com/weftfs/weft/graph/rpc"
)

// TestRegisterWithPortMapper: a gateway that finds a port mapper on its portmap port registers
// every mapping there — MOUNT on TCP and on UDP for each version (portmap UNSET clears all
// protocols of a version, so it must not run between the two SETs) — and removes them on Close.
func TestRegisterWithPortMapper(t *testing.T) {
	a := nfstest.StartPosix(t, t.TempDir(), &nfstest.Options{Portmap: true}) // plays the system rpcbind
	pmPort := a.Gateway.PortmapAddr().(*net.TCPAddr).Port
	b := nfstest.StartPosix(t, t.TempDir(), &nfstest.Options{Portmap: true, Config: func(c *server.Config) { c.PortmapPort = pmPort }})
	if b.Gateway.PortmapAddr() != nil {
		t.Fatal("the second gateway embedded a port mapper instead of registering")
	}
	ctx := context.Background()
	dump := func() map[portmap.Mapping]bool {
		cl, err := rpc.Dial(ctx, "tcp", a.Gateway.PortmapAddr().String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		res, err := cl.Call(ctx, portmap.Program, portmap.Version, portmap.ProcDump, nil, rpc.NoAuth)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := portmap.DecodeDump(res)
		if err != nil {
			t.Fatal(err)
		}
		out := map[portmap.Mapping]bool{}
		for _, m := range ms {
			out[m] = true
		}
		return out
	}
	port := func(addr string) uint32 {
		_, p, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(p)
		return uint32(n)
	}
	mp := port(b.Mount)
	want := []portmap.Mapping{
		{Prog: 100003, Vers: 3, Prot: portmap.ProtoTCP, Port: port(b.NFS)},
		{Prog: 100005, Vers: 1, Prot: portmap.ProtoTCP, Port: mp}, {Prog: 100005, Vers: 3, Prot: portmap.ProtoTCP, Port: mp},
		{Prog: 100005, Vers: 1, Prot: portmap.ProtoUDP, Port: mp}, {Prog: 100005, Vers: 3, Prot: portmap.ProtoUDP, Port: mp},
	}
	got := dump()
	for _, m := range want {
		if !got[m] {
			t.Errorf("mapping %+v not registered; table %v", m, got)
		}
	}
	b.Stop()
	got = dump()
	for _, m := range want {
		if got[m] {
			t.Errorf("mapping %+v still registered after Close", m)
		}
	}
}
