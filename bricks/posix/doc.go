// Package posix is the storage/posix translator: the leaf of every brick graph, which stores a
// volume's files in a local directory in GlusterFS's on-brick format so that GlusterFS bricks can
// be adopted in place (GlusterFS counterpart: xlators/storage/posix/src/posix-*.c).
//
// On-brick format (each point checked against GlusterFS's source, files named):
//
//   - every file and directory carries the xattr "trusted.gfid" holding its 16 raw GFID bytes
//     (GFID_XATTR_KEY, libglusterfs/src/glusterfs/glusterfs.h); the brick root carries the root
//     GFID 00000000-0000-0000-0000-000000000001 and "trusted.glusterfs.volume-id" holding the 16
//     raw bytes of the volume id (GF_XATTR_VOL_ID_KEY; checked in posix-common.c posix_init).
//   - handles live under <brick>/.glusterfs/<gfid[0] hex>/<gfid[1] hex>/<canonical gfid>: a hard
//     link for every non-directory (posix-handle.c posix_handle_hard), a relative symlink
//     "../../<pp>/<qq>/<parent-gfid>/<name>" for a directory (posix_handle_soft and
//     posix_handle_relpath), and "../../.." for the root (posix_handle_init). .glusterfs itself
//     is created 0600, the two hash levels 0700 (posix_handle_init, posix_handle_mkdir_hashes).
//   - a lookup of ".glusterfs" in the root fails with EPERM (posix-entry-ops.c posix_lookup)
//     and readdir of the root hides it (posix-inode-fd-ops.c posix_fill_readdir).
//   - the health check writes a timestamp to .glusterfs/health_check and reads it back
//     (posix-helpers.c posix_fs_health_check).
//
// A name is never visible without its GFID (GlusterFS sets the xattr after the entry is
// visible). Regular files are made with O_TMPFILE in their parent directory: the unnamed inode
// gets trusted.gfid and its owner, is linked as its handle, then linked under its name
// (linkat(2) with AT_EMPTY_PATH, or /proc/self/fd without CAP_DAC_READ_SEARCH), which fails
// with EEXIST when the name is taken; a GFID already in use is refused at the handle link,
// before anything is visible. A crash between the two links leaves a handle without a name
// (an invisible file holding its blocks; not reclaimed automatically). Other entries —
// directories, symlinks, device nodes, and regular files on file systems without O_TMPFILE or
// created read-only — are made in .glusterfs/weft-staging (a Weft addition inside .glusterfs
// that does not disturb the format), get their trusted.gfid and handle there, and are renamed
// into place with RENAME_NOREPLACE; Init removes what a crash left in the staging directory.
//
// Hot paths keep to the syscalls the format needs: the hash directories .glusterfs/<pp>/<qq>
// are made only when a handle link finds them missing; a directory reached by its GFID (a
// parent, for the pre/post attributes of an entry fop) is stat'ed without re-reading its
// trusted.gfid; a nameless stat of a non-directory is one fstatat(2) of its handle, whose name
// is the GFID; xattrs are read with getxattrat(2) relative to the brick root where the kernel
// has it (Linux 6.13), else by absolute path; readv buffers of 4 KiB to 1 MiB come from
// size-classed pools and go back when the consumer calls ReadReply.Release (bufpool.go).
//
// Fops and xdata:
//
//   - "gfid-req" (16 raw bytes) in the xdata of create, mkdir, mknod, symlink and lookup gives
//     the GFID of a new entry (or heals an entry found without one); without it a random GFID
//     is made. A create without O_EXCL of an existing file whose GFID differs from gfid-req
//     fails with EEXIST.
//   - lookup and readdirp return, in the reply xdata (per entry for readdirp), the value of
//     every "trusted.*" or "user.*" key that the request xdata holds with an empty value.
//   - writev's flags argument: if it has O_SYNC the write is followed by fsync(2); if it has only
//     O_DSYNC, by fdatasync(2) (GlusterFS posix_writev: flags & (O_SYNC|O_DSYNC)). An FD opened
//     with O_SYNC/O_DSYNC/O_APPEND keeps those flags on the kernel fd.
//   - "glusterfs-internal-fop" in xdata bypasses the "reserve" free-space check, as in
//     GlusterFS's DISK_SPACE_CHECK_AND_GOTO.
//   - lk, inodelk, finodelk, entrylk and fentrylk fail with ENOSYS: locking is features/locks'
//     job above posix, exactly as in GlusterFS (posix-inode-fd-ops.c posix_lk and friends).
//   - xattrop/fxattrop are atomic per GFID (a striped lock keyed by GFID) and return the new
//     values; a missing xattr counts as zeros; an all-zero add is answered without writing
//     (GlusterFS _posix_handle_xattr_keyvalue_pair). OrArray and AndArray, which GlusterFS's
//     posix answers with EINVAL, are implemented here bytewise.
//
// Permission checks on entries are not made here: like GlusterFS, posix runs as root and leaves
// them to the access-control translator above it; new files get the caller's uid/gid (and the
// parent's gid when the parent is set-gid).
package posix
