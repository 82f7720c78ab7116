package proto

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"testing"

	"github.com/weftfs/weft/graph"
	"golang.org/x/sys/unix"
	"pgregory.net/rapid"
)

func genBytes(t *rapid.T, label string, max int) []byte {
	b := rapid.SliceOfN(rapid.Byte(), 0, max).Draw(t, label)
	if len(b) == 0 {
		return nil
	}
	return b
}

func genGFID(t *rapid.T, label string) graph.GFID {
	var g graph.GFID
	copy(g[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, label))
	return g
}

func genString(t *rapid.T, label string, max int) string {
	return rapid.StringN(0, max, max).Draw(t, label)
}

func genTimespec(t *rapid.T, label string) graph.Timespec {
	return graph.Timespec{Sec: rapid.Int64().Draw(t, label+".sec"), Nsec: rapid.Uint32Range(0, 999999999).Draw(t, label+".nsec")}
}

func genIatt(t *rapid.T, label string) graph.Iatt {
	return graph.Iatt{
		GFID: genGFID(t, label+".gfid"), Ino: rapid.Uint64().Draw(t, label+".ino"), Dev: rapid.Uint64().Draw(t, label+".dev"),
		Mode: rapid.Uint32().Draw(t, label+".mode"), Nlink: rapid.Uint32().Draw(t, label+".nlink"),
		UID: rapid.Uint32().Draw(t, label+".uid"), GID: rapid.Uint32().Draw(t, label+".gid"),
		Rdev: rapid.Uint64().Draw(t, label+".rdev"), Size: rapid.Uint64().Draw(t, label+".size"),
		Blksize: rapid.Uint32().Draw(t, label+".blksize"), Blocks: rapid.Uint64().Draw(t, label+".blocks"),
		Atime: genTimespec(t, label+".atime"), Mtime: genTimespec(t, label+".mtime"), Ctime: genTimespec(t, label+".ctime"),
		Generation: rapid.Uint32().Draw(t, label+".gen"),
	}
}

func genXdata(t *rapid.T, label string) graph.Xdata {
	n := rapid.IntRange(0, 5).Draw(t, label+".n")
	if n == 0 {
		return nil
	}
	x := graph.Xdata{}
	for i := 0; i < n; i++ {
		v := genBytes(t, label+".v", 40)
		if v == nil {
			v = []byte{}
		}
		x[genString(t, label+".k", 20)] = v
	}
	return x
}

func genLoc(t *rapid.T, label string) Loc {
	return Loc{GFID: genGFID(t, label+".gfid"), ParentGFID: genGFID(t, label+".pgfid"), Name: genString(t, label+".name", 30), Path: genString(t, label+".path", 60)}
}

func genFlock(t *rapid.T, label string) graph.Flock {
	return graph.Flock{
		Type:  rapid.SampledFrom([]int16{graph.LockRead, graph.LockWrite, graph.LockUnlock}).Draw(t, label+".type"),
		Start: rapid.Int64().Draw(t, label+".start"), Len: rapid.Int64().Draw(t, label+".len"),
		Pid: rapid.Int32().Draw(t, label+".pid"), Owner: genBytes(t, label+".owner", 32),
	}
}

func genArgs(t *rapid.T, f graph.Fop) *Args {
	a := &Args{Pid: rapid.Int32().Draw(t, "pid"), LkOwner: genBytes(t, "lkowner", 16)}
	for _, fl := range argLayout[f] {
		switch fl {
		case fLoc:
			a.Loc = genLoc(t, "loc")
		case fLoc2:
			a.Loc2 = genLoc(t, "loc2")
		case fFD:
			a.FD = rapid.Uint64().Draw(t, "fd")
		case fMode:
			a.Mode = rapid.Uint32().Draw(t, "mode")
		case fUmask:
			a.Umask = rapid.Uint32().Draw(t, "umask")
		case fRdev:
			a.Rdev = rapid.Uint64().Draw(t, "rdev")
		case fFlags:
			a.Flags = rapid.Int32().Draw(t, "flags")
		case fSize:
			a.Size = rapid.Uint32().Draw(t, "size")
		case fOffset:
			a.Offset = rapid.Int64().Draw(t, "offset")
		case fCookie:
			a.Cookie = rapid.Uint64().Draw(t, "cookie")
		case fLength:
			a.Length = rapid.Int64().Draw(t, "length")
		case fIOFlags:
			a.IOFlags = rapid.Uint32().Draw(t, "ioflags")
		case fDatasync:
			a.Datasync = rapid.Bool().Draw(t, "datasync")
		case fName:
			a.Name = genString(t, "name", 40)
		case fTarget:
			a.Target = genString(t, "target", 80)
		case fVolume:
			a.Volume = genString(t, "volume", 20)
		case fCmd:
			a.Cmd = rapid.Int32().Draw(t, "cmd")
		case fType:
			a.Type = rapid.Int32().Draw(t, "type")
		case fFlock:
			a.Flock = genFlock(t, "flock")
		case fStat:
			a.Stat = genIatt(t, "stat")
		case fValid:
			a.Valid = rapid.Uint32().Draw(t, "valid")
		case fDict:
			a.Dict = genXdata(t, "dict")
		case fXdata:
			a.Xdata = genXdata(t, "xdata")
		case fData:
			a.Data = genBytes(t, "data", 300)
		default:
			t.Fatalf("field %d in args layout of %s", fl, f)
		}
	}
	return a
}

func genDirents(t *rapid.T) []graph.Dirent {
	n := rapid.IntRange(0, 4).Draw(t, "ndirents")
	if n == 0 {
		return nil
	}
	ds := make([]graph.Dirent, n)
	for i := range ds {
		ds[i] = graph.Dirent{Name: genString(t, "dname", 30), Ino: rapid.Uint64().Draw(t, "dino"), Off: rapid.Uint64().Draw(t, "doff"),
			Type: rapid.Uint8().Draw(t, "dtype"), Stat: genIatt(t, "dstat"), Xdata: genXdata(t, "dxdata")}
	}
	return ds
}

func genReply(t *rapid.T, f graph.Fop) *Reply {
	r := &Reply{}
	if rapid.IntRange(0, 4).Draw(t, "fails") == 0 {
		r.Errno = rapid.Uint32Range(1, 200).Draw(t, "errno")
		r.Xdata = genXdata(t, "xdata")
		return r
	}
	for _, fl := range replyLayout[f] {
		switch fl {
		case fRFD:
			r.FD = rapid.Uint64().Draw(t, "fd")
		case fRStat:
			r.Stat = genIatt(t, "stat")
		case fPre:
			r.Pre = genIatt(t, "pre")
		case fPost:
			r.Post = genIatt(t, "post")
		case fPre2:
			r.Pre2 = genIatt(t, "pre2")
		case fPost2:
			r.Post2 = genIatt(t, "post2")
		case fLink:
			r.Link = genString(t, "link", 80)
		case fEOF:
			r.EOF = rapid.Bool().Draw(t, "eof")
		case fEntries:
			r.Entries = genDirents(t)
		case fStatvfs:
			r.Statvfs = graph.Statvfs{Bsize: rapid.Uint64().Draw(t, "bsize"), Blocks: rapid.Uint64().Draw(t, "blocks"), Namemax: rapid.Uint64().Draw(t, "namemax"), Fsid: rapid.Uint64().Draw(t, "fsid")}
		case fRFlock:
			r.Flock = genFlock(t, "flock")
		case fRDict:
			r.Dict = genXdata(t, "dict")
		case fROffset:
			r.Offset = rapid.Int64().Draw(t, "offset")
		case fWeak:
			r.Weak = rapid.Uint32().Draw(t, "weak")
		case fStrong:
			r.Strong = genBytes(t, "strong", 32)
		case fRXdata:
			r.Xdata = genXdata(t, "xdata")
		case fRData:
			r.Data = genBytes(t, "data", 300)
		default:
			t.Fatalf("field %d in reply layout of %s", fl, f)
		}
	}
	return r
}

// normData makes an empty decoded Data nil (decoding gives an empty sub-slice).
func normData(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// TestArgsRoundTrip: for every fop, decode(encode(args)) == args, the encoding is deterministic,
// the split encoding equals the whole one, and every strict prefix fails to decode.
func TestArgsRoundTrip(t *testing.T) {
	for f := graph.Fop(0); f < graph.NumFops; f++ {
		t.Run(f.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				a := genArgs(t, f)
				var e Encoder
				if err := EncodeArgs(&e, f, a); err != nil {
					t.Fatal(err)
				}
				if len(e.Buf)%4 != 0 {
					t.Fatalf("encoding length %d not a multiple of 4", len(e.Buf))
				}
				var got Args
				if err := DecodeArgs(e.Buf, f, &got); err != nil {
					t.Fatalf("decode: %v", err)
				}
				got.Data = normData(got.Data)
				if !reflect.DeepEqual(a, &got) {
					t.Fatalf("round trip differs:\nsent %+v\ngot  %+v", a, &got)
				}
				var e2 Encoder
				_ = EncodeArgs(&e2, f, &got)
				if !bytes.Equal(e.Buf, e2.Buf) {
					t.Fatalf("re-encoding differs")
				}
				var s Encoder
				pad, err := EncodeArgsSplit(&s, f, a)
				if err != nil {
					t.Fatal(err)
				}
				joined := append(append(append([]byte(nil), s.Buf...), a.Data...), pad...)
				if !bytes.Equal(joined, e.Buf) {
					t.Fatalf("split encoding differs from whole encoding")
				}
				cut := rapid.IntRange(0, len(e.Buf)-1).Draw(t, "cut")
				if err := DecodeArgs(e.Buf[:cut], f, &Args{}); !errors.Is(err, ErrMalformed) {
					t.Fatalf("truncated to %d of %d: err %v", cut, len(e.Buf), err)
				}
			})
		})
	}
}

// replyThroughCodec generates a reply of fop f, encodes it and decodes the encoding: the reply
// sent, the one decoded, and the encoder (whose Buf the decoded reply may alias).
func replyThroughCodec(t *rapid.T, f graph.Fop) (*Reply, Reply, *Encoder) {
	r := genReply(t, f)
	e := &Encoder{}
	if err := EncodeReply(e, f, r); err != nil {
		t.Fatal(err)
	}
	var got Reply
	if err := DecodeReply(e.Buf, f, &got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return r, got, e
}

func TestReplyRoundTrip(t *testing.T) {
	for f := graph.Fop(0); f < graph.NumFops; f++ {
		t.Run(f.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				r, got, e := replyThroughCodec(t, f)
				got.Data = normData(got.Data)
				if !reflect.DeepEqual(r, &got) {
					t.Fatalf("round trip differs:\nsent %+v\ngot  %+v", r, &got)
				}
				var s Encoder
				pad, _ := EncodeReplySplit(&s, f, r)
				data := r.Data
				if r.Errno != 0 {
					data = nil
				}
				joined := append(append(append([]byte(nil), s.Buf...), data...), pad...)
				if !bytes.Equal(joined, e.Buf) {
					t.Fatalf("split encoding differs from whole encoding")
				}
				cut := rapid.IntRange(0, len(e.Buf)-1).Draw(t, "cut")
				if err := DecodeReply(e.Buf[:cut], f, &Reply{}); !errors.Is(err, ErrMalformed) {
					t.Fatalf("truncated to %d of %d: err %v", cut, len(e.Buf), err)
				}
			})
		})
	}
}

func TestHandshakeRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var ca ChallengeArgs
		ca.ClientID = genString(t, "id", 50)
		copy(ca.ClientNonce[:], rapid.SliceOfN(rapid.Byte(), NonceSize, NonceSize).Draw(t, "cn"))
		sa := SetvolumeArgs{ClientID: ca.ClientID, Volume: genString(t, "vol", 30), Proof: genBytes(t, "proof", 64), Xdata: genXdata(t, "x")}
		sr := SetvolumeReply{Errno: rapid.Uint32().Draw(t, "errno"), VolumeID: genString(t, "vid", 36), ServerProof: genBytes(t, "sp", 64), Xdata: genXdata(t, "x2")}
		var cr ChallengeReply
		copy(cr.ServerNonce[:], rapid.SliceOfN(rapid.Byte(), NonceSize, NonceSize).Draw(t, "sn"))
		ra := ReleaseArgs{FD: rapid.Uint64().Draw(t, "fd")}
		st := Status{Errno: rapid.Uint32().Draw(t, "st")}
		type codec interface {
			Encode(*Encoder)
			Decode(*Decoder) error
		}
		pairs := []struct{ in, out codec }{
			{&ca, &ChallengeArgs{}}, {&cr, &ChallengeReply{}}, {&sa, &SetvolumeArgs{}}, {&sr, &SetvolumeReply{}},
			{&ra, &ReleaseArgs{}}, {&st, &Status{}},
		}
		for _, p := range pairs {
			var e Encoder
			p.in.Encode(&e)
			if err := p.out.Decode(NewDecoder(e.Buf)); err != nil {
				t.Fatalf("%T: %v", p.in, err)
			}
			if !reflect.DeepEqual(p.in, p.out) {
				t.Fatalf("%T round trip: %+v != %+v", p.in, p.in, p.out)
			}
			if len(e.Buf) > 0 {
				cut := rapid.IntRange(0, len(e.Buf)-1).Draw(t, "cut")
				if err := p.out.Decode(NewDecoder(e.Buf[:cut])); !errors.Is(err, ErrMalformed) {
					t.Fatalf("%T truncated: %v", p.in, err)
				}
			}
		}
	})
}

// TestHostileLengths: huge counts and lengths fail without allocating them.
func TestHostileLengths(t *testing.T) {
	var e Encoder
	e.Int32(1)          // pid
	e.Uint32(0)         // lk owner
	e.Uint64(7)         // fd
	e.Int64(0)          // offset
	e.Uint32(0)         // ioflags
	e.Uint32(0xfffffff) // xdata count
	err := DecodeArgs(e.Buf, graph.FopWritev, &Args{})
	if !errors.Is(err, ErrMalformed) || !errors.Is(err, unix.EBADMSG) || graph.Errno(err) != unix.EBADMSG {
		t.Fatalf("huge xdata count: %v", err)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := 0; i < 100; i++ {
		_ = DecodeArgs(e.Buf, graph.FopWritev, &Args{})
	}
	runtime.ReadMemStats(&m1)
	if per := (m1.TotalAlloc - m0.TotalAlloc) / 100; per > 2048 {
		t.Fatalf("a huge xdata count made the decoder allocate %d bytes per call", per)
	}
	e.Buf = e.Buf[:len(e.Buf)-4]
	e.Uint32(0)          // xdata
	e.Uint32(0xffffffff) // data length
	if err := DecodeArgs(e.Buf, graph.FopWritev, &Args{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge data length: %v", err)
	}
	// Dirent count that cannot fit.
	e = Encoder{}
	e.Uint32(0)
	e.Uint32(60000)
	if err := DecodeReply(e.Buf, graph.FopReaddirp, &Reply{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("huge dirent count: %v", err)
	}
	// Non-zero padding, bad bool, bad lock type, duplicate xdata key.
	e = Encoder{}
	e.Int32(0)
	e.Uint32(1)
	e.Buf = append(e.Buf, 'x', 1, 0, 0)
	if err := DecodeArgs(append(e.Buf, make([]byte, 200)...), graph.FopFstat, &Args{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-zero padding: %v", err)
	}
	x := Encoder{}
	x.Uint32(2)
	x.String("a")
	x.Opaque(nil)
	x.String("a")
	x.Opaque(nil)
	if d := NewDecoder(x.Buf); d.Xdata() != nil || d.Err() == nil {
		t.Fatalf("duplicate xdata key accepted")
	}
	if _, ok := FopOf(ProcMax + 1); ok {
		t.Fatal("proc past the last fop maps to a fop")
	}
	if err := DecodeArgs(nil, graph.NumFops, &Args{}); err == nil {
		t.Fatal("out-of-range fop accepted")
	}
}

func TestProcNumbers(t *testing.T) {
	if ProcOf(graph.FopLookup) != 16 || ProcOf(graph.FopRchecksum) != 60 || ProcMax != 60 {
		t.Fatalf("procedure numbers moved: lookup %d rchecksum %d max %d", ProcOf(graph.FopLookup), ProcOf(graph.FopRchecksum), ProcMax)
	}
	for f := graph.Fop(0); f < graph.NumFops; f++ {
		if g, ok := FopOf(ProcOf(f)); !ok || g != f {
			t.Fatalf("FopOf(ProcOf(%s)) = %v %v", f, g, ok)
		}
		if ProcName(ProcOf(f)) != f.String() {
			t.Fatalf("ProcName %s", ProcName(ProcOf(f)))
		}
	}
	if ProcName(9) != "proc 9" || ProcName(ProcSetvolume) != "SETVOLUME" {
		t.Fatal("ProcName")
	}
}

func TestProofs(t *testing.T) {
	var sn, cn [NonceSize]byte
	sn[0], cn[0] = 1, 2
	p1 := ClientProof([]byte("s"), sn, cn, "c", "v")
	if bytes.Equal(p1, ClientProof([]byte("t"), sn, cn, "c", "v")) || bytes.Equal(p1, ClientProof([]byte("s"), cn, sn, "c", "v")) ||
		bytes.Equal(p1, ClientProof([]byte("s"), sn, cn, "cv", "")) {
		t.Fatal("proof does not bind secret, nonces and names")
	}
	if bytes.Equal(p1, ServerProof([]byte("s"), sn, cn, "c")) || len(p1) != 32 {
		t.Fatal("client and server proofs must differ")
	}
}
