package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weftfs/weft/graph/rpc/xdr"
)

// TestHalfClose: a peer that sends calls and then shuts down its sending side still gets every
// reply, then the server closes the connection.
func TestHalfClose(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		c := rawDial(t, addr)
		var wire []byte
		for i := 0; i < 10; i++ {
			wire = append(wire, frame(rawCall(uint32(100+i), 2, testProg, 1, procSlow, NoAuth, xdr.AppendUint32(u32(20), uint32(i))))...)
		}
		if _, err := c.Write(wire); err != nil {
			t.Fatal(err)
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		seen := map[uint32]bool{}
		for i := 0; i < 10; i++ {
			rec, err := readRecord(c)
			if err != nil {
				t.Fatalf("reply %d: %v", i, err)
			}
			seen[binary.BigEndian.Uint32(rec)] = true
		}
		if len(seen) != 10 {
			t.Fatalf("replies for %d xids", len(seen))
		}
		expectClosed(t, c)
	})
}

// TestSlowReader: a peer that sends many calls without reading replies makes the server stop
// reading (its queued output stays bounded by MaxInFlight); once the peer reads, every reply
// arrives, in full.
func TestSlowReader(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		s, addr := startServer(t, tr, ServerOptions{MaxInFlight: 8})
		c := rawDial(t, addr)
		const n = 300
		payload := bytes.Repeat([]byte{0xab}, 32<<10) // 300 × 32 KiB ≫ socket buffers
		writeErr := make(chan error, 1)
		go func() {
			for i := 0; i < n; i++ {
				if _, err := c.Write(frame(rawCall(uint32(i+1), 2, testProg, 1, procEcho, NoAuth, payload))); err != nil {
					writeErr <- err
					return
				}
			}
			writeErr <- nil
		}()
		// The server fills its socket buffers and ours, then stops reading.
		waitFor(t, "server connection", func() bool { return len(s.Conns()) == 1 })
		sc := s.Conns()[0]
		// Until it pauses, and for a while after, it never has more than 8 calls in flight.
		// (Pausing is not permanent: the kernel keeps growing our receive window, so the
		// server can write a little more and resume now and then.)
		sawPause := false
		for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end) || !sawPause; {
			sc.mu.Lock()
			inflight, paused := sc.inflight, sc.paused
			sc.mu.Unlock()
			if inflight > 8 {
				t.Fatalf("server connection: %d calls in flight (limit 8)", inflight)
			}
			sawPause = sawPause || paused
			if time.Since(end) > 5*time.Second {
				t.Fatal("the server never paused reading")
			}
			time.Sleep(time.Millisecond)
		}
		for i := 0; i < n; i++ {
			rec, err := readRecord(c)
			if err != nil {
				t.Fatalf("reply %d: %v", i, err)
			}
			if len(rec) != 24+len(payload) || !bytes.Equal(rec[24:], payload) {
				t.Fatalf("reply %d: %d bytes", i, len(rec))
			}
		}
		if err := <-writeErr; err != nil {
			t.Fatal(err)
		}
	})
}

// TestCallbackWhileFull: handlers that call back to the client on the same connection while
// the connection is at its in-flight limit still get their replies (no deadlock).
func TestCallbackWhileFull(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		const cbProg = 0x40000002
		s := NewServer(ServerOptions{Transport: tr, MaxInFlight: 2})
		s.Register(testProg, 1, HandlerFunc(func(ctx context.Context, c *Call, r *Reply) AcceptStat {
			res, err := c.Conn.Call(ctx, cbProg, 1, 0, c.Args, NoAuth)
			if err != nil {
				return SystemErr
			}
			r.Write(res)
			return Success
		}))
		addr, err := s.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		cb := NewServer(ServerOptions{Transport: tr})
		cb.Register(cbProg, 1, HandlerFunc(func(ctx context.Context, c *Call, r *Reply) AcceptStat {
			time.Sleep(5 * time.Millisecond)
			r.Write(c.Args)
			return Success
		}))
		c, err := Dial(context.Background(), "tcp", addr.String(), &ClientOptions{Transport: tr, Server: cb})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				res, err := c.Call(ctx, testProg, 1, 0, u32(uint32(i)), NoAuth)
				if err == nil && !bytes.Equal(res, u32(uint32(i))) {
					err = fmt.Errorf("call %d: %x", i, res)
				}
				errs <- err
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestListenAddresses: the wildcard address (dual-stack where IPv6 exists) accepts IPv4
// clients, and explicit IPv6 loopback works where the host has it.
func TestListenAddresses(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		for _, tc := range []struct{ network, listen, dial string }{
			{"tcp", ":0", "127.0.0.1"},
			{"tcp4", "127.0.0.1:0", "127.0.0.1"},
			{"tcp6", "[::1]:0", "::1"},
		} {
			s := NewServer(ServerOptions{Transport: tr})
			s.Register(testProg, 1, testHandler())
			addr, err := s.Listen(tc.network, tc.listen)
			if err != nil {
				if tc.network == "tcp6" {
					t.Logf("no IPv6 here: %v", err)
					continue
				}
				t.Fatal(err)
			}
			port := addr.(*net.TCPAddr).Port
			c, err := Dial(context.Background(), "tcp", net.JoinHostPort(tc.dial, fmt.Sprint(port)), &ClientOptions{Transport: tr})
			if err != nil {
				t.Fatalf("%s %s: %v", tc.network, tc.listen, err)
			}
			if res, err := c.Call(context.Background(), testProg, 1, procEcho, []byte("addr"), NoAuth); err != nil || string(res) != "addr" {
				t.Fatalf("%s %s: %q %v", tc.network, tc.listen, res, err)
			}
			if ra := c.Info().RemoteAddr.(*net.TCPAddr); ra.Port != port {
				t.Fatalf("remote addr %v", ra)
			}
			// The server sees the client's address in its plain form (IPv4 stays IPv4).
			res, err := c.Call(context.Background(), testProg, 1, procCred, nil, NoAuth)
			if err != nil {
				t.Fatal(err)
			}
			d := xdr.NewDecoder(res)
			d.Uint32()
			d.Uint32()
			d.Uint32()
			d.String(255)
			if cid := d.String(300); !strings.HasPrefix(cid, net.JoinHostPort(tc.dial, "")) {
				t.Fatalf("%s %s: server-side client id %q", tc.network, tc.listen, cid)
			}
			_ = c.Close()
			_ = s.Close()
		}
	})
}
