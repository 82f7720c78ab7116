package rpc

import (
	"fmt"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/rpc/xdr"
)

// OpaqueAuth is opaque_auth (RFC 5531 §8.2): a credential or verifier.
type OpaqueAuth struct {
	Flavor AuthFlavor
	Body   []byte // at most MaxAuthBytes
}

// NoAuth is the AUTH_NONE credential/verifier.
var NoAuth = OpaqueAuth{Flavor: AuthNone}

// AuthSysParms is authsys_parms (RFC 5531 appendix A).
type AuthSysParms struct {
	Stamp       uint32
	MachineName string // at most MaxMachineNameBytes
	UID         uint32
	GID         uint32
	GIDs        []uint32 // at most MaxAuthSysGIDs
}

// Append appends the XDR encoding of p (the body of an AUTH_SYS opaque_auth) to b.
func (p *AuthSysParms) Append(b []byte) []byte {
	b = xdr.AppendUint32(b, p.Stamp)
	b = xdr.AppendString(b, p.MachineName)
	b = xdr.AppendUint32(b, p.UID)
	b = xdr.AppendUint32(b, p.GID)
	b = xdr.AppendUint32(b, uint32(len(p.GIDs)))
	for _, g := range p.GIDs {
		b = xdr.AppendUint32(b, g)
	}
	return b
}

// Auth returns p as an AUTH_SYS credential for Client.Call. It fails when the machine name or
// the group list exceed the limits of RFC 5531 appendix A.
func (p *AuthSysParms) Auth() (OpaqueAuth, error) {
	if len(p.MachineName) > MaxMachineNameBytes {
		return OpaqueAuth{}, fmt.Errorf("rpc: AUTH_SYS machine name of %d bytes, maximum %d", len(p.MachineName), MaxMachineNameBytes)
	}
	if len(p.GIDs) > MaxAuthSysGIDs {
		return OpaqueAuth{}, fmt.Errorf("rpc: AUTH_SYS with %d groups, maximum %d", len(p.GIDs), MaxAuthSysGIDs)
	}
	return OpaqueAuth{Flavor: AuthSys, Body: p.Append(nil)}, nil
}

// DecodeAuthSys decodes the body of an AUTH_SYS credential (RFC 5531 appendix A). gids, when
// it has capacity, receives the group list (so a caller can avoid an allocation); the returned
// GIDs alias it. Trailing bytes, a machine name over 255 bytes or more than 16 groups are errors.
func DecodeAuthSys(body []byte, gids []uint32) (AuthSysParms, error) {
	var p AuthSysParms
	var d xdr.Decoder
	d.Reset(body)
	p.Stamp = d.Uint32()
	name := d.Opaque(MaxMachineNameBytes)
	p.UID = d.Uint32()
	p.GID = d.Uint32()
	n := d.Uint32()
	if d.Err() != nil {
		return AuthSysParms{}, fmt.Errorf("rpc: malformed AUTH_SYS credential: %w", d.Err())
	}
	if n > MaxAuthSysGIDs {
		return AuthSysParms{}, fmt.Errorf("rpc: AUTH_SYS credential with %d groups, maximum %d", n, MaxAuthSysGIDs)
	}
	if d.Len() != int(n)*4 {
		return AuthSysParms{}, fmt.Errorf("rpc: AUTH_SYS credential: %d groups need %d bytes, have %d", n, n*4, d.Len())
	}
	if cap(gids) < int(n) {
		gids = make([]uint32, n)
	}
	gids = gids[:n]
	for i := range gids {
		gids[i] = d.Uint32()
	}
	p.MachineName = string(name)
	if n > 0 {
		p.GIDs = gids
	}
	return p, nil
}

// Credential is the caller's credential as received, plus its AUTH_SYS decoding.
type Credential struct {
	Flavor AuthFlavor
	Body   []byte       // raw opaque_auth body; valid until the handler returns
	Sys    AuthSysParms // decoded body when Flavor == AuthSys (Sys.GIDs valid until the handler returns)
}

// An Authenticator turns a credential into graph.Creds for the handler's context, or rejects it
// with an auth_stat (AuthBadCred for a malformed one). conn is the connection the call came in
// on; the default authenticators set Creds.ClientID to conn.ClientID.
//
// For AUTH_SYS, cred.Sys is already decoded when the authenticator runs (a malformed AUTH_SYS
// body is answered with AUTH_BADCRED before). The returned Creds must not alias cred.Body or
// cred.Sys.GIDs if the handler may keep them after it returns.
type Authenticator func(cred *Credential, conn *ConnInfo) (*graph.Creds, AuthStat)

// AuthNoneCreds is the default Authenticator for AUTH_NONE: uid and gid Nobody, no groups.
func AuthNoneCreds(cred *Credential, conn *ConnInfo) (*graph.Creds, AuthStat) {
	return &graph.Creds{UID: Nobody, GID: Nobody, ClientID: conn.ClientID}, AuthOK
}

// AuthSysCreds is the default Authenticator for AUTH_SYS: the uid, gid and groups of the
// credential (machine name and stamp remain available in Call.Cred.Sys).
func AuthSysCreds(cred *Credential, conn *ConnInfo) (*graph.Creds, AuthStat) {
	c := &graph.Creds{UID: cred.Sys.UID, GID: cred.Sys.GID, ClientID: conn.ClientID}
	if len(cred.Sys.GIDs) > 0 {
		c.Groups = append([]uint32(nil), cred.Sys.GIDs...)
	}
	return c, AuthOK
}
