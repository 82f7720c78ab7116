package posix

import (
	"errors"
	"strconv"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// Syscall-saving helpers for the hot paths. Each has a fallback for kernels or file systems
// that lack the faster call; the fallback is remembered so it is tried once per brick.

// xattrArgs is struct xattr_args of getxattrat(2)/setxattrat(2) (Linux 6.13).
type xattrArgs struct {
	value uint64
	size  uint32
	flags uint32
}

// noXattrAt is set once getxattrat(2) turned out to be missing (ENOSYS): the path calls are used.
var noXattrAt atomic.Bool

// getxattrAt reads xattr name of rel (relative to the brick root, not following a final
// symlink) into buf. getxattrat(2) resolves rel from the brick root fd; without it, lgetxattr(2)
// walks the whole absolute path.
func (p *Posix) getxattrAt(rel, name string, buf []byte) (int, error) {
	if rel == "." {
		return unix.Fgetxattr(p.rootFD, name, buf)
	}
	if !noXattrAt.Load() {
		n, err := getxattrat(p.rootFD, rel, name, buf)
		if !errors.Is(err, unix.ENOSYS) {
			return n, err
		}
		noXattrAt.Store(true)
	}
	return unix.Lgetxattr(p.abs(rel), name, buf)
}

func getxattrat(dirfd int, path, name string, buf []byte) (int, error) {
	pp, err := unix.BytePtrFromString(path)
	if err != nil {
		return 0, err
	}
	np, err := unix.BytePtrFromString(name)
	if err != nil {
		return 0, err
	}
	args := xattrArgs{size: uint32(len(buf))}
	if len(buf) > 0 {
		args.value = uint64(uintptr(unsafe.Pointer(&buf[0])))
	}
	r, _, e := unix.Syscall6(unix.SYS_GETXATTRAT, uintptr(dirfd), uintptr(unsafe.Pointer(pp)),
		uintptr(unix.AT_SYMLINK_NOFOLLOW), uintptr(unsafe.Pointer(np)),
		uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// statKnown returns the Iatt of rel whose GFID the caller already knows (a directory reached by
// its GFID, a file through its handle): one fstatat(2), no xattr read.
func (p *Posix) statKnown(rel string, g graph.GFID) (graph.Iatt, error) {
	var st unix.Stat_t
	if err := p.lstatRel(rel, &st); err != nil {
		return graph.Iatt{}, err
	}
	return iattOf(&st, g), nil
}

// procLink is set when linkat(AT_EMPTY_PATH) is refused (no CAP_DAC_READ_SEARCH): new names for
// an open fd are then made through /proc/self/fd.
var procLink atomic.Bool

// linkFd gives the inode open as fd the name rel (relative to the brick root); like link(2) it
// fails with EEXIST when rel exists.
func (p *Posix) linkFd(fd int, rel string) error {
	if !procLink.Load() {
		err := unix.Linkat(fd, "", p.rootFD, rel, unix.AT_EMPTY_PATH)
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EPERM) {
			return err
		}
		// ENOENT is also what a missing directory of rel gives: only switch to /proc when
		// the /proc way works where AT_EMPTY_PATH did not.
		perr := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), p.rootFD, rel, unix.AT_SYMLINK_FOLLOW)
		if perr == nil {
			procLink.Store(true)
		}
		return perr
	}
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), p.rootFD, rel, unix.AT_SYMLINK_FOLLOW)
}
