package nfs3

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph"
)

// FuzzDispatch feeds any bytes as the arguments of any procedure (with, when fh selects one, a
// valid handle of the root, a file or a directory in front so that decoding goes past the
// handle check) to a server over a memory leaf. Every call must end with a well-formed reply
// body or GARBAGE_ARGS/PROC_UNAVAIL, within seconds, and leave no FD behind once the caches
// are flushed. Run:
//
//	go test -run '^$' -fuzz FuzzDispatch -fuzztime 5m ./gateway/nfs3/
func FuzzDispatch(f *testing.F) {
	e := newEnv(f, nil)
	file := e.create(f, e.root, "file", 0o644, nil)
	dir := e.mkdir(f, e.root, "dir", 0o755, nil)
	e.call(f, ProcWrite, args(file, uint64(0), 5, FileSync, []byte("hello")), nil)
	handles := [][]byte{nil, e.root, file, dir}

	for _, s := range fuzzSeeds(e.root, file) {
		f.Add(s.proc, s.fh, s.uid, s.args)
	}
	f.Fuzz(func(t *testing.T, proc uint8, fh uint8, uid uint8, in []byte) {
		a := in
		if h := handles[int(fh)%len(handles)]; h != nil {
			w := xdr.NewWriter(nil)
			w.Opaque(h)
			a = append(w.Bytes(), in...)
		}
		creds := &graph.Creds{UID: uint32(uid%4) * 1000, GID: uint32(uid%4) * 1000}
		if uid >= 128 {
			creds = nil // AUTH_NONE
		}
		e.s.FlushFDs()
		before := graph.LiveFDs()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w := xdr.NewWriter(nil)
		done := make(chan error, 1)
		go func() {
			done <- e.s.Dispatch(ctx, &Call{Proc: uint32(proc % (NumProcs + 2)), Args: a, Addr: testAddr, Creds: creds}, w)
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("proc %d: no reply after 20s", proc)
		}
		switch {
		case err == nil:
			if b := w.Bytes(); len(b)%4 != 0 || (proc%(NumProcs+2) != ProcNull && len(b) < 4) {
				t.Fatalf("proc %d: malformed body of %d bytes", proc, len(b))
			}
		case errors.Is(err, ErrGarbageArgs), errors.Is(err, ErrProcUnavail):
		default:
			t.Fatalf("proc %d: unexpected error %v", proc, err)
		}
		w.Reset()
		e.s.FlushFDs()
		if n := graph.LiveFDs(); n != before {
			t.Fatalf("proc %d: %d FDs live after the call, %d before", proc, n, before)
		}
	})
}

type fuzzSeed struct {
	proc, fh, uid uint8
	args          []byte
}

// fuzzSeeds are valid argument tails (after the handle) of every procedure.
func fuzzSeeds(rootFH, fileFH []byte) []fuzzSeed {
	const root, file, dir = 1, 2, 3
	var verf [8]byte
	s := []fuzzSeed{
		{ProcNull, 0, 0, nil},
		{ProcGetattr, file, 0, nil},
		{ProcSetattr, file, 1, args(cat(sattrMode(0o600), []any{false})...)},
		{ProcSetattr, file, 0, args(true, 0o600, true, 5, true, 7, true, uint64(3), SetToClientTime, 1, 2, SetToServerTime, true, 0, 0)},
		{ProcLookup, root, 0, args("file")},
		{ProcLookup, dir, 2, args("..")},
		{ProcAccess, file, 1, args(0x3f)},
		{ProcReadlink, file, 0, nil},
		{ProcRead, file, 0, args(uint64(0), 100)},
		{ProcWrite, file, 0, args(uint64(2), 3, Unstable, []byte("abc"))},
		{ProcCreate, root, 0, args(cat([]any{"new", Unchecked}, sattrMode(0o644))...)},
		{ProcCreate, root, 1, args("ex", Exclusive, verf)},
		{ProcMkdir, dir, 0, args(cat([]any{"sub"}, sattrMode(0o755))...)},
		{ProcSymlink, root, 0, args(cat([]any{"ln"}, sattrMode(-1), []any{"target"})...)},
		{ProcMknod, root, 0, args(cat([]any{"fifo", NF3FIFO}, sattrMode(0o644))...)},
		{ProcMknod, root, 0, args(cat([]any{"chr", NF3CHR}, sattrMode(0o644), []any{1, 3})...)},
		{ProcRemove, root, 0, args("new")},
		{ProcRmdir, dir, 0, args("sub")},
		{ProcRename, root, 0, append(args("file2"), args(rootFH, "file3")...)},
		{ProcLink, file, 0, args(rootFH, "hard")},
		{ProcRename, root, 0, args("file", fileFH, "x")},
		{ProcReaddir, root, 0, args(uint64(0), verf, 4096)},
		{ProcReaddirplus, dir, 0, args(uint64(0), verf, 512, 4096)},
		{ProcFsstat, root, 0, nil},
		{ProcFsinfo, root, 0, nil},
		{ProcPathconf, root, 0, nil},
		{ProcCommit, file, 0, args(uint64(0), 0)},
		{NumProcs, 0, 0, nil},
		{ProcGetattr, 0, 0, args(make([]byte, 60))},
		{ProcWrite, file, 200, args(uint64(1<<63), 0xffffffff, FileSync, []byte{})},
	}
	return s
}
