package rpc

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/weftfs/weft/graph/rpc/xdr"
)

// The epoll transport raises SO_RCVLOWAT while a large fragment is owed (setLowat). These tests
// send large records in slow pieces, the last ones smaller than any mark, and check that nothing
// waits for bytes the peer never sends: the large record is answered, a small record after it
// is answered at once, and a peer that stops half-way is noticed.

// trickle writes b to c in pieces of the given sizes (the rest in one piece), pausing between
// them so that the server drains the socket and waits for its next edge each time.
func trickle(t *testing.T, c net.Conn, b []byte, pieces ...int) {
	t.Helper()
	for _, n := range pieces {
		n = min(n, len(b))
		if _, err := c.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
		time.Sleep(30 * time.Millisecond)
	}
	if len(b) > 0 {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
}

func echoArgs(n int) []byte {
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(i*7 + i>>11)
	}
	return xdr.AppendOpaque(nil, payload)
}

func TestLargeFragmentInSlowPieces(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		c := rawDial(t, addr)
		args := echoArgs(1 << 20)
		call := frame(rawCall(1, 2, testProg, 1, procEcho, NoAuth, args))
		// 100 KiB, then 700 KiB, then up to 3 bytes short of the end, then 1, 1 and 1 byte:
		// the server owes itself less than any mark at the end.
		trickle(t, c, call, 100<<10, 700<<10, len(call)-800<<10-3, 1, 1)
		rec, err := readRecord(c)
		if err != nil {
			t.Fatalf("reply to the trickled 1 MiB call: %v", err)
		}
		if !bytes.HasSuffix(rec, args) {
			t.Fatalf("reply of %d bytes does not end with the %d echoed bytes", len(rec), len(args))
		}
		// A small call right after: answered without waiting for more input.
		small := echoArgs(8)
		if _, err := c.Write(frame(rawCall(2, 2, testProg, 1, procEcho, NoAuth, small))); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		rec, err = readRecord(c)
		if err != nil {
			t.Fatalf("small call after a large one: %v", err)
		}
		if binary.BigEndian.Uint32(rec) != 2 || !bytes.HasSuffix(rec, small) {
			t.Fatalf("wrong reply to the small call: % x", rec)
		}
	})
}

// TestManyFragmentsInSlowPieces sends one record as fragments of 300 KiB, 300 KiB and a few
// bytes, each in pieces: the mark follows each fragment, never the record.
func TestManyFragmentsInSlowPieces(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		c := rawDial(t, addr)
		args := echoArgs(600<<10 - 40)
		msg := rawCall(3, 2, testProg, 1, procEcho, NoAuth, args)
		cuts := []int{300 << 10, 600 << 10, len(msg)}
		var wire []byte
		prev := 0
		for i, cut := range cuts {
			h := uint32(cut - prev)
			if i == len(cuts)-1 {
				h |= lastFragmentBit
			}
			wire = binary.BigEndian.AppendUint32(wire, h)
			wire = append(wire, msg[prev:cut]...)
			prev = cut
		}
		trickle(t, c, wire, 70<<10, 230<<10, 4+1, 299<<10, 2)
		rec, err := readRecord(c)
		if err != nil {
			t.Fatalf("reply to the fragmented call: %v", err)
		}
		if !bytes.HasSuffix(rec, args) {
			t.Fatal("fragmented call not echoed intact")
		}
	})
}

// TestPeerStopsInLargeFragment: a peer that sends part of a large fragment and then closes its
// sending side gets its connection closed (a half-sent record is an error), promptly, though
// the server was waiting for a mark of bytes.
func TestPeerStopsInLargeFragment(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		c := rawDial(t, addr)
		call := frame(rawCall(4, 2, testProg, 1, procEcho, NoAuth, echoArgs(1<<20)))
		trickle(t, c, call[:300<<10], 100<<10)
		time.Sleep(30 * time.Millisecond)
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c)
	})
}
