package nlm_test

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/weftfs/weft/gateway/nlm"
	"github.com/weftfs/weft/gateway/nsm"
	"github.com/weftfs/weft/gateway/server"
	gxdr "github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph"
)

// udpPeer is a client host that talks to the gateway over UDP only, one datagram per call
// (as Linux's statd sends SM_NOTIFY and as lockd may call NLM).
type udpPeer struct {
	t    *testing.T
	conn *net.UDPConn
	host string
	xid  uint32
}

func newUDPPeer(t *testing.T, host string) *udpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &udpPeer{t: t, conn: c, host: host, xid: 0x5000}
}

// call sends one call (AUTH_NONE) to `to` and returns the results of its accepted reply.
// Lost datagrams are retransmitted with the same xid, as a UDP client does.
func (p *udpPeer) call(to net.Addr, prog, vers, proc uint32, args []byte) []byte {
	p.t.Helper()
	p.xid++
	msg := gxdr.NewWriter(nil)
	for _, v := range []uint32{p.xid, 0, 2, prog, vers, proc, 0, 0, 0, 0} {
		msg.Uint32(v)
	}
	b := append(msg.Bytes(), args...)
	buf := make([]byte, 65536)
	for try := 0; try < 5; try++ {
		if _, err := p.conn.WriteTo(b, to); err != nil {
			p.t.Fatal(err)
		}
		_ = p.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, err := p.conn.Read(buf)
			if err != nil {
				break // timed out: send again
			}
			r := gxdr.NewReader(buf[:n])
			if r.Uint32() != p.xid {
				continue
			}
			if r.Uint32() != 1 || r.Uint32() != 0 { // REPLY, MSG_ACCEPTED
				p.t.Fatalf("prog %d proc %d over UDP: not an accepted reply", prog, proc)
			}
			r.Uint32()
			r.Opaque(400) // verifier
			if st := r.Uint32(); st != 0 || r.Err() != nil {
				p.t.Fatalf("prog %d vers %d proc %d over UDP: accept_stat %d (%v)", prog, vers, proc, st, r.Err())
			}
			return append([]byte(nil), buf[n-r.Remaining():n]...)
		}
	}
	p.t.Fatalf("prog %d vers %d proc %d: no reply over UDP from %v", prog, vers, proc, to)
	return nil
}

func (p *udpPeer) lock(to net.Addr, vers uint32, fh []byte, svid int32, off, n uint64, reclaim bool) nlm.Stat {
	p.t.Helper()
	a := nlm.LockArgs{Cookie: []byte("u"), Exclusive: true, Reclaim: reclaim, State: 3,
		Lock: nlm.Lock{CallerName: p.host, FH: fh, OH: []byte(p.host), Svid: svid, Offset: off, Len: n}}
	r, err := nlm.DecodeRes(p.call(to, nlm.Program, vers, nlm.ProcLock, nlm.AppendLockArgs(nil, vers, &a)))
	if err != nil {
		p.t.Fatal(err)
	}
	return r.Stat
}

func (p *udpPeer) test(to net.Addr, vers uint32, fh []byte, svid int32, off, n uint64) nlm.TestRes {
	p.t.Helper()
	a := nlm.TestArgs{Cookie: []byte("t"), Exclusive: true,
		Lock: nlm.Lock{CallerName: p.host, FH: fh, OH: []byte(p.host), Svid: svid, Offset: off, Len: n}}
	r, err := nlm.DecodeTestRes(vers, p.call(to, nlm.Program, vers, nlm.ProcTest, nlm.AppendTestArgs(nil, vers, &a)))
	if err != nil {
		p.t.Fatal(err)
	}
	return r
}

func (p *udpPeer) getport(pm net.Addr, prog, vers uint32) int {
	p.t.Helper()
	a := make([]byte, 16)
	binary.BigEndian.PutUint32(a, prog)
	binary.BigEndian.PutUint32(a[4:], vers)
	binary.BigEndian.PutUint32(a[8:], 17) // IPPROTO_UDP
	res := p.call(pm, 100000, 2, 3, a)
	if len(res) != 4 {
		p.t.Fatalf("GETPORT reply of %d bytes", len(res))
	}
	return int(binary.BigEndian.Uint32(res))
}

func startUDPGateway(t *testing.T, top graph.Xlator, lc server.LockingConfig) (*server.Gateway, *server.Locking, net.Addr, net.Addr) {
	t.Helper()
	ctx := context.Background()
	g, err := server.Start(ctx, server.Config{Top: top, Volume: "vol", Secret: secret, Listen: "127.0.0.1",
		NFSPort: -1, MountPort: -1, PortmapPort: -1, Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	lc.NLMPort, lc.NSMPort, lc.Hostname = -1, -1, "gw"
	if lc.StateDir == "" {
		lc.StateDir = t.TempDir()
	}
	lk, err := g.StartLocking(ctx, lc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = g.Close(cctx)
		lk.Close()
	})
	// StartLocking alone serves the lock protocols over UDP and maps them (what `weft gateway`
	// runs): the port mapper answers GETPORT over UDP with the TCP port numbers.
	pa := newUDPPeer(t, "probe")
	if p := pa.getport(g.PortmapUDPAddr(), nlm.Program, nlm.V4); p != lk.NLMAddr().(*net.TCPAddr).Port {
		t.Fatalf("NLM v4 over UDP mapped to port %d after StartLocking, want %v", p, lk.NLMAddr())
	}
	if p := pa.getport(g.PortmapUDPAddr(), nsm.Program, nsm.Version); p != lk.NSMAddr().(*net.TCPAddr).Port {
		t.Fatalf("NSM over UDP mapped to port %d after StartLocking, want %v", p, lk.NSMAddr())
	}
	nlmUDP, nsmUDP, err := lk.ServeUDP(ctx) // the listeners StartLocking made
	if err != nil {
		t.Fatal(err)
	}
	if nlmUDP.(*net.UDPAddr).Port != lk.NLMAddr().(*net.TCPAddr).Port || nsmUDP.(*net.UDPAddr).Port != lk.NSMAddr().(*net.TCPAddr).Port {
		t.Fatalf("UDP ports %v %v differ from the TCP ones %v %v", nlmUDP, nsmUDP, lk.NLMAddr(), lk.NSMAddr())
	}
	return g, lk, nlmUDP, nsmUDP
}

// TestOverUDP: NLM (v1, v3, v4) and NSM answer over UDP and are mapped there in the port
// mapper; a lock taken over UDP conflicts with TCP callers; an SM_NOTIFY datagram from the
// lock holder releases its locks.
func TestOverUDP(t *testing.T) {
	top := volume(t)
	fh := file(t, top, "img")
	g, lk, nlmUDP, nsmUDP := startUDPGateway(t, top, server.LockingConfig{})

	a := newUDPPeer(t, "hostA")
	for _, v := range []uint32{nlm.V1, nlm.V3, nlm.V4} {
		if p := a.getport(g.PortmapUDPAddr(), nlm.Program, v); p != nlmUDP.(*net.UDPAddr).Port {
			t.Fatalf("GETPORT NLM v%d/udp = %d, want %v", v, p, nlmUDP)
		}
	}
	if p := a.getport(g.PortmapUDPAddr(), nsm.Program, nsm.Version); p != nsmUDP.(*net.UDPAddr).Port {
		t.Fatalf("GETPORT NSM/udp = %d, want %v", p, nsmUDP)
	}

	want(t, "A LOCK over UDP", a.lock(nlmUDP, nlm.V4, fh, 7, 100, 100, false), nlm.Granted)
	want(t, "A LOCK again (a retransmission)", a.lock(nlmUDP, nlm.V4, fh, 7, 100, 100, false), nlm.Granted)
	b := dial(t, lk.NLMAddr().(*net.TCPAddr).Port, "hostB")
	want(t, "B LOCK over TCP", b.lock(fh, 1, 150, 1, true, false, false), nlm.Denied)
	bu := newUDPPeer(t, "hostB")
	tr := bu.test(nlmUDP, nlm.V4, fh, 1, 0, 0)
	want(t, "B TEST v4 over UDP", tr.Stat, nlm.Denied)
	if tr.Holder.Svid != 7 || tr.Holder.Offset != 100 || tr.Holder.Len != 100 || !tr.Holder.Exclusive {
		t.Fatalf("TEST holder %+v, want A's svid 7 at 100+100", tr.Holder)
	}
	want(t, "B TEST v3 over UDP", bu.test(nlmUDP, nlm.V3, fh, 1, 120, 10).Stat, nlm.Denied)
	want(t, "B LOCK v1 over UDP", bu.lock(nlmUDP, nlm.V1, fh, 1, 199, 1, false), nlm.Denied)
	want(t, "B LOCK v4 over UDP, another range", bu.lock(nlmUDP, nlm.V4, fh, 1, 300, 1, false), nlm.Granted)
	if st := lk.NLM.Stats(); st.Files != 2 {
		t.Fatalf("lock state for %d (host, file) pairs, want 2 (A and B)", st.Files)
	}

	// hostA rebooted: its statd tells us over UDP.
	if res := a.call(nsmUDP, nsm.Program, nsm.Version, nsm.ProcNotify,
		nsm.AppendStatChge(nil, &nsm.StatChge{MonName: "hostA", State: 5})); len(res) != 0 {
		t.Fatalf("SM_NOTIFY reply of %d bytes, want void", len(res))
	}
	want(t, "B LOCK over TCP after A's SM_NOTIFY", b.lock(fh, 1, 150, 1, true, false, false), nlm.Granted)
	if st := lk.NLM.Stats(); st.Files != 1 {
		t.Fatalf("lock state for %d (host, file) pairs after A's SM_NOTIFY, want 1 (B)", st.Files)
	}
	want(t, "A TEST over UDP", a.test(nlmUDP, nlm.V4, fh, 7, 150, 1).Stat, nlm.Denied)
	want(t, "A TEST over UDP, a free range", a.test(nlmUDP, nlm.V4, fh, 7, 400, 1).Stat, nlm.Granted)
}

// TestReclaimOverUDP: in the grace period after a restart, a LOCK over UDP is refused unless
// it reclaims.
func TestReclaimOverUDP(t *testing.T) {
	top := volume(t)
	fh := file(t, top, "img")
	_, lk, nlmUDP, _ := startUDPGateway(t, top, server.LockingConfig{Grace: time.Minute, GraceAlways: true})
	if !lk.NLM.InGrace() {
		t.Fatal("not in the grace period")
	}
	a := newUDPPeer(t, "hostA")
	want(t, "a new LOCK in grace", a.lock(nlmUDP, nlm.V4, fh, 1, 0, 10, false), nlm.DeniedGracePeriod)
	want(t, "TEST in grace", a.test(nlmUDP, nlm.V4, fh, 1, 0, 10).Stat, nlm.DeniedGracePeriod)
	want(t, "a reclaim in grace", a.lock(nlmUDP, nlm.V4, fh, 1, 0, 10, true), nlm.Granted)
	lk.NLM.EndGrace()
	b := newUDPPeer(t, "hostB")
	want(t, "B after the grace period", b.lock(nlmUDP, nlm.V4, fh, 1, 5, 1, false), nlm.Denied)
}
