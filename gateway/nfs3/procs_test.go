package nfs3

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"sync/atomic"
	"testing"

	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/gateway/nfsstat"
	"github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph"
)

// TestWCC: CREATE, WRITE, SETATTR and REMOVE report the directory's or file's attributes before
// (size, mtime, ctime) and after the change (RFC 1813 §2.6 wcc_data), and they describe the
// object as it really was and is.
func TestWCC(t *testing.T) {
	e := newEnv(t, nil)
	dir := e.mkdir(t, e.root, "d", 0o755, nil)
	r := parse(e.call(t, ProcGetattr, args(dir), nil))
	if r.Uint32() != 0 {
		t.Fatal("GETATTR")
	}
	before := r.fattr()

	st, f, fa, w := parse(e.call(t, ProcCreate, args(cat([]any{dir, "f", Unchecked}, sattrMode(0o644))...), nil)).created()
	if st != 0 || f == nil || fa.typ != NF3REG || fa.size != 0 {
		t.Fatalf("CREATE: status %d attrs %+v", st, fa)
	}
	if !w.hasPre || !w.hasPost {
		t.Fatalf("CREATE wcc without pre or post attributes: %+v", w)
	}
	if w.preMtime != before.mtime || w.preCtime != before.ctime || w.preSize != before.size {
		t.Fatalf("CREATE pre-op %+v does not match the directory before %+v", w, before)
	}
	if w.post.fileid != before.fileid || w.post.nlink != before.nlink {
		t.Fatalf("CREATE post-op is not the directory: %+v", w.post)
	}

	// WRITE: pre size 0, post size 5, count and FILE_SYNC committed, the server's verifier.
	r = parse(e.call(t, ProcWrite, args(f, uint64(0), 5, FileSync, []byte("hello")), nil))
	if r.Uint32() != 0 {
		t.Fatal("WRITE")
	}
	w = r.wcc()
	if !w.hasPre || w.preSize != 0 || !w.hasPost || w.post.size != 5 {
		t.Fatalf("WRITE wcc %+v", w)
	}
	if n, how := r.Uint32(), r.Uint32(); n != 5 || how != FileSync {
		t.Fatalf("WRITE count %d committed %d", n, how)
	}
	if v := r.Fixed(8); !bytes.Equal(v, []byte{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("WRITE verifier %x", v)
	}

	// SETATTR size 2: pre 5, post 2.
	r = parse(e.call(t, ProcSetattr, args(f, false, false, false, true, uint64(2), 0, 0, false), nil))
	if r.Uint32() != 0 {
		t.Fatal("SETATTR")
	}
	if w = r.wcc(); w.preSize != 5 || w.post.size != 2 {
		t.Fatalf("SETATTR wcc %+v", w)
	}

	// A failing SETATTR guard (NOT_SYNC) still reports the attributes.
	r = parse(e.call(t, ProcSetattr, args(f, false, false, false, false, 0, 0, true, 1, 2), nil))
	if st := r.Uint32(); st != uint32(nfsstat.NFS3ERR_NOT_SYNC) {
		t.Fatalf("SETATTR with a wrong guard: %d", st)
	}
	if w = r.wcc(); !w.hasPre || !w.hasPost || w.post.size != 2 {
		t.Fatalf("NOT_SYNC wcc %+v", w)
	}

	// REMOVE: directory wcc; afterwards GETATTR of the handle is STALE.
	r = parse(e.call(t, ProcRemove, args(dir, "f"), nil))
	if r.Uint32() != 0 {
		t.Fatal("REMOVE")
	}
	if w = r.wcc(); !w.hasPre || !w.hasPost || w.post.fileid != before.fileid {
		t.Fatalf("REMOVE wcc %+v", w)
	}
	if st := parse(e.call(t, ProcGetattr, args(f), nil)).Uint32(); st != uint32(nfsstat.NFS3ERR_STALE) {
		t.Fatalf("GETATTR of a removed file: %d", st)
	}
}

// readdir runs READDIR pages of count bytes from cookie 0 and returns the names, the verifier of
// the first page and the number of pages.
func readdir(t *testing.T, e *env, dir []byte, count uint32) (names []string, verf [8]byte, pages int) {
	t.Helper()
	cookie := uint64(0)
	var v [8]byte
	for pages = 1; ; pages++ {
		r := parse(e.call(t, ProcReaddir, args(dir, cookie, v, count), nil))
		if st := r.Uint32(); st != 0 {
			t.Fatalf("READDIR page %d: status %d", pages, st)
		}
		r.postOp()
		copy(v[:], r.Fixed(8))
		if pages == 1 {
			verf = v
		} else if v != verf {
			t.Fatalf("verifier changed from %x to %x within one listing", verf, v)
		}
		for r.Bool() {
			r.Uint64()
			names = append(names, r.String(MaxName))
			cookie = r.Uint64()
		}
		eof := r.Bool()
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
		if eof {
			return names, verf, pages
		}
		if pages > 1000 {
			t.Fatal("READDIR does not end")
		}
	}
}

// TestCookieVerifier: a listing in small pages gives every entry once, under one verifier;
// each new listing (cookie 0) gets a fresh verifier; a count too small for one entry is
// TOOSMALL; continuing with the cookie and verifier of an old listing still works (the cookies
// are positions of the graph, not of the server's cache).
func TestCookieVerifier(t *testing.T) {
	e := newEnv(t, nil)
	dir := e.mkdir(t, e.root, "d", 0o755, nil)
	var want []string
	for i := 0; i < 40; i++ {
		n := string(rune('a'+i%26)) + string(rune('0'+i/26)) + "-entry"
		e.create(t, dir, n, 0o644, nil)
		want = append(want, n)
	}
	want = append(want, ".", "..")
	sort.Strings(want)

	all, v1, pages := readdir(t, e, dir, 64<<10)
	if pages != 1 {
		t.Fatalf("a big count took %d pages", pages)
	}
	small, v2, pages := readdir(t, e, dir, 300)
	if pages < 5 {
		t.Fatalf("a 300-byte count took only %d pages", pages)
	}
	sort.Strings(all)
	sort.Strings(small)
	if !equal(all, want) || !equal(small, want) {
		t.Fatalf("listings differ:\n%v\n%v\nwant %v", all, small, want)
	}
	if v1 == ([8]byte{}) || v1 == v2 {
		t.Fatalf("verifiers %x and %x: want distinct, non-zero", v1, v2)
	}
	// TOOSMALL.
	r := parse(e.call(t, ProcReaddir, args(dir, uint64(0), [8]byte{}, 40), nil))
	if st := r.Uint32(); st != uint32(nfsstat.NFS3ERR_TOOSMALL) {
		t.Fatalf("READDIR count 40: status %d", st)
	}
	// Resume an old listing after the server dropped its state (FD caches flushed).
	r = parse(e.call(t, ProcReaddir, args(dir, uint64(0), [8]byte{}, 200), nil))
	r.Uint32()
	r.postOp()
	var v [8]byte
	copy(v[:], r.Fixed(8))
	var first []string
	var cookie uint64
	for r.Bool() {
		r.Uint64()
		first = append(first, r.String(MaxName))
		cookie = r.Uint64()
	}
	e.s.FlushFDs()
	r = parse(e.call(t, ProcReaddir, args(dir, cookie, v, 64<<10), nil))
	if st := r.Uint32(); st != 0 {
		t.Fatalf("resumed READDIR: status %d", st)
	}
	r.postOp()
	r.Fixed(8)
	rest := first
	for r.Bool() {
		r.Uint64()
		rest = append(rest, r.String(MaxName))
		r.Uint64()
	}
	sort.Strings(rest)
	if !equal(rest, want) {
		t.Fatalf("resumed listing %v, want %v", rest, want)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestExclusiveCreate: EXCLUSIVE CREATE stores the verifier with the file; a retransmission with
// the same verifier succeeds with the same file, another verifier gets EXIST, and a plain file
// of that name (no verifier) is EXIST too (RFC 1813 §3.3.8).
func TestExclusiveCreate(t *testing.T) {
	e := newEnv(t, nil)
	a := [8]byte{'v', 'e', 'r', 'f', 0, 0, 0, 1}
	b := [8]byte{'v', 'e', 'r', 'f', 0, 0, 0, 2}
	st, fh1, fa, _ := parse(e.call(t, ProcCreate, args(e.root, "x", Exclusive, a), nil)).created()
	if st != 0 || fh1 == nil || fa.typ != NF3REG {
		t.Fatalf("EXCLUSIVE CREATE: status %d", st)
	}
	st, fh2, _, _ := parse(e.call(t, ProcCreate, args(e.root, "x", Exclusive, a), nil)).created()
	if st != 0 || !bytes.Equal(fh1, fh2) {
		t.Fatalf("retransmission: status %d, same handle %v", st, bytes.Equal(fh1, fh2))
	}
	if st, _, _, _ := parse(e.call(t, ProcCreate, args(e.root, "x", Exclusive, b), nil)).created(); st != uint32(nfsstat.NFS3ERR_EXIST) {
		t.Fatalf("other verifier: status %d", st)
	}
	h, err := e.s.Handles().Decode(fh1)
	if err != nil {
		t.Fatal(err)
	}
	x, _, err := e.top.Getxattr(context.Background(), &graph.Loc{GFID: h.GFID}, CreateVerfXattr, nil)
	if err != nil || !bytes.Equal(x[CreateVerfXattr], a[:]) {
		t.Fatalf("stored verifier %x, %v", x[CreateVerfXattr], err)
	}
	e.create(t, e.root, "plain", 0o644, nil)
	if st, _, _, _ := parse(e.call(t, ProcCreate, args(e.root, "plain", Exclusive, a), nil)).created(); st != uint32(nfsstat.NFS3ERR_EXIST) {
		t.Fatalf("EXCLUSIVE over a plain file: status %d", st)
	}
	// The client sets the real attributes with SETATTR afterwards; that works on the new file.
	r := parse(e.call(t, ProcSetattr, args(cat([]any{fh1}, sattrMode(0o640), []any{false})...), nil))
	if st := r.Uint32(); st != 0 {
		t.Fatalf("SETATTR after EXCLUSIVE CREATE: %d", st)
	}
	if w := r.wcc(); w.post.mode != 0o640 {
		t.Fatalf("mode after SETATTR %o", w.post.mode)
	}
}

// TestNames: names are bytes. UTF-8 in any script and invalid UTF-8 are created, looked up and
// listed unchanged; "/" or NUL inside a name is ACCES, over 255 bytes NAMETOOLONG, a name over
// the decoding limit GARBAGE_ARGS; "." and ".." cannot be created or removed.
func TestNames(t *testing.T) {
	e := newEnv(t, nil)
	dir := e.mkdir(t, e.root, "n", 0o755, nil)
	names := []string{"héllo wörld", "日本語のファイル名", "emoji-😀", "\xff\xfe\x80latin1-\xe9t\xe9", "tab\there", "\x01\x7f"}
	for _, n := range names {
		fh := e.create(t, dir, n, 0o644, nil)
		r := parse(e.call(t, ProcLookup, args(dir, n), nil))
		if st := r.Uint32(); st != 0 {
			t.Fatalf("LOOKUP %q: status %d", n, st)
		}
		if got := r.Opaque(handle.MaxSize); !bytes.Equal(got, fh) {
			t.Fatalf("LOOKUP %q: another handle", n)
		}
	}
	listed, _, _ := readdir(t, e, dir, 64<<10)
	want := append([]string{".", ".."}, names...)
	sort.Strings(listed)
	sort.Strings(want)
	if !equal(listed, want) {
		t.Fatalf("READDIR %q, want %q", listed, want)
	}

	long := string(bytes.Repeat([]byte{'x'}, MaxName+1))
	for name, wantSt := range map[string]nfsstat.Status3{
		"a/b": nfsstat.NFS3ERR_ACCES, "a\x00b": nfsstat.NFS3ERR_ACCES, "": nfsstat.NFS3ERR_ACCES,
		long: nfsstat.NFS3ERR_NAMETOOLONG, ".": nfsstat.NFS3ERR_EXIST, "..": nfsstat.NFS3ERR_EXIST,
	} {
		st, _, _, _ := parse(e.call(t, ProcCreate, args(cat([]any{dir, name, Guarded}, sattrMode(0o644))...), nil)).created()
		if st != uint32(wantSt) {
			t.Errorf("CREATE %q: status %d, want %d", name, st, wantSt)
		}
	}
	if st := parse(e.call(t, ProcRemove, args(dir, "."), nil)).Uint32(); st != uint32(nfsstat.NFS3ERR_ACCES) {
		t.Errorf("REMOVE .: %d", st)
	}
	if st := parse(e.call(t, ProcRmdir, args(dir, "."), nil)).Uint32(); st != uint32(nfsstat.NFS3ERR_INVAL) {
		t.Errorf("RMDIR .: %d", st)
	}
	if st := parse(e.call(t, ProcRmdir, args(dir, ".."), nil)).Uint32(); st != uint32(nfsstat.NFS3ERR_NOTEMPTY) {
		t.Errorf("RMDIR ..: %d", st)
	}
	w := xdr.NewWriter(nil)
	err := e.s.Dispatch(context.Background(), &Call{Proc: ProcLookup, Args: args(dir, string(bytes.Repeat([]byte{'y'}, maxNameDec+1))), Addr: testAddr, Creds: &graph.Creds{}}, w)
	if !errors.Is(err, ErrGarbageArgs) {
		t.Errorf("LOOKUP of a %d-byte name: %v, want GARBAGE_ARGS", maxNameDec+1, err)
	}
	// LOOKUP of ".." in the export root stays in the root.
	r := parse(e.call(t, ProcLookup, args(e.root, ".."), nil))
	if st := r.Uint32(); st != 0 || !bytes.Equal(r.Opaque(handle.MaxSize), e.root) {
		t.Errorf("LOOKUP .. of the export root: status %d or another handle", st)
	}
}

// readTap is a translator over the memory leaf that records the buffer each READ returns and
// counts ReadReply.Release calls.
type readTap struct {
	graph.Passthrough
	last     atomic.Pointer[byte]
	released atomic.Int32
}

func (x *readTap) Readv(ctx context.Context, fd *graph.FD, size uint32, off int64, flags uint32, xd graph.Xdata) (graph.ReadReply, error) {
	rep, err := x.Passthrough.Readv(ctx, fd, size, off, flags, xd)
	if len(rep.Data) > 0 {
		x.last.Store(&rep.Data[0])
		rep.Release = func() { x.released.Add(1) }
	}
	return rep, err
}

func init() {
	graph.Register(graph.Registration{Type: "test/read-tap", New: func() graph.Xlator { return &readTap{} }, MinChildren: 1, MaxChildren: 1})
}

// TestReadZeroCopy: READ data is attached to the reply by reference (the graph's buffer itself,
// to be written with writev) and handed back with ReadReply.Release exactly once, after the
// reply is sent, or at once when the data is not sent (a caller without permission).
func TestReadZeroCopy(t *testing.T) {
	e := newEnv(t, nil)
	f := e.create(t, e.root, "f", 0o600, nil)
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	e.call(t, ProcWrite, args(f, uint64(0), len(data), Unstable, data), nil)

	tap, err := graph.Construct("test/read-tap", "tap", nil, nil, e.top)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Top: tap, Handles: e.s.Handles(), Exports: e.s.Exports()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := tap.(*readTap)
	w := xdr.NewWriter(nil)
	if err := s.Dispatch(context.Background(), &Call{Proc: ProcRead, Args: args(f, uint64(0), len(data)), Addr: testAddr, Creds: &graph.Creds{}}, w); err != nil {
		t.Fatal(err)
	}
	p := w.Payloads()
	if len(p) != 1 || &p[0].Data[0] != x.last.Load() {
		t.Fatal("READ data is not the graph's buffer")
	}
	if !bytes.Equal(p[0].Data, data) {
		t.Fatal("READ data differs")
	}
	r := parse(w.Bytes())
	if r.Uint32() != 0 {
		t.Fatal("READ status")
	}
	r.postOp()
	if n, eof := r.Uint32(), r.Bool(); n != uint32(len(data)) || !eof || !bytes.Equal(r.Opaque(1<<20), data) {
		t.Fatalf("READ body: count %d eof %v", n, eof)
	}
	if x.released.Load() != 0 {
		t.Fatal("buffer released before the reply was sent")
	}
	var sk relSink
	w.Emit(&sk)
	w.Reset()
	if x.released.Load() != 0 || len(sk.rels) != 1 {
		t.Fatal("release not handed to the reply")
	}
	sk.rels[0]()
	if x.released.Load() != 1 {
		t.Fatalf("released %d times", x.released.Load())
	}
	// Denied: uid 2000 may not read a 0600 root file; the buffer goes back at once.
	w = xdr.NewWriter(nil)
	if err := s.Dispatch(context.Background(), &Call{Proc: ProcRead, Args: args(f, uint64(0), 16), Addr: testAddr, Creds: &graph.Creds{UID: 2000, GID: 2000}}, w); err != nil {
		t.Fatal(err)
	}
	if st := parse(w.Bytes()).Uint32(); st != uint32(nfsstat.NFS3ERR_ACCES) {
		t.Fatalf("READ without permission: %d", st)
	}
	if len(w.Payloads()) != 0 || x.released.Load() != 2 {
		t.Fatalf("denied READ: %d payloads, %d releases", len(w.Payloads()), x.released.Load())
	}
}

type relSink struct{ rels []func() }

func (s *relSink) Write(p []byte) (int, error) { return len(p), nil }
func (s *relSink) AppendOpaquePayload(_ []byte, release func()) {
	s.rels = append(s.rels, release)
}

// TestUncheckedCreate: UNCHECKED CREATE of a new name creates it; of an existing regular file
// it succeeds with that file, applying only the size; of a directory it is ISDIR and of a
// symlink EXIST; GUARDED of an existing name is EXIST.
func TestUncheckedCreate(t *testing.T) {
	e := newEnv(t, nil)
	unchecked := func(name string, size int) (uint32, []byte, fattr) {
		sa := []any{false, false, false, false, 0, 0}
		if size >= 0 {
			sa = []any{false, false, false, true, uint64(size), 0, 0}
		}
		st, fh, a, _ := parse(e.call(t, ProcCreate, args(cat([]any{e.root, name, Unchecked}, sa)...), nil)).created()
		return st, fh, a
	}
	st, fh1, _ := unchecked("f", -1)
	if st != 0 || fh1 == nil {
		t.Fatalf("UNCHECKED CREATE of a new name: %d", st)
	}
	e.call(t, ProcWrite, args(fh1, uint64(0), 5, FileSync, []byte("hello")), nil)
	st, fh2, a := unchecked("f", -1)
	if st != 0 || !bytes.Equal(fh1, fh2) || a.size != 5 {
		t.Fatalf("UNCHECKED CREATE of an existing file: status %d, same handle %v, size %d", st, bytes.Equal(fh1, fh2), a.size)
	}
	if st, _, a = unchecked("f", 2); st != 0 || a.size != 2 {
		t.Fatalf("UNCHECKED CREATE with size 2 of an existing file: status %d size %d", st, a.size)
	}
	e.mkdir(t, e.root, "d", 0o755, nil)
	if st, _, _ = unchecked("d", -1); st != uint32(nfsstat.NFS3ERR_ISDIR) {
		t.Fatalf("UNCHECKED CREATE over a directory: %d", st)
	}
	if st, _, _, _ := parse(e.call(t, ProcSymlink, args(cat([]any{e.root, "ln"}, sattrMode(-1), []any{"f"})...), nil)).created(); st != 0 {
		t.Fatalf("SYMLINK: %d", st)
	}
	if st, _, _ = unchecked("ln", -1); st != uint32(nfsstat.NFS3ERR_EXIST) {
		t.Fatalf("UNCHECKED CREATE over a symlink: %d", st)
	}
	if st, _, _, _ := parse(e.call(t, ProcCreate, args(cat([]any{e.root, "f", Guarded}, sattrMode(0o644))...), nil)).created(); st != uint32(nfsstat.NFS3ERR_EXIST) {
		t.Fatalf("GUARDED CREATE of an existing file: %d", st)
	}
}
