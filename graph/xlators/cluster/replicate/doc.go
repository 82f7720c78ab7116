// Package replicate is the cluster/replicate translator: GlusterFS's AFR (xlators/cluster/afr)
// in Go, with GlusterFS's on-disk changelog so replicated GlusterFS bricks can be adopted.
//
// # Transactions (afr-transaction.c)
//
// Every modifying fop is a transaction: quorum check; a lock with an owner of its own (inodelk in
// the domain named after this translator: the whole file for data, [LLONG_MAX-1, EOF] for
// metadata — features/locks moves that range to "<domain>:metadata" — or an entrylk on the
// parent for entry fops), taken in two phases (non-blocking on all children, then blocking in
// child order) so concurrent transactions cannot deadlock; pre-op — trusted.afr.dirty[type] += 1
// on every locked child; the fop on every pre-op'd child (the arbiter skipped for data);
// post-op — on each child where the fop succeeded, dirty -= 1 and trusted.afr.<child>[type] += 1
// for every child where it did not (failed, down, not locked). The changelog value is three
// big-endian int32 counters: data, metadata, entry. The child names come from the
// afr-pending-xattr option (as glusterd writes it: "<vol>-client-0,...") or the children's
// volume names. A new entry created while a child was down is marked pending for data and
// metadata (and entry, for a directory) against that child (afr_mark_new_entry_changelog);
// rename records the entry change on both parents. testdata/ holds changelogs recorded from a
// GlusterFS 10.3 replica 3 volume.
//
// # Eager locking and delayed post-op (eager-lock, post-op-delay-secs)
//
// Writes on a file share one epoch: one inodelk and one pre-op; the post-op is delayed
// post-op-delay-secs after the last write and batched. A write that misses a child blames it on
// the good copies before it is answered (once per epoch), so the changelog never under-reports;
// the dirty mark covers the writes of an epoch if this client dies. An epoch ends on its timer,
// on flush, fsync and FD release, before any other data transaction or heal of this client on
// the file, and at most max(1s, 2×delay) after it began: there is no lock-contention upcall in
// the graph, so a streaming writer yields the lock to other clients at bounded intervals.
// Overlapping writes of an epoch are ordered (they reach every copy in the same order).
//
// # Reads, quorum, split-brain
//
// Quorum (quorum-type none|auto|fixed) gates modifying fops with EROFS. Lookup goes to every up
// child, checks that the GFIDs agree and reads the changelogs: a copy is blamed when a present
// copy holds a non-zero counter against it; only the blame of copies nobody blames counts
// (those copies are the sources, the ones they blame the sinks); every copy blamed is a
// split-brain → EIO for reads of that type. With arbiter-count 1 the last child holds no data.
// What an inspection learned is cached per GFID with the event generation it began in; every
// CHILD_UP and CHILD_DOWN bumps the generation (afr_notify's event_generation), and a cached
// state of an older generation — or one marked stale because a transaction failed on a copy
// that was up — is refreshed from the changelogs before a read child is chosen
// (afr_inode_refresh), so a returning child serves reads once it is in sync and never while it
// still needs heal.
//
// # Open FDs across a child's absence (afr_fix_open)
//
// Replicate records per FD the children it is open on. An FD opened or created while a child
// was down is opened there before its next transaction once the child is up and has the file
// (a failed attempt is retried after the next event or heal), so later writes reach every copy;
// until then fops through the FD leave that child out (reads, fsync, flush) and transactions
// blame it.
//
// # Self-heal (afr-self-heal-*.c, afr-self-heald.c)
//
// HealFile heals one GFID under the AFR locks: metadata (mode, owner, xattrs), data (full: every
// non-zero block after truncating the sinks; diff: rchecksum per 128 KiB block, copying only the
// blocks that differ; data-self-heal-window-size blocks per round; sinks get the source's
// size and times and are fsynced) and entries (missing names created with the same GFID, or
// hard-linked when the sink has the GFID; names the sources lack removed; GFID or type
// mismatches removed and re-created), then takes back exactly the counters it saw. Only dirty
// marks (an interrupted transaction) make the largest/newest copy the data source, so copies
// converge. A split-brain is reported, never healed by guessing, unless favorite-child-policy
// (size|mtime|ctime|majority) picks a copy. Lookup heals metadata and entries inline and data
// in the background (metadata-self-heal, entry-self-heal, data-self-heal,
// background-self-heal-count); a missing name or a GFID mismatch triggers entry heal of the
// parent. HealAll sweeps the xattrop and dirty indices of the bricks' features/index (over the
// wire: getxattr glusterfs.xattrop_index_gfid, then readdir of that virtual GFID), HealFull
// crawls the volume, HealInfo lists per child what needs heal and what is in split-brain, and
// RunHealDaemon is the self-heal daemon loop (periodic, and at once when a child comes back).
//
// Not done: granular entry heal (indices/entry-changes), per-block data locks during heal (the
// whole file is locked while its data heals), the afr "witness" refinements of GlusterFS's
// direction finding, heal-info paths for GFIDs this graph never looked up.
package replicate
