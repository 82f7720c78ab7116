package nfs3

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/gateway/export"
	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/gateway/nfsstat"
	"github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Errors Dispatch returns instead of a reply body; the RPC layer turns them into accept_stat
// values (RFC 5531 §9).
var (
	ErrGarbageArgs = xdr.ErrGarbageArgs
	ErrProcUnavail = xdr.ErrProcUnavail
)

var (
	errBadTime = errors.New("nfs3: nseconds out of range")
	errBadEnum = errors.New("nfs3: bad enum value")
)

// CreateVerfXattr is the xattr that holds an EXCLUSIVE CREATE's verifier.
const CreateVerfXattr = "trusted.weft.nfs.createverf"

// Config configures a Server.
type Config struct {
	// Top, Handles and Volume give a first volume (AddVolume); Top may be nil for a server whose
	// volumes are added later. Volume may be empty for a single-volume server: then every export
	// of the table is taken to be of it.
	Top     graph.Xlator  // the top of the client graph (activated)
	Handles *handle.Codec // the volume's handle codec
	Volume  string        // the volume's name
	Exports *export.Table // the export table (SetExports replaces it)
	Log     *zap.Logger   // may be nil
	FDIdle  time.Duration // idle expiry of cached FDs (default 10s)
	MaxFDs  int           // bound of the file FD cache, per volume (default 4096)
	MaxDirs int           // bound of the directory FD cache, per volume (default 1024)
	Verf    *[8]byte      // write verifier; random when nil (tests pin it)
}

// Call is one NFSv3 call as the RPC layer hands it over.
type Call struct {
	Proc     uint32
	Args     []byte
	Addr     netip.AddrPort // the client's address and source port
	Creds    *graph.Creds   // the caller's credentials (AUTH_SYS), nil for AUTH_NONE
	AuthNone bool           // the call used AUTH_NONE (squashed to anonuid/anongid)
}

// Server serves NFSv3 over the graphs of one or more volumes. A call is served by the volume its
// (first) file handle names; a handle of a volume the server does not serve is NFS3ERR_STALE.
type Server struct {
	cfg  Config
	exps atomic.Pointer[export.Table]
	vols atomic.Pointer[map[handle.VolumeID]*volume]
	mu   sync.Mutex // serialises AddVolume and RemoveVolume
	log  *zap.Logger
	verf [8]byte
	stop chan struct{}
	done chan struct{}
}

// volume is one served volume: its graph (a fixed top; graph switches happen below it), its
// handle codec and its FD caches.
type volume struct {
	name  string
	top   graph.Xlator
	codec *handle.Codec
	fsid  uint64
	fds   *fdCache
	dirs  *dirCache
}

// New returns a server and starts its FD janitor; Close stops it and releases every FD.
func New(cfg Config) (*Server, error) {
	if cfg.Exports == nil || (cfg.Top != nil && cfg.Handles == nil) {
		return nil, fmt.Errorf("nfs3: Exports, and Handles with Top, are required")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.FDIdle <= 0 {
		cfg.FDIdle = 10 * time.Second
	}
	if cfg.MaxFDs <= 0 {
		cfg.MaxFDs = 4096
	}
	if cfg.MaxDirs <= 0 {
		cfg.MaxDirs = 1024
	}
	s := &Server{cfg: cfg, log: cfg.Log, stop: make(chan struct{}), done: make(chan struct{})}
	s.exps.Store(cfg.Exports)
	s.vols.Store(&map[handle.VolumeID]*volume{})
	if cfg.Verf != nil {
		s.verf = *cfg.Verf
	} else if _, err := rand.Read(s.verf[:]); err != nil {
		return nil, fmt.Errorf("nfs3: write verifier: %w", err)
	}
	if cfg.Top != nil {
		if err := s.AddVolume(cfg.Volume, cfg.Top, cfg.Handles); err != nil {
			return nil, err
		}
	}
	go s.janitor(cfg.FDIdle)
	return s, nil
}

// AddVolume serves a volume: calls whose handle carries codec's volume id go to top. name is
// the volume's name in the export table (empty: any export). It fails if the volume id is
// already served.
func (s *Server) AddVolume(name string, top graph.Xlator, codec *handle.Codec) error {
	if top == nil || codec == nil {
		return fmt.Errorf("nfs3: volume %s: top and codec are required", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := codec.Volume()
	old := *s.vols.Load()
	if _, dup := old[id]; dup {
		return fmt.Errorf("nfs3: volume %s is already served", name)
	}
	v := &volume{name: name, top: top, codec: codec,
		fsid: binary.BigEndian.Uint64(id[:8]) ^ binary.BigEndian.Uint64(id[8:]),
		fds:  newFDCache(top, s.cfg.MaxFDs, s.cfg.FDIdle),
		dirs: newDirCache(top, s.cfg.MaxDirs, 3*s.cfg.FDIdle),
	}
	m := make(map[handle.VolumeID]*volume, len(old)+1)
	for k, x := range old {
		m[k] = x
	}
	m[id] = v
	s.vols.Store(&m)
	return nil
}

// RemoveVolume stops serving a volume (its handles become STALE) and releases its cached FDs.
// Calls in flight on it finish. It reports whether the volume was served.
func (s *Server) RemoveVolume(id handle.VolumeID) bool {
	s.mu.Lock()
	old := *s.vols.Load()
	v, ok := old[id]
	if ok {
		m := make(map[handle.VolumeID]*volume, len(old))
		for k, x := range old {
			if k != id {
				m[k] = x
			}
		}
		s.vols.Store(&m)
	}
	s.mu.Unlock()
	if ok {
		v.fds.flush()
		v.dirs.flush()
	}
	return ok
}

// FlushVolume releases the cached FDs of a volume and makes FDs opened before the call (still
// in flight) not reused: after a graph switch below the volume's top, FDs are opened on the new
// graph. It reports whether the volume is served.
func (s *Server) FlushVolume(id handle.VolumeID) bool {
	v := s.volume(id)
	if v == nil {
		return false
	}
	v.fds.flush()
	v.dirs.flush()
	return true
}

// SetExports replaces the export table (volumes added or removed, exports changed). Calls in
// flight keep the table they started with.
func (s *Server) SetExports(t *export.Table) {
	if t != nil {
		s.exps.Store(t)
	}
}

func (s *Server) volume(id handle.VolumeID) *volume { return (*s.vols.Load())[id] }

// first returns the volume of a single-volume server (nil when there is none); with several,
// any of them.
func (s *Server) first() *volume {
	for _, v := range *s.vols.Load() {
		return v
	}
	return nil
}

// WriteVerifier returns the verifier WRITE and COMMIT report (random per start).
func (s *Server) WriteVerifier() [8]byte { return s.verf }

// Handles returns the handle codec of the server's volume (of one of them when there are
// several; nil when none).
func (s *Server) Handles() *handle.Codec {
	if v := s.first(); v != nil {
		return v.codec
	}
	return nil
}

// VolumeHandles returns the handle codec of a served volume (nil when not served).
func (s *Server) VolumeHandles(id handle.VolumeID) *handle.Codec {
	if v := s.volume(id); v != nil {
		return v.codec
	}
	return nil
}

// Exports returns the server's export table.
func (s *Server) Exports() *export.Table { return s.exps.Load() }

// Top returns the graph top of the server's volume (of one of them when there are several).
func (s *Server) Top() graph.Xlator {
	if v := s.first(); v != nil {
		return v.top
	}
	return nil
}

// Fsid returns the fsid reported in attributes of the server's volume (of one of them).
func (s *Server) Fsid() uint64 {
	if v := s.first(); v != nil {
		return v.fsid
	}
	return 0
}

func (s *Server) janitor(idle time.Duration) {
	defer close(s.done)
	t := time.NewTicker(idle / 2)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			for _, v := range *s.vols.Load() {
				v.fds.expire(now)
				v.dirs.expire(now)
			}
		}
	}
}

// Close releases every cached FD and stops the janitor. In-flight calls keep the FDs they hold
// until they return.
func (s *Server) Close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	<-s.done
	s.FlushFDs()
}

// FlushFDs releases every cached FD now (tests; also useful before a graph switch).
func (s *Server) FlushFDs() {
	for _, v := range *s.vols.Load() {
		v.fds.flush()
		v.dirs.flush()
	}
}

// IsIdempotent reports whether a procedure may be re-executed safely (RFC 1813 §4.4); the
// others go through the duplicate request cache.
func IsIdempotent(proc uint32) bool {
	switch proc {
	case ProcSetattr, ProcWrite, ProcCreate, ProcMkdir, ProcSymlink, ProcMknod, ProcRemove,
		ProcRmdir, ProcRename, ProcLink, ProcCommit:
		return false
	}
	return true
}

// Dispatch executes one call and appends the result body to w. It returns ErrGarbageArgs or
// ErrProcUnavail instead of a body; every other outcome is an NFS status inside the body.
func (s *Server) Dispatch(ctx context.Context, c *Call, w *xdr.Writer) error {
	if c.Proc >= NumProcs {
		return ErrProcUnavail
	}
	if c.Proc == ProcNull {
		return nil
	}
	r := &req{s: s, ctx: ctx, call: c, in: xdr.NewReader(c.Args), w: w, exps: s.exps.Load()}
	caller := c.Creds
	if caller == nil {
		caller = &graph.Creds{UID: configs.DefaultAnonID, GID: configs.DefaultAnonID}
		r.call.AuthNone = true
	}
	r.caller = caller
	return procs[c.Proc](r)
}

// req is the state of one call.
type req struct {
	s      *Server
	ctx    context.Context // carries the effective (squashed) creds once a handle is resolved
	call   *Call
	in     *xdr.Reader
	w      *xdr.Writer
	caller *graph.Creds
	creds  *graph.Creds
	exps   *export.Table // the table of the call (loaded once)
	v      *volume       // the volume of the call's first handle
	exp    *export.Export
	opts   configs.ClientOptions
}

// fsid is the fsid of the call's volume (0 before a handle is resolved).
func (r *req) fsid() uint64 {
	if r.v == nil {
		return 0
	}
	return r.v.fsid
}

// object is a resolved file handle.
type object struct {
	gfid graph.GFID
	exp  *export.Export
}

// resolve decodes a handle and checks the call against its export: the handle's volume being
// served, its MAC, the export still existing, the client being allowed (and from a privileged
// port if the export is secure), and NFSv3 being allowed there. The first handle of a call fixes
// the call's volume and credentials; a second handle of another export or volume fails with
// NFS3ERR_XDEV.
func (r *req) resolve(fh []byte) (object, nfsstat.Status3) {
	vid, ok := handle.PeekVolume(fh)
	if !ok {
		return object{}, nfsstat.NFS3ERR_BADHANDLE
	}
	v := r.s.volume(vid)
	if v == nil {
		// Not a volume served here (stopped, or never): STALE for a genuine handle.
		if vv := r.v; vv != nil || r.s.first() != nil {
			if vv == nil {
				vv = r.s.first()
			}
			if _, err := vv.codec.Verify(fh); err != nil {
				return object{}, nfsstat.NFS3ERR_BADHANDLE
			}
		}
		return object{}, nfsstat.NFS3ERR_STALE
	}
	h, err := v.codec.Decode(fh)
	if err != nil {
		return object{}, nfsstat.NFS3ERR_BADHANDLE
	}
	e := r.exps.ByID(h.Export)
	if e == nil || (v.name != "" && e.Volume != v.name) {
		return object{}, nfsstat.NFS3ERR_STALE
	}
	if r.exp != nil {
		if r.exp != e || r.v != v {
			return object{}, nfsstat.NFS3ERR_XDEV
		}
		return object{gfid: h.GFID, exp: e}, nfsstat.NFS3_OK
	}
	opts, ok := e.Check(r.ctx, r.call.Addr.Addr())
	if !ok || !e.Config.AllowsVersion(3) {
		return object{}, nfsstat.NFS3ERR_ACCES
	}
	if opts.Secure && r.call.Addr.Port() >= 1024 {
		return object{}, nfsstat.NFS3ERR_PERM
	}
	r.v, r.exp, r.opts = v, e, opts
	r.creds = export.Creds(opts, r.caller, r.call.AuthNone)
	r.ctx = graph.WithCreds(r.ctx, r.creds)
	return object{gfid: h.GFID, exp: e}, nfsstat.NFS3_OK
}

// fh returns the handle of gfid in the call's export.
func (r *req) fh(g graph.GFID) []byte { return r.v.codec.Encode(r.exp.ID, g) }

// stat returns the attributes of a resolved object; a vanished object is STALE.
func (r *req) stat(g graph.GFID) (graph.Iatt, error) {
	st, _, err := r.v.top.Stat(r.ctx, &graph.Loc{GFID: g}, nil)
	return st, staleErr(err)
}

// rootCtx returns a context with root credentials for FD opens shared between callers (the
// gateway checks permissions itself before using them).
func rootCtx(ctx context.Context) context.Context {
	return graph.WithCreds(ctx, &graph.Creds{})
}

// staleErr turns "no such file" on a handle's own object into ESTALE.
func staleErr(err error) error {
	if err != nil && graph.Errno(err) == unix.ENOENT {
		return fmt.Errorf("%w (%w)", unix.ESTALE, err)
	}
	return err
}

func (r *req) garbage() error {
	if r.in.Err() != nil {
		return ErrGarbageArgs
	}
	return nil
}

// checkName validates a file name for an operation that creates or removes an entry (RFC 1813
// §3.3.8 and friends): empty or containing '/' or NUL → ACCES, longer than 255 bytes →
// NAMETOOLONG, "." or ".." → EXIST for creates (INVAL for removes is left to the caller).
func checkName(name string) nfsstat.Status3 {
	if len(name) > MaxName {
		return nfsstat.NFS3ERR_NAMETOOLONG
	}
	if name == "" {
		return nfsstat.NFS3ERR_ACCES
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return nfsstat.NFS3ERR_ACCES
		}
	}
	return nfsstat.NFS3_OK
}

func isDot(name string) bool { return name == "." || name == ".." }
