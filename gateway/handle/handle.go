package handle

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/weftfs/weft/graph"
)

// Size is the encoded length of every handle.
const Size = 60

// MaxSize is the largest handle NFSv3 allows (RFC 1813 §2.4 NFS3_FHSIZE).
const MaxSize = 64

const (
	magic0  = 'W'
	magic1  = 'F'
	version = 1
	macLen  = 16
	bodyLen = Size - macLen
)

// ErrBadHandle is returned (wrapped) for a handle that is malformed, forged or foreign.
var ErrBadHandle = errors.New("handle: bad file handle")

// VolumeID identifies a volume (16 bytes, stable across nodes).
type VolumeID [16]byte

// VolumeIDFromName derives a stable volume id from a volume name, for volumes whose volfile does
// not carry one.
func VolumeIDFromName(name string) VolumeID {
	sum := sha256.Sum256([]byte("weft-volume-id:" + name))
	var v VolumeID
	copy(v[:], sum[:16])
	return v
}

// ExportID identifies an export of a volume (8 bytes, stable across nodes).
type ExportID [8]byte

// ExportIDFromPath derives the export id from the export's path ("/vol" or "/vol/sub").
func ExportIDFromPath(path string) ExportID {
	sum := sha256.Sum256([]byte("weft-export-id:" + path))
	var e ExportID
	copy(e[:], sum[:8])
	return e
}

// Handle is a decoded file handle.
type Handle struct {
	Volume VolumeID
	Export ExportID
	GFID   graph.GFID
}

// Codec signs and verifies handles of one volume with a cluster secret. It is safe for
// concurrent use.
type Codec struct {
	vol  VolumeID
	any  bool      // Decode accepts every volume (NewAnyVolumeCodec)
	pool sync.Pool // of hash.Hash (HMAC-SHA256 keyed with the secret)
}

// NewCodec returns a codec for volume vol. The secret must be at least 16 bytes.
func NewCodec(vol VolumeID, secret []byte) (*Codec, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("handle: secret of %d bytes is too short (need at least 16)", len(secret))
	}
	key := append([]byte(nil), secret...)
	c := &Codec{vol: vol}
	c.pool.New = func() any { return hmac.New(sha256.New, key) }
	return c, nil
}

// Volume returns the codec's volume id.
func (c *Codec) Volume() VolumeID { return c.vol }

func (c *Codec) mac(body []byte, out []byte) {
	h := c.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(body)
	var sum [sha256.Size]byte
	copy(out, h.Sum(sum[:0])[:macLen])
	c.pool.Put(h)
}

// Encode returns the handle of gfid in export exp.
func (c *Codec) Encode(exp ExportID, gfid graph.GFID) []byte {
	return c.AppendEncode(make([]byte, 0, Size), exp, gfid)
}

// AppendEncode appends the handle of gfid in export exp to b.
func (c *Codec) AppendEncode(b []byte, exp ExportID, gfid graph.GFID) []byte {
	start := len(b)
	b = append(b, magic0, magic1, version, 0)
	b = append(b, c.vol[:]...)
	b = append(b, exp[:]...)
	b = append(b, gfid[:]...)
	b = append(b, make([]byte, macLen)...)
	c.mac(b[start:start+bodyLen], b[start+bodyLen:])
	return b
}

// Decode verifies and decodes a handle. Every failure wraps ErrBadHandle.
func (c *Codec) Decode(b []byte) (Handle, error) {
	var h Handle
	if len(b) != Size {
		return h, fmt.Errorf("%w: length %d, want %d", ErrBadHandle, len(b), Size)
	}
	if b[0] != magic0 || b[1] != magic1 {
		return h, fmt.Errorf("%w: bad magic", ErrBadHandle)
	}
	if b[2] != version || b[3] != 0 {
		return h, fmt.Errorf("%w: unsupported version %d flags %d", ErrBadHandle, b[2], b[3])
	}
	var want [macLen]byte
	c.mac(b[:bodyLen], want[:])
	if !hmac.Equal(want[:], b[bodyLen:]) {
		return h, fmt.Errorf("%w: MAC mismatch (forged or from another cluster)", ErrBadHandle)
	}
	copy(h.Volume[:], b[4:20])
	if h.Volume != c.vol && !c.any {
		return h, fmt.Errorf("%w: %w", ErrBadHandle, ErrOtherVolume)
	}
	copy(h.Export[:], b[20:28])
	copy(h.GFID[:], b[28:44])
	if h.GFID.IsZero() {
		return h, fmt.Errorf("%w: null gfid", ErrBadHandle)
	}
	return h, nil
}

// FileID returns the NFS fileid of gfid (graph.InoFromGFID; the root is 1).
func FileID(gfid graph.GFID) uint64 { return graph.InoFromGFID(gfid) }

// ErrOtherVolume is wrapped by Decode when a genuine handle (its MAC verifies) names another
// volume than the codec's.
var ErrOtherVolume = errors.New("handle of another volume")

// PeekVolume returns the volume id of a handle without verifying it: ok is false when b does not
// have a handle's size, magic and version. Use it to pick the codec (the volume) that decodes b.
func PeekVolume(b []byte) (VolumeID, bool) {
	var v VolumeID
	if len(b) != Size || b[0] != magic0 || b[1] != magic1 || b[2] != version || b[3] != 0 {
		return v, false
	}
	copy(v[:], b[4:20])
	return v, true
}

// Verify checks a handle's form and MAC, whatever volume it names (every volume of a cluster
// shares the secret), and returns it decoded.
func (c *Codec) Verify(b []byte) (Handle, error) {
	var h Handle
	if _, ok := PeekVolume(b); !ok {
		return h, fmt.Errorf("%w: malformed", ErrBadHandle)
	}
	var want [macLen]byte
	c.mac(b[:bodyLen], want[:])
	if !hmac.Equal(want[:], b[bodyLen:]) {
		return h, fmt.Errorf("%w: MAC mismatch (forged or from another cluster)", ErrBadHandle)
	}
	copy(h.Volume[:], b[4:20])
	copy(h.Export[:], b[20:28])
	copy(h.GFID[:], b[28:44])
	if h.GFID.IsZero() {
		return h, fmt.Errorf("%w: null gfid", ErrBadHandle)
	}
	return h, nil
}

// NewAnyVolumeCodec returns a codec whose Decode accepts a genuine handle of any volume (for a
// server that routes by the handle's volume itself, as the gateway's NLM does); its Encode
// writes the zero volume id.
func NewAnyVolumeCodec(secret []byte) (*Codec, error) {
	c, err := NewCodec(VolumeID{}, secret)
	if err != nil {
		return nil, err
	}
	c.any = true
	return c, nil
}
