package rpc

import "fmt"

// RPCVersion is the only ONC RPC protocol version (RFC 5531 §8, rpcvers = 2).
const RPCVersion = 2

// MsgType is msg_type (RFC 5531 §9).
type MsgType uint32

// Message types.
const (
	MsgCall  MsgType = 0 // CALL
	MsgReply MsgType = 1 // REPLY
)

// ReplyStat is reply_stat (RFC 5531 §9).
type ReplyStat uint32

// Reply status.
const (
	MsgAccepted ReplyStat = 0
	MsgDenied   ReplyStat = 1
)

// AcceptStat is accept_stat (RFC 5531 §9): the outcome of an accepted call. Handlers return one.
type AcceptStat uint32

// Accept status values.
const (
	Success      AcceptStat = 0 // RPC executed successfully
	ProgUnavail  AcceptStat = 1 // remote hasn't exported program
	ProgMismatch AcceptStat = 2 // remote can't support version # (carries low/high)
	ProcUnavail  AcceptStat = 3 // program can't support procedure
	GarbageArgs  AcceptStat = 4 // procedure can't decode params
	SystemErr    AcceptStat = 5 // e.g. memory allocation failure
)

func (s AcceptStat) String() string {
	switch s {
	case Success:
		return "SUCCESS"
	case ProgUnavail:
		return "PROG_UNAVAIL"
	case ProgMismatch:
		return "PROG_MISMATCH"
	case ProcUnavail:
		return "PROC_UNAVAIL"
	case GarbageArgs:
		return "GARBAGE_ARGS"
	case SystemErr:
		return "SYSTEM_ERR"
	}
	return fmt.Sprintf("accept_stat(%d)", uint32(s))
}

// RejectStat is reject_stat (RFC 5531 §9): why a call was denied.
type RejectStat uint32

// Reject status values.
const (
	RPCMismatch RejectStat = 0 // RPC version number != 2 (carries low/high)
	AuthError   RejectStat = 1 // remote can't authenticate caller (carries auth_stat)
)

func (s RejectStat) String() string {
	switch s {
	case RPCMismatch:
		return "RPC_MISMATCH"
	case AuthError:
		return "AUTH_ERROR"
	}
	return fmt.Sprintf("reject_stat(%d)", uint32(s))
}

// AuthStat is auth_stat (RFC 5531 §9): why authentication failed.
type AuthStat uint32

// Authentication status values.
const (
	AuthOK           AuthStat = 0 // success
	AuthBadCred      AuthStat = 1 // bad credential (seal broken)
	AuthRejectedCred AuthStat = 2 // client must begin new session
	AuthBadVerf      AuthStat = 3 // bad verifier (seal broken)
	AuthRejectedVerf AuthStat = 4 // verifier expired or replayed
	AuthTooWeak      AuthStat = 5 // rejected for security reasons
	AuthInvalidResp  AuthStat = 6 // bogus response verifier
	AuthFailed       AuthStat = 7 // reason unknown
)

func (s AuthStat) String() string {
	switch s {
	case AuthOK:
		return "AUTH_OK"
	case AuthBadCred:
		return "AUTH_BADCRED"
	case AuthRejectedCred:
		return "AUTH_REJECTEDCRED"
	case AuthBadVerf:
		return "AUTH_BADVERF"
	case AuthRejectedVerf:
		return "AUTH_REJECTEDVERF"
	case AuthTooWeak:
		return "AUTH_TOOWEAK"
	case AuthInvalidResp:
		return "AUTH_INVALIDRESP"
	case AuthFailed:
		return "AUTH_FAILED"
	}
	return fmt.Sprintf("auth_stat(%d)", uint32(s))
}

// AuthFlavor is auth_flavor (RFC 5531 §8.2).
type AuthFlavor uint32

// Authentication flavors. AUTH_NONE and AUTH_SYS are decoded by default; other flavors need an
// Authenticator (ServerOptions.Authenticators).
const (
	AuthNone        AuthFlavor = 0      // AUTH_NONE (RFC 5531 §10.1)
	AuthSys         AuthFlavor = 1      // AUTH_SYS, a.k.a. AUTH_UNIX (RFC 5531 appendix A)
	AuthShort       AuthFlavor = 2      // AUTH_SHORT
	AuthDH          AuthFlavor = 3      // AUTH_DH
	RPCSecGSS       AuthFlavor = 6      // RPCSEC_GSS (RFC 2203)
	AuthGlusterFSv2 AuthFlavor = 390039 // GlusterFS's AUTH_GLUSTERFS_v2 (rpc-lib/src/auth-glusterfs.c)
)

func (f AuthFlavor) String() string {
	switch f {
	case AuthNone:
		return "AUTH_NONE"
	case AuthSys:
		return "AUTH_SYS"
	case AuthShort:
		return "AUTH_SHORT"
	case AuthDH:
		return "AUTH_DH"
	case RPCSecGSS:
		return "RPCSEC_GSS"
	case AuthGlusterFSv2:
		return "AUTH_GLUSTERFS_v2"
	}
	return fmt.Sprintf("auth_flavor(%d)", uint32(f))
}

// Limits from RFC 5531.
const (
	MaxAuthBytes        = 400 // opaque_auth body (§8.2)
	MaxMachineNameBytes = 255 // authsys_parms.machinename (appendix A)
	MaxAuthSysGIDs      = 16  // authsys_parms.gids (appendix A)
)

// Record marking (RFC 5531 §11).
const (
	lastFragmentBit = 1 << 31
	// MaxFragmentSize is the largest fragment the 31-bit length can describe.
	MaxFragmentSize = 1<<31 - 1
	// DefaultMaxRecordSize bounds a reassembled record: 4 MiB of payload (the largest
	// READ/WRITE Weft negotiates) plus headroom for headers.
	DefaultMaxRecordSize = 4<<20 + 64<<10
	// DefaultMaxInFlight is the default per-connection bound on requests being processed.
	DefaultMaxInFlight = 128
)

// Nobody is the uid and gid given to AUTH_NONE callers by the default authenticator.
const Nobody = 65534
