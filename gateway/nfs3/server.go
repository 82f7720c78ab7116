package nfs3

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
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
	Top     graph.Xlator  // the top of the client graph (activated)
	Handles *handle.Codec // the volume's handle codec
	Exports *export.Table // the export table (only exports of this volume are served)
	Log     *zap.Logger   // may be nil
	FDIdle  time.Duration // idle expiry of cached FDs (default 10s)
	MaxFDs  int           // bound of the file FD cache (default 4096)
	MaxDirs int           // bound of the directory FD cache (default 1024)
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

// Server serves NFSv3 over one volume's graph.
type Server struct {
	top   graph.Xlator
	codec *handle.Codec
	exps  *export.Table
	log   *zap.Logger
	verf  [8]byte
	fsid  uint64
	fds   *fdCache
	dirs  *dirCache
	stop  chan struct{}
	done  chan struct{}
}

// New returns a server and starts its FD janitor; Close stops it and releases every FD.
func New(cfg Config) (*Server, error) {
	if cfg.Top == nil || cfg.Handles == nil || cfg.Exports == nil {
		return nil, fmt.Errorf("nfs3: Top, Handles and Exports are required")
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
	s := &Server{top: cfg.Top, codec: cfg.Handles, exps: cfg.Exports, log: cfg.Log, stop: make(chan struct{}), done: make(chan struct{})}
	if cfg.Verf != nil {
		s.verf = *cfg.Verf
	} else if _, err := rand.Read(s.verf[:]); err != nil {
		return nil, fmt.Errorf("nfs3: write verifier: %w", err)
	}
	vol := cfg.Handles.Volume()
	s.fsid = binary.BigEndian.Uint64(vol[:8]) ^ binary.BigEndian.Uint64(vol[8:])
	s.fds = newFDCache(cfg.Top, cfg.MaxFDs, cfg.FDIdle)
	s.dirs = newDirCache(cfg.Top, cfg.MaxDirs, 3*cfg.FDIdle)
	go s.janitor(cfg.FDIdle)
	return s, nil
}

// WriteVerifier returns the verifier WRITE and COMMIT report (random per start).
func (s *Server) WriteVerifier() [8]byte { return s.verf }

// Handles returns the server's handle codec.
func (s *Server) Handles() *handle.Codec { return s.codec }

// Exports returns the server's export table.
func (s *Server) Exports() *export.Table { return s.exps }

// Top returns the graph the server serves.
func (s *Server) Top() graph.Xlator { return s.top }

// Fsid returns the fsid reported in attributes.
func (s *Server) Fsid() uint64 { return s.fsid }

func (s *Server) janitor(idle time.Duration) {
	defer close(s.done)
	t := time.NewTicker(idle / 2)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.fds.expire(now)
			s.dirs.expire(now)
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
	s.fds.closeAll()
	s.dirs.closeAll()
}

// FlushFDs releases every cached FD now (tests; also useful before a graph switch).
func (s *Server) FlushFDs() {
	s.fds.closeAll()
	s.dirs.closeAll()
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
	r := &req{s: s, ctx: ctx, call: c, in: xdr.NewReader(c.Args), w: w}
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
	exp    *export.Export
	opts   configs.ClientOptions
}

// object is a resolved file handle.
type object struct {
	gfid graph.GFID
	exp  *export.Export
}

// resolve decodes a handle and checks the call against its export: the handle's MAC, the export
// still existing, the client being allowed (and from a privileged port if the export is secure),
// and NFSv3 being allowed there. The first handle of a call fixes the call's credentials; a
// second handle of another export fails with NFS3ERR_XDEV.
func (r *req) resolve(fh []byte) (object, nfsstat.Status3) {
	h, err := r.s.codec.Decode(fh)
	if err != nil {
		return object{}, nfsstat.NFS3ERR_BADHANDLE
	}
	e := r.s.exps.ByID(h.Export)
	if e == nil {
		return object{}, nfsstat.NFS3ERR_STALE
	}
	if r.exp != nil {
		if r.exp != e {
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
	r.exp, r.opts = e, opts
	r.creds = export.Creds(opts, r.caller, r.call.AuthNone)
	r.ctx = graph.WithCreds(r.ctx, r.creds)
	return object{gfid: h.GFID, exp: e}, nfsstat.NFS3_OK
}

// fh returns the handle of gfid in the call's export.
func (r *req) fh(g graph.GFID) []byte { return r.s.codec.Encode(r.exp.ID, g) }

// stat returns the attributes of a resolved object; a vanished object is STALE.
func (r *req) stat(g graph.GFID) (graph.Iatt, error) {
	st, _, err := r.s.top.Stat(r.ctx, &graph.Loc{GFID: g}, nil)
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
