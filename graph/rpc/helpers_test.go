package rpc

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/rpc/xdr"
)

const (
	testProg = 0x20001234
	procNull = 0
	procEcho = 1
	procCred = 2 // returns uid, gid, ngroups, groups..., machine name, clientid
	procSlow = 3 // sleeps the number of milliseconds in args, then echoes
	procErr  = 4 // returns the accept_stat in args
	procAuth = 5 // rejects with the auth_stat in args
	procDrop = 6
)

// forEachTransport runs f once per transport implementation (the same suite for all).
func forEachTransport(t *testing.T, f func(t *testing.T, tr Transport)) {
	for _, tr := range testTransports() {
		t.Run(tr.Name(), func(t *testing.T) { f(t, tr) })
	}
}

func testHandler() Handler {
	return HandlerFunc(func(ctx context.Context, c *Call, r *Reply) AcceptStat {
		switch c.Proc {
		case procNull:
			return Success
		case procEcho:
			r.Write(c.Args)
			return Success
		case procCred:
			cr := graph.CredsFrom(ctx)
			r.AppendUint32(cr.UID)
			r.AppendUint32(cr.GID)
			r.AppendUint32(uint32(len(cr.Groups)))
			for _, g := range cr.Groups {
				r.AppendUint32(g)
			}
			r.AppendString(c.Cred.Sys.MachineName)
			r.AppendString(cr.ClientID)
			return Success
		case procSlow:
			d := xdr.NewDecoder(c.Args)
			ms := d.Uint32()
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-ctx.Done():
				return SystemErr
			}
			r.Write(c.Args)
			return Success
		case procErr:
			r.AppendUint32(42) // discarded
			return AcceptStat(binary.BigEndian.Uint32(c.Args))
		case procAuth:
			r.RejectAuth(AuthStat(binary.BigEndian.Uint32(c.Args)))
			return Success
		case procDrop:
			r.Drop()
			return Success
		}
		return ProcUnavail
	})
}

// startServer starts a server on 127.0.0.1:0 with testProg version 1 and 2 and returns it and
// its address; it is shut down at the end of the test.
func startServer(t testing.TB, tr Transport, opts ServerOptions) (*Server, string) {
	t.Helper()
	opts.Transport = tr
	s := NewServer(opts)
	s.Register(testProg, 1, testHandler())
	s.Register(testProg, 2, testHandler())
	addr, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, addr.String()
}

func dial(t testing.TB, tr Transport, addr string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, "tcp", addr, &ClientOptions{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func u32(v uint32) []byte { return xdr.AppendUint32(nil, v) }

// rawCall returns the bytes of a CALL message (without record mark).
func rawCall(xid, rpcvers, prog, vers, proc uint32, cred OpaqueAuth, args []byte) []byte {
	b := xdr.AppendUint32(nil, xid)
	b = xdr.AppendUint32(b, 0)
	b = xdr.AppendUint32(b, rpcvers)
	b = xdr.AppendUint32(b, prog)
	b = xdr.AppendUint32(b, vers)
	b = xdr.AppendUint32(b, proc)
	b = appendOpaqueAuth(b, &cred)
	b = appendOpaqueAuth(b, &NoAuth)
	return append(b, args...)
}

// frame returns msg as one record of a single fragment.
func frame(msg []byte) []byte {
	b := xdr.AppendUint32(nil, uint32(len(msg))|lastFragmentBit)
	return append(b, msg...)
}

func rawDial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// readRecord reads one single- or multi-fragment record from c.
func readRecord(c net.Conn) ([]byte, error) {
	var rec []byte
	for {
		var h [4]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			return nil, err
		}
		v := binary.BigEndian.Uint32(h[:])
		frag := make([]byte, v&^lastFragmentBit)
		if _, err := io.ReadFull(c, frag); err != nil {
			return nil, err
		}
		rec = append(rec, frag...)
		if v&lastFragmentBit != 0 {
			return rec, nil
		}
	}
}

// expectClosed asserts that the server closes c (EOF or reset) without sending anything.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	n, err := c.Read(b[:])
	if err == nil || n > 0 {
		t.Fatalf("connection not closed: read %d bytes, err %v", n, err)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection not closed within 5s")
	}
}

func countFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
		runtime.Gosched()
	}
}
