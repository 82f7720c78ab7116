package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// NetTransport returns the portable transport built on the net package: one reader goroutine
// per connection, writes combined with writev (net.Buffers) from the sending goroutine. It is
// the baseline the epoll transport is measured against.
func NetTransport() Transport { return netTransport{} }

type netTransport struct{}

func (netTransport) Name() string { return "net" }

func (t netTransport) Listen(network, address string, cfg TransportConfig, h ConnHandler) (Listener, error) {
	l, err := net.Listen(network, address)
	if err != nil {
		return nil, fmt.Errorf("rpc: listen %s %s: %w", network, address, err)
	}
	nl := &netListener{l: l, cfg: cfg, h: h, done: make(chan struct{})}
	go nl.acceptLoop()
	return nl, nil
}

func (t netTransport) Dial(ctx context.Context, network, address string, cfg TransportConfig, h ConnHandler) (TransportConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("rpc: dial %s %s: %w", network, address, err)
	}
	return startNetConn(c, cfg, h), nil
}

type netListener struct {
	l    net.Listener
	cfg  TransportConfig
	h    ConnHandler
	done chan struct{}
	once sync.Once
}

func (l *netListener) Addr() net.Addr { return l.l.Addr() }

func (l *netListener) Close() error {
	var err error
	l.once.Do(func() { err = l.l.Close() })
	<-l.done
	return err
}

func (l *netListener) acceptLoop() {
	defer close(l.done)
	delay := time.Duration(0)
	for {
		c, err := l.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off instead of spinning.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		startNetConn(c, l.cfg, l.h)
	}
}

type netConn struct {
	c    net.Conn
	info *ConnInfo
	ev   ConnEvents
	max  int

	rmu    sync.Mutex
	rcond  *sync.Cond
	paused bool

	wmu      sync.Mutex
	closed   bool
	closeErr error
	writing  bool
	queue    net.Buffers
	dones    []func()
	spare    net.Buffers
	spareD   []func()
	closedCh chan struct{}
}

func startNetConn(c net.Conn, cfg TransportConfig, h ConnHandler) *netConn {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	nc := &netConn{c: c, info: NewConnInfo("net", c.LocalAddr(), c.RemoteAddr()), max: cfg.MaxRecordSize, closedCh: make(chan struct{})}
	nc.rcond = sync.NewCond(&nc.rmu)
	nc.ev = h.Opened(nc)
	go nc.readLoop()
	return nc
}

func (nc *netConn) Info() *ConnInfo { return nc.info }

func (nc *netConn) PauseRead() {
	nc.rmu.Lock()
	nc.paused = true
	nc.rmu.Unlock()
}

func (nc *netConn) ResumeRead() {
	nc.rmu.Lock()
	nc.paused = false
	nc.rmu.Unlock()
	nc.rcond.Broadcast()
}

// waitReadable blocks while reading is paused; it reports false once the connection is closed.
func (nc *netConn) waitReadable() bool {
	nc.rmu.Lock()
	defer nc.rmu.Unlock()
	for nc.paused && !nc.isClosed() {
		nc.rcond.Wait()
	}
	return !nc.isClosed()
}

func (nc *netConn) isClosed() bool {
	select {
	case <-nc.closedCh:
		return true
	default:
		return false
	}
}

// readLoop owns the connection's life: it delivers records, and it is the one that reports
// Closed, after the last Record.
func (nc *netConn) readLoop() {
	rr := newRecordReader(nc.max)
	br := newNetReader(nc.c)
	var err error
	for {
		if !nc.waitReadable() {
			break
		}
		dst := rr.next()
		n, rerr := br.Read(dst)
		if n > 0 {
			rec, ferr := rr.advance(n)
			if ferr != nil {
				nc.closeWith(ferr)
				break
			}
			if rec != nil {
				nc.ev.Record(nc, rec)
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) && !nc.isClosed() {
				if rr.pending() {
					nc.closeWith(fmt.Errorf("rpc: peer closed the connection in the middle of a record: %w", unix.ECONNRESET))
					break
				}
				nc.ev.ReadEOF(nc)
				<-nc.closedCh
				break
			}
			nc.closeWith(rerr)
			break
		}
	}
	rr.release()
	nc.wmu.Lock()
	err = nc.closeErr
	nc.wmu.Unlock()
	nc.ev.Closed(nc, err)
}

// closeWith closes the connection, recording err (nil for a local Close) as the reason.
func (nc *netConn) closeWith(err error) {
	nc.wmu.Lock()
	if nc.closed {
		nc.wmu.Unlock()
		return
	}
	nc.closed = true
	nc.closeErr = err
	var dones []func()
	if !nc.writing {
		dones = nc.dones
		nc.queue, nc.dones = nil, nil
	}
	close(nc.closedCh)
	nc.wmu.Unlock()
	_ = nc.c.Close()
	nc.rcond.Broadcast()
	for _, d := range dones {
		if d != nil {
			d()
		}
	}
}

func (nc *netConn) Close() error {
	nc.closeWith(nil)
	return nil
}

func (nc *netConn) Send(segs [][]byte, done func()) error {
	nc.wmu.Lock()
	if nc.closed {
		nc.wmu.Unlock()
		if done != nil {
			done()
		}
		return fmt.Errorf("rpc: send on closed connection %s: %w", nc.info.ClientID, unix.ENOTCONN)
	}
	nc.queue = append(nc.queue, segs...)
	nc.dones = append(nc.dones, done)
	if nc.writing {
		nc.wmu.Unlock()
		return nil
	}
	// Become the writer: flush everything queued, including what other goroutines add while
	// this one writes (combining writes into fewer writev calls).
	nc.writing = true
	for len(nc.queue) > 0 && !nc.closed {
		q, d := nc.queue, nc.dones
		nc.queue, nc.dones = nc.spare[:0], nc.spareD[:0]
		nc.wmu.Unlock()
		w := q
		_, err := w.WriteTo(nc.c)
		for i, f := range d {
			if f != nil {
				f()
			}
			d[i] = nil
		}
		clear(q)
		nc.wmu.Lock()
		nc.spare, nc.spareD = q[:0], d[:0]
		if err != nil {
			nc.writing = false
			nc.wmu.Unlock()
			nc.closeWith(err)
			return nil
		}
	}
	nc.writing = false
	var dones []func()
	if nc.closed {
		dones = nc.dones
		nc.queue, nc.dones = nil, nil
	}
	nc.wmu.Unlock()
	for _, f := range dones {
		if f != nil {
			f()
		}
	}
	return nil
}

// netReader is a small read buffer in front of a net.Conn: reads into large destinations go
// straight to the socket; small ones (headers, small records) are served from the buffer.
type netReader struct {
	c    net.Conn
	buf  []byte
	r, w int
}

func newNetReader(c net.Conn) *netReader { return &netReader{c: c, buf: make([]byte, 16<<10)} }

func (b *netReader) Read(p []byte) (int, error) {
	if b.r < b.w {
		n := copy(p, b.buf[b.r:b.w])
		b.r += n
		return n, nil
	}
	if len(p) >= len(b.buf) {
		return b.c.Read(p)
	}
	n, err := b.c.Read(b.buf)
	b.r, b.w = 0, n
	if n > 0 {
		m := copy(p, b.buf[:n])
		b.r = m
		return m, nil
	}
	return 0, err
}
