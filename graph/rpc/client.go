package rpc

import (
	"context"
	"sync"
)

// ClientOptions configures Dial. A nil *ClientOptions is the zero value.
type ClientOptions struct {
	Transport     Transport // nil: DefaultTransport()
	MaxRecordSize int       // 0: DefaultMaxRecordSize
	// Server, when set, serves calls the peer makes on this connection (callbacks, e.g. the
	// GlusterFS server→client upcalls or the NFSv4.1 backchannel); otherwise such calls are
	// answered PROG_UNAVAIL. Its hooks (OnConnect/OnDisconnect) are not called for dialed
	// connections.
	Server *Server
}

// Client is a connection made by Dial. It embeds *Conn: Call, Do, Info, Done, Err and Close
// are the Conn's. There is no reconnection: when Done is closed, dial again.
type Client struct {
	*Conn
}

var (
	noProgramsOnce sync.Once
	noPrograms     *Server
)

func emptyServer() *Server {
	noProgramsOnce.Do(func() { noPrograms = NewServer(ServerOptions{Transport: NetTransport()}) })
	return noPrograms
}

// Dial connects to address (network "tcp", "tcp4" or "tcp6").
func Dial(ctx context.Context, network, address string, opts *ClientOptions) (*Client, error) {
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	if o.Transport == nil {
		o.Transport = DefaultTransport()
	}
	srv := o.Server
	if srv == nil {
		srv = emptyServer()
	}
	maxRec := o.MaxRecordSize
	if maxRec <= 0 {
		maxRec = DefaultMaxRecordSize
	}
	h := &handlerConn{srv: srv, parent: srv.ctx}
	var conn *Conn
	h.opened = func(c *Conn) { conn = c }
	if _, err := o.Transport.Dial(ctx, network, address, TransportConfig{MaxRecordSize: maxRec}, h); err != nil {
		return nil, err
	}
	return &Client{Conn: conn}, nil
}
