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
