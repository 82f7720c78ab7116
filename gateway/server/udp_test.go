package server_test

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/weftfs/weft/gateway/nfstest"
	"github.com/weftfs/weft/gateway/xdr"
)

// udpCall sends one ONC RPC call (AUTH_NONE) in a datagram and returns the reply's accept_stat
// and results; ok is false when no reply came within a second.
func udpCall(t *testing.T, conn *net.UDPConn, to net.Addr, xid, prog, vers, proc uint32, args []byte) (stat uint32, res []byte, ok bool) {
	t.Helper()
	w := xdr.NewWriter(nil)
	for _, v := range []uint32{xid, 0, 2, prog, vers, proc, 0, 0, 0, 0} {
		w.Uint32(v)
	}
	msg := append(w.Bytes(), args...)
	if _, err := conn.WriteTo(msg, to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return 0, nil, false
		}
		r := xdr.NewReader(buf[:n])
		if r.Uint32() != xid {
			continue // a late reply to an earlier call
		}
		if r.Uint32() != 1 || r.Uint32() != 0 { // REPLY, MSG_ACCEPTED
			t.Fatalf("xid %d: not an accepted reply", xid)
		}
		r.Uint32()
		r.Opaque(400) // verifier
		stat = r.Uint32()
		if r.Err() != nil {
			t.Fatalf("xid %d: %v", xid, r.Err())
		}
		return stat, buf[n-r.Remaining() : n], true
	}
}

// TestUDP: the embedded port mapper and MOUNT answer over UDP; NFS is not served there;
// garbage datagrams are ignored without disturbing later calls.
func TestUDP(t *testing.T) {
	env := nfstest.StartPosix(t, t.TempDir(), &nfstest.Options{Portmap: true})
	pm, mnt := env.Gateway.PortmapUDPAddr(), env.Gateway.MountUDPAddr()
	if pm == nil || mnt == nil {
		t.Fatalf("UDP addresses: portmap %v, mount %v", pm, mnt)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	getport := func(xid, prog, vers, prot uint32) uint32 {
		a := make([]byte, 16)
		binary.BigEndian.PutUint32(a, prog)
		binary.BigEndian.PutUint32(a[4:], vers)
		binary.BigEndian.PutUint32(a[8:], prot)
		st, res, ok := udpCall(t, conn, pm, xid, 100000, 2, 3, a)
		if !ok || st != 0 || len(res) != 4 {
			t.Fatalf("GETPORT over UDP: ok %v stat %d", ok, st)
		}
		return binary.BigEndian.Uint32(res)
	}
	if p := getport(1, 100005, 3, 17); p != uint32(mnt.(*net.UDPAddr).Port) {
		t.Fatalf("GETPORT MOUNT/udp = %d, want %d", p, mnt.(*net.UDPAddr).Port)
	}
	if p := getport(2, 100003, 3, 6); p != uint32(env.Gateway.NFSAddr().(*net.TCPAddr).Port) {
		t.Fatalf("GETPORT NFS/tcp = %d", p)
	}
	if p := getport(3, 100003, 3, 17); p != 0 {
		t.Fatalf("GETPORT NFS/udp = %d, want 0 (not served)", p)
	}

	// Garbage: short datagrams, a reply instead of a call, a bad RPC version.
	for _, g := range [][]byte{{1}, {0, 0, 0, 9, 0, 0, 0, 1}, make([]byte, 40)} {
		if _, err := conn.WriteTo(g, pm); err != nil {
			t.Fatal(err)
		}
	}
	// MOUNT EXPORT over UDP lists /gv0.
	st, res, ok := udpCall(t, conn, mnt, 10, 100005, 3, 5, nil)
	if !ok || st != 0 {
		t.Fatalf("MOUNT EXPORT over UDP: ok %v stat %d", ok, st)
	}
	r := xdr.NewReader(res)
	if !r.Bool() || r.String(1024) != "/gv0" {
		t.Fatalf("EXPORT over UDP: %x", res)
	}
	// NFS is not registered on the UDP server: PROG_UNAVAIL (1); MOUNT v2: PROG_MISMATCH (2).
	if st, _, ok := udpCall(t, conn, mnt, 11, 100003, 3, 0, nil); !ok || st != 1 {
		t.Fatalf("NFS NULL over UDP: ok %v stat %d, want PROG_UNAVAIL", ok, st)
	}
	if st, res, ok := udpCall(t, conn, mnt, 12, 100005, 2, 0, nil); !ok || st != 2 || len(res) != 8 {
		t.Fatalf("MOUNT v2 over UDP: ok %v stat %d", ok, st)
	}
	// Still answering after all that.
	if p := getport(13, 100005, 1, 17); p == 0 {
		t.Fatal("GETPORT after garbage")
	}
}
