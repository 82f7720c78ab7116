package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/rpc/xdr"
)

func TestEcho(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		c := dial(t, tr, addr)
		ctx := context.Background()
		for _, n := range []int{0, 1, 3, 4, 100, 4096, 1 << 20} {
			args := bytes.Repeat([]byte{byte(n)}, n)
			res, err := c.Call(ctx, testProg, 1, procEcho, args, NoAuth)
			if err != nil {
				t.Fatalf("echo %d: %v", n, err)
			}
			if !bytes.Equal(res, args) {
				t.Fatalf("echo %d: got %d bytes", n, len(res))
			}
		}
		if c.Info().Transport != tr.Name() || c.Info().ClientID == "" {
			t.Fatalf("info %+v", c.Info())
		}
	})
}

func TestAcceptStats(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		s := NewServer(ServerOptions{Transport: tr})
		s.Register(testProg, 2, testHandler())
		s.Register(testProg, 4, testHandler())
		addr, err := s.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c := dial(t, tr, addr.String())
		ctx := context.Background()

		_, err = c.Call(ctx, testProg, 3, procNull, nil, NoAuth)
		var re *Error
		if !errors.As(err, &re) || re.Stat != MsgAccepted || re.Accept != ProgMismatch || re.Low != 2 || re.High != 4 {
			t.Fatalf("version 3: %v", err)
		}
		if !errors.Is(err, unix.EPROTONOSUPPORT) || graph.Errno(err) != unix.EPROTONOSUPPORT {
			t.Fatalf("PROG_MISMATCH errno: %v", err)
		}
		_, err = c.Call(ctx, testProg+1, 2, procNull, nil, NoAuth)
		if !errors.As(err, &re) || re.Accept != ProgUnavail {
			t.Fatalf("unknown program: %v", err)
		}
		_, err = c.Call(ctx, testProg, 2, 99, nil, NoAuth)
		if !errors.As(err, &re) || re.Accept != ProcUnavail || graph.Errno(err) != unix.EOPNOTSUPP {
			t.Fatalf("unknown procedure: %v", err)
		}
		for _, st := range []AcceptStat{ProcUnavail, GarbageArgs, SystemErr} {
			_, err = c.Call(ctx, testProg, 4, procErr, u32(uint32(st)), NoAuth)
			if !errors.As(err, &re) || re.Accept != st {
				t.Fatalf("%v: %v", st, err)
			}
		}
		// A handler returning PROG_MISMATCH gets the registered range filled in.
		_, err = c.Call(ctx, testProg, 4, procErr, u32(uint32(ProgMismatch)), NoAuth)
		if !errors.As(err, &re) || re.Accept != ProgMismatch || re.Low != 2 || re.High != 4 {
			t.Fatalf("handler PROG_MISMATCH: %v", err)
		}
		for _, st := range []AuthStat{AuthTooWeak, AuthBadCred} {
			_, err = c.Call(ctx, testProg, 2, procAuth, u32(uint32(st)), NoAuth)
			if !errors.As(err, &re) || re.Stat != MsgDenied || re.Reject != AuthError || re.Auth != st || graph.Errno(err) != unix.EACCES {
				t.Fatalf("%v: %v", st, err)
			}
		}
		// The connection survived every error.
		if _, err := c.Call(ctx, testProg, 2, procNull, nil, NoAuth); err != nil {
			t.Fatal(err)
		}
		if got := s.Programs(); len(got) != 2 || got[0] != [2]uint32{testProg, 2} || got[1] != [2]uint32{testProg, 4} {
			t.Fatalf("Programs %v", got)
		}
	})
}

func TestRegisterDuplicatePanics(t *testing.T) {
	s := NewServer(ServerOptions{Transport: NetTransport()})
	s.Register(1, 1, testHandler())
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	s.Register(1, 1, testHandler())
}

func TestAuthSys(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		c := dial(t, tr, addr)
		ctx := context.Background()
		p := AuthSysParms{Stamp: 7, MachineName: "client.example", UID: 1000, GID: 100, GIDs: []uint32{4, 24, 27}}
		cred, err := p.Auth()
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Call(ctx, testProg, 1, procCred, nil, cred)
		if err != nil {
			t.Fatal(err)
		}
		d := xdr.NewDecoder(res)
		uid, gid, n := d.Uint32(), d.Uint32(), d.Uint32()
		var groups []uint32
		for i := uint32(0); i < n && d.Err() == nil; i++ {
			groups = append(groups, d.Uint32())
		}
		machine, cid := d.String(255), d.String(1000)
		if d.Err() != nil || uid != 1000 || gid != 100 || fmt.Sprint(groups) != "[4 24 27]" || machine != "client.example" {
			t.Fatalf("got uid %d gid %d groups %v machine %q err %v", uid, gid, groups, machine, d.Err())
		}
		if !strings.HasPrefix(cid, "127.0.0.1:") || !strings.Contains(cid, "#") {
			t.Fatalf("client id %q", cid)
		}
		// AUTH_NONE maps to nobody.
		res, err = c.Call(ctx, testProg, 1, procCred, nil, NoAuth)
		if err != nil {
			t.Fatal(err)
		}
		if d := xdr.NewDecoder(res); d.Uint32() != Nobody || d.Int32() != Nobody {
			t.Fatalf("AUTH_NONE creds %x", res)
		}
		// Malformed AUTH_SYS and unknown flavors: AUTH_BADCRED.
		bad := []OpaqueAuth{
			{Flavor: AuthSys, Body: []byte{0, 0, 0}},
			{Flavor: AuthSys, Body: append(p.Append(nil), 0, 0, 0, 0)},                                              // trailing bytes
			{Flavor: AuthSys, Body: (&AuthSysParms{GIDs: make([]uint32, 17)}).Append(nil)},                          // 17 groups
			{Flavor: AuthSys, Body: (&AuthSysParms{MachineName: strings.Repeat("m", 256)}).Append(nil)},             // long name
			{Flavor: AuthSys, Body: xdr.AppendUint32(xdr.AppendUint32(xdr.AppendUint32(u32(1), 0), 0), 0xffffffff)}, // huge count
			{Flavor: AuthDH},
		}
		for i, cr := range bad {
			_, err := c.Call(ctx, testProg, 1, procNull, nil, cr)
			var re *Error
			if !errors.As(err, &re) || re.Reject != AuthError || re.Auth != AuthBadCred {
				t.Fatalf("bad cred %d: %v", i, err)
			}
		}
	})
}

func TestCustomAuthenticator(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		const flavor = AuthGlusterFSv2
		_, addr := startServer(t, tr, ServerOptions{Authenticators: map[AuthFlavor]Authenticator{
			flavor: func(cred *Credential, conn *ConnInfo) (*graph.Creds, AuthStat) {
				if len(cred.Body) != 8 {
					return nil, AuthBadCred
				}
				return &graph.Creds{UID: binary.BigEndian.Uint32(cred.Body), GID: binary.BigEndian.Uint32(cred.Body[4:]), ClientID: conn.ClientID}, AuthOK
			},
			AuthNone: func(*Credential, *ConnInfo) (*graph.Creds, AuthStat) { return nil, AuthTooWeak },
		}})
		c := dial(t, tr, addr)
		res, err := c.Call(context.Background(), testProg, 1, procCred, nil, OpaqueAuth{Flavor: flavor, Body: []byte{0, 0, 0, 5, 0, 0, 0, 6}})
		if err != nil {
			t.Fatal(err)
		}
		if d := xdr.NewDecoder(res); d.Uint32() != 5 || d.Uint32() != 6 {
			t.Fatalf("creds %x", res)
		}
		_, err = c.Call(context.Background(), testProg, 1, procNull, nil, NoAuth)
		var re *Error
		if !errors.As(err, &re) || re.Auth != AuthTooWeak {
			t.Fatalf("AUTH_NONE: %v", err)
		}
	})
}

func TestRawWire(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		c := rawDial(t, addr)
		// RPC_MISMATCH for rpcvers 3 (RFC 5531 §9: low = high = 2).
		if _, err := c.Write(frame(rawCall(77, 3, testProg, 1, procNull, NoAuth, nil))); err != nil {
			t.Fatal(err)
		}
		rec, err := readRecord(c)
		if err != nil {
			t.Fatal(err)
		}
		want := append(xdr.AppendUint32(xdr.AppendUint32(xdr.AppendUint32(u32(77), 1), 1), 0), append(u32(2), u32(2)...)...)
		if !bytes.Equal(rec, want) {
			t.Fatalf("RPC_MISMATCH reply %x, want %x", rec, want)
		}
		// Exact bytes of an accepted SUCCESS reply: xid, REPLY, MSG_ACCEPTED, AUTH_NONE verf, SUCCESS, results.
		if _, err := c.Write(frame(rawCall(78, 2, testProg, 1, procEcho, NoAuth, []byte("abcd")))); err != nil {
			t.Fatal(err)
		}
		rec, err = readRecord(c)
		if err != nil {
			t.Fatal(err)
		}
		want = []byte{0, 0, 0, 78, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c', 'd'}
		if !bytes.Equal(rec, want) {
			t.Fatalf("reply %x, want %x", rec, want)
		}
		// Truncated credential: AUTH_BADCRED; truncated verifier: AUTH_BADVERF.
		msg := rawCall(79, 2, testProg, 1, procNull, OpaqueAuth{Flavor: AuthSys, Body: make([]byte, 40)}, nil)
		if _, err := c.Write(frame(msg[:24+8+20])); err != nil {
			t.Fatal(err)
		}
		rec, err = readRecord(c)
		if err != nil || !bytes.Equal(rec, appendRejectedReply(nil, 79, AuthError, AuthBadCred)) {
			t.Fatalf("truncated cred: %x %v", rec, err)
		}
		msg = rawCall(80, 2, testProg, 1, procNull, NoAuth, nil)
		if _, err := c.Write(frame(msg[:len(msg)-4])); err != nil {
			t.Fatal(err)
		}
		rec, err = readRecord(c)
		if err != nil || !bytes.Equal(rec, appendRejectedReply(nil, 80, AuthError, AuthBadVerf)) {
			t.Fatalf("truncated verf: %x %v", rec, err)
		}
	})
}

// TestFragments sends records split into many fragments, including a zero-length last one.
func TestFragments(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		c := rawDial(t, addr)
		payload := make([]byte, 10000)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		msg := rawCall(5, 2, testProg, 1, procEcho, NoAuth, payload)
		cases := []struct {
			name  string
			sizes []int // fragment sizes; the remainder goes in the last one
		}{
			{"two", []int{13}},
			{"zero-last", []int{len(msg)}},
			{"empty-first", []int{0, 0, 100}},
			{"bytewise-header", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
			{"many", func() []int {
				s := make([]int, 500)
				for i := range s {
					s[i] = 17
				}
				return s
			}()},
		}
		for _, tc := range cases {
			var wire []byte
			rest := msg
			for _, n := range tc.sizes {
				n = min(n, len(rest))
				wire = append(xdr.AppendUint32(wire, uint32(n)), rest[:n]...)
				rest = rest[n:]
			}
			wire = append(xdr.AppendUint32(wire, uint32(len(rest))|lastFragmentBit), rest...)
			// Dribble the bytes in small writes to exercise partial headers.
			for len(wire) > 0 {
				n := min(len(wire), 1+rand.IntN(700))
				if _, err := c.Write(wire[:n]); err != nil {
					t.Fatal(err)
				}
				wire = wire[n:]
			}
			rec, err := readRecord(c)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if len(rec) != 24+len(payload) || !bytes.Equal(rec[24:], payload) {
				t.Fatalf("%s: reply of %d bytes", tc.name, len(rec))
			}
		}
	})
}

func TestMalformedInput(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{MaxRecordSize: 1 << 20})
		good := dial(t, tr, addr)
		check := func() {
			t.Helper()
			if _, err := good.Call(context.Background(), testProg, 1, procEcho, []byte("ok"), NoAuth); err != nil {
				t.Fatalf("server stopped serving: %v", err)
			}
		}
		cases := map[string][]byte{
			"huge fragment":       u32(0x7fffffff | lastFragmentBit),
			"over max":            u32(1<<20 + 1),
			"over max in pieces":  append(append(u32(1<<19), make([]byte, 1<<19)...), u32(1<<19+8|lastFragmentBit)...),
			"short message":       frame([]byte{1, 2, 3}),
			"unknown msg type":    frame(append(u32(1), u32(7)...)),
			"no procedure":        frame(rawCall(1, 2, testProg, 1, 0, NoAuth, nil)[:20]),
			"empty record":        frame(nil),
			"garbage short reply": frame(append(u32(1), u32(1)...)),
		}
		for name, wire := range cases {
			c := rawDial(t, addr)
			if _, err := c.Write(wire); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			expectClosed(t, c)
			check()
		}
		// A truncated record followed by close: the server just drops the connection.
		c := rawDial(t, addr)
		_, _ = c.Write(append(u32(100|lastFragmentBit), 1, 2, 3))
		_ = c.Close()
		check()
		// A reply to nothing (unknown xid) is ignored; the connection keeps working.
		c = rawDial(t, addr)
		_, _ = c.Write(frame(appendAcceptedReply(nil, 12345, Success, 0, 0)))
		_, _ = c.Write(frame(rawCall(9, 2, testProg, 1, procNull, NoAuth, nil)))
		if rec, err := readRecord(c); err != nil || binary.BigEndian.Uint32(rec) != 9 {
			t.Fatalf("after stray reply: %x %v", rec, err)
		}
		check()
	})
}

// TestConcurrentCalls runs 1000 calls at once on one connection with random delays, so the
// replies come back out of order.
func TestConcurrentCalls(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		c := dial(t, tr, addr)
		const n = 1000
		var wg sync.WaitGroup
		errs := make(chan error, n)
		var order []uint32
		var mu sync.Mutex
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				ms := uint32(rand.IntN(20))
				args := xdr.AppendUint32(u32(ms), uint32(i))
				res, err := c.Call(context.Background(), testProg, 1, procSlow, args, NoAuth)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(res, args) {
					errs <- fmt.Errorf("call %d got %x", i, res)
					return
				}
				mu.Lock()
				order = append(order, uint32(i))
				mu.Unlock()
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		inOrder := true
		for i := 1; i < len(order); i++ {
			if order[i] < order[i-1] {
				inOrder = false
			}
		}
		if len(order) != n || inOrder {
			t.Fatalf("%d replies, in order %v", len(order), inOrder)
		}
	})
}

// TestBackPressure: with a slow handler the server stops reading at MaxInFlight calls but
// loses none.
func TestBackPressure(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		const limit = 4
		release := make(chan struct{})
		var running, peak, served atomic.Int32
		s := NewServer(ServerOptions{Transport: tr, MaxInFlight: limit})
		s.Register(testProg, 1, HandlerFunc(func(ctx context.Context, c *Call, r *Reply) AcceptStat {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-release
			running.Add(-1)
			served.Add(1)
			r.Write(c.Args)
			return Success
		}))
		addr, err := s.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c := dial(t, tr, addr.String())
		const n = 200
		var wg sync.WaitGroup
		var failed atomic.Int32
		big := make([]byte, 16<<10) // enough to fill the socket buffers while paused
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				args := append(u32(uint32(i)), big...)
				res, err := c.Call(context.Background(), testProg, 1, 0, args, NoAuth)
				if err != nil || !bytes.Equal(res, args) {
					failed.Add(1)
				}
			}(i)
		}
		waitFor(t, "handlers to block", func() bool { return running.Load() == limit })
		time.Sleep(100 * time.Millisecond)
		if p := peak.Load(); p > limit {
			t.Fatalf("%d handlers at once, limit %d", p, limit)
		}
		if sv := served.Load(); sv != 0 {
			t.Fatalf("served %d", sv)
		}
		close(release)
		wg.Wait()
		if f := failed.Load(); f != 0 || served.Load() != n || peak.Load() > limit {
			t.Fatalf("failed %d served %d peak %d", f, served.Load(), peak.Load())
		}
	})
}

func TestCancelAndLateReply(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		_, addr := startServer(t, tr, ServerOptions{})
		c := dial(t, tr, addr)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		_, err := c.Call(ctx, testProg, 1, procSlow, u32(200), NoAuth)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
		c.mu.Lock()
		np := len(c.pending)
		c.mu.Unlock()
		if np != 0 {
			t.Fatalf("%d pending after cancel", np)
		}
		// A dropped call never gets a reply; ctx ends it.
		ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel2()
		if _, err := c.Call(ctx2, testProg, 1, procDrop, nil, NoAuth); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("dropped: %v", err)
		}
		time.Sleep(250 * time.Millisecond) // the late reply arrives and is discarded
		res, err := c.Call(context.Background(), testProg, 1, procEcho, []byte("next"), NoAuth)
		if err != nil || string(res) != "next" {
			t.Fatalf("after late reply: %q %v", res, err)
		}
	})
}

func TestConnDeathFailsPending(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		s, addr := startServer(t, tr, ServerOptions{})
		c := dial(t, tr, addr)
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.Call(context.Background(), testProg, 1, procSlow, u32(10000), NoAuth)
				errs <- err
			}()
		}
		waitFor(t, "calls in flight", func() bool { return len(s.Conns()) == 1 })
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		_ = s.Close()
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, unix.ENOTCONN) {
				t.Fatalf("pending call: %v", err)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed")
		}
		if !errors.Is(c.Err(), unix.ENOTCONN) {
			t.Fatalf("Err %v", c.Err())
		}
		if _, err := c.Call(context.Background(), testProg, 1, procNull, nil, NoAuth); !errors.Is(err, unix.ENOTCONN) {
			t.Fatalf("call after death: %v", err)
		}
	})
}

func TestShutdownWithCallsInFlight(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		var disconnected atomic.Int32
		s, addr := startServer(t, tr, ServerOptions{OnDisconnect: func(*Conn) { disconnected.Add(1) }})
		c := dial(t, tr, addr)
		var wg sync.WaitGroup
		var ok atomic.Int32
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Call(context.Background(), testProg, 1, procSlow, u32(100), NoAuth); err == nil {
					ok.Add(1)
				}
			}()
		}
		time.Sleep(30 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if ok.Load() != 20 {
			t.Fatalf("%d of 20 calls answered", ok.Load())
		}
		waitFor(t, "disconnect hook", func() bool { return disconnected.Load() == 1 })
		if _, err := Dial(ctx, "tcp", addr, &ClientOptions{Transport: tr}); err == nil {
			t.Fatal("dial after shutdown succeeded")
		}
	})
}

func TestShutdownTimeout(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		s, addr := startServer(t, tr, ServerOptions{})
		c := dial(t, tr, addr)
		go func() { _, _ = c.Call(context.Background(), testProg, 1, procSlow, u32(10000), NoAuth) }()
		waitFor(t, "connection", func() bool { return len(s.Conns()) == 1 })
		time.Sleep(30 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("client not disconnected")
		}
	})
}

func TestDetachAndPayload(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		var released atomic.Int32
		data := bytes.Repeat([]byte("0123456789"), 100001) // 1000010 bytes: needs padding
		s := NewServer(ServerOptions{Transport: tr})
		s.Register(testProg, 1, HandlerFunc(func(ctx context.Context, c *Call, r *Reply) AcceptStat {
			switch c.Proc {
			case 1: // async
				args := append([]byte(nil), c.Args...)
				r.Detach()
				go func() {
					time.Sleep(10 * time.Millisecond)
					r.AppendOpaque(args)
					if err := r.Send(Success); err != nil {
						panic(err)
					}
					if err := r.Send(Success); !errors.Is(err, unix.EALREADY) {
						panic("second Send")
					}
				}()
				return SystemErr // ignored
			case 2: // zero-copy payload between results
				r.AppendUint32(1)
				r.AppendOpaquePayload(data, func() { released.Add(1) })
				r.AppendUint32(2)
				r.AppendPayload([]byte("raw!"), func() { released.Add(1) })
				return Success
			case 3: // payload then error: payload released, not sent
				r.AppendOpaquePayload(data, func() { released.Add(1) })
				return GarbageArgs
			case 4: // echo Args (the client sent a payload)
				r.Write(c.Args)
				return Success
			case 5:
				time.Sleep(300 * time.Millisecond)
				return Success
			}
			return ProcUnavail
		}))
		addr, err := s.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c := dial(t, tr, addr.String())
		ctx := context.Background()
		res, err := c.Call(ctx, testProg, 1, 1, []byte("later"), NoAuth)
		if d := xdr.NewDecoder(res); err != nil || string(d.Opaque(10)) != "later" {
			t.Fatalf("async: %q %v", res, err)
		}
		res, err = c.Call(ctx, testProg, 1, 2, nil, NoAuth)
		if err != nil {
			t.Fatal(err)
		}
		d := xdr.NewDecoder(res)
		if d.Uint32() != 1 || !bytes.Equal(d.Opaque(1<<21), data) || d.Uint32() != 2 || string(d.Rest()) != "raw!" {
			t.Fatalf("payload reply of %d bytes wrong (%v)", len(res), d.Err())
		}
		var re *Error
		if _, err = c.Call(ctx, testProg, 1, 3, nil, NoAuth); !errors.As(err, &re) || re.Accept != GarbageArgs {
			t.Fatalf("payload+error: %v", err)
		}
		waitFor(t, "payload release", func() bool { return released.Load() == 3 })
		var sent atomic.Bool
		res, err = c.Do(ctx, &Request{Prog: testProg, Vers: 1, Proc: 4, Args: []byte("hdr:"), Payload: [][]byte{data, xdr.PadBytes(len(data))}, OnSent: func() { sent.Store(true) }})
		if err != nil || len(res) != 4+len(data)+2 || !bytes.Equal(res[4:4+len(data)], data) || !sent.Load() {
			t.Fatalf("request payload: %d bytes %v sent %v", len(res), err, sent.Load())
		}
		// Explicit XIDs: used as given; one in flight → EEXIST.
		done := make(chan error, 1)
		go func() {
			_, err := c.Do(ctx, &Request{Prog: testProg, Vers: 1, Proc: 5, XID: 424242})
			done <- err
		}()
		waitFor(t, "xid in flight", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.pending[424242] != nil
		})
		if _, err := c.Do(ctx, &Request{Prog: testProg, Vers: 1, Proc: 4, XID: 424242}); !errors.Is(err, unix.EEXIST) {
			t.Fatalf("duplicate xid: %v", err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestBackchannel: the server calls back to the client on the same connection while serving
// the client's call.
func TestBackchannel(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		const cbProg = 0x40000001
		var connected atomic.Pointer[Conn]
		s := NewServer(ServerOptions{Transport: tr, OnConnect: func(c *Conn) { connected.Store(c) }})
		s.Register(testProg, 1, HandlerFunc(func(ctx context.Context, c *Call, r *Reply) AcceptStat {
			res, err := c.Conn.Call(ctx, cbProg, 1, 1, c.Args, NoAuth)
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
			r.Write([]byte("cb:"))
			r.Write(c.Args)
			return Success
		}))
		c, err := Dial(context.Background(), "tcp", addr.String(), &ClientOptions{Transport: tr, Server: cb})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		res, err := c.Call(context.Background(), testProg, 1, 0, []byte("ping"), NoAuth)
		if err != nil || string(res) != "cb:ping" {
			t.Fatalf("%q %v", res, err)
		}
		// Direct server-initiated call on the stored connection.
		waitFor(t, "OnConnect", func() bool { return connected.Load() != nil })
		res, err = connected.Load().Call(context.Background(), cbProg, 1, 1, []byte("x"), NoAuth)
		if err != nil || string(res) != "cb:x" {
			t.Fatalf("%q %v", res, err)
		}
		// A client without a callback server answers PROG_UNAVAIL.
		plain := dial(t, tr, addr.String())
		var re *Error
		if _, err := plain.Call(context.Background(), testProg, 1, 0, nil, NoAuth); err == nil {
			t.Fatal("expected SYSTEM_ERR")
		} else if !errors.As(err, &re) || re.Accept != SystemErr {
			t.Fatalf("got %v", err)
		}
	})
}

// TestNoLeaks opens and closes many connections, with calls and abrupt closes, and checks that
// file descriptors and goroutines return to their baseline.
func TestNoLeaks(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr Transport) {
		runtime.GC()
		fds0, g0 := countFDs(t), runtime.NumGoroutine()
		s := NewServer(ServerOptions{Transport: tr})
		s.Register(testProg, 1, testHandler())
		addr, err := s.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 30; i++ {
			c, err := Dial(context.Background(), "tcp", addr.String(), &ClientOptions{Transport: tr})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Call(context.Background(), testProg, 1, procEcho, []byte("x"), NoAuth); err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				go func() { _, _ = c.Call(context.Background(), testProg, 1, procSlow, u32(300), NoAuth) }() // the server keeps a half-closed connection until it has answered
			}
			_ = c.Close()
			<-c.Done()
			rc := rawDial(t, addr.String())
			_, _ = rc.Write(u32(0xffffffff))
			_ = rc.Close()
		}
		waitFor(t, "server connections to close", func() bool { return len(s.Conns()) == 0 })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "fds and goroutines to return to baseline", func() bool {
			return countFDs(t) <= fds0 && runtime.NumGoroutine() <= g0+2
		})
	})
}
