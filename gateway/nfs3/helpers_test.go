package nfs3

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/gateway/export"
	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph"
	_ "github.com/weftfs/weft/graph/xlators/storage/memory"
)

// env is an NFSv3 server over a storage/memory leaf, exporting /gv0 to everyone.
type env struct {
	s    *Server
	g    *graph.Graph
	top  graph.Xlator
	exp  *export.Export
	root []byte // the export root's handle
}

func newEnv(tb testing.TB, exps *configs.ExportsConfig) *env {
	tb.Helper()
	x, err := graph.Construct("storage/memory", "gv0-memory", nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	g, err := graph.NewGraph(x)
	if err != nil {
		tb.Fatal(err)
	}
	if err := g.Activate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if exps == nil {
		f := false
		exps = &configs.ExportsConfig{Exports: []configs.Export{{Path: "/gv0", Squash: configs.SquashNoRoot, Secure: &f, Clients: []configs.ClientRule{{Match: "*"}}}}}
	}
	codec, err := handle.NewCodec(handle.VolumeIDFromName("gv0"), []byte("nfs3-test-secret-0123456789"))
	if err != nil {
		tb.Fatal(err)
	}
	tab, err := export.NewTable(exps, nil)
	if err != nil {
		tb.Fatal(err)
	}
	verf := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	s, err := New(Config{Top: x, Handles: codec, Exports: tab, FDIdle: time.Minute, Verf: &verf})
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{s: s, g: g, top: x, exp: tab.Exports()[0]}
	tb.Cleanup(func() {
		s.Close()
		g.Fini()
	})
	rg, err := e.exp.Root(context.Background(), x)
	if err != nil {
		tb.Fatal(err)
	}
	e.root = codec.Encode(e.exp.ID, rg)
	return e
}

var testAddr = netip.MustParseAddrPort("127.0.0.1:700")

// call runs one procedure with AUTH_SYS creds c (nil: root) and returns the reply body.
func (e *env) call(tb testing.TB, proc uint32, args []byte, c *graph.Creds) []byte {
	tb.Helper()
	if c == nil {
		c = &graph.Creds{}
	}
	w := xdr.NewWriter(nil)
	if err := e.s.Dispatch(context.Background(), &Call{Proc: proc, Args: args, Addr: testAddr, Creds: c}, w); err != nil {
		tb.Fatalf("%s: %v", ProcNames[proc], err)
	}
	out := append([]byte(nil), w.Bytes()...)
	w.Reset() // hands READ buffers back
	return out
}

// args encodes XDR arguments: []byte values as opaque, strings as strings, uint32/uint64/bool.
func args(vals ...any) []byte {
	w := xdr.NewWriter(nil)
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			w.Opaque(v)
		case string:
			w.String(v)
		case uint32:
			w.Uint32(v)
		case int:
			w.Uint32(uint32(v))
		case uint64:
			w.Uint64(v)
		case bool:
			w.Bool(v)
		case [8]byte:
			w.Fixed(v[:])
		default:
			panic("args: unsupported type")
		}
	}
	return w.Bytes()
}

// sattrMode encodes a sattr3 that sets only the mode (or nothing when mode < 0).
func sattrMode(mode int) []any {
	if mode < 0 {
		return []any{false, false, false, false, 0, 0}
	}
	return []any{true, uint32(mode), false, false, false, 0, 0}
}

func cat(parts ...[]any) []any {
	var out []any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// reply decodes reply bodies.
type reply struct{ *xdr.Reader }

func parse(b []byte) reply { return reply{xdr.NewReader(b)} }

// fattr decodes fattr3.
type fattr struct {
	typ, mode, nlink, uid, gid uint32
	size, used, fileid         uint64
	mtime, ctime               [2]uint32
}

func (r reply) fattr() fattr {
	var a fattr
	a.typ, a.mode, a.nlink, a.uid, a.gid = r.Uint32(), r.Uint32(), r.Uint32(), r.Uint32(), r.Uint32()
	a.size, a.used = r.Uint64(), r.Uint64()
	r.Uint32()
	r.Uint32() // rdev
	r.Uint64() // fsid
	a.fileid = r.Uint64()
	r.Uint64() // atime
	a.mtime = [2]uint32{r.Uint32(), r.Uint32()}
	a.ctime = [2]uint32{r.Uint32(), r.Uint32()}
	return a
}

func (r reply) postOp() (fattr, bool) {
	if r.Bool() {
		return r.fattr(), true
	}
	return fattr{}, false
}

// wcc decodes wcc_data: pre (size, mtime, ctime) when present, then post.
type wcc struct {
	hasPre, hasPost bool
	preSize         uint64
	preMtime        [2]uint32
	preCtime        [2]uint32
	post            fattr
}

func (r reply) wcc() wcc {
	var w wcc
	if w.hasPre = r.Bool(); w.hasPre {
		w.preSize = r.Uint64()
		w.preMtime = [2]uint32{r.Uint32(), r.Uint32()}
		w.preCtime = [2]uint32{r.Uint32(), r.Uint32()}
	}
	w.post, w.hasPost = r.postOp()
	return w
}

// created decodes the reply of CREATE/MKDIR/SYMLINK/MKNOD: status, then the handle and
// attributes on success, then the directory's wcc.
func (r reply) created() (st uint32, fh []byte, a fattr, dir wcc) {
	st = r.Uint32()
	if st == 0 {
		if r.Bool() {
			fh = r.Opaque(handle.MaxSize)
		}
		a, _ = r.postOp()
	}
	dir = r.wcc()
	return
}

// create makes a file with mode as creds c and returns its handle.
func (e *env) create(tb testing.TB, dir []byte, name string, mode int, c *graph.Creds) []byte {
	tb.Helper()
	st, fh, _, _ := parse(e.call(tb, ProcCreate, args(cat([]any{dir, name, Guarded}, sattrMode(mode))...), c)).created()
	if st != 0 || fh == nil {
		tb.Fatalf("CREATE %q: status %d", name, st)
	}
	return fh
}

// mkdir makes a directory with mode as creds c and returns its handle.
func (e *env) mkdir(tb testing.TB, dir []byte, name string, mode int, c *graph.Creds) []byte {
	tb.Helper()
	st, fh, _, _ := parse(e.call(tb, ProcMkdir, args(cat([]any{dir, name}, sattrMode(mode))...), c)).created()
	if st != 0 || fh == nil {
		tb.Fatalf("MKDIR %q: status %d", name, st)
	}
	return fh
}
