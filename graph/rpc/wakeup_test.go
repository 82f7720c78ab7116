package rpc

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestNoLostWakeups is the regression test for a lost wake-up in the epoll loop: a request on an
// otherwise idle connection waited until unrelated traffic (the next ping) arrived, because
// RawConn.Read reset the poller's readiness every time the loop re-entered it. Sequential calls
// with idle gaps hit that window; each call must be answered well within a generous bound (a
// hang detector, not a speed assertion).
func TestNoLostWakeups(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		cl := dial(t, tr, addr)
		calls := 300
		if testing.Short() {
			calls = 100
		}
		for i := 0; i < calls; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := cl.Call(ctx, testProg, 1, procEcho, []byte{1, 2, 3, 4}, NoAuth)
			cancel()
			if err != nil {
				t.Fatalf("call %d: %v (a lost wake-up leaves an idle connection's request unanswered)", i, err)
			}
			time.Sleep(time.Duration(i%3) * time.Millisecond)
		}
	})
}

// TestNoLostWakeupsConcurrent runs sequential callers on many connections at once, so events
// arrive while the loop is dispatching others (the window of the lost wake-up); when the other
// callers finish, a request whose wake-up was lost has nothing left to rescue it.
func TestNoLostWakeupsConcurrent(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		conns, calls := 16, 200
		if testing.Short() {
			calls = 50
		}
		errs := make(chan error, conns)
		for c := 0; c < conns; c++ {
			cl := dial(t, tr, addr)
			go func(c int) {
				for i := 0; i < calls; i++ {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := cl.Call(ctx, testProg, 1, procEcho, []byte{byte(c), byte(i), 0, 0}, NoAuth)
					cancel()
					if err != nil {
						errs <- fmt.Errorf("conn %d call %d: %w", c, i, err)
						return
					}
					if (i+c)%7 == 0 {
						time.Sleep(time.Millisecond)
					}
				}
				errs <- nil
			}(c)
		}
		for c := 0; c < conns; c++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestListenerCloseDoesNotHang opens and closes listeners repeatedly: Close posts work to the
// loop and waits for it, so a lost wake-up of the loop hung it (seen in brick processes on
// SIGTERM).
func TestListenerCloseDoesNotHang(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		for i := 0; i < 100; i++ {
			ln, err := tr.Listen("tcp", "127.0.0.1:0", TransportConfig{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { ln.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("listener %d: Close did not return", i)
			}
			time.Sleep(time.Duration(i%3) * time.Millisecond)
		}
	})
}
