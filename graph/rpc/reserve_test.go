package rpc

import (
	"context"
	"encoding/binary"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weftfs/weft/graph/rpc/xdr"
)

// TestRecordReaderBudgetExhausted checks that a fragment header does not reserve the announced
// length when the process-wide budget is spent: the record starts small, grows as its bytes
// arrive, and is still delivered whole and intact.
func TestRecordReaderBudgetExhausted(t *testing.T) {

	msg := make([]byte, 1<<20+200)
	for i := range msg {
		msg[i] = byte(i * 13)
	}
	rr := newRecordReader(0)
	rr.budget = newBudget(0)
	wire := encodeRecord(msg)
	if _, err := rr.feed(wire[:8], func(*Buffer) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if c := cap(rr.rec.B); c > 2*eagerReserve {
		t.Fatalf("header of a %d-byte fragment reserved %d bytes with no budget left", len(msg), c)
	}
	var got *Buffer
	for off := 8; off < len(wire); off += 3000 {
		if _, err := rr.feed(wire[off:min(off+3000, len(wire))], func(b *Buffer) bool { got = b; return true }); err != nil {
			t.Fatal(err)
		}
		if rr.rec != nil && cap(rr.rec.B) > classSize(bufClass(len(msg))) {
			t.Fatalf("record grew to %d bytes for %d", cap(rr.rec.B), len(msg))
		}
	}
	if got == nil || string(got.B) != string(msg) {
		t.Fatal("record not delivered intact")
	}
	got.Release()
	if a := rr.budget.avail.Load(); a != 0 {
		t.Fatalf("budget %d after use, want 0", a)
	}
}

// TestRecordReaderBudgetReturned checks that a reservation goes back to the budget when its
// fragment is complete and when the stream is abandoned half-way.
func TestRecordReaderBudgetReturned(t *testing.T) {
	b := newBudget(8 << 20)
	rr := newRecordReader(0)
	rr.budget = b
	hdr := xdr.AppendUint32(nil, 1<<20|lastFragmentBit)
	if _, err := rr.feed(append(hdr, 1, 2, 3), func(*Buffer) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if a := b.avail.Load(); a == 8<<20 {
		t.Fatalf("budget %d: nothing taken for a reserved 1 MiB fragment", a)
	}
	rr.release()
	if a := b.avail.Load(); a != 8<<20 {
		t.Fatalf("budget %d after release, want %d", a, 8<<20)
	}
	rr = newRecordReader(0)
	rr.budget = b
	var got *Buffer
	if _, err := rr.feed(encodeRecord(make([]byte, 1<<20)), func(b *Buffer) bool { got = b; return true }); err != nil || got == nil {
		t.Fatal(err)
	}
	got.Release()
	if a := b.avail.Load(); a != 8<<20 {
		t.Fatalf("budget %d after a complete record, want %d", a, 8<<20)
	}
}

// TestManyConnectionsAnnouncingMaxRecords opens 1024 connections that each send only a
// fragment header announcing a maximum-size record, and checks that the server did not
// allocate anything near 1024 × DefaultMaxRecordSize (over 4 GiB) for them.
func TestManyConnectionsAnnouncingMaxRecords(t *testing.T) {
	const conns = 1024
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		var headers atomic.Int64
		hook := func(flen int) {
			if flen == DefaultMaxRecordSize-1 {
				headers.Add(1)
			}
		}
		fragmentHeaderHook.Store(&hook)
		defer fragmentHeaderHook.Store(nil)
		runtime.GC() // twice: empty the buffer pools (and their victim caches), so that
		runtime.GC() // what the headers cost shows up as new allocation
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], (DefaultMaxRecordSize-1)|lastFragmentBit)
		cs := make([]net.Conn, 0, conns)
		defer func() {
			for _, c := range cs {
				c.Close()
			}
		}()
		for i := 0; i < conns; i++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
			cs = append(cs, c)
			if _, err := c.Write(hdr[:]); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for headers.Load() < conns {
			if time.Now().After(deadline) {
				t.Fatalf("server read %d of %d headers", headers.Load(), conns)
			}
			time.Sleep(5 * time.Millisecond)
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		// Bound: the budget plus eagerReserve per connection, plus the connections' own state
		// (generous: goroutines, buffers of the net transport's readers).
		limit := uint64(DefaultReserveBudget + conns*eagerReserve + 256<<20)
		t.Logf("%d connections announcing %d-byte records: %d MiB allocated (limit %d MiB, unbounded %d MiB)",
			conns, DefaultMaxRecordSize-1, alloc>>20, limit>>20, uint64(conns)*DefaultMaxRecordSize>>20)
		if alloc > limit {
			t.Fatalf("allocated %d MiB for %d record headers, limit %d MiB", alloc>>20, conns, limit>>20)
		}
	})
}

// TestDoPooled checks that DoPooled's results live in the returned record buffer (released by
// the caller) and that a failed call returns no buffer.
func TestDoPooled(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		cl := dial(t, tr, addr)
		args := make([]byte, 200<<10)
		for i := range args {
			args[i] = byte(i * 3)
		}
		for i := 0; i < 3; i++ {
			res, rec, err := cl.DoPooled(context.Background(), &Request{Prog: testProg, Vers: 1, Proc: procEcho, Args: args})
			if err != nil {
				t.Fatal(err)
			}
			if rec == nil || len(res) != len(args) || string(res) != string(args) {
				t.Fatalf("echo: %d bytes, buffer %v", len(res), rec != nil)
			}
			if b := rec.B[:cap(rec.B)]; &res[0] != &b[len(rec.B)-len(res)] {
				t.Fatal("results do not alias the record buffer")
			}
			rec.Release()
		}
		_, rec, err := cl.DoPooled(context.Background(), &Request{Prog: testProg, Vers: 1, Proc: 99})
		if err == nil || rec != nil {
			t.Fatalf("unknown procedure: err %v, buffer %v", err, rec != nil)
		}
	})
}
