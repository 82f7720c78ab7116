package rpc

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Error is a call that the server answered with anything but MSG_ACCEPTED/SUCCESS (RFC 5531 §9).
// It unwraps to an errno so graph.Errno works: PROG_UNAVAIL, PROG_MISMATCH and RPC_MISMATCH →
// EPROTONOSUPPORT, PROC_UNAVAIL → EOPNOTSUPP, GARBAGE_ARGS → EINVAL, SYSTEM_ERR → EIO,
// AUTH_ERROR → EACCES.
type Error struct {
	Stat   ReplyStat  // MsgAccepted or MsgDenied
	Accept AcceptStat // when Stat == MsgAccepted
	Reject RejectStat // when Stat == MsgDenied
	Auth   AuthStat   // when Stat == MsgDenied and Reject == AuthError
	Low    uint32     // PROG_MISMATCH and RPC_MISMATCH: lowest supported version
	High   uint32     // PROG_MISMATCH and RPC_MISMATCH: highest supported version
}

func (e *Error) Error() string {
	if e.Stat == MsgAccepted {
		if e.Accept == ProgMismatch {
			return fmt.Sprintf("rpc: PROG_MISMATCH (supported versions %d-%d)", e.Low, e.High)
		}
		return "rpc: " + e.Accept.String()
	}
	switch e.Reject {
	case RPCMismatch:
		return fmt.Sprintf("rpc: MSG_DENIED RPC_MISMATCH (supported versions %d-%d)", e.Low, e.High)
	case AuthError:
		return "rpc: MSG_DENIED AUTH_ERROR " + e.Auth.String()
	}
	return "rpc: MSG_DENIED " + e.Reject.String()
}

// Unwrap returns the errno that corresponds to the status.
func (e *Error) Unwrap() error {
	if e.Stat == MsgAccepted {
		switch e.Accept {
		case ProgUnavail, ProgMismatch:
			return unix.EPROTONOSUPPORT
		case ProcUnavail:
			return unix.EOPNOTSUPP
		case GarbageArgs:
			return unix.EINVAL
		}
		return unix.EIO
	}
	if e.Reject == AuthError {
		return unix.EACCES
	}
	return unix.EPROTONOSUPPORT
}
