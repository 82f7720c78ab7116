package nlm

import (
	"fmt"
	"math"

	"github.com/weftfs/weft/graph/rpc/xdr"
)

// Program and versions. Version 4 (RFC 1813 appendix II; XNFS chapter 10 for the rest) is
// what Linux uses with NFSv3; versions 1 and 3 (XNFS chapter 10) differ only in 32-bit
// offsets and lengths and in the smaller status set. Version 1 lacks procedures 20–23.
const (
	Program = 100021
	V1      = 1
	V3      = 3
	V4      = 4
)

// Procedures (XNFS chapter 10; the same numbers in version 4).
const (
	ProcNull       = 0
	ProcTest       = 1
	ProcLock       = 2
	ProcCancel     = 3
	ProcUnlock     = 4
	ProcGranted    = 5
	ProcTestMsg    = 6
	ProcLockMsg    = 7
	ProcCancelMsg  = 8
	ProcUnlockMsg  = 9
	ProcGrantedMsg = 10
	ProcTestRes    = 11
	ProcLockRes    = 12
	ProcCancelRes  = 13
	ProcUnlockRes  = 14
	ProcGrantedRes = 15
	ProcShare      = 20
	ProcUnshare    = 21
	ProcNMLock     = 22
	ProcFreeAll    = 23
)

// Limits (XNFS chapter 10).
const (
	MaxStrLen  = 1024 // LM_MAXSTRLEN: caller_name
	MaxNameLen = 1025 // LM_MAXNAMELEN: nlm_notify name
	MaxNetobj  = 1024 // MAXNETOBJ_SZ: cookies, file handles, owner handles
)

// Stat is nlm4_stats (RFC 1813 appendix II); versions 1 and 3 use the first five values.
type Stat uint32

// Status values.
const (
	Granted           Stat = 0
	Denied            Stat = 1
	DeniedNoLocks     Stat = 2
	Blocked           Stat = 3
	DeniedGracePeriod Stat = 4
	Deadlck           Stat = 5 // version 4 only, as the rest
	ROFS              Stat = 6
	StaleFH           Stat = 7
	FBig              Stat = 8
	Failed            Stat = 9
)

var statNames = [...]string{"GRANTED", "DENIED", "DENIED_NOLOCKS", "BLOCKED", "DENIED_GRACE_PERIOD", "DEADLCK", "ROFS", "STALE_FH", "FBIG", "FAILED"}

func (s Stat) String() string {
	if int(s) < len(statNames) {
		return statNames[s]
	}
	return fmt.Sprintf("nlm_stats(%d)", uint32(s))
}

// forVersion maps a version 4 status to one a version 1/3 client understands (as Linux does).
func (s Stat) forVersion(vers uint32) Stat {
	if vers == V4 || s <= DeniedGracePeriod {
		return s
	}
	if s == Failed || s == StaleFH || s == ROFS {
		return DeniedNoLocks
	}
	return Denied
}

// Lock is nlm4_lock / nlm_lock. Offsets and lengths are 64-bit here whatever the version.
type Lock struct {
	CallerName string
	FH         []byte
	OH         []byte
	Svid       int32 // uppid in versions 1 and 3
	Offset     uint64
	Len        uint64 // 0: to the end of the file
}

// Holder is nlm4_holder / nlm_holder (the conflicting lock of a TEST).
type Holder struct {
	Exclusive bool
	Svid      int32
	OH        []byte
	Offset    uint64
	Len       uint64
}

// LockArgs is nlm4_lockargs (LOCK, LOCK_MSG, NM_LOCK).
type LockArgs struct {
	Cookie    []byte
	Block     bool
	Exclusive bool
	Lock      Lock
	Reclaim   bool
	State     int32
}

// CancArgs is nlm4_cancargs (CANCEL, CANCEL_MSG).
type CancArgs struct {
	Cookie    []byte
	Block     bool
	Exclusive bool
	Lock      Lock
}

// TestArgs is nlm4_testargs (TEST, TEST_MSG, GRANTED, GRANTED_MSG).
type TestArgs struct {
	Cookie    []byte
	Exclusive bool
	Lock      Lock
}

// UnlockArgs is nlm4_unlockargs (UNLOCK, UNLOCK_MSG).
type UnlockArgs struct {
	Cookie []byte
	Lock   Lock
}

// Share is nlm4_share.
type Share struct {
	CallerName string
	FH         []byte
	OH         []byte
	Mode       uint32 // fsh4_mode: deny none/read/write/both (0–3)
	Access     uint32 // fsh4_access: none/read/write/both (0–3)
}

// ShareArgs is nlm4_shareargs (SHARE, UNSHARE).
type ShareArgs struct {
	Cookie  []byte
	Share   Share
	Reclaim bool
}

// Notify is nlm4_notify (FREE_ALL).
type Notify struct {
	Name  string
	State int32
}

// Res is nlm4_res.
type Res struct {
	Cookie []byte
	Stat   Stat
}

// TestRes is nlm4_testres; Holder is meaningful when Stat is Denied.
type TestRes struct {
	Cookie []byte
	Stat   Stat
	Holder Holder
}

// ShareRes is nlm4_shareres.
type ShareRes struct {
	Cookie   []byte
	Stat     Stat
	Sequence int32
}

func wide(vers uint32) bool { return vers == V4 }

func readOff(d *xdr.Decoder, vers uint32) uint64 {
	if wide(vers) {
		return d.Uint64()
	}
	return uint64(d.Uint32())
}

func appendOff(b []byte, vers uint32, v uint64) []byte {
	if wide(vers) {
		return xdr.AppendUint64(b, v)
	}
	if v > math.MaxUint32 {
		v = math.MaxUint32
	}
	return xdr.AppendUint32(b, uint32(v))
}

func readLock(d *xdr.Decoder, vers uint32, l *Lock) {
	l.CallerName = d.String(MaxStrLen)
	l.FH = d.Opaque(MaxNetobj)
	l.OH = d.Opaque(MaxNetobj)
	l.Svid = d.Int32()
	l.Offset = readOff(d, vers)
	l.Len = readOff(d, vers)
}

func appendLock(b []byte, vers uint32, l *Lock) []byte {
	b = xdr.AppendString(b, l.CallerName)
	b = xdr.AppendOpaque(b, l.FH)
	b = xdr.AppendOpaque(b, l.OH)
	b = xdr.AppendInt32(b, l.Svid)
	b = appendOff(b, vers, l.Offset)
	return appendOff(b, vers, l.Len)
}

func finish(d *xdr.Decoder, what string) error {
	if err := d.Err(); err != nil {
		return fmt.Errorf("nlm: malformed %s: %w", what, err)
	}
	if d.Len() != 0 {
		return fmt.Errorf("nlm: malformed %s: %d trailing bytes", what, d.Len())
	}
	return nil
}

func checkVers(vers uint32) error {
	if vers != V1 && vers != V3 && vers != V4 {
		return fmt.Errorf("nlm: version %d", vers)
	}
	return nil
}

// DecodeLockArgs decodes nlm4_lockargs (vers 4) or nlm_lockargs (vers 1, 3). Byte slices
// alias b.
func DecodeLockArgs(vers uint32, b []byte) (LockArgs, error) {
	var a LockArgs
	if err := checkVers(vers); err != nil {
		return a, err
	}
	d := xdr.NewDecoder(b)
	a.Cookie = d.Opaque(MaxNetobj)
	a.Block = d.Bool()
	a.Exclusive = d.Bool()
	readLock(d, vers, &a.Lock)
	a.Reclaim = d.Bool()
	a.State = d.Int32()
	return a, finish(d, "lockargs")
}

// AppendLockArgs appends the encoding of a.
func AppendLockArgs(b []byte, vers uint32, a *LockArgs) []byte {
	b = xdr.AppendOpaque(b, a.Cookie)
	b = xdr.AppendBool(b, a.Block)
	b = xdr.AppendBool(b, a.Exclusive)
	b = appendLock(b, vers, &a.Lock)
	b = xdr.AppendBool(b, a.Reclaim)
	return xdr.AppendInt32(b, a.State)
}

// DecodeCancArgs decodes nlm4_cancargs / nlm_cancargs.
func DecodeCancArgs(vers uint32, b []byte) (CancArgs, error) {
	var a CancArgs
	if err := checkVers(vers); err != nil {
		return a, err
	}
	d := xdr.NewDecoder(b)
	a.Cookie = d.Opaque(MaxNetobj)
	a.Block = d.Bool()
	a.Exclusive = d.Bool()
	readLock(d, vers, &a.Lock)
	return a, finish(d, "cancargs")
}

// AppendCancArgs appends the encoding of a.
func AppendCancArgs(b []byte, vers uint32, a *CancArgs) []byte {
	b = xdr.AppendOpaque(b, a.Cookie)
	b = xdr.AppendBool(b, a.Block)
	b = xdr.AppendBool(b, a.Exclusive)
	return appendLock(b, vers, &a.Lock)
}

// DecodeTestArgs decodes nlm4_testargs / nlm_testargs.
func DecodeTestArgs(vers uint32, b []byte) (TestArgs, error) {
	var a TestArgs
	if err := checkVers(vers); err != nil {
		return a, err
	}
	d := xdr.NewDecoder(b)
	a.Cookie = d.Opaque(MaxNetobj)
	a.Exclusive = d.Bool()
	readLock(d, vers, &a.Lock)
	return a, finish(d, "testargs")
}

// AppendTestArgs appends the encoding of a.
func AppendTestArgs(b []byte, vers uint32, a *TestArgs) []byte {
	b = xdr.AppendOpaque(b, a.Cookie)
	b = xdr.AppendBool(b, a.Exclusive)
	return appendLock(b, vers, &a.Lock)
}

// DecodeUnlockArgs decodes nlm4_unlockargs / nlm_unlockargs.
func DecodeUnlockArgs(vers uint32, b []byte) (UnlockArgs, error) {
	var a UnlockArgs
	if err := checkVers(vers); err != nil {
		return a, err
	}
	d := xdr.NewDecoder(b)
	a.Cookie = d.Opaque(MaxNetobj)
	readLock(d, vers, &a.Lock)
	return a, finish(d, "unlockargs")
}

// AppendUnlockArgs appends the encoding of a.
func AppendUnlockArgs(b []byte, vers uint32, a *UnlockArgs) []byte {
	b = xdr.AppendOpaque(b, a.Cookie)
	return appendLock(b, vers, &a.Lock)
}

// DecodeShareArgs decodes nlm4_shareargs / nlm_shareargs (the same in versions 3 and 4).
func DecodeShareArgs(b []byte) (ShareArgs, error) {
	var a ShareArgs
	d := xdr.NewDecoder(b)
	a.Cookie = d.Opaque(MaxNetobj)
	a.Share.CallerName = d.String(MaxStrLen)
	a.Share.FH = d.Opaque(MaxNetobj)
	a.Share.OH = d.Opaque(MaxNetobj)
	a.Share.Mode = d.Uint32()
	a.Share.Access = d.Uint32()
	a.Reclaim = d.Bool()
	if err := finish(d, "shareargs"); err != nil {
		return a, err
	}
	if a.Share.Mode > 3 || a.Share.Access > 3 {
		return a, fmt.Errorf("nlm: malformed shareargs: mode %d access %d", a.Share.Mode, a.Share.Access)
	}
	return a, nil
}

// AppendShareArgs appends the encoding of a.
func AppendShareArgs(b []byte, a *ShareArgs) []byte {
	b = xdr.AppendOpaque(b, a.Cookie)
	b = xdr.AppendString(b, a.Share.CallerName)
	b = xdr.AppendOpaque(b, a.Share.FH)
	b = xdr.AppendOpaque(b, a.Share.OH)
	b = xdr.AppendUint32(b, a.Share.Mode)
	b = xdr.AppendUint32(b, a.Share.Access)
	return xdr.AppendBool(b, a.Reclaim)
}

// DecodeNotify decodes nlm4_notify / nlm_notify (FREE_ALL).
func DecodeNotify(b []byte) (Notify, error) {
	var n Notify
	d := xdr.NewDecoder(b)
	n.Name = d.String(MaxNameLen)
	n.State = d.Int32()
	return n, finish(d, "notify")
}

// AppendNotify appends the encoding of n.
func AppendNotify(b []byte, n *Notify) []byte {
	b = xdr.AppendString(b, n.Name)
	return xdr.AppendInt32(b, n.State)
}

// AppendRes appends nlm4_res.
func AppendRes(b []byte, r *Res) []byte {
	b = xdr.AppendOpaque(b, r.Cookie)
	return xdr.AppendUint32(b, uint32(r.Stat))
}

// DecodeRes decodes nlm4_res.
func DecodeRes(b []byte) (Res, error) {
	var r Res
	d := xdr.NewDecoder(b)
	r.Cookie = d.Opaque(MaxNetobj)
	r.Stat = Stat(d.Uint32())
	return r, finish(d, "res")
}

// AppendTestRes appends nlm4_testres / nlm_testres.
func AppendTestRes(b []byte, vers uint32, r *TestRes) []byte {
	b = xdr.AppendOpaque(b, r.Cookie)
	b = xdr.AppendUint32(b, uint32(r.Stat))
	if r.Stat == Denied {
		b = xdr.AppendBool(b, r.Holder.Exclusive)
		b = xdr.AppendInt32(b, r.Holder.Svid)
		b = xdr.AppendOpaque(b, r.Holder.OH)
		b = appendOff(b, vers, r.Holder.Offset)
		b = appendOff(b, vers, r.Holder.Len)
	}
	return b
}

// DecodeTestRes decodes nlm4_testres / nlm_testres.
func DecodeTestRes(vers uint32, b []byte) (TestRes, error) {
	var r TestRes
	if err := checkVers(vers); err != nil {
		return r, err
	}
	d := xdr.NewDecoder(b)
	r.Cookie = d.Opaque(MaxNetobj)
	r.Stat = Stat(d.Uint32())
	if r.Stat == Denied {
		r.Holder.Exclusive = d.Bool()
		r.Holder.Svid = d.Int32()
		r.Holder.OH = d.Opaque(MaxNetobj)
		r.Holder.Offset = readOff(d, vers)
		r.Holder.Len = readOff(d, vers)
	}
	return r, finish(d, "testres")
}

// AppendShareRes appends nlm4_shareres.
func AppendShareRes(b []byte, r *ShareRes) []byte {
	b = xdr.AppendOpaque(b, r.Cookie)
	b = xdr.AppendUint32(b, uint32(r.Stat))
	return xdr.AppendInt32(b, r.Sequence)
}

// DecodeShareRes decodes nlm4_shareres.
func DecodeShareRes(b []byte) (ShareRes, error) {
	var r ShareRes
	d := xdr.NewDecoder(b)
	r.Cookie = d.Opaque(MaxNetobj)
	r.Stat = Stat(d.Uint32())
	r.Sequence = d.Int32()
	return r, finish(d, "shareres")
}
