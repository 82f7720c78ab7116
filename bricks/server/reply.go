package server

import (
	"fmt"
	"sync"

	"github.com/weftfs/weft/bricks/proto"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/rpc"
)

// sendReply encodes a fop reply into r. The data of a READV reply is attached to the RPC reply
// as a payload segment: it is written to the socket straight from the buffer the subvolume
// returned (storage/posix's read pool), never copied; release (the ReadReply's Release, may be
// nil) goes with it, so graph/rpc hands the buffer back once the reply is written or dropped.
// A release whose data is not sent is called here.
func (s *Server) sendReply(r *rpc.Reply, f graph.Fop, rep *proto.Reply, release func()) rpc.AcceptStat {
	sent := false
	defer func() {
		if !sent && release != nil {
			release()
		}
	}()
	bp := encPool.Get().(*[]byte)
	e := proto.Encoder{Buf: (*bp)[:0]}
	pad, err := proto.EncodeReplySplit(&e, f, rep)
	if err != nil {
		return rpc.SystemErr
	}
	_, _ = r.Write(e.Buf)
	if cap(e.Buf) <= 64<<10 {
		*bp = e.Buf
		encPool.Put(bp)
	}
	if rep.Errno == 0 && len(rep.Data) > 0 {
		r.AppendPayload(rep.Data, release)
		sent = true
		if len(pad) > 0 {
			_, _ = r.Write(pad)
		}
	}
	return rpc.Success
}

var encPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// transportByName returns the RPC transport for the transport option.
func transportByName(name string) (rpc.Transport, error) {
	switch name {
	case "netconn":
		return rpc.NetTransport(), nil
	case "epoll":
		return epollTransport()
	}
	return nil, fmt.Errorf("protocol/server: unknown transport %q", name)
}
