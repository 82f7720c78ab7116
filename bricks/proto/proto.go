package proto

import (
	"crypto/hmac"
	"crypto/sha256"

	"github.com/weftfs/weft/graph"
)

// Program and version of the brick protocol (see the package comment).
const (
	Program uint32 = 1298437
	Version uint32 = 1
)

// Control procedures.
const (
	ProcNull       uint32 = 0
	ProcChallenge  uint32 = 1
	ProcSetvolume  uint32 = 2
	ProcPing       uint32 = 3
	ProcRelease    uint32 = 4
	ProcReleasedir uint32 = 5
	// ProcFopBase is the procedure number of the first fop (LOOKUP); fop n is ProcFopBase+n.
	ProcFopBase uint32 = 16
	// ProcMax is the highest procedure number.
	ProcMax = ProcFopBase + uint32(graph.NumFops) - 1
)

// ProcOf returns the procedure number of a fop.
func ProcOf(f graph.Fop) uint32 { return ProcFopBase + uint32(f) }

// FopOf returns the fop a procedure number carries, if it is a fop procedure.
func FopOf(proc uint32) (graph.Fop, bool) {
	if proc < ProcFopBase || proc > ProcMax {
		return 0, false
	}
	return graph.Fop(proc - ProcFopBase), true
}

// ProcName names a procedure for logs ("SETVOLUME", "Writev", "proc 77").
func ProcName(proc uint32) string {
	switch proc {
	case ProcNull:
		return "NULL"
	case ProcChallenge:
		return "CHALLENGE"
	case ProcSetvolume:
		return "SETVOLUME"
	case ProcPing:
		return "PING"
	case ProcRelease:
		return "RELEASE"
	case ProcReleasedir:
		return "RELEASEDIR"
	}
	if f, ok := FopOf(proc); ok {
		return f.String()
	}
	return "proc " + itoa(proc)
}

func itoa(v uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// ChallengeArgs opens the handshake: who the client is and its nonce.
type ChallengeArgs struct {
	ClientID    string // unique per connection (the client appends a connection generation)
	ClientNonce [NonceSize]byte
}

// ChallengeReply carries the server's nonce.
type ChallengeReply struct {
	Errno       uint32
	ServerNonce [NonceSize]byte
}

// SetvolumeArgs attaches the connection to a volume of the brick graph.
type SetvolumeArgs struct {
	ClientID string
	Volume   string // remote-subvolume: a volume name in the brick's volfile
	Proof    []byte // ClientProof(...)
	Xdata    graph.Xdata
}

// SetvolumeReply answers SETVOLUME. On success ServerProof proves the server knows the secret.
type SetvolumeReply struct {
	Errno       uint32
	VolumeID    string // the brick's volume-id option ("" when unset)
	ServerProof []byte
	Xdata       graph.Xdata
}

// ReleaseArgs names a remote fd to close.
type ReleaseArgs struct {
	FD uint64
}

// Status is the reply of procedures that only succeed or fail.
type Status struct {
	Errno uint32
}

// ClientProof computes the SETVOLUME proof.
func ClientProof(secret []byte, serverNonce, clientNonce [NonceSize]byte, clientID, volume string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("weft-setvolume\x00"))
	m.Write(serverNonce[:])
	m.Write(clientNonce[:])
	m.Write([]byte(clientID))
	m.Write([]byte{0})
	m.Write([]byte(volume))
	return m.Sum(nil)
}

// ServerProof computes the proof the server returns.
func ServerProof(secret []byte, serverNonce, clientNonce [NonceSize]byte, clientID string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("weft-server\x00"))
	m.Write(clientNonce[:])
	m.Write(serverNonce[:])
	m.Write([]byte(clientID))
	return m.Sum(nil)
}

// Encode appends the arguments.
func (a *ChallengeArgs) Encode(e *Encoder) {
	e.String(a.ClientID)
	e.Fixed(a.ClientNonce[:])
}

// Decode reads the arguments; the whole record must be consumed.
func (a *ChallengeArgs) Decode(d *Decoder) error {
	a.ClientID = d.String(MaxID)
	copy(a.ClientNonce[:], d.Fixed(NonceSize))
	return d.Finish()
}

// Encode appends the reply.
func (r *ChallengeReply) Encode(e *Encoder) {
	e.Uint32(r.Errno)
	e.Fixed(r.ServerNonce[:])
}

// Decode reads the reply.
func (r *ChallengeReply) Decode(d *Decoder) error {
	r.Errno = d.Uint32()
	copy(r.ServerNonce[:], d.Fixed(NonceSize))
	return d.Finish()
}

// Encode appends the arguments.
func (a *SetvolumeArgs) Encode(e *Encoder) {
	e.String(a.ClientID)
	e.String(a.Volume)
	e.Opaque(a.Proof)
	e.Xdata(a.Xdata)
}

// Decode reads the arguments.
func (a *SetvolumeArgs) Decode(d *Decoder) error {
	a.ClientID = d.String(MaxID)
	a.Volume = d.String(MaxID)
	a.Proof = d.OpaqueCopy(MaxProof)
	a.Xdata = d.Xdata()
	return d.Finish()
}

// Encode appends the reply.
func (r *SetvolumeReply) Encode(e *Encoder) {
	e.Uint32(r.Errno)
	e.String(r.VolumeID)
	e.Opaque(r.ServerProof)
	e.Xdata(r.Xdata)
}

// Decode reads the reply.
func (r *SetvolumeReply) Decode(d *Decoder) error {
	r.Errno = d.Uint32()
	r.VolumeID = d.String(MaxID)
	r.ServerProof = d.OpaqueCopy(MaxProof)
	r.Xdata = d.Xdata()
	return d.Finish()
}

// Encode appends the arguments.
func (a *ReleaseArgs) Encode(e *Encoder) { e.Uint64(a.FD) }

// Decode reads the arguments.
func (a *ReleaseArgs) Decode(d *Decoder) error {
	a.FD = d.Uint64()
	return d.Finish()
}

// Encode appends the reply.
func (r *Status) Encode(e *Encoder) { e.Uint32(r.Errno) }

// Decode reads the reply.
func (r *Status) Decode(d *Decoder) error {
	r.Errno = d.Uint32()
	return d.Finish()
}
