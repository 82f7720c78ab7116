package rpc

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestLargeEchoesFillSockets sends large calls and receives large replies concurrently on a few
// connections, so that writes on both sides keep finding the socket full and resume on the
// next writable edge. A lost edge leaves a call unanswered (the deadline catches it); a
// mix-up of queued segments shows as wrong bytes.
func TestLargeEchoesFillSockets(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		conns, callers, rounds := 3, 8, 8
		if testing.Short() {
			rounds = 3
		}
		var wg sync.WaitGroup
		errs := make(chan error, conns*callers)
		for c := 0; c < conns; c++ {
			cl := dial(t, tr, addr)
			for k := 0; k < callers; k++ {
				wg.Add(1)
				go func(c, k int) {
					defer wg.Done()
					args := bytes.Repeat([]byte{byte(c), byte(k), 0x5a, byte(c + k)}, (600<<10+4*k)/4)
					for i := 0; i < rounds; i++ {
						ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
						res, rec, err := cl.DoPooled(ctx, &Request{Prog: testProg, Vers: 1, Proc: procEcho, Args: args})
						cancel()
						if err != nil {
							errs <- fmt.Errorf("conn %d caller %d round %d: %w", c, k, i, err)
							return
						}
						ok := bytes.Equal(res, args)
						rec.Release()
						if !ok {
							errs <- fmt.Errorf("conn %d caller %d round %d: reply differs", c, k, i)
							return
						}
					}
				}(c, k)
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
}
