package rpc

// Hand-written codec of the RPC message headers (RFC 5531 §9). It is on the hot path of every
// call, small and fixed: decoding in place from the record buffer with no reflection and no
// allocation is markedly cheaper than the io.Reader-based generated code of go-xdr's rpcv2.

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/weftfs/weft/graph/rpc/xdr"
)

// callHeader is the decoded call_body of an RPC CALL message (RFC 5531 §9).
type callHeader struct {
	xid, rpcvers, prog, vers, proc uint32
	cred, verf                     OpaqueAuth
	args                           []byte
}

// headerError classifies a malformed call header.
type headerError int

const (
	hdrOK      headerError = iota
	hdrClose               // not even an xid, an unknown message type or no prog/vers/proc: close the connection
	hdrReply               // a REPLY message (routed to the pending calls of this connection)
	hdrRPCVers             // rpcvers != 2: MSG_DENIED RPC_MISMATCH
	hdrBadCred             // malformed credential: AUTH_ERROR AUTH_BADCRED
	hdrBadVerf             // malformed verifier: AUTH_ERROR AUTH_BADVERF
)

var be = binary.BigEndian

// decodeCallHeader decodes rec into h. The xid is valid whenever the result is not hdrClose.
func decodeCallHeader(rec []byte, h *callHeader) headerError {
	if len(rec) < 8 {
		return hdrClose
	}
	h.xid = be.Uint32(rec)
	switch MsgType(be.Uint32(rec[4:])) {
	case MsgCall:
	case MsgReply:
		return hdrReply
	default:
		return hdrClose
	}
	if len(rec) < 12 {
		return hdrClose
	}
	h.rpcvers = be.Uint32(rec[8:])
	if h.rpcvers != RPCVersion {
		return hdrRPCVers
	}
	if len(rec) < 24 {
		return hdrClose
	}
	h.prog = be.Uint32(rec[12:])
	h.vers = be.Uint32(rec[16:])
	h.proc = be.Uint32(rec[20:])
	rest, ok := decodeOpaqueAuth(rec[24:], &h.cred)
	if !ok {
		return hdrBadCred
	}
	rest, ok = decodeOpaqueAuth(rest, &h.verf)
	if !ok {
		return hdrBadVerf
	}
	h.args = rest
	return hdrOK
}

// decodeOpaqueAuth decodes an opaque_auth (RFC 5531 §8.2) from b, aliasing b.
func decodeOpaqueAuth(b []byte, a *OpaqueAuth) ([]byte, bool) {
	if len(b) < 8 {
		return nil, false
	}
	a.Flavor = AuthFlavor(be.Uint32(b))
	n := be.Uint32(b[4:])
	if n > MaxAuthBytes {
		return nil, false
	}
	padded := int(n) + xdr.Pad(int(n))
	if len(b)-8 < padded {
		return nil, false
	}
	a.Body = b[8 : 8+n : 8+n]
	return b[8+padded:], true
}

// appendOpaqueAuth appends a as an opaque_auth.
func appendOpaqueAuth(b []byte, a *OpaqueAuth) []byte {
	b = xdr.AppendUint32(b, uint32(a.Flavor))
	return xdr.AppendOpaque(b, a.Body)
}

// appendCallHeader appends a CALL message header (RFC 5531 §9) up to the procedure arguments.
func appendCallHeader(b []byte, xid, prog, vers, proc uint32, cred, verf *OpaqueAuth) []byte {
	b = xdr.AppendUint32(b, xid)
	b = xdr.AppendUint32(b, uint32(MsgCall))
	b = xdr.AppendUint32(b, RPCVersion)
	b = xdr.AppendUint32(b, prog)
	b = xdr.AppendUint32(b, vers)
	b = xdr.AppendUint32(b, proc)
	b = appendOpaqueAuth(b, cred)
	return appendOpaqueAuth(b, verf)
}

// acceptedHeaderLen is the size of an accepted reply header with an AUTH_NONE verifier:
// xid, mtype, reply_stat, verf flavor, verf length, accept_stat.
const acceptedHeaderLen = 24

// putAcceptedHeader writes an accepted reply header into b[:acceptedHeaderLen].
func putAcceptedHeader(b []byte, xid uint32, stat AcceptStat) {
	be.PutUint32(b[0:], xid)
	be.PutUint32(b[4:], uint32(MsgReply))
	be.PutUint32(b[8:], uint32(MsgAccepted))
	be.PutUint32(b[12:], uint32(AuthNone))
	be.PutUint32(b[16:], 0)
	be.PutUint32(b[20:], uint32(stat))
}

// appendAcceptedReply appends a complete accepted reply with no results (for errors), with
// mismatch_info when stat is PROG_MISMATCH.
func appendAcceptedReply(b []byte, xid uint32, stat AcceptStat, low, high uint32) []byte {
	var h [acceptedHeaderLen]byte
	putAcceptedHeader(h[:], xid, stat)
	b = append(b, h[:]...)
	if stat == ProgMismatch {
		b = xdr.AppendUint32(b, low)
		b = xdr.AppendUint32(b, high)
	}
	return b
}

// appendRejectedReply appends a MSG_DENIED reply (RFC 5531 §9): RPC_MISMATCH with low/high
// (version 2 only) or AUTH_ERROR with stat.
func appendRejectedReply(b []byte, xid uint32, rej RejectStat, stat AuthStat) []byte {
	b = xdr.AppendUint32(b, xid)
	b = xdr.AppendUint32(b, uint32(MsgReply))
	b = xdr.AppendUint32(b, uint32(MsgDenied))
	b = xdr.AppendUint32(b, uint32(rej))
	if rej == RPCMismatch {
		b = xdr.AppendUint32(b, RPCVersion)
		return xdr.AppendUint32(b, RPCVersion)
	}
	return xdr.AppendUint32(b, uint32(stat))
}

var errBadReply = errors.New("malformed RPC reply")

// decodeReply decodes a REPLY message (RFC 5531 §9). On MSG_ACCEPTED/SUCCESS it returns the
// results (aliasing rec); otherwise an *Error, or an error wrapping errBadReply.
func decodeReply(rec []byte) (xid uint32, results []byte, err error) {
	if len(rec) < 12 {
		return 0, nil, fmt.Errorf("%w: %d bytes", errBadReply, len(rec))
	}
	xid = be.Uint32(rec)
	if MsgType(be.Uint32(rec[4:])) != MsgReply {
		return xid, nil, fmt.Errorf("%w: not a reply", errBadReply)
	}
	var d xdr.Decoder
	d.Reset(rec[8:])
	switch ReplyStat(d.Uint32()) {
	case MsgAccepted:
		var verf OpaqueAuth
		rest, ok := decodeOpaqueAuth(d.Rest(), &verf)
		if !ok {
			return xid, nil, fmt.Errorf("%w: bad verifier", errBadReply)
		}
		d.Reset(rest)
		stat := AcceptStat(d.Uint32())
		if d.Err() != nil {
			return xid, nil, fmt.Errorf("%w: %w", errBadReply, d.Err())
		}
		switch stat {
		case Success:
			return xid, d.Rest(), nil
		case ProgMismatch:
			e := &Error{Stat: MsgAccepted, Accept: stat, Low: d.Uint32(), High: d.Uint32()}
			if d.Err() != nil {
				return xid, nil, fmt.Errorf("%w: %w", errBadReply, d.Err())
			}
			return xid, nil, e
		}
		return xid, nil, &Error{Stat: MsgAccepted, Accept: stat}
	case MsgDenied:
		e := &Error{Stat: MsgDenied, Reject: RejectStat(d.Uint32())}
		switch e.Reject {
		case RPCMismatch:
			e.Low, e.High = d.Uint32(), d.Uint32()
		case AuthError:
			e.Auth = AuthStat(d.Uint32())
		default:
			return xid, nil, fmt.Errorf("%w: reject_stat %d", errBadReply, e.Reject)
		}
		if d.Err() != nil {
			return xid, nil, fmt.Errorf("%w: %w", errBadReply, d.Err())
		}
		return xid, nil, e
	}
	return xid, nil, fmt.Errorf("%w: reply_stat", errBadReply)
}
