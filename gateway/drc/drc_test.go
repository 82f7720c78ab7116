package drc

import (
	"net/netip"
	"sync"
	"testing"
)

var cl = netip.MustParseAddr("192.0.2.1")

func TestLifecycle(t *testing.T) {
	c := New(2)
	k := NewKey(cl, 7, 100003, 3, 8, []byte("create a"))
	if st, _ := c.Begin(k); st != Miss {
		t.Fatalf("first: %v", st)
	}
	if st, _ := c.Begin(k); st != InProgress {
		t.Fatalf("retransmit during execution: %v", st)
	}
	c.Finish(k, []byte("reply"))
	st, r := c.Begin(k)
	if st != Done || string(r) != "reply" {
		t.Fatalf("after finish: %v %q", st, r)
	}
	// Same xid, different arguments: a different call.
	k2 := NewKey(cl, 7, 100003, 3, 8, []byte("create b"))
	if st, _ := c.Begin(k2); st != Miss {
		t.Fatalf("other args: %v", st)
	}
	c.Abort(k2)
	if st, _ := c.Begin(k2); st != Miss {
		t.Fatal("aborted key not forgotten")
	}
	c.Finish(k2, []byte("r2"))
	// Same xid from an IPv4-mapped address is the same client.
	if st, _ := c.Begin(NewKey(netip.MustParseAddr("::ffff:192.0.2.1"), 7, 100003, 3, 8, []byte("create a"))); st != Done {
		t.Fatal("mapped address not unmapped")
	}
	// Bounded: a third completed entry evicts the least recently used.
	k3 := NewKey(cl, 9, 100003, 3, 8, nil)
	c.Begin(k3)
	c.Finish(k3, []byte("r3"))
	if c.Len() != 2 {
		t.Fatalf("len %d", c.Len())
	}
	if st, _ := c.Begin(k2); st != Miss {
		t.Fatal("LRU entry not evicted")
	}
	h, d, _ := c.Stats()
	if h != 2 || d != 1 {
		t.Fatalf("stats hits %d drops %d", h, d)
	}
}

func TestConcurrentSingleExecution(t *testing.T) {
	c := New(100)
	k := NewKey(cl, 1, 1, 1, 1, []byte("x"))
	var wg sync.WaitGroup
	var mu sync.Mutex
	news := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, _ := c.Begin(k); st == Miss {
				mu.Lock()
				news++
				mu.Unlock()
				c.Finish(k, []byte("ok"))
			}
		}()
	}
	wg.Wait()
	if news != 1 {
		t.Fatalf("executed %d times", news)
	}
}

// TestKeyHead: the key covers the arguments' length and their first SumLen bytes, not the
// rest (a WRITE's data is not checksummed); calls differing in the head or in length differ.
func TestKeyHead(t *testing.T) {
	a := make([]byte, 1<<20)
	a[0] = 1
	k := NewKey(cl, 9, 100003, 3, 7, a)
	b := append([]byte(nil), a...)
	b[SumLen+10] = 0xff // beyond the head
	if NewKey(cl, 9, 100003, 3, 7, b) != k {
		t.Fatal("bytes after the head changed the key")
	}
	b[SumLen-1] = 0xff
	if NewKey(cl, 9, 100003, 3, 7, b) == k {
		t.Fatal("a change in the head kept the key")
	}
	if NewKey(cl, 9, 100003, 3, 7, a[:len(a)-4]) == k {
		t.Fatal("another length kept the key")
	}
}

// BenchmarkNewKey: the key of a 1 MiB WRITE (go test -bench NewKey ./gateway/drc/).
func BenchmarkNewKey(b *testing.B) {
	a := make([]byte, 1<<20)
	b.SetBytes(int64(len(a)))
	for i := 0; i < b.N; i++ {
		NewKey(cl, uint32(i), 100003, 3, 7, a)
	}
}
