package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/weftfs/weft/graph/rpc/xdr"
)

// Fuzz targets for every decoder of untrusted bytes. Seed corpora are committed under
// testdata/fuzz/<target>/ (regenerate with WEFT_WRITE_FUZZ_SEEDS=1 go test -run WriteFuzzSeeds).

func recordSeeds() [][]byte {
	return [][]byte{
		encodeRecord([]byte("hello")),
		encodeRecord(make([]byte, 100), 10, 0, 30),
		encodeRecord(nil),
		append(encodeRecord([]byte("one"), 1), encodeRecord([]byte("two"))...),
		xdr.AppendUint32(nil, 0xffffffff),
		xdr.AppendUint32(nil, 0x7fffffff),
		{0x80, 0, 0},
	}
}

func callSeeds() [][]byte {
	sys := (&AuthSysParms{Stamp: 1, MachineName: "m", UID: 1, GID: 2, GIDs: []uint32{3}}).Append(nil)
	return [][]byte{
		rawCall(1, 2, 100003, 3, 1, NoAuth, []byte("args")),
		rawCall(2, 2, 100005, 3, 1, OpaqueAuth{Flavor: AuthSys, Body: sys}, nil),
		rawCall(3, 3, 1, 1, 1, NoAuth, nil),
		rawCall(4, 2, 1, 1, 1, OpaqueAuth{Flavor: 7, Body: make([]byte, 400)}, nil),
		appendAcceptedReply(nil, 5, Success, 0, 0),
		{0, 0, 0, 1, 0, 0, 0, 0},
	}
}

func authSysSeeds() [][]byte {
	return [][]byte{
		(&AuthSysParms{Stamp: 1, MachineName: "client", UID: 1000, GID: 1000, GIDs: []uint32{4, 24}}).Append(nil),
		(&AuthSysParms{MachineName: string(bytes.Repeat([]byte("x"), 255)), GIDs: make([]uint32, 16)}).Append(nil),
		(&AuthSysParms{}).Append(nil),
		{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff},
	}
}

func replySeeds() [][]byte {
	return [][]byte{
		append(appendAcceptedReply(nil, 1, Success, 0, 0), "results"...),
		appendAcceptedReply(nil, 2, ProgMismatch, 2, 4),
		appendAcceptedReply(nil, 3, GarbageArgs, 0, 0),
		appendRejectedReply(nil, 4, RPCMismatch, 0),
		appendRejectedReply(nil, 5, AuthError, AuthTooWeak),
		{0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x91},
	}
}

// FuzzRecordMarking feeds a stream in chunks of varying size and checks the reassembled
// records against a straightforward reference decoder.
func FuzzRecordMarking(f *testing.F) {
	for _, s := range recordSeeds() {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		const max = 4096
		want, wantErr := referenceRecords(stream, max)
		rr := newRecordReader(max)
		var got [][]byte
		var err error
		step := int(chunk)%64 + 1
		for off := 0; off < len(stream) && err == nil; off += step {
			p := stream[off:min(off+step, len(stream))]
			for len(p) > 0 && err == nil {
				var n int
				n, err = rr.feed(p, func(b *Buffer) bool {
					if len(b.B) > max {
						t.Fatalf("record of %d bytes over max %d", len(b.B), max)
					}
					got = append(got, append([]byte(nil), b.B...))
					b.Release()
					return true
				})
				p = p[n:]
			}
		}
		if rr.rec != nil && cap(rr.rec.B) > classSize(bufClass(max)) {
			t.Fatalf("partial record buffer of %d bytes", cap(rr.rec.B))
		}
		rr.release()
		if (err != nil) != wantErr {
			t.Fatalf("error %v, reference error %v", err, wantErr)
		}
		if len(got) != len(want) {
			t.Fatalf("%d records, reference %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}

// referenceRecords decodes complete records of stream (RFC 5531 §11), stopping at the first
// record over max (reported as an error).
func referenceRecords(stream []byte, max int) ([][]byte, bool) {
	var out [][]byte
	var cur []byte
	for len(stream) >= 4 {
		v := be.Uint32(stream)
		n := int(v &^ lastFragmentBit)
		if len(cur)+n > max {
			return out, true
		}
		if len(stream)-4 < n {
			break
		}
		cur = append(cur, stream[4:4+n]...)
		stream = stream[4+n:]
		if v&lastFragmentBit != 0 {
			out = append(out, cur)
			cur = nil
		}
	}
	return out, false
}

func FuzzCallHeader(f *testing.F) {
	for _, s := range callSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		var h callHeader
		r := decodeCallHeader(rec, &h)
		if r != hdrOK {
			return
		}
		if h.rpcvers != RPCVersion || len(h.cred.Body) > MaxAuthBytes || len(h.verf.Body) > MaxAuthBytes {
			t.Fatalf("accepted header %+v", h)
		}
		// Re-encoding the decoded header reproduces the input.
		enc := appendCallHeader(nil, h.xid, h.prog, h.vers, h.proc, &h.cred, &h.verf)
		enc = append(enc, h.args...)
		if !bytes.Equal(enc, maskPadding(rec, &h)) {
			t.Fatalf("round trip:\n%x\n%x", rec, enc)
		}
		if h.cred.Flavor == AuthSys {
			var gids [16]uint32
			_, _ = DecodeAuthSys(h.cred.Body, gids[:0])
		}
	})
}

// maskPadding returns a copy of rec with the XDR padding of the credential and verifier
// bodies zeroed (decoders ignore padding; encoders write zeros).
func maskPadding(rec []byte, h *callHeader) []byte {
	out := append([]byte(nil), rec...)
	off := 24
	for _, a := range []*OpaqueAuth{&h.cred, &h.verf} {
		off += 8 + len(a.Body)
		for i := 0; i < xdr.Pad(len(a.Body)); i++ {
			out[off+i] = 0
		}
		off += xdr.Pad(len(a.Body))
	}
	return out
}

// fakeConn is a TransportConn that records what is sent.
type fakeConn struct {
	mu     sync.Mutex
	info   *ConnInfo
	sent   [][]byte
	closed bool
}

func (f *fakeConn) Info() *ConnInfo { return f.info }
func (f *fakeConn) Send(segs [][]byte, done func()) error {
	f.mu.Lock()
	var b []byte
	for _, s := range segs {
		b = append(b, s...)
	}
	f.sent = append(f.sent, b)
	f.mu.Unlock()
	if done != nil {
		done()
	}
	return nil
}
func (f *fakeConn) PauseRead()  {}
func (f *fakeConn) ResumeRead() {}
func (f *fakeConn) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

// FuzzServerRecord runs arbitrary records through the whole server path (header, auth,
// dispatch, handler, reply) with a fake transport: the result is exactly one well-formed reply
// with the record's xid, or no reply (a REPLY message, or a dropped call), or a closed
// connection; never a panic.
func FuzzServerRecord(f *testing.F) {
	for _, s := range callSeeds() {
		f.Add(s)
	}
	srv := NewServer(ServerOptions{Transport: NetTransport()})
	h := testHandler()
	quick := HandlerFunc(func(ctx context.Context, c *Call, r *Reply) AcceptStat {
		if c.Proc == procSlow { // sleeps as long as the input says: not for fuzzing
			return ProcUnavail
		}
		return h.ServeRPC(ctx, c, r)
	})
	srv.Register(testProg, 1, quick)
	srv.Register(100003, 3, quick)
	f.Fuzz(func(t *testing.T, rec []byte) {
		fc := &fakeConn{info: NewConnInfo("fake", nil, nil)}
		c := newConn(fc, srv, context.Background())
		defer c.cancel()
		b := GetBuffer(len(rec))
		b.B = append(b.B, rec...)
		c.Record(fc, b)
		deadline := time.Now().Add(5 * time.Second)
		for {
			c.mu.Lock()
			n := c.inflight
			c.mu.Unlock()
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("call never finished")
			}
			time.Sleep(time.Millisecond)
		}
		fc.mu.Lock()
		defer fc.mu.Unlock()
		if fc.closed {
			if len(fc.sent) != 0 {
				t.Fatalf("closed after sending %d replies", len(fc.sent))
			}
			return
		}
		if len(fc.sent) > 1 {
			t.Fatalf("%d replies", len(fc.sent))
		}
		if len(fc.sent) == 1 {
			r := fc.sent[0]
			if len(r) < 4 || int(be.Uint32(r)&^lastFragmentBit) != len(r)-4 || be.Uint32(r)&lastFragmentBit == 0 {
				t.Fatalf("bad record mark on %x", r)
			}
			xid, _, err := decodeReply(r[4:])
			var re *Error
			if xid != be.Uint32(rec) || (err != nil && !errors.As(err, &re)) {
				t.Fatalf("reply %x: xid %d err %v", r, xid, err)
			}
		}
	})
}

func FuzzAuthSys(f *testing.F) {
	for _, s := range authSysSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var gids [16]uint32
		p, err := DecodeAuthSys(body, gids[:0])
		if err != nil {
			return
		}
		if len(p.MachineName) > MaxMachineNameBytes || len(p.GIDs) > MaxAuthSysGIDs {
			t.Fatalf("limits exceeded: %d %d", len(p.MachineName), len(p.GIDs))
		}
		enc := p.Append(nil)
		if len(enc) != len(body) {
			t.Fatalf("re-encoded %d bytes from %d", len(enc), len(body))
		}
		if q, err := DecodeAuthSys(enc, nil); err != nil || fmt.Sprint(q) != fmt.Sprint(p) {
			t.Fatalf("round trip %+v %+v %v", p, q, err)
		}
	})
}

func FuzzReply(f *testing.F) {
	for _, s := range replySeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		xid, res, err := decodeReply(rec)
		if err == nil {
			if len(rec) < 24 || xid != be.Uint32(rec) || len(res) > len(rec)-24 {
				t.Fatalf("accepted reply of %d bytes with %d result bytes", len(rec), len(res))
			}
		}
	})
}

// TestWriteFuzzSeeds writes the seed corpora under testdata/fuzz when WEFT_WRITE_FUZZ_SEEDS is set.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("WEFT_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set WEFT_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz")
	}
	write := func(target string, i int, vals ...any) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, v := range vals {
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case uint8:
				fmt.Fprintf(&b, "byte(%q)\n", v)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range recordSeeds() {
		write("FuzzRecordMarking", i, s, uint8(3))
	}
	for i, s := range callSeeds() {
		write("FuzzCallHeader", i, s)
	}
	for i, s := range authSysSeeds() {
		write("FuzzAuthSys", i, s)
	}
	for i, s := range replySeeds() {
		write("FuzzReply", i, s)
	}
	for i, s := range callSeeds() {
		write("FuzzServerRecord", i, s)
	}
}
