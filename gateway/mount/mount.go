package mount

import (
	"context"
	"net/netip"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/weftfs/weft/gateway/export"
	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph"
)

// Program and versions (RFC 1813 appendix I).
const (
	Program = 100005
	V1      = 1
	V3      = 3
)

// Procedures (RFC 1813 §5.2).
const (
	ProcNull    = 0
	ProcMnt     = 1
	ProcDump    = 2
	ProcUmnt    = 3
	ProcUmntall = 4
	ProcExport  = 5
)

// mountstat3 (RFC 1813 §5.1.5).
const (
	MNT3_OK             = 0
	MNT3ERR_PERM        = 1
	MNT3ERR_NOENT       = 2
	MNT3ERR_IO          = 5
	MNT3ERR_ACCES       = 13
	MNT3ERR_NOTDIR      = 20
	MNT3ERR_INVAL       = 22
	MNT3ERR_NAMETOOLONG = 63
	MNT3ERR_NOTSUPP     = 10004
	MNT3ERR_SERVERFAULT = 10006
)

// Auth flavors announced by MNT (RFC 5531 §8.2).
const (
	AuthNone = 0
	AuthSys  = 1
)

const maxPath = 1024 // MNTPATHLEN

// Server serves MOUNT for the exports of the volumes its Source serves.
type Server struct {
	src Source

	mu     sync.Mutex
	mounts map[mountKey]struct{}
}

// Source gives a MOUNT server the current export table and the graphs of the served volumes.
// A gateway serving several volumes, whose set changes on reload, implements it.
type Source interface {
	Exports() *export.Table
	// Volume returns the graph top and handle codec of a served volume.
	Volume(name string) (top graph.Fops, codec *handle.Codec, ok bool)
}

// static is the Source of a server over one fixed volume.
type static struct {
	top    graph.Fops
	codec  *handle.Codec
	exps   *export.Table
	volume string
}

func (s *static) Exports() *export.Table { return s.exps }

func (s *static) Volume(name string) (graph.Fops, *handle.Codec, bool) {
	if name != s.volume {
		return nil, nil, false
	}
	return s.top, s.codec, true
}

type mountKey struct{ host, dir string }

// New returns a MOUNT server for the exports of volume (exports of other volumes are not
// served by this gateway).
func New(top graph.Fops, codec *handle.Codec, exps *export.Table, volume string) *Server {
	return NewSource(&static{top: top, codec: codec, exps: exps, volume: volume})
}

// NewSource returns a MOUNT server for the exports of the volumes src serves.
func NewSource(src Source) *Server {
	return &Server{src: src, mounts: map[mountKey]struct{}{}}
}

// Call is one MOUNT call.
type Call struct {
	Vers uint32
	Proc uint32
	Args []byte
	Addr netip.AddrPort
}

// Dispatch executes a call and appends its result to w.
func (s *Server) Dispatch(ctx context.Context, c *Call, w *xdr.Writer) error {
	r := xdr.NewReader(c.Args)
	switch c.Proc {
	case ProcNull:
		return nil
	case ProcMnt:
		dir := r.String(maxPath)
		if r.Err() != nil {
			return xdr.ErrGarbageArgs
		}
		if c.Vers == V1 {
			w.Uint32(MNT3ERR_ACCES) // fhstatus: v1 handles are 32 bytes, Weft's do not fit
			return nil
		}
		s.mnt(ctx, c.Addr, dir, w)
		return nil
	case ProcDump:
		s.dump(w)
		return nil
	case ProcUmnt:
		dir := r.String(maxPath)
		if r.Err() != nil {
			return xdr.ErrGarbageArgs
		}
		s.mu.Lock()
		delete(s.mounts, mountKey{c.Addr.Addr().String(), dir})
		s.mu.Unlock()
		return nil
	case ProcUmntall:
		host := c.Addr.Addr().String()
		s.mu.Lock()
		for k := range s.mounts {
			if k.host == host {
				delete(s.mounts, k)
			}
		}
		s.mu.Unlock()
		return nil
	case ProcExport:
		s.export(w)
		return nil
	}
	return xdr.ErrProcUnavail
}

// Resolve finds the export of dir (the export itself or a subdirectory below it) and the GFID
// of dir, after checking that the client at addr may mount it. It returns a mountstat3.
func (s *Server) Resolve(ctx context.Context, addr netip.AddrPort, dir string) (*export.Export, graph.GFID, uint32) {
	if len(dir) == 0 || dir[0] != '/' {
		return nil, graph.GFID{}, MNT3ERR_NOENT
	}
	clean := path.Clean(dir)
	var e *export.Export
	var top graph.Fops
	rest := ""
	exps := s.src.Exports()
	for p := clean; ; {
		if x := exps.ByPath(p); x != nil {
			t, _, ok := s.src.Volume(x.Volume)
			if !ok {
				return nil, graph.GFID{}, MNT3ERR_NOENT
			}
			e, top = x, t
			rest = strings.TrimPrefix(clean, p)
			break
		}
		if p == "/" {
			return nil, graph.GFID{}, MNT3ERR_NOENT
		}
		p = path.Dir(p)
	}
	opts, ok := e.Check(ctx, addr.Addr())
	if !ok || !e.Config.AllowsVersion(3) {
		return nil, graph.GFID{}, MNT3ERR_ACCES
	}
	if opts.Secure && addr.Port() >= 1024 {
		return nil, graph.GFID{}, MNT3ERR_PERM
	}
	cctx := graph.WithCreds(ctx, export.Creds(opts, &graph.Creds{}, false))
	g, err := e.Root(cctx, top)
	if err != nil {
		return nil, graph.GFID{}, mntErr(err)
	}
	for _, comp := range strings.Split(strings.Trim(rest, "/"), "/") {
		if comp == "" {
			continue
		}
		rep, err := top.Lookup(cctx, &graph.Loc{ParentGFID: g, Name: comp}, nil)
		if err != nil {
			return nil, graph.GFID{}, mntErr(err)
		}
		if !rep.Stat.IsDir() {
			return nil, graph.GFID{}, MNT3ERR_NOTDIR
		}
		g = rep.Stat.GFID
	}
	if rest == "" {
		// Check that the root is still there (a subdirectory export may have been removed).
		st, _, err := top.Stat(cctx, &graph.Loc{GFID: g}, nil)
		if err != nil {
			return nil, graph.GFID{}, mntErr(err)
		}
		if !st.IsDir() {
			return nil, graph.GFID{}, MNT3ERR_NOTDIR
		}
	}
	return e, g, MNT3_OK
}

func mntErr(err error) uint32 {
	switch graph.Errno(err) {
	case 2, 116: // ENOENT, ESTALE
		return MNT3ERR_NOENT
	case 20:
		return MNT3ERR_NOTDIR
	case 13, 1:
		return MNT3ERR_ACCES
	case 63:
		return MNT3ERR_NAMETOOLONG
	}
	return MNT3ERR_IO
}

// MNT (RFC 1813 §5.2.1).
func (s *Server) mnt(ctx context.Context, addr netip.AddrPort, dir string, w *xdr.Writer) {
	e, g, st := s.Resolve(ctx, addr, dir)
	if st != MNT3_OK {
		w.Uint32(st)
		return
	}
	_, codec, ok := s.src.Volume(e.Volume)
	if !ok { // stopped meanwhile
		w.Uint32(MNT3ERR_NOENT)
		return
	}
	w.Uint32(st)
	w.Opaque(codec.Encode(e.ID, g))
	w.Uint32(2)
	w.Uint32(AuthSys)
	w.Uint32(AuthNone)
	s.mu.Lock()
	if len(s.mounts) < 65536 {
		s.mounts[mountKey{addr.Addr().String(), dir}] = struct{}{}
	}
	s.mu.Unlock()
}

// DUMP (RFC 1813 §5.2.2): the mount list, sorted.
func (s *Server) dump(w *xdr.Writer) {
	s.mu.Lock()
	keys := make([]mountKey, 0, len(s.mounts))
	for k := range s.mounts {
		keys = append(keys, k)
	}
	s.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].host != keys[j].host {
			return keys[i].host < keys[j].host
		}
		return keys[i].dir < keys[j].dir
	})
	for _, k := range keys {
		w.Bool(true)
		w.String(k.host)
		w.String(k.dir)
	}
	w.Bool(false)
}

// Mounts returns the number of recorded mounts.
func (s *Server) Mounts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mounts)
}

// EXPORT (RFC 1813 §5.2.5): every export of the served volumes with its client patterns as
// groups.
func (s *Server) export(w *xdr.Writer) {
	for _, e := range s.src.Exports().Exports() {
		if _, _, ok := s.src.Volume(e.Volume); !ok {
			continue
		}
		w.Bool(true)
		w.String(e.Path)
		for _, g := range e.ClientPatterns() {
			w.Bool(true)
			w.String(g)
		}
		w.Bool(false)
	}
	w.Bool(false)
}
