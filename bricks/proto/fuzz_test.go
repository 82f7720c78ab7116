package proto

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/weftfs/weft/graph"
)

// Decoder families: fop arguments (FuzzArgs), fop replies (FuzzReply), handshake and control
// messages (FuzzControl). The first input byte selects the fop or message; the rest is the record.
// A record that decodes must re-encode to the same bytes (the encoding is canonical) and decode
// again to the same value.

func seedArgs() [][]byte {
	var out [][]byte
	for f := graph.Fop(0); f < graph.NumFops; f++ {
		a := &Args{Pid: 42, LkOwner: []byte("owner"), Loc: Loc{GFID: graph.RootGFID, Name: "a", Path: "/a"},
			Loc2: Loc{ParentGFID: graph.RootGFID, Name: "b"}, FD: 3, Mode: 0o644, Size: 4096, Offset: 8192,
			Name: "user.x", Target: "/t", Volume: "dom", Flock: graph.Flock{Type: graph.LockWrite, Len: 10, Owner: []byte{1}},
			Dict: graph.Xdata{"k": []byte("v")}, Xdata: graph.Xdata{"a": {1, 2, 3}}, Data: []byte("hello")}
		var e Encoder
		_ = EncodeArgs(&e, f, a)
		out = append(out, append([]byte{byte(f)}, e.Buf...))
	}
	return out
}

func seedReplies() [][]byte {
	var out [][]byte
	for f := graph.Fop(0); f < graph.NumFops; f++ {
		r := &Reply{FD: 9, Stat: graph.Iatt{GFID: graph.RootGFID, Mode: 0o40755}, Link: "x", EOF: true,
			Entries: []graph.Dirent{{Name: "a", Ino: 5, Off: 1, Type: 8, Xdata: graph.Xdata{"q": nil}}},
			Flock:   graph.Flock{Type: graph.LockRead}, Dict: graph.Xdata{"trusted.afr": {0, 0, 0, 1}}, Strong: []byte{1, 2},
			Data: []byte("abcdefg")}
		var e Encoder
		_ = EncodeReply(&e, f, r)
		out = append(out, append([]byte{byte(f)}, e.Buf...))
		e = Encoder{}
		_ = EncodeReply(&e, f, &Reply{Errno: 2, Xdata: graph.Xdata{"err": []byte("x")}})
		out = append(out, append([]byte{byte(f)}, e.Buf...))
	}
	return out
}

type controlMsg interface {
	Encode(*Encoder)
	Decode(*Decoder) error
}

func controlMsgs() []func() controlMsg {
	return []func() controlMsg{
		func() controlMsg { return &ChallengeArgs{} }, func() controlMsg { return &ChallengeReply{} },
		func() controlMsg { return &SetvolumeArgs{} }, func() controlMsg { return &SetvolumeReply{} },
		func() controlMsg { return &ReleaseArgs{} }, func() controlMsg { return &Status{} },
	}
}

func seedControl() [][]byte {
	var n [NonceSize]byte
	n[3] = 7
	msgs := []controlMsg{
		&ChallengeArgs{ClientID: "client-1", ClientNonce: n}, &ChallengeReply{ServerNonce: n},
		&SetvolumeArgs{ClientID: "client-1", Volume: "/b1", Proof: make([]byte, 32), Xdata: graph.Xdata{"k": nil}},
		&SetvolumeReply{VolumeID: "vid", ServerProof: make([]byte, 32)}, &ReleaseArgs{FD: 1}, &Status{Errno: 13},
	}
	var out [][]byte
	for i, m := range msgs {
		var e Encoder
		m.Encode(&e)
		out = append(out, append([]byte{byte(i)}, e.Buf...))
	}
	return out
}

func FuzzArgs(f *testing.F) {
	for _, s := range seedArgs() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		fop := graph.Fop(int(in[0]) % int(graph.NumFops))
		var a Args
		if err := DecodeArgs(in[1:], fop, &a); err != nil {
			return
		}
		var e Encoder
		if err := EncodeArgs(&e, fop, &a); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Buf, in[1:]) {
			t.Fatalf("%s: re-encoding differs", fop)
		}
		var b Args
		if err := DecodeArgs(e.Buf, fop, &b); err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: second decode differs: %v", fop, err)
		}
	})
}

func FuzzReply(f *testing.F) {
	for _, s := range seedReplies() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		fop := graph.Fop(int(in[0]) % int(graph.NumFops))
		var r Reply
		if err := DecodeReply(in[1:], fop, &r); err != nil {
			return
		}
		var e Encoder
		if err := EncodeReply(&e, fop, &r); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Buf, in[1:]) {
			t.Fatalf("%s: re-encoding differs", fop)
		}
		var r2 Reply
		if err := DecodeReply(e.Buf, fop, &r2); err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("%s: second decode differs: %v", fop, err)
		}
	})
}

func FuzzControl(f *testing.F) {
	for _, s := range seedControl() {
		f.Add(s)
	}
	mk := controlMsgs()
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		m := mk[int(in[0])%len(mk)]()
		if err := m.Decode(NewDecoder(in[1:])); err != nil {
			return
		}
		var e Encoder
		m.Encode(&e)
		if !bytes.Equal(e.Buf, in[1:]) {
			t.Fatalf("%T: re-encoding differs", m)
		}
	})
}

// TestWriteSeedCorpus regenerates testdata/fuzz from the seeds when WEFT_WRITE_CORPUS=1; otherwise
// it checks the committed corpus exists.
func TestWriteSeedCorpus(t *testing.T) {
	sets := map[string][][]byte{"FuzzArgs": seedArgs(), "FuzzReply": seedReplies(), "FuzzControl": seedControl()}
	for name, seeds := range sets {
		dir := filepath.Join("testdata", "fuzz", name)
		if os.Getenv("WEFT_WRITE_CORPUS") != "1" {
			ents, err := os.ReadDir(dir)
			if err != nil || len(ents) < len(seeds) {
				t.Fatalf("%s: committed seed corpus missing or short (%v); regenerate with WEFT_WRITE_CORPUS=1", dir, err)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
