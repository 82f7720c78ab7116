package posix

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/graph"
)

// handleRel is the path of gfid's handle relative to the brick root:
// .glusterfs/<gfid[0]>/<gfid[1]>/<gfid> (posix-handle.h MAKE_HANDLE_PATH).
func handleRel(g graph.GFID) string {
	var b [len(HiddenDir) + 1 + 3 + 3 + 36]byte
	n := copy(b[:], HiddenDir+"/")
	hex.Encode(b[n:], g[0:1])
	b[n+2] = '/'
	hex.Encode(b[n+3:], g[1:2])
	b[n+5] = '/'
	copy(b[n+6:], g.String())
	return string(b[:])
}

// hashDirRel is the directory holding gfid's handle.
func hashDirRel(g graph.GFID) string {
	h := handleRel(g)
	return h[:strings.LastIndexByte(h, '/')]
}

// dirHandleTarget is the symlink text of a directory handle: ../../<pp>/<qq>/<parent-gfid>/<name>
// (posix-handle.c posix_handle_relpath, as used by posix_handle_soft).
func dirHandleTarget(parent graph.GFID, name string) string {
	return "../../" + hex.EncodeToString(parent[0:1]) + "/" + hex.EncodeToString(parent[1:2]) + "/" + parent.String() + "/" + name
}

// parseDirHandleTarget splits a directory handle's symlink text. ok is false for text that is
// not a handle (GlusterFS posix_is_malformed_link); root is true for "../../..".
func parseDirHandleTarget(t string) (parent graph.GFID, name string, root, ok bool) {
	if t == "../../.." {
		return graph.GFID{}, "", true, true
	}
	// ../../xx/yy/<36>/name
	if len(t) < 50 || !strings.HasPrefix(t, "../../") || t[8] != '/' || t[11] != '/' || t[48] != '/' {
		return graph.GFID{}, "", false, false
	}
	g, err := graph.ParseGFID(t[12:48])
	if err != nil {
		return graph.GFID{}, "", false, false
	}
	if t[6:8] != hex.EncodeToString(g[0:1]) || t[9:11] != hex.EncodeToString(g[1:2]) {
		return graph.GFID{}, "", false, false
	}
	name = t[49:]
	if validName(name) != nil {
		return graph.GFID{}, "", false, false
	}
	return g, name, false, true
}

// validName checks one path component given by a client.
func validName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return graph.Errorf(unix.EINVAL, "posix: invalid name %q", name)
	case len(name) > 255:
		return graph.Errorf(unix.ENAMETOOLONG, "posix: name of %d bytes", len(name))
	case strings.ContainsAny(name, "/\x00"):
		return graph.Errorf(unix.EINVAL, "posix: invalid name %q", name)
	}
	return nil
}

func readlinkat(dirfd int, path string) (string, error) {
	buf := make([]byte, 512)
	for {
		n, err := unix.Readlinkat(dirfd, path, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		if len(buf) >= 1<<16 {
			return "", unix.ENAMETOOLONG
		}
		buf = make([]byte, 2*len(buf))
	}
}

// abs returns the absolute path of a brick-relative path (for the path-only xattr calls).
func (p *Posix) abs(rel string) string {
	if rel == "." {
		return p.dir
	}
	return p.dir + "/" + rel
}

func joinRel(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// mkdirHashes creates .glusterfs/<pp> and .glusterfs/<pp>/<qq> (0700, posix_handle_mkdir_hashes).
func (p *Posix) mkdirHashes(g graph.GFID) error {
	d := hashDirRel(g)
	if err := unix.Mkdirat(p.rootFD, d, 0700); err == nil || errors.Is(err, unix.EEXIST) {
		return nil
	} else if !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("posix: mkdir %s: %w", d, err)
	}
	if err := unix.Mkdirat(p.rootFD, d[:strings.LastIndexByte(d, '/')], 0700); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("posix: mkdir %s: %w", d, err)
	}
	if err := unix.Mkdirat(p.rootFD, d, 0700); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("posix: mkdir %s: %w", d, err)
	}
	return nil
}

// dirPath resolves a directory GFID to its path relative to the brick root by following the
// chain of handle symlinks up to the root (posix-handle.c posix_make_ancestryfromgfid); it never
// lets the kernel follow the symlinks, so depth is not limited by ELOOP.
func (p *Posix) dirPath(g graph.GFID) (string, error) {
	if g.IsRoot() {
		return ".", nil
	}
	if g.IsZero() {
		return "", graph.Errorf(unix.EINVAL, "posix: null gfid")
	}
	var names []string
	cur := g
	for depth := 0; depth < 4096; depth++ {
		if cur.IsRoot() {
			var b strings.Builder
			for i := len(names) - 1; i >= 0; i-- {
				b.WriteString(names[i])
				if i > 0 {
					b.WriteByte('/')
				}
			}
			return b.String(), nil
		}
		t, err := readlinkat(p.rootFD, handleRel(cur))
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return "", graph.Errorf(unix.ESTALE, "posix: no handle for directory gfid %s", cur)
			}
			if errors.Is(err, unix.EINVAL) {
				return "", graph.Errorf(unix.ENOTDIR, "posix: gfid %s is not a directory", cur)
			}
			return "", fmt.Errorf("posix: readlink handle of %s: %w", cur, err)
		}
		parent, name, root, ok := parseDirHandleTarget(t)
		if !ok {
			return "", graph.Errorf(unix.ENOTDIR, "posix: handle of gfid %s is not a directory handle (%q)", cur, t)
		}
		if root {
			return "", graph.Errorf(unix.EIO, "posix: gfid %s has the root handle", cur)
		}
		names = append(names, name)
		cur = parent
	}
	return "", graph.Errorf(unix.ELOOP, "posix: directory chain of %s too deep", g)
}

// gfidRel resolves any GFID to a path usable with the *at calls: the handle itself for a
// non-directory (a hard link to the file), the real path for a directory.
func (p *Posix) gfidRel(g graph.GFID) (string, error) {
	if g.IsRoot() {
		return ".", nil
	}
	if g.IsZero() {
		return "", graph.Errorf(unix.EINVAL, "posix: null gfid")
	}
	h := handleRel(g)
	var st unix.Stat_t
	if err := unix.Fstatat(p.rootFD, h, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return "", graph.Errorf(unix.ESTALE, "posix: no handle for gfid %s", g)
		}
		return "", fmt.Errorf("posix: stat handle of %s: %w", g, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK && st.Nlink == 1 {
		if t, err := readlinkat(p.rootFD, h); err == nil {
			if parent, name, root, ok := parseDirHandleTarget(t); ok && !root {
				pr, err := p.dirPath(parent)
				if err != nil {
					return "", err
				}
				return joinRel(pr, name), nil
			} else if ok {
				return p.dirPath(g) // reports the misplaced root handle
			}
		}
	}
	return h, nil
}

// gfidStat resolves a GFID like gfidRel and returns the file's attributes too. A non-directory
// costs one fstatat(2) of its handle, whose name is its GFID (the format's definition of a
// handle), so trusted.gfid need not be read; a directory is stat'ed at its path and its
// trusted.gfid read, as before.
func (p *Posix) gfidStat(g graph.GFID) (string, graph.Iatt, error) {
	if g.IsRoot() || g.IsZero() {
		rel, err := p.gfidRel(g)
		if err != nil {
			return "", graph.Iatt{}, err
		}
		a, err := p.statRel(rel)
		return rel, a, err
	}
	h := handleRel(g)
	var st unix.Stat_t
	if err := unix.Fstatat(p.rootFD, h, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return "", graph.Iatt{}, graph.Errorf(unix.ESTALE, "posix: no handle for gfid %s", g)
		}
		return "", graph.Iatt{}, fmt.Errorf("posix: stat handle of %s: %w", g, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK || st.Nlink != 1 {
		return h, iattOf(&st, g), nil
	}
	rel, err := p.gfidRel(g)
	if err != nil {
		return "", graph.Iatt{}, err
	}
	a, err := p.statRel(rel)
	return rel, a, err
}

// getGFIDPath reads trusted.gfid of a path (zero GFID when absent).
func (p *Posix) getGFIDPath(rel string) (graph.GFID, error) {
	var g graph.GFID
	n, err := p.getxattrAt(rel, GFIDXattr, g[:])
	if err != nil {
		if errors.Is(err, unix.ENODATA) {
			return graph.GFID{}, nil
		}
		return graph.GFID{}, fmt.Errorf("posix: get %s of %s: %w", GFIDXattr, rel, err)
	}
	if n != 16 {
		return graph.GFID{}, graph.Errorf(unix.EIO, "posix: %s of %s has %d bytes", GFIDXattr, rel, n)
	}
	return g, nil
}

func getGFIDFd(fd int) (graph.GFID, error) {
	var g graph.GFID
	n, err := unix.Fgetxattr(fd, GFIDXattr, g[:])
	if err != nil {
		if errors.Is(err, unix.ENODATA) {
			return graph.GFID{}, nil
		}
		return graph.GFID{}, fmt.Errorf("posix: fget %s: %w", GFIDXattr, err)
	}
	if n != 16 {
		return graph.GFID{}, graph.Errorf(unix.EIO, "posix: %s has %d bytes", GFIDXattr, n)
	}
	return g, nil
}

func (p *Posix) hasGFID(rel string, g graph.GFID) bool {
	cur, err := p.getGFIDPath(rel)
	return err == nil && cur == g
}

// linkHandle makes the hard-link handle of a non-directory (posix_handle_hard). An existing
// handle must be the same inode.
func (p *Posix) linkHandle(rel string, g graph.GFID, st *unix.Stat_t) error {
	h := handleRel(g)
	err := unix.Linkat(p.rootFD, rel, p.rootFD, h, 0)
	if errors.Is(err, unix.ENOENT) { // the hash directories are made on first use
		if err = p.mkdirHashes(g); err == nil {
			err = unix.Linkat(p.rootFD, rel, p.rootFD, h, 0)
		}
	}
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("posix: link handle %s: %w", h, err)
	}
	var hs unix.Stat_t
	if err := unix.Fstatat(p.rootFD, h, &hs, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("posix: stat handle %s: %w", h, err)
	}
	if hs.Ino != st.Ino || hs.Dev != st.Dev {
		return graph.Errorf(unix.EEXIST, "posix: gfid %s already belongs to another file", g)
	}
	return nil
}

// symlinkHandle makes (or moves) the symlink handle of a directory (posix_handle_soft). It is
// replaced atomically: a new symlink under a temporary name renamed over the old one.
func (p *Posix) symlinkHandle(g, parent graph.GFID, name string) error {
	h := handleRel(g)
	target := dirHandleTarget(parent, name)
	err := unix.Symlinkat(target, p.rootFD, h)
	if errors.Is(err, unix.ENOENT) { // the hash directories are made on first use
		if err = p.mkdirHashes(g); err == nil {
			err = unix.Symlinkat(target, p.rootFD, h)
		}
	}
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("posix: symlink handle %s: %w", h, err)
	}
	if cur, err := readlinkat(p.rootFD, h); err == nil && cur == target {
		return nil
	}
	tmp := h + ".weft-tmp-" + strconv.FormatUint(uint64(unix.Getpid()), 10) + "-" + graph.NewGFID().String()[:8]
	if err := unix.Symlinkat(target, p.rootFD, tmp); err != nil {
		return fmt.Errorf("posix: symlink handle %s: %w", tmp, err)
	}
	if err := unix.Renameat(p.rootFD, tmp, p.rootFD, h); err != nil {
		_ = unix.Unlinkat(p.rootFD, tmp, 0)
		return fmt.Errorf("posix: move handle %s: %w", h, err)
	}
	return nil
}

// dropFileHandle removes a non-directory's handle when no name is left (the handle is the only
// link to inode ino; ino 0: to whatever inode the handle is).
func (p *Posix) dropFileHandle(g graph.GFID, ino uint64) {
	if g.IsZero() {
		return
	}
	h := handleRel(g)
	var hs unix.Stat_t
	if unix.Fstatat(p.rootFD, h, &hs, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return
	}
	if ino == 0 && hs.Mode&unix.S_IFMT == unix.S_IFLNK && hs.Nlink == 1 {
		// A symlink's handle, or a directory's (a GFID that was not the unlinked file's):
		// the latter stays.
		if t, err := readlinkat(p.rootFD, h); err != nil {
			return
		} else if _, _, _, ok := parseDirHandleTarget(t); ok {
			return
		}
	}
	if (ino == 0 || hs.Ino == ino) && hs.Nlink == 1 {
		_ = unix.Unlinkat(p.rootFD, h, 0)
	}
}

// dropDirHandle removes a directory's handle if it still names (parent, name).
func (p *Posix) dropDirHandle(g, parent graph.GFID, name string) {
	if g.IsZero() || g.IsRoot() {
		return
	}
	h := handleRel(g)
	if t, err := readlinkat(p.rootFD, h); err == nil && t == dirHandleTarget(parent, name) {
		_ = unix.Unlinkat(p.rootFD, h, 0)
	}
}

// rawDirent is one linux_dirent64.
type rawDirent struct {
	ino  uint64
	off  uint64
	typ  uint8
	name string
}

// parseDirents walks a getdents64 buffer: d_ino u64, d_off s64, d_reclen u16, d_type u8, name.
func parseDirents(buf []byte, fn func(rawDirent) bool) {
	for len(buf) >= 19 {
		reclen := int(binary.NativeEndian.Uint16(buf[16:18]))
		if reclen < 19 || reclen > len(buf) {
			return
		}
		rec := buf[:reclen]
		nameb := rec[19:]
		if i := bytes.IndexByte(nameb, 0); i >= 0 {
			nameb = nameb[:i]
		}
		d := rawDirent{
			ino:  binary.NativeEndian.Uint64(rec[0:8]),
			off:  binary.NativeEndian.Uint64(rec[8:16]),
			typ:  rec[18],
			name: string(nameb),
		}
		if !fn(d) {
			return
		}
		buf = buf[reclen:]
	}
}
