package rpc

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
)

// ConnInfo describes one connection. It is immutable after the connection is set up.
type ConnInfo struct {
	ID         uint64   // unique among the connections of this process
	ClientID   string   // unique connection identity, used as graph.Creds.ClientID (locks are released per client)
	LocalAddr  net.Addr // our end
	RemoteAddr net.Addr // the peer
	Privileged bool     // the peer's port is below 1024 (a "reserved" port, bindable only by root)
	Transport  string   // the Transport's Name
}

var connSeq atomic.Uint64

// NewConnInfo returns the ConnInfo of a new connection with a fresh ID. Transports call it.
func NewConnInfo(transport string, local, remote net.Addr) *ConnInfo {
	ci := &ConnInfo{ID: connSeq.Add(1), LocalAddr: local, RemoteAddr: remote, Transport: transport}
	if ta, ok := remote.(*net.TCPAddr); ok && ta.Port > 0 && ta.Port < 1024 {
		ci.Privileged = true
	}
	ci.ClientID = fmt.Sprintf("%s#%d", remote, ci.ID)
	return ci
}

// A Transport carries RPC records over stream connections. Two implementations exist:
// NetTransport (portable, net.Conn based) and, on Linux, EpollTransport (an event loop on
// epoll with non-blocking sockets); DefaultTransport picks the best. Users only choose one;
// the methods below are the contract between a transport and the RPC layer.
type Transport interface {
	// Name identifies the transport ("net", "epoll").
	Name() string
	// Listen accepts connections on address (network "tcp", "tcp4" or "tcp6"). For each one
	// it calls h.Opened before reading from it.
	Listen(network, address string, cfg TransportConfig, h ConnHandler) (Listener, error)
	// Dial connects to address and calls h.Opened before reading from the connection.
	Dial(ctx context.Context, network, address string, cfg TransportConfig, h ConnHandler) (TransportConn, error)
}

// TransportConfig holds the settings a transport applies to each connection.
type TransportConfig struct {
	MaxRecordSize int // a larger record closes the connection; 0 means DefaultMaxRecordSize
}

// Listener is a listening socket of a Transport.
type Listener interface {
	Addr() net.Addr
	// Close stops accepting; when it returns no further ConnHandler.Opened call happens.
	// Connections already accepted stay open.
	Close() error
}

// ConnHandler receives the connections of a transport.
type ConnHandler interface {
	// Opened is called once per connection before any of its records is read, and returns
	// the receiver of the connection's events.
	Opened(c TransportConn) ConnEvents
}

// ConnEvents receives the events of one connection. The transport calls them from one
// goroutine at a time per connection, in order; they must not block for long (Record in
// particular runs on an event loop shared with other connections).
type ConnEvents interface {
	// Record delivers one complete record (fragments reassembled, record marks removed).
	// Ownership of rec passes to the receiver, which releases it.
	Record(c TransportConn, rec *Buffer)
	// ReadEOF reports that the peer closed its sending side. The transport reads no more; the
	// connection stays open for output until Close.
	ReadEOF(c TransportConn)
	// Closed is called exactly once, last, when the connection is closed for any reason: err
	// is nil after a local Close. Pending and later Sends fail.
	Closed(c TransportConn, err error)
}

// TransportConn is one connection of a Transport.
type TransportConn interface {
	Info() *ConnInfo
	// Send queues one or more complete records (record marks included) given as segments,
	// written in order with scatter/gather I/O and never interleaved with other Sends. The
	// segments must stay unchanged until done is called (exactly once, also when the
	// connection fails; done may be nil). Send does not wait for the peer to read the data;
	// it may write directly from the calling goroutine.
	Send(segs [][]byte, done func()) error
	// PauseRead stops delivering records after the current one (back-pressure); ResumeRead
	// undoes it. Both may be called from any goroutine.
	PauseRead()
	ResumeRead()
	// Close closes the connection; queued output not yet written is discarded.
	Close() error
}
