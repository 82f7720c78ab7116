// Package memory is the "storage/memory" translator: a complete in-memory brick leaf.
//
// It implements every fop with POSIX semantics — GFIDs (honouring the "gfid-req" xdata key on
// create, mkdir, mknod and symlink as storage/posix does), link counts, hard links, symbolic
// links, sparse files kept as 4 KiB pages (Blocks counts only pages that hold data), extended
// attributes including xattrop arithmetic, readdir with stable cookies, rename with POSIX
// replacement rules, seek data/hole, fallocate/discard/zerofill, statfs, permission checks from
// the caller's graph.Creds, and nanosecond timestamps. Locking fops fail with ENOSYS, as on a
// GlusterFS storage leaf: features/locks does locking above it.
//
// It is the fast, race-free fake that other translators' tests run on. Its GlusterFS
// counterpart is storage/posix (xlators/storage/posix) without the local file system: the same
// fop contract, kept in memory, in the spirit of the test harnesses in libglusterfs.
package memory
