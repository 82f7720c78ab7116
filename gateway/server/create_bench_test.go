package server_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/gateway/drc"
	"github.com/weftfs/weft/gateway/nfs3"
	"github.com/weftfs/weft/gateway/nfstest"
	"github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph"
)

// BenchmarkCreateBreakdown splits the cost of one NFS CREATE (GUARDED, mode 0644, root caller)
// over storage/posix into its layers, each level adding one to the previous:
//
//	posix-create      the leaf alone: Create + Flush + release of the FD (what CREATE needs)
//	graph-calls       every graph call the gateway makes for it: Stat(dir), Create, Flush, release
//	nfs3-dispatch     the NFSv3 procedure in process: decoding, handle MAC check, export check,
//	                  the graph calls, encoding (no RPC, no DRC); -unchecked: UNCHECKED (Linux's
//	                  open(O_CREAT)) instead of GUARDED
//	drc               the duplicate request cache's Begin+Finish alone (with its CRC and copy)
//	rpc-loopback      the whole call over TCP on loopback: client encoding, RPC, DRC, dispatch
//
// Run: go test -run '^$' -bench CreateBreakdown -benchtime 2000x ./gateway/server/
func BenchmarkCreateBreakdown(b *testing.B) {
	env := nfstest.StartPosix(b, b.TempDir(), nil)
	c, root := env.Client(b, "/gv0")
	ctx := context.Background()
	top := env.Graph.Top
	rootCtx := graph.WithCreds(ctx, &graph.Creds{})
	mk := func(b *testing.B, name string) graph.GFID {
		res, err := c.Mkdir(ctx, root, name, nfstest.ModeAttrs(0o755))
		if err != nil {
			b.Fatal(err)
		}
		fh, err := nfstest.CreatedFH(res)
		if err != nil {
			b.Fatal(err)
		}
		h, err := env.Gateway.NFS().Handles().Decode(fh)
		if err != nil {
			b.Fatal(err)
		}
		return h.GFID
	}
	create := func(dir graph.GFID, name string) error {
		flags := unix.O_CREAT | unix.O_EXCL | unix.O_RDWR
		fd := graph.NewFD(nil, graph.GFID{}, flags)
		_, err := top.Create(rootCtx, &graph.Loc{ParentGFID: dir, Name: name}, flags, unix.S_IFREG|0o644, 0, fd, nil)
		_, _ = top.Flush(rootCtx, fd, nil)
		fd.Unref()
		return err
	}
	b.Run("posix-create", func(b *testing.B) {
		dir := mk(b, fmt.Sprintf("p%d", b.N))
		for i := 0; i < b.N; i++ {
			if err := create(dir, fmt.Sprintf("f%d", i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("graph-calls", func(b *testing.B) {
		dir := mk(b, fmt.Sprintf("g%d", b.N))
		for i := 0; i < b.N; i++ {
			if _, _, err := top.Stat(rootCtx, &graph.Loc{GFID: dir}, nil); err != nil {
				b.Fatal(err)
			}
			if err := create(dir, fmt.Sprintf("f%d", i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	how := uint32(nfs3.Guarded)
	args := func(dirFH []byte, name string) []byte {
		w := xdr.NewWriter(nil)
		w.Opaque(dirFH)
		w.String(name)
		w.Uint32(how)
		for _, v := range []uint32{1, 0o644, 0, 0, 0, 0, 0} { // sattr3: mode only
			w.Uint32(v)
		}
		return w.Bytes()
	}
	dispatch := func(b *testing.B, prefix string) {
		dir := mk(b, fmt.Sprintf("%s%d", prefix, b.N))
		dirFH := env.Gateway.NFS().Handles().Encode(env.Gateway.NFS().Exports().Exports()[0].ID, dir)
		addr := netip.MustParseAddrPort("127.0.0.1:1000")
		w := xdr.NewWriter(nil)
		for i := 0; i < b.N; i++ {
			w.Reset()
			call := &nfs3.Call{Proc: nfs3.ProcCreate, Args: args(dirFH, fmt.Sprintf("f%d", i)), Addr: addr, Creds: &graph.Creds{}}
			if err := env.Gateway.NFS().Dispatch(ctx, call, w); err != nil || w.Head()[3] != 0 {
				b.Fatalf("CREATE: %v %x", err, w.Head()[:4])
			}
		}
	}
	b.Run("nfs3-dispatch", func(b *testing.B) { dispatch(b, "d") })
	b.Run("nfs3-dispatch-unchecked", func(b *testing.B) {
		how = nfs3.Unchecked
		defer func() { how = nfs3.Guarded }()
		dispatch(b, "u")
	})
	b.Run("drc", func(b *testing.B) {
		d := drc.New(8192)
		a := args(root, "some-file-name")
		reply := make([]byte, 250)
		cl := netip.MustParseAddr("127.0.0.1")
		for i := 0; i < b.N; i++ {
			k := drc.NewKey(cl, uint32(i), nfs3.Program, 3, nfs3.ProcCreate, a)
			d.Begin(k)
			d.Finish(k, reply)
		}
	})
	b.Run("rpc-loopback", func(b *testing.B) {
		dir := mk(b, fmt.Sprintf("r%d", b.N))
		dirFH := env.Gateway.NFS().Handles().Encode(env.Gateway.NFS().Exports().Exports()[0].ID, dir)
		for i := 0; i < b.N; i++ {
			res, err := c.Raw(ctx, nfstest.NFSProgram, 3, nfstest.ProcCreate, args(dirFH, fmt.Sprintf("f%d", i)))
			if err != nil || res[3] != 0 {
				b.Fatalf("CREATE: %v", err)
			}
		}
	})
}
