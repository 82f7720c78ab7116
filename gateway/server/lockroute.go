package server

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/gateway/nlm"
	"github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/rpc"
)

// lockTop is the graph the gateway's NLM server sees: one NLM serves every volume. Each NLM call
// is tagged with the volume its file handle names (nlmHandler); a fop on a Loc goes to that
// volume's top, a fop on an FD to the top of the volume the FD was opened on (recorded in the
// FD), which follows graph switches as every volume top does (volTop).
type lockTop struct{ g *Gateway }

type lockVolKey struct{}

// lockFDKey is the FD context key of the top an NLM FD was opened through.
var lockFDKey = new(byte)

// lockFD is an NLM FD's volume top.
type lockFD struct{ top graph.Xlator }

// volumeByID returns a served volume by id.
func (g *Gateway) volumeByID(id handle.VolumeID) *volume {
	for _, v := range *g.vols.Load() {
		if v.id == id {
			return v
		}
	}
	return nil
}

// loc returns the top of the call's volume: the one its handle named, else (a call that
// carries no handle, or NLM served over a path that did not tag it) the first volume by name.
func (t *lockTop) loc(ctx context.Context) (graph.Xlator, func(), error) {
	if id, ok := ctx.Value(lockVolKey{}).(handle.VolumeID); ok {
		if v := t.g.volumeByID(id); v != nil {
			return v.top, func() {}, nil
		}
		return nil, nil, fmt.Errorf("lock on a volume not served here: %w", unix.ESTALE)
	}
	if ns := t.g.Volumes(); len(ns) > 0 {
		if v := (*t.g.vols.Load())[ns[0]]; v != nil {
			return v.top, func() {}, nil
		}
	}
	return nil, nil, fmt.Errorf("no volume is served: %w", unix.ESTALE)
}

func (t *lockTop) fd(ctx context.Context, fd *graph.FD) (graph.Xlator, func(), error) {
	if fd != nil {
		if x, ok := fd.Ctx(lockFDKey); ok {
			return x.(*lockFD).top, func() {}, nil
		}
	}
	return t.loc(ctx)
}

func (t *lockTop) pin(fd *graph.FD, top graph.Xlator, done func(), err error) {
	done()
	if err == nil && fd != nil {
		fd.SetCtx(lockFDKey, &lockFD{top: top})
	}
}

// nlmFH returns the file handle of an NLM call's arguments (XNFS chapter 10; the same layout
// in versions 1, 3 and 4): after the cookie, the procedure's booleans, then nlm_lock or
// nlm_share, whose caller_name precedes the fh. Nil for procedures without one.
func nlmFH(proc uint32, args []byte) []byte {
	r := xdr.NewReader(args)
	r.Opaque(1024) // cookie
	switch proc {
	case 1, 5, 6, 10: // TEST, GRANTED (+_MSG): exclusive
		r.Bool()
	case 2, 3, 7, 8, 22: // LOCK, CANCEL (+_MSG), NM_LOCK: block, exclusive
		r.Bool()
		r.Bool()
	case 4, 9, 20, 21: // UNLOCK (+_MSG), SHARE, UNSHARE
	default:
		return nil
	}
	r.String(1024) // caller_name
	fh := r.Opaque(1024)
	if r.Err() != nil {
		return nil
	}
	return fh
}

// nlmHandler tags each NLM call with the volume its file handle names, for lockTop.
func nlmHandler(h rpc.Handler) rpc.Handler {
	return rpc.HandlerFunc(func(ctx context.Context, c *rpc.Call, r *rpc.Reply) rpc.AcceptStat {
		if id, ok := handle.PeekVolume(nlmFH(c.Proc, c.Args)); ok {
			ctx = context.WithValue(ctx, lockVolKey{}, id)
		}
		return h.ServeRPC(ctx, c, r)
	})
}

// registerNLM serves NLM versions 1, 3 and 4 on srv through nlmHandler (nlm.Server.Register
// without the tagging).
func registerNLM(srv *rpc.Server, ls *nlm.Server) {
	for _, v := range []uint32{nlm.V1, nlm.V3, nlm.V4} {
		srv.Register(nlm.Program, v, nlmHandler(ls))
	}
}
