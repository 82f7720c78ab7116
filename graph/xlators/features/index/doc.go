// Package index is the features/index translator of a brick graph: it keeps the list of files
// whose replication changelog says they need healing, so the self-heal daemon does not have to
// crawl the whole brick. GlusterFS counterpart: xlators/features/index/src/index.c; the on-disk
// format and the virtual-directory interface are GlusterFS's, the code is Weft's own.
//
// # On-disk format
//
// Under index-base (GlusterFS volgen sets <brick>/.glusterfs/indices) live the subdirectories
// "xattrop" (pending changelogs) and "dirty" (in-flight transactions). Each holds one base file
// "<subdir>-<uuid>" (a fresh uuid per brick start, or when the base file reaches the file
// system's link limit) and, for every GFID in the index, a hard link to the base file named by
// the canonical GFID ("85209e1a-0d9b-481c-a19c-e9ad8f2f277f"). Links to the base file cost no
// inode. Directories are created with mode 0600, as GlusterFS's index_dir_create does.
//
// # When an entry is added and removed
//
// xattrop and fxattrop with GF_XATTROP_ADD_ARRAY (every one), or ADD_ARRAY64 with a key in the
// pending watch list, are tracked. Keys are classified by prefix: xattrop-dirty-watchlist
// ("trusted.afr.dirty") → dirty, xattrop-pending-watchlist ("trusted.afr.", the volgen value
// is "trusted.afr.<volume>-") → xattrop. Before the xattrop is wound, every type with a
// non-zero delta is added to its index, so a brick that crashes after the change reached the
// disk still lists the file (index_xattrop_do). After it returns, the resulting values decide:
// a type whose watched keys are all zero is removed from its index, one with a non-zero key is
// (still) listed (xattrop_index_action). Xattrops on one GFID are serialised so the index and
// the xattrs cannot disagree after concurrent operations.
//
// # Reading the index (what the self-heal daemon does, also over protocol/client)
//
//   - getxattr(any loc, "glusterfs.xattrop_index_gfid") / "glusterfs.xattrop_dirty_gfid" returns
//     the 16 raw bytes of the virtual GFID of that index directory (random per brick start);
//     "glusterfs.xattrop_index_count" / "glusterfs.xattrop_dirty_count" returns the number of
//     entries as decimal text (GlusterFS dict_set_uint64 travels as text).
//   - lookup/stat of the virtual GFID describe the directory; opendir + readdir/readdirp of it
//     list the GFIDs (base files hidden); readdirp fills each entry's attributes by a nameless
//     lookup of the GFID below (GlusterFS's "get-gfid-type"), leaving them zero if it is gone.
//   - unlink of (virtual GFID, "<gfid>") removes a stale entry (afr_shd_index_purge).
//
// Other fops on a virtual GFID fail with EPERM; every other fop passes through.
package index
