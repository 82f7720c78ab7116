package graph

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// GFID is the 16-byte identity of a file or directory, stored in the trusted.gfid xattr of every
// brick copy (GlusterFS's uuid_t gfid).
type GFID [16]byte

// RootGFID is the GFID of a volume's root directory: 00000000-0000-0000-0000-000000000001.
var RootGFID = GFID{15: 1}

// NewGFID returns a random (version 4) GFID.
func NewGFID() GFID {
	var g GFID
	if _, err := rand.Read(g[:]); err != nil {
		// crypto/rand.Read never fails on supported platforms (Go 1.24+ documents this).
		panic(fmt.Sprintf("graph: crypto/rand: %v", err))
	}
	g[6] = (g[6] & 0x0f) | 0x40
	g[8] = (g[8] & 0x3f) | 0x80
	return g
}

// IsZero reports whether g is the null GFID (unknown).
func (g GFID) IsZero() bool { return g == GFID{} }

// IsRoot reports whether g is the root GFID.
func (g GFID) IsRoot() bool { return g == RootGFID }

// String formats g as a canonical lower-case UUID.
func (g GFID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], g[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], g[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], g[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], g[8:10])
	b[23] = '-'
	hex.Encode(b[24:], g[10:])
	return string(b[:])
}

// ParseGFID parses the canonical UUID form (with dashes) or 32 hex digits.
func ParseGFID(s string) (GFID, error) {
	var g GFID
	var h []byte
	switch len(s) {
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return g, fmt.Errorf("graph: malformed gfid %q", s)
		}
		h = []byte(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:])
	case 32:
		h = []byte(s)
	default:
		return g, fmt.Errorf("graph: malformed gfid %q", s)
	}
	if _, err := hex.Decode(g[:], h); err != nil {
		return g, fmt.Errorf("graph: malformed gfid %q: %w", s, err)
	}
	return g, nil
}
