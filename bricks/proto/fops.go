package proto

import (
	"fmt"

	"github.com/weftfs/weft/graph"
)

// Args are the arguments of any fop procedure. Which fields travel depends on the fop (argLayout);
// the others are ignored by the encoder and left zero by the decoder.
type Args struct {
	// Header, sent with every fop: the caller's pid and lock owner (uid, gid and groups travel in
	// the RPC's AUTH_SYS credential).
	Pid     int32
	LkOwner []byte

	Loc      Loc // the loc (old loc of rename/link)
	Loc2     Loc // the new loc of rename/link
	FD       uint64
	Mode     uint32 // mode of mknod/mkdir/create, mask of access, mode of fallocate
	Umask    uint32
	Rdev     uint64
	Flags    int32  // open/create flags, unlink/rmdir flags, setxattr flags
	Size     uint32 // readlink/readv/readdir size, rchecksum length
	Offset   int64  // truncate/readv/writev/fallocate/discard/zerofill/seek/rchecksum offset
	Cookie   uint64 // readdir offset
	Length   int64  // fallocate/discard/zerofill length
	IOFlags  uint32 // readv/writev flags
	Datasync bool
	Name     string // xattr name (getxattr/removexattr), entrylk basename
	Target   string // symlink target
	Volume   string // lock domain of inodelk/entrylk
	Cmd      int32  // LkCmd, EntrylkCmd, XattropFlag or SeekWhat
	Type     int32  // EntrylkType
	Flock    graph.Flock
	Stat     graph.Iatt // setattr stbuf
	Valid    uint32     // setattr valid bits
	Dict     graph.Xdata
	Xdata    graph.Xdata
	Data     []byte // writev data: a sub-slice of the record when decoded
}

// Reply is the result of any fop procedure. Errno 0 means success; on an error only Xdata
// travels.
type Reply struct {
	Errno   uint32
	FD      uint64     // the remote fd of create/open/opendir
	Stat    graph.Iatt // the file's attributes
	Pre     graph.Iatt // pre-op attributes (of the file, or of the (old) parent)
	Post    graph.Iatt // post-op attributes (of the file, or of the (old) parent)
	Pre2    graph.Iatt // rename: pre-op new parent
	Post2   graph.Iatt // rename: post-op new parent
	Link    string     // readlink target
	EOF     bool
	Entries []graph.Dirent
	Statvfs graph.Statvfs
	Flock   graph.Flock
	Dict    graph.Xdata // getxattr/xattrop results
	Offset  int64       // seek result
	Weak    uint32
	Strong  []byte
	Xdata   graph.Xdata
	Data    []byte // readv data: a sub-slice of the record when decoded
}

type field uint8

const (
	fLoc field = iota + 1
	fLoc2
	fFD
	fMode
	fUmask
	fRdev
	fFlags
	fSize
	fOffset
	fCookie
	fLength
	fIOFlags
	fDatasync
	fName
	fTarget
	fVolume
	fCmd
	fType
	fFlock
	fStat
	fValid
	fDict
	fXdata
	fData // always last: its bytes can go to the transport as their own iovec
	// reply-only fields
	fRFD
	fRStat
	fPre
	fPost
	fPre2
	fPost2
	fLink
	fEOF
	fEntries
	fStatvfs
	fRFlock
	fRDict
	fROffset
	fWeak
	fStrong
	fRXdata
	fRData
)

var wcc = []field{fPre, fPost, fRXdata}
var entry = []field{fRStat, fPre, fPost, fRXdata}
var xonly = []field{fRXdata}

// argLayout lists the fields of each fop's arguments, in wire order (after pid and lock owner).
var argLayout = [graph.NumFops][]field{
	graph.FopLookup:       {fLoc, fXdata},
	graph.FopStat:         {fLoc, fXdata},
	graph.FopFstat:        {fFD, fXdata},
	graph.FopAccess:       {fLoc, fMode, fXdata},
	graph.FopReadlink:     {fLoc, fSize, fXdata},
	graph.FopMknod:        {fLoc, fMode, fRdev, fUmask, fXdata},
	graph.FopMkdir:        {fLoc, fMode, fUmask, fXdata},
	graph.FopUnlink:       {fLoc, fFlags, fXdata},
	graph.FopRmdir:        {fLoc, fFlags, fXdata},
	graph.FopSymlink:      {fTarget, fLoc, fUmask, fXdata},
	graph.FopRename:       {fLoc, fLoc2, fXdata},
	graph.FopLink:         {fLoc, fLoc2, fXdata},
	graph.FopTruncate:     {fLoc, fOffset, fXdata},
	graph.FopFtruncate:    {fFD, fOffset, fXdata},
	graph.FopCreate:       {fLoc, fFlags, fMode, fUmask, fXdata},
	graph.FopOpen:         {fLoc, fFlags, fXdata},
	graph.FopReadv:        {fFD, fSize, fOffset, fIOFlags, fXdata},
	graph.FopWritev:       {fFD, fOffset, fIOFlags, fXdata, fData},
	graph.FopFlush:        {fFD, fXdata},
	graph.FopFsync:        {fFD, fDatasync, fXdata},
	graph.FopOpendir:      {fLoc, fXdata},
	graph.FopReaddir:      {fFD, fSize, fCookie, fXdata},
	graph.FopReaddirp:     {fFD, fSize, fCookie, fXdata},
	graph.FopFsyncdir:     {fFD, fDatasync, fXdata},
	graph.FopStatfs:       {fLoc, fXdata},
	graph.FopSetxattr:     {fLoc, fDict, fFlags, fXdata},
	graph.FopGetxattr:     {fLoc, fName, fXdata},
	graph.FopFsetxattr:    {fFD, fDict, fFlags, fXdata},
	graph.FopFgetxattr:    {fFD, fName, fXdata},
	graph.FopRemovexattr:  {fLoc, fName, fXdata},
	graph.FopFremovexattr: {fFD, fName, fXdata},
	graph.FopLk:           {fFD, fCmd, fFlock, fXdata},
	graph.FopInodelk:      {fVolume, fLoc, fCmd, fFlock, fXdata},
	graph.FopFinodelk:     {fVolume, fFD, fCmd, fFlock, fXdata},
	graph.FopEntrylk:      {fVolume, fLoc, fName, fCmd, fType, fXdata},
	graph.FopFentrylk:     {fVolume, fFD, fName, fCmd, fType, fXdata},
	graph.FopXattrop:      {fLoc, fCmd, fDict, fXdata},
	graph.FopFxattrop:     {fFD, fCmd, fDict, fXdata},
	graph.FopSetattr:      {fLoc, fStat, fValid, fXdata},
	graph.FopFsetattr:     {fFD, fStat, fValid, fXdata},
	graph.FopFallocate:    {fFD, fMode, fOffset, fLength, fXdata},
	graph.FopDiscard:      {fFD, fOffset, fLength, fXdata},
	graph.FopZerofill:     {fFD, fOffset, fLength, fXdata},
	graph.FopSeek:         {fFD, fOffset, fCmd, fXdata},
	graph.FopRchecksum:    {fFD, fOffset, fSize, fXdata},
}

// replyLayout lists the fields of each fop's successful reply, in wire order (after the errno).
var replyLayout = [graph.NumFops][]field{
	graph.FopLookup:       {fRStat, fPost, fRXdata},
	graph.FopStat:         {fRStat, fRXdata},
	graph.FopFstat:        {fRStat, fRXdata},
	graph.FopAccess:       xonly,
	graph.FopReadlink:     {fLink, fRStat, fRXdata},
	graph.FopMknod:        entry,
	graph.FopMkdir:        entry,
	graph.FopUnlink:       {fPre, fPost, fRXdata},
	graph.FopRmdir:        {fPre, fPost, fRXdata},
	graph.FopSymlink:      entry,
	graph.FopRename:       {fRStat, fPre, fPost, fPre2, fPost2, fRXdata},
	graph.FopLink:         entry,
	graph.FopTruncate:     wcc,
	graph.FopFtruncate:    wcc,
	graph.FopCreate:       {fRFD, fRStat, fPre, fPost, fRXdata},
	graph.FopOpen:         {fRFD, fRXdata},
	graph.FopReadv:        {fRStat, fEOF, fRXdata, fRData},
	graph.FopWritev:       wcc,
	graph.FopFlush:        xonly,
	graph.FopFsync:        wcc,
	graph.FopOpendir:      {fRFD, fRXdata},
	graph.FopReaddir:      {fEntries, fRXdata},
	graph.FopReaddirp:     {fEntries, fRXdata},
	graph.FopFsyncdir:     xonly,
	graph.FopStatfs:       {fStatvfs, fRXdata},
	graph.FopSetxattr:     xonly,
	graph.FopGetxattr:     {fRDict, fRXdata},
	graph.FopFsetxattr:    xonly,
	graph.FopFgetxattr:    {fRDict, fRXdata},
	graph.FopRemovexattr:  xonly,
	graph.FopFremovexattr: xonly,
	graph.FopLk:           {fRFlock, fRXdata},
	graph.FopInodelk:      xonly,
	graph.FopFinodelk:     xonly,
	graph.FopEntrylk:      xonly,
	graph.FopFentrylk:     xonly,
	graph.FopXattrop:      {fRDict, fRXdata},
	graph.FopFxattrop:     {fRDict, fRXdata},
	graph.FopSetattr:      wcc,
	graph.FopFsetattr:     wcc,
	graph.FopFallocate:    wcc,
	graph.FopDiscard:      wcc,
	graph.FopZerofill:     wcc,
	graph.FopSeek:         {fROffset, fRXdata},
	graph.FopRchecksum:    {fWeak, fStrong, fRXdata},
}

func checkFop(f graph.Fop) error {
	if f < 0 || f >= graph.NumFops {
		return fmt.Errorf("proto: fop %d out of range: %w", int(f), ErrMalformed)
	}
	return nil
}

// EncodeArgs appends the arguments of fop f to e.Buf, data included.
func EncodeArgs(e *Encoder, f graph.Fop, a *Args) error {
	if err := checkFop(f); err != nil {
		return err
	}
	encodeArgs(e, f, a, true)
	return nil
}

// EncodeArgsSplit appends the arguments of fop f to e.Buf except the bytes of a.Data, and returns
// the padding that must follow the data. The record is e.Buf, then a.Data, then the padding:
// hand the three to the transport as separate iovecs so the data is not copied.
func EncodeArgsSplit(e *Encoder, f graph.Fop, a *Args) (pad []byte, err error) {
	if err := checkFop(f); err != nil {
		return nil, err
	}
	return encodeArgs(e, f, a, false), nil
}

var zeros [4]byte

func encodeArgs(e *Encoder, f graph.Fop, a *Args, withData bool) []byte {
	e.Int32(a.Pid)
	e.Opaque(a.LkOwner)
	for _, fl := range argLayout[f] {
		switch fl {
		case fLoc:
			e.Loc(&a.Loc)
		case fLoc2:
			e.Loc(&a.Loc2)
		case fFD:
			e.Uint64(a.FD)
		case fMode:
			e.Uint32(a.Mode)
		case fUmask:
			e.Uint32(a.Umask)
		case fRdev:
			e.Uint64(a.Rdev)
		case fFlags:
			e.Int32(a.Flags)
		case fSize:
			e.Uint32(a.Size)
		case fOffset:
			e.Int64(a.Offset)
		case fCookie:
			e.Uint64(a.Cookie)
		case fLength:
			e.Int64(a.Length)
		case fIOFlags:
			e.Uint32(a.IOFlags)
		case fDatasync:
			e.Bool(a.Datasync)
		case fName:
			e.String(a.Name)
		case fTarget:
			e.String(a.Target)
		case fVolume:
			e.String(a.Volume)
		case fCmd:
			e.Int32(a.Cmd)
		case fType:
			e.Int32(a.Type)
		case fFlock:
			e.Flock(&a.Flock)
		case fStat:
			e.Iatt(&a.Stat)
		case fValid:
			e.Uint32(a.Valid)
		case fDict:
			e.Xdata(a.Dict)
		case fXdata:
			e.Xdata(a.Xdata)
		case fData:
			if withData {
				e.Opaque(a.Data)
			} else {
				e.Uint32(uint32(len(a.Data)))
				return zeros[:padLen(len(a.Data))]
			}
		}
	}
	return nil
}

// DecodeArgs decodes the arguments of fop f from a whole record. a.Data aliases b.
func DecodeArgs(b []byte, f graph.Fop, a *Args) error {
	if err := checkFop(f); err != nil {
		return err
	}
	d := NewDecoder(b)
	a.Pid = d.Int32()
	a.LkOwner = d.OpaqueCopy(MaxOwner)
	for _, fl := range argLayout[f] {
		switch fl {
		case fLoc:
			d.Loc(&a.Loc)
		case fLoc2:
			d.Loc(&a.Loc2)
		case fFD:
			a.FD = d.Uint64()
		case fMode:
			a.Mode = d.Uint32()
		case fUmask:
			a.Umask = d.Uint32()
		case fRdev:
			a.Rdev = d.Uint64()
		case fFlags:
			a.Flags = d.Int32()
		case fSize:
			a.Size = d.Uint32()
		case fOffset:
			a.Offset = d.Int64()
		case fCookie:
			a.Cookie = d.Uint64()
		case fLength:
			a.Length = d.Int64()
		case fIOFlags:
			a.IOFlags = d.Uint32()
		case fDatasync:
			a.Datasync = d.Bool()
		case fName:
			a.Name = d.String(MaxPath)
		case fTarget:
			a.Target = d.String(MaxPath)
		case fVolume:
			a.Volume = d.String(MaxID)
		case fCmd:
			a.Cmd = d.Int32()
		case fType:
			a.Type = d.Int32()
		case fFlock:
			d.Flock(&a.Flock)
		case fStat:
			d.Iatt(&a.Stat)
		case fValid:
			a.Valid = d.Uint32()
		case fDict:
			a.Dict = d.Xdata()
		case fXdata:
			a.Xdata = d.Xdata()
		case fData:
			a.Data = d.Opaque(MaxData)
		}
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("%s args: %w", f, err)
	}
	return nil
}

// EncodeReply appends the reply of fop f, data included.
func EncodeReply(e *Encoder, f graph.Fop, r *Reply) error {
	if err := checkFop(f); err != nil {
		return err
	}
	encodeReply(e, f, r, true)
	return nil
}

// EncodeReplySplit is EncodeArgsSplit for replies: e.Buf, then r.Data, then the returned padding.
func EncodeReplySplit(e *Encoder, f graph.Fop, r *Reply) (pad []byte, err error) {
	if err := checkFop(f); err != nil {
		return nil, err
	}
	return encodeReply(e, f, r, false), nil
}

func encodeReply(e *Encoder, f graph.Fop, r *Reply, withData bool) []byte {
	e.Uint32(r.Errno)
	if r.Errno != 0 {
		e.Xdata(r.Xdata)
		return nil
	}
	for _, fl := range replyLayout[f] {
		switch fl {
		case fRFD:
			e.Uint64(r.FD)
		case fRStat:
			e.Iatt(&r.Stat)
		case fPre:
			e.Iatt(&r.Pre)
		case fPost:
			e.Iatt(&r.Post)
		case fPre2:
			e.Iatt(&r.Pre2)
		case fPost2:
			e.Iatt(&r.Post2)
		case fLink:
			e.String(r.Link)
		case fEOF:
			e.Bool(r.EOF)
		case fEntries:
			e.Dirents(r.Entries)
		case fStatvfs:
			e.Statvfs(&r.Statvfs)
		case fRFlock:
			e.Flock(&r.Flock)
		case fRDict:
			e.Xdata(r.Dict)
		case fROffset:
			e.Int64(r.Offset)
		case fWeak:
			e.Uint32(r.Weak)
		case fStrong:
			e.Opaque(r.Strong)
		case fRXdata:
			e.Xdata(r.Xdata)
		case fRData:
			if withData {
				e.Opaque(r.Data)
			} else {
				e.Uint32(uint32(len(r.Data)))
				return zeros[:padLen(len(r.Data))]
			}
		}
	}
	return nil
}

// DecodeReply decodes the reply of fop f from a whole record. r.Data aliases b.
func DecodeReply(b []byte, f graph.Fop, r *Reply) error {
	if err := checkFop(f); err != nil {
		return err
	}
	d := NewDecoder(b)
	r.Errno = d.Uint32()
	if d.Err() == nil && r.Errno != 0 {
		r.Xdata = d.Xdata()
		if err := d.Finish(); err != nil {
			return fmt.Errorf("%s reply: %w", f, err)
		}
		return nil
	}
	for _, fl := range replyLayout[f] {
		switch fl {
		case fRFD:
			r.FD = d.Uint64()
		case fRStat:
			d.Iatt(&r.Stat)
		case fPre:
			d.Iatt(&r.Pre)
		case fPost:
			d.Iatt(&r.Post)
		case fPre2:
			d.Iatt(&r.Pre2)
		case fPost2:
			d.Iatt(&r.Post2)
		case fLink:
			r.Link = d.String(MaxPath)
		case fEOF:
			r.EOF = d.Bool()
		case fEntries:
			r.Entries = d.Dirents()
		case fStatvfs:
			d.Statvfs(&r.Statvfs)
		case fRFlock:
			d.Flock(&r.Flock)
		case fRDict:
			r.Dict = d.Xdata()
		case fROffset:
			r.Offset = d.Int64()
		case fWeak:
			r.Weak = d.Uint32()
		case fStrong:
			r.Strong = d.OpaqueCopy(MaxChecksum)
		case fRXdata:
			r.Xdata = d.Xdata()
		case fRData:
			r.Data = d.Opaque(MaxData)
		}
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("%s reply: %w", f, err)
	}
	return nil
}
