package drc

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzKey exercises the key path of the duplicate request cache with any client address, call
// header and arguments: a key is a pure function of its inputs, a call is executed once
// (Miss, then InProgress while running), its saved reply is replayed byte for byte, a call with
// other arguments or another XID is not mistaken for it, and the cache stays bounded.
//
//	go test -run '^$' -fuzz FuzzKey -fuzztime 5m ./gateway/drc/
func FuzzKey(f *testing.F) {
	c := New(64)
	f.Add([]byte{192, 0, 2, 1}, uint32(7), uint32(100003), uint32(3), uint32(8), []byte("create a"), []byte("reply"))
	f.Add(bytes.Repeat([]byte{0x20}, 16), uint32(0), uint32(100005), uint32(1), uint32(1), []byte{}, []byte{})
	f.Add([]byte{}, uint32(1<<31), uint32(0), uint32(0), uint32(0), []byte{0}, bytes.Repeat([]byte{1}, 300))
	f.Fuzz(func(t *testing.T, ip []byte, xid, prog, vers, proc uint32, args, reply []byte) {
		addr, ok := netip.AddrFromSlice(ip)
		if !ok {
			addr = netip.IPv6Unspecified()
		}
		k := NewKey(addr, xid, prog, vers, proc, args)
		if k != NewKey(addr, xid, prog, vers, proc, append([]byte(nil), args...)) {
			t.Fatal("key is not a function of its inputs")
		}
		if addr.Is4() && k != NewKey(netip.AddrFrom16(addr.As16()), xid, prog, vers, proc, args) {
			t.Fatal("an IPv4-mapped address gives another key")
		}
		st, _ := c.Begin(k)
		if st == InProgress {
			t.Fatal("a key left in progress by an earlier run")
		}
		finished := st == Miss
		if st == Miss {
			if st2, _ := c.Begin(k); st2 != InProgress {
				t.Fatalf("retransmission during execution: %v", st2)
			}
			c.Finish(k, reply)
		}
		st, saved := c.Begin(k)
		if st != Done {
			t.Fatalf("after Finish: %v", st)
		}
		if finished && !bytes.Equal(saved, reply) {
			t.Fatalf("replayed %x, saved %x", saved, reply)
		}
		other := NewKey(addr, xid+1, prog, vers, proc, args)
		if other == k {
			t.Fatal("another XID gives the same key")
		}
		if st, _ := c.Begin(other); st == Miss {
			c.Abort(other)
			if st, _ := c.Begin(other); st != Miss {
				t.Fatalf("after Abort: %v", st)
			}
			c.Abort(other)
		}
		if n := c.Len(); n > 64 {
			t.Fatalf("%d entries in a cache of 64", n)
		}
	})
}
