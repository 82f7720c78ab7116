package client

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/bricks/proto"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/rpc"
)

// rpcConn is the connection to the brick as the client uses it.
type rpcConn interface {
	// call sends procedure proc of the brick program with the argument segments (the first is
	// copied into the message, the others are sent as they are) and returns the results, which
	// alias a pooled record buffer that release (never nil) hands back after their last use.
	call(ctx context.Context, proc uint32, cr *graph.Creds, segs [][]byte) (res []byte, release func(), err error)
	done() <-chan struct{}
	close()
}

type conn struct {
	c *rpc.Client
}

func noop() {}

func dialRPC(ctx context.Context, transport, addr string) (rpcConn, error) {
	tr, err := transportByName(transport)
	if err != nil {
		return nil, err
	}
	c, err := rpc.Dial(ctx, "tcp", addr, &rpc.ClientOptions{Transport: tr})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return &conn{c: c}, nil
}

func (c *conn) call(ctx context.Context, proc uint32, cr *graph.Creds, segs [][]byte) ([]byte, func(), error) {
	req := rpc.Request{Prog: proto.Program, Vers: proto.Version, Proc: proc, Args: segs[0]}
	if cr != nil {
		p := rpc.AuthSysParms{UID: cr.UID, GID: cr.GID, GIDs: cr.Groups}
		if len(p.GIDs) > rpc.MaxAuthSysGIDs {
			p.GIDs = p.GIDs[:rpc.MaxAuthSysGIDs]
		}
		auth, err := p.Auth()
		if err != nil {
			return nil, noop, err
		}
		req.Cred = auth
	}
	var sent chan struct{}
	if len(segs) > 1 {
		req.Payload = segs[1:]
		sent = make(chan struct{})
		req.OnSent = func() { close(sent) }
	}
	res, rec, err := c.c.DoPooled(ctx, &req)
	if err != nil && sent != nil && ctx.Err() != nil {
		// Do returned early: the caller's data may be reused only once the transport let go.
		<-sent
	}
	if rec == nil {
		return res, noop, err
	}
	return res, rec.Release, err
}

func (c *conn) done() <-chan struct{} { return c.c.Done() }

func (c *conn) close() { _ = c.c.Close() }

// isConnErr reports whether err means the connection is unusable.
func isConnErr(err error) bool {
	return errors.Is(err, unix.ENOTCONN) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE) ||
		errors.Is(err, unix.ECONNREFUSED)
}

func transportByName(name string) (rpc.Transport, error) {
	switch name {
	case "netconn":
		return rpc.NetTransport(), nil
	case "epoll":
		return epollTransport()
	}
	return nil, fmt.Errorf("protocol/client: unknown transport %q", name)
}
