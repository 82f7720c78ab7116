package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/weftfs/weft/graph/rpc"
	"golang.org/x/sys/unix"
)

// UDPTransport returns an rpc.Transport that serves ONC RPC over UDP (RFC 5531 §11 does not
// apply: one datagram is one message, without record marking). rpcinfo and showmount send their
// portmap and MOUNT calls over UDP first, so the gateway answers portmap and MOUNT there too.
//
// Each datagram becomes a short-lived connection of its own for the rpc layer: it is opened,
// its one record delivered, its read side ended, and it closes once the reply is written.
// Credentials, dispatch and PROG_MISMATCH answers are therefore exactly those of TCP. Replies
// larger than a datagram (MaxUDPMessage) are not sent (the client times out; large results
// belong on TCP). Dial is not supported.
func UDPTransport() rpc.Transport { return udpTransport{} }

// MaxUDPMessage is the largest reply sent over UDP (the IPv4 datagram payload limit).
const MaxUDPMessage = 65507

type udpTransport struct{}

func (udpTransport) Name() string { return "udp" }

func (udpTransport) Listen(network, address string, cfg rpc.TransportConfig, h rpc.ConnHandler) (rpc.Listener, error) {
	switch network {
	case "tcp":
		network = "udp"
	case "tcp4":
		network = "udp4"
	case "tcp6":
		network = "udp6"
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		// Learn each datagram's destination address (IP_PKTINFO): rpcbind's GETADDR answers
		// with the address the caller used, which a wildcard socket does not know otherwise.
		return rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		})
	}}
	pc, err := lc.ListenPacket(context.Background(), network, address)
	if err != nil {
		return nil, fmt.Errorf("rpc: listen %s %s: %w", network, address, err)
	}
	max := cfg.MaxRecordSize
	if max <= 0 || max > 1<<16 {
		max = 1 << 16
	}
	l := &udpListener{pc: pc, h: h, max: max, done: make(chan struct{})}
	go l.loop()
	return l, nil
}

func (udpTransport) Dial(ctx context.Context, network, address string, cfg rpc.TransportConfig, h rpc.ConnHandler) (rpc.TransportConn, error) {
	return nil, fmt.Errorf("rpc: the UDP transport only serves: %w", unix.EPROTONOSUPPORT)
}

type udpListener struct {
	pc   net.PacketConn
	h    rpc.ConnHandler
	max  int
	done chan struct{}
	once sync.Once
}

func (l *udpListener) Addr() net.Addr { return l.pc.LocalAddr() }

func (l *udpListener) Close() error {
	var err error
	l.once.Do(func() { err = l.pc.Close() })
	<-l.done
	return err
}

func (l *udpListener) loop() {
	defer close(l.done)
	buf := make([]byte, l.max+1)
	oob := make([]byte, 256)
	uc, _ := l.pc.(*net.UDPConn)
	for {
		var n int
		var from net.Addr
		var err error
		local := l.pc.LocalAddr()
		if uc != nil {
			var oobn int
			var ua *net.UDPAddr
			n, oobn, _, ua, err = uc.ReadMsgUDP(buf, oob)
			if ua != nil {
				from = ua
			}
			if err == nil {
				local = destAddr(oob[:oobn], local)
			}
		} else {
			n, from, err = l.pc.ReadFrom(buf)
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors reported on the socket and the like
		}
		if n < 4 || n > l.max {
			continue // not an RPC message, or truncated
		}
		rec := rpc.GetBuffer(n)
		rec.B = append(rec.B, buf[:n]...)
		c := &udpConn{l: l, to: from, info: rpc.NewConnInfo("udp", local, from)}
		if ua, ok := from.(*net.UDPAddr); ok && ua.Port > 0 && ua.Port < 1024 {
			c.info.Privileged = true
		}
		c.delivering = true
		c.ev = l.h.Opened(c)
		c.ev.Record(c, rec)
		c.ev.ReadEOF(c)
		c.mu.Lock()
		c.delivering = false
		fire := c.closed && !c.reported
		c.reported = c.reported || fire
		c.mu.Unlock()
		if fire {
			c.ev.Closed(c, nil)
		}
	}
}

// udpConn is one datagram's exchange: the call received from to and the reply sent back.
type udpConn struct {
	l    *udpListener
	to   net.Addr
	info *rpc.ConnInfo
	ev   rpc.ConnEvents

	mu         sync.Mutex
	delivering bool // the loop is still calling Record/ReadEOF
	closed     bool
	reported   bool // Closed was called
}

func (c *udpConn) Info() *rpc.ConnInfo { return c.info }
func (c *udpConn) PauseRead()          {}
func (c *udpConn) ResumeRead()         {}

// Send writes each record of segs (record marks removed) as one datagram to the caller.
func (c *udpConn) Send(segs [][]byte, done func()) error {
	defer func() {
		if done != nil {
			done()
		}
	}()
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return fmt.Errorf("rpc: send on a finished UDP exchange with %s: %w", c.to, unix.ENOTCONN)
	}
	n := 0
	for _, s := range segs {
		n += len(s)
	}
	stream := make([]byte, 0, n)
	for _, s := range segs {
		stream = append(stream, s...)
	}
	var msg []byte
	for len(stream) >= 4 {
		mark := binary.BigEndian.Uint32(stream)
		flen := int(mark &^ (1 << 31))
		if flen > len(stream)-4 {
			return fmt.Errorf("rpc: UDP send: truncated record: %w", unix.EINVAL)
		}
		msg = append(msg, stream[4:4+flen]...)
		stream = stream[4+flen:]
		if mark&(1<<31) == 0 {
			continue
		}
		if len(msg) <= MaxUDPMessage {
			if _, err := c.l.pc.WriteTo(msg, c.to); err != nil {
				return fmt.Errorf("rpc: UDP reply to %s: %w", c.to, err)
			}
		}
		msg = msg[:0]
	}
	return nil
}

// Close ends the exchange; Closed is reported once, after the datagram's events.
func (c *udpConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	fire := !c.delivering && !c.reported
	c.reported = c.reported || fire
	c.mu.Unlock()
	if fire {
		c.ev.Closed(c, nil)
	}
	return nil
}

// destAddr returns the destination address of a datagram from its IP_PKTINFO/IPV6_PKTINFO
// control message, with the listener's port; def when there is none.
func destAddr(oob []byte, def net.Addr) net.Addr {
	la, ok := def.(*net.UDPAddr)
	if !ok {
		return def
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return def
	}
	for _, m := range msgs {
		var a netip.Addr
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo:
			a = netip.AddrFrom4([4]byte(m.Data[8:12])) // struct in_pktinfo: ifindex, spec_dst, addr
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo:
			a = netip.AddrFrom16([16]byte(m.Data[:16])) // struct in6_pktinfo: addr, ifindex
		default:
			continue
		}
		return net.UDPAddrFromAddrPort(netip.AddrPortFrom(a.Unmap(), uint16(la.Port)))
	}
	return def
}
