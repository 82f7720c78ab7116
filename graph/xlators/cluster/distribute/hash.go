package distribute

import (
	"encoding/binary"
	"regexp"
)

// Davies-Meyer constants of GlusterFS's gf_dm_hashfn (libglusterfs/src/hashfn.c): a TEA-like round
// function iterated over 16-byte blocks of the name.
const (
	dmDelta      = 0x9E3779B9
	dmFullRounds = 10
	dmPartRounds = 6
)

func dmRound(rounds int, a *[4]uint32, h0, h1 *uint32) {
	var sum uint32
	b0, b1 := *h0, *h1
	for n := 0; n < rounds; n++ {
		sum += dmDelta
		b0 += ((b1 << 4) + a[0]) ^ (b1 + sum) ^ ((b1 >> 5) + a[1])
		b1 += ((b0 << 4) + a[2]) ^ (b0 + sum) ^ ((b0 >> 5) + a[3])
	}
	*h0 += b0
	*h1 += b1
}

// DMHash is GlusterFS's gf_dm_hashfn, bit for bit as it runs on x86-64 Linux (the platform every
// GlusterFS deployment we adopt runs on): whole 32-bit words are read little-endian; the trailing
// bytes of a name are shifted into a word pre-filled with a length pad, and — because GlusterFS
// reads them through a signed char — a byte ≥ 0x80 is sign-extended before it is ORed in.
func DMHash(msg []byte) uint32 {
	h0, h1 := uint32(0x9464a485), uint32(0x542e1a94)
	n := len(msg)
	pad := uint32(n) | uint32(n)<<8
	pad |= pad << 16
	var a [4]uint32
	off := 0
	for q := 0; q < n/16; q++ {
		for j := 0; j < 4; j++ {
			a[j] = binary.LittleEndian.Uint32(msg[off:])
			off += 4
		}
		dmRound(dmPartRounds, &a, &h0, &h1)
	}
	for j := 0; j < 4; j++ {
		if n-off >= 4 {
			a[j] = binary.LittleEndian.Uint32(msg[off:])
			off += 4
			continue
		}
		a[j] = pad
		for off < n {
			a[j] <<= 8
			a[j] |= uint32(int32(int8(msg[off]))) // signed char promotion, as on x86
			off++
		}
	}
	dmRound(dmFullRounds, &a, &h0, &h1)
	return h0 ^ h1
}

// DefaultRsyncHashRegex is GlusterFS's default "rsync-hash-regex": a temporary name rsync writes
// (".name.XXXXXX") hashes as the final name, so the rename that follows does not move data.
const DefaultRsyncHashRegex = `^\.(.+)\.[^.]+$`

// Hasher computes the hash DHT places a name by: the Davies-Meyer hash of the name, after the
// optional extra-hash-regex and rsync-hash-regex have reduced it to their first submatch
// (dht_hash_compute).
type Hasher struct {
	extra *regexp.Regexp // may be nil
	rsync *regexp.Regexp // may be nil ("none")
}

// NewHasher compiles the two regexes (POSIX extended syntax, as regcomp(REG_EXTENDED));
// "none" or "" disables one.
func NewHasher(rsyncRe, extraRe string) (*Hasher, error) {
	h := &Hasher{}
	var err error
	if rsyncRe != "" && rsyncRe != "none" {
		if h.rsync, err = regexp.CompilePOSIX(rsyncRe); err != nil {
			return nil, err
		}
	}
	if extraRe != "" && extraRe != "none" {
		if h.extra, err = regexp.CompilePOSIX(extraRe); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func munge(re *regexp.Regexp, name string) (string, bool) {
	if re == nil {
		return "", false
	}
	m := re.FindStringSubmatchIndex(name)
	if len(m) < 4 || m[2] < 0 {
		return "", false
	}
	return name[m[2]:m[3]], true
}

// Hash returns the placement hash of name.
func (h *Hasher) Hash(name string) uint32 {
	if h != nil {
		if s, ok := munge(h.extra, name); ok {
			name = s
		} else if s, ok := munge(h.rsync, name); ok {
			name = s
		}
	}
	return DMHash([]byte(name))
}
