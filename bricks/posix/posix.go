package posix

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Names of the on-brick format (GlusterFS libglusterfs/src/glusterfs/glusterfs.h, common-utils.h).
const (
	// GFIDXattr holds the 16 raw bytes of a file's GFID (GFID_XATTR_KEY).
	GFIDXattr = "trusted.gfid"
	// VolumeIDXattr holds the 16 raw bytes of the volume id on the brick root (GF_XATTR_VOL_ID_KEY).
	VolumeIDXattr = "trusted.glusterfs.volume-id"
	// HiddenDir is the handle directory in the brick root (GF_HIDDEN_PATH).
	HiddenDir = ".glusterfs"
	// GFIDReqKey is the xdata key carrying the GFID a new entry must get.
	GFIDReqKey = "gfid-req"
	// InternalFopKey in xdata marks an internal fop that may use the reserved space.
	InternalFopKey = "glusterfs-internal-fop"
	// HealthCheckFile is written by the health check, relative to the brick root.
	HealthCheckFile = HiddenDir + "/health_check"
	// stagingDir is where new entries are prepared before they are renamed into place.
	stagingDir = HiddenDir + "/weft-staging"
)

func init() {
	graph.Register(graph.Registration{
		Type:        "storage/posix",
		New:         func() graph.Xlator { return &Posix{} },
		Description: "brick storage on a local directory in GlusterFS's on-brick format",
		MinChildren: 0,
		MaxChildren: 0,
		Options: []graph.OptionSpec{
			{Key: "directory", Type: graph.OptPath, Description: "the brick directory (required)"},
			{Key: "volume-id", Type: graph.OptString, Description: "volume uuid; must match trusted.glusterfs.volume-id on the brick root, set when absent"},
			{Key: "health-check-interval", Type: graph.OptDuration, Default: "30", Description: "interval of the brick health check; 0 disables it"},
			{Key: "health-check-timeout", Type: graph.OptDuration, Default: "20", Description: "a health check slower than this counts as failed"},
			{Key: "brick-uid", Aliases: []string{"owner-uid"}, Type: graph.OptInt, Min: 0, Max: 4294967294, Description: "owner uid of the brick root"},
			{Key: "brick-gid", Aliases: []string{"owner-gid"}, Type: graph.OptInt, Min: 0, Max: 4294967294, Description: "owner gid of the brick root"},
			{Key: "reserve", Type: graph.OptPercent, Default: "1", Description: "percent of the disk kept free: creates and writes fail with ENOSPC below it"},
		},
	})
}

// Posix is the storage/posix translator. Construct it through the registry
// (graph.Construct("storage/posix", ...)) and Init it, or with New for programs and tests.
type Posix struct {
	graph.Base

	dir     string // absolute brick path
	rootFD  int    // O_DIRECTORY fd of the brick root; every *at call is relative to it
	volID   graph.GFID
	asRoot  bool
	reserve float64
	// euid/egid own what this process creates (before any chown).
	euid, egid uint32
	// noTmpfile is set when the brick's file system refuses O_TMPFILE: new files are then made
	// in the staging directory and renamed into place, as other entries are.
	noTmpfile atomic.Bool

	xattropLocks [256]sync.Mutex // striped per-GFID locks for xattrop

	spaceFull    atomic.Bool
	spaceChecked atomic.Int64 // unix nanoseconds of the last free-space check

	down      atomic.Bool // health check failed: fops answer ENOTCONN
	parentUp  atomic.Bool
	hcMu      sync.Mutex
	hcStop    chan struct{}
	hcDone    chan struct{}
	hcInt     time.Duration
	hcTimeout time.Duration
	// hcProbe replaces the health check's file test (tests use it to simulate a hang; the
	// production path is tested by making the health-check file unusable).
	hcProbe func() error
	stopped atomic.Bool
}

// errDown is returned by every fop while the brick is unhealthy.
var errDown = graph.Errorf(unix.ENOTCONN, "posix: brick failed its health check")

// Init opens the brick directory, checks or sets the volume id and the root GFID, creates the
// handle tree and starts the health check.
func (p *Posix) Init(ctx context.Context) error {
	o := p.Options()
	dir := o.String("directory")
	if dir == "" {
		return errors.New("posix: option directory is required")
	}
	p.dir = filepath.Clean(dir)
	p.rootFD = -1
	fd, err := unix.Open(p.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("posix: open brick directory %s: %w", p.dir, err)
	}
	p.rootFD = fd
	fail := func(err error) error {
		unix.Close(p.rootFD)
		p.rootFD = -1
		return err
	}
	p.asRoot = os.Geteuid() == 0
	p.euid, p.egid = uint32(os.Geteuid()), uint32(os.Getegid())
	p.reserve = o.Float("reserve")
	p.hcInt = o.Duration("health-check-interval")
	p.hcTimeout = o.Duration("health-check-timeout")
	if p.hcTimeout <= 0 {
		p.hcTimeout = 20 * time.Second
	}

	// trusted.* xattrs are the format; refuse a file system or a user that cannot store them.
	if err := p.checkXattrs(); err != nil {
		return fail(err)
	}
	if o.IsSet("volume-id") {
		id, err := graph.ParseGFID(o.String("volume-id"))
		if err != nil {
			return fail(fmt.Errorf("posix: option volume-id %q is not a uuid", o.String("volume-id")))
		}
		p.volID = id
		var cur [16]byte
		n, err := unix.Getxattr(p.dir, VolumeIDXattr, cur[:])
		switch {
		case err == nil && n == 16:
			if graph.GFID(cur) != id {
				return fail(fmt.Errorf("posix: brick %s belongs to volume %s, not to volume %s: refusing to start on another volume's brick",
					p.dir, graph.GFID(cur), id))
			}
		case err == nil || errors.Is(err, unix.ERANGE):
			return fail(fmt.Errorf("posix: brick %s: malformed %s (not 16 bytes)", p.dir, VolumeIDXattr))
		case errors.Is(err, unix.ENODATA):
			if err := unix.Setxattr(p.dir, VolumeIDXattr, id[:], unix.XATTR_CREATE); err != nil && !errors.Is(err, unix.EEXIST) {
				return fail(fmt.Errorf("posix: set %s on %s: %w", VolumeIDXattr, p.dir, err))
			}
		default:
			return fail(fmt.Errorf("posix: read %s on %s: %w", VolumeIDXattr, p.dir, err))
		}
	}
	// The root's GFID (posix_init refuses a brick root carrying another GFID).
	var g [16]byte
	n, err := unix.Getxattr(p.dir, GFIDXattr, g[:])
	switch {
	case err == nil && n == 16:
		if graph.GFID(g) != graph.RootGFID {
			return fail(fmt.Errorf("posix: brick root %s has gfid %s, not the root gfid", p.dir, graph.GFID(g)))
		}
	case errors.Is(err, unix.ENODATA):
		if err := unix.Setxattr(p.dir, GFIDXattr, graph.RootGFID[:], 0); err != nil {
			return fail(fmt.Errorf("posix: set root gfid on %s: %w", p.dir, err))
		}
	default:
		if err == nil {
			err = unix.EINVAL
		}
		return fail(fmt.Errorf("posix: read root gfid of %s: %w", p.dir, err))
	}
	if o.IsSet("brick-uid") || o.IsSet("brick-gid") {
		uid, gid := -1, -1
		if o.IsSet("brick-uid") {
			uid = int(o.Int("brick-uid"))
		}
		if o.IsSet("brick-gid") {
			gid = int(o.Int("brick-gid"))
		}
		if err := unix.Fchown(p.rootFD, uid, gid); err != nil {
			return fail(fmt.Errorf("posix: chown brick root %s: %w", p.dir, err))
		}
	}
	if err := p.initHandles(); err != nil {
		return fail(err)
	}
	p.checkSpace(true)
	p.startHealthCheck()
	return nil
}

func (p *Posix) checkXattrs() error {
	const probe = "trusted.weft-probe"
	if err := unix.Fsetxattr(p.rootFD, probe, []byte{1}, 0); err != nil {
		return fmt.Errorf("posix: brick %s cannot store trusted.* xattrs (need root and an xattr-capable file system): %w", p.dir, err)
	}
	if err := unix.Fremovexattr(p.rootFD, probe); err != nil {
		return fmt.Errorf("posix: brick %s: remove probe xattr: %w", p.dir, err)
	}
	return nil
}

// initHandles creates .glusterfs, the root handle, and empties the staging directory
// (posix-handle.c posix_handle_init).
func (p *Posix) initHandles() error {
	if err := unix.Mkdirat(p.rootFD, HiddenDir, 0600); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("posix: mkdir %s/%s: %w", p.dir, HiddenDir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(p.rootFD, HiddenDir, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("posix: stat %s/%s: %w", p.dir, HiddenDir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("posix: %s/%s is not a directory", p.dir, HiddenDir)
	}
	rootHandle := handleRel(graph.RootGFID)
	err := unix.Fstatat(p.rootFD, rootHandle, &st, 0) // follows ../../.. to the brick root
	switch {
	case errors.Is(err, unix.ENOENT):
		if err := p.mkdirHashes(graph.RootGFID); err != nil {
			return err
		}
		// A dangling or wrong symlink is replaced.
		_ = unix.Unlinkat(p.rootFD, rootHandle, 0)
		if err := unix.Symlinkat("../../..", p.rootFD, rootHandle); err != nil {
			return fmt.Errorf("posix: create root handle %s: %w", rootHandle, err)
		}
	case err != nil:
		return fmt.Errorf("posix: stat root handle %s: %w", rootHandle, err)
	default:
		var rs unix.Stat_t
		if err := unix.Fstat(p.rootFD, &rs); err != nil {
			return fmt.Errorf("posix: stat brick root: %w", err)
		}
		if rs.Ino != st.Ino || rs.Dev != st.Dev {
			return fmt.Errorf("posix: root handle %s/%s does not lead to the brick root", p.dir, rootHandle)
		}
	}
	if err := unix.Mkdirat(p.rootFD, stagingDir, 0700); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("posix: mkdir %s: %w", stagingDir, err)
	}
	return p.cleanStaging()
}

// cleanStaging removes entries a crash left half-made: their handle (if it is theirs) and the
// entry itself.
func (p *Posix) cleanStaging() error {
	names, err := p.listDir(stagingDir)
	if err != nil {
		return err
	}
	for _, name := range names {
		rel := stagingDir + "/" + name
		var st unix.Stat_t
		if unix.Fstatat(p.rootFD, rel, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		if g, err := p.getGFIDPath(rel); err == nil && !g.IsZero() {
			var hs unix.Stat_t
			h := handleRel(g)
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				// The staged directory's handle names its final place; keep it only if that
				// place holds a directory with this GFID (the rename happened).
				if rp, err := p.dirPath(g); err != nil || !p.hasGFID(rp, g) {
					_ = unix.Unlinkat(p.rootFD, h, 0)
				}
			} else if unix.Fstatat(p.rootFD, h, &hs, unix.AT_SYMLINK_NOFOLLOW) == nil && hs.Ino == st.Ino && hs.Nlink <= 2 {
				_ = unix.Unlinkat(p.rootFD, h, 0)
			}
		}
		flag := 0
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			flag = unix.AT_REMOVEDIR
		}
		if err := unix.Unlinkat(p.rootFD, rel, flag); err != nil {
			p.Logger().Warn("cannot remove staged entry", zap.String("path", rel), zap.Error(err))
		}
	}
	return nil
}

// listDir returns the names in a directory relative to the brick root (without . and ..).
func (p *Posix) listDir(rel string) ([]string, error) {
	fd, err := unix.Openat(p.rootFD, rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("posix: open %s: %w", rel, err)
	}
	defer unix.Close(fd)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, fmt.Errorf("posix: getdents %s: %w", rel, err)
		}
		if n <= 0 {
			return names, nil
		}
		parseDirents(buf[:n], func(d rawDirent) bool {
			if d.name != "." && d.name != ".." {
				names = append(names, d.name)
			}
			return true
		})
	}
}

// Fini stops the health check and closes the brick directory.
func (p *Posix) Fini() {
	if !p.stopped.CompareAndSwap(false, true) {
		return
	}
	p.stopHealthCheck()
	if p.rootFD >= 0 {
		unix.Close(p.rootFD)
		p.rootFD = -1
	}
}

// Notify answers PARENT_UP with CHILD_UP (or CHILD_DOWN while unhealthy); other events are
// forwarded as Base does.
func (p *Posix) Notify(ctx context.Context, ev graph.Event, from graph.Xlator) {
	switch ev {
	case graph.EventParentUp:
		p.parentUp.Store(true)
		if p.down.Load() {
			p.ForwardEvent(ctx, graph.EventChildDown)
		} else {
			p.ForwardEvent(ctx, graph.EventChildUp)
		}
	case graph.EventParentDown:
		p.parentUp.Store(false)
	default:
		p.ForwardEvent(ctx, ev)
	}
}

// Reconfigure accepts new values for reserve and the health-check interval/timeout; the
// directory and volume id cannot change on a running brick.
func (p *Posix) Reconfigure(opts *graph.Options) error {
	old := p.Options()
	if opts.String("directory") != old.String("directory") || opts.String("volume-id") != old.String("volume-id") {
		return errors.New("posix: directory and volume-id cannot be reconfigured")
	}
	if err := p.Base.Reconfigure(opts); err != nil {
		return err
	}
	p.hcMu.Lock()
	p.reserve = opts.Float("reserve")
	p.hcMu.Unlock()
	p.checkSpace(true)
	p.stopHealthCheck()
	p.hcInt = opts.Duration("health-check-interval")
	if t := opts.Duration("health-check-timeout"); t > 0 {
		p.hcTimeout = t
	}
	p.startHealthCheck()
	return nil
}

// enter is called at the start of every fop.
func (p *Posix) enter(ctx context.Context) error {
	if p.rootFD < 0 {
		return graph.Errorf(unix.ENOTCONN, "posix: not initialised")
	}
	if p.down.Load() {
		return errDown
	}
	return ctx.Err()
}

// checkSpace refreshes the "disk full" state at most every 2 seconds (GlusterFS runs a thread
// every 5: posix-helpers.c posix_disk_space_check).
func (p *Posix) checkSpace(force bool) {
	now := time.Now().UnixNano()
	last := p.spaceChecked.Load()
	if !force && now-last < int64(2*time.Second) {
		return
	}
	if !p.spaceChecked.CompareAndSwap(last, now) && !force {
		return
	}
	p.hcMu.Lock()
	reserve := p.reserve
	p.hcMu.Unlock()
	if reserve <= 0 {
		p.spaceFull.Store(false)
		return
	}
	var s unix.Statfs_t
	if err := unix.Fstatfs(p.rootFD, &s); err != nil {
		return
	}
	reserved := float64(s.Blocks) * reserve / 100
	p.spaceFull.Store(float64(s.Bfree) <= reserved)
}

// spaceCheck answers ENOSPC when the free space is below the reserve.
func (p *Posix) spaceCheck(xdata graph.Xdata) error {
	p.checkSpace(false)
	if p.spaceFull.Load() && !xdata.Has(InternalFopKey) {
		return graph.Errorf(unix.ENOSPC, "posix: %s: free space below the reserve of %v%%", p.dir, p.reserve)
	}
	return nil
}

func (p *Posix) xattropLock(g graph.GFID) *sync.Mutex {
	h := uint32(2166136261) // FNV-1a
	for _, b := range g {
		h = (h ^ uint32(b)) * 16777619
	}
	return &p.xattropLocks[h%uint32(len(p.xattropLocks))]
}

// New constructs a storage/posix translator from raw volfile options (validated against the
// registered specs); Init must still be called (graph.Activate does it).
func New(name string, raw map[string]string, log *zap.Logger) (*Posix, error) {
	x, err := graph.Construct("storage/posix", name, raw, log)
	if err != nil {
		return nil, err
	}
	return x.(*Posix), nil
}
