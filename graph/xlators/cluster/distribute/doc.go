// Package distribute is the cluster/distribute translator: GlusterFS's DHT (xlators/cluster/dht)
// in Go, compatible with its on-disk format so a GlusterFS volume can be adopted in place.
//
// Placement: a file lives on the subvolume whose hash range, in its parent directory's layout,
// holds the Davies-Meyer hash of its name (DMHash, gf_dm_hashfn bit-exact; names matching
// rsync-hash-regex hash as their submatch). Each brick's copy of a directory carries its range in
// the xattr trusted.glusterfs.dht: 16 bytes, four big-endian uint32s — commit hash, hash type (0
// Davies-Meyer, 1 user-set), start, stop. New directories get ranges split evenly (or weighted
// by brick size) over the subvolumes sorted by name, starting at hash(path) mod N
// (dht_selfheal_layout_new_directory). A file whose name hashes elsewhere than its data (after a
// rename) is reached through a link file on the hashed subvolume: a zero-size file of mode
// ---------T with trusted.glusterfs.dht.linkto = the data subvolume's name and a NUL.
//
// readdir d_off cookies encode the subvolume index with GlusterFS's gf_itransform scheme (small
// offsets: off*N+index; offsets with high bits set: top bit | (off>>1 with low bits cleared) |
// index). GlusterFS applies it at the protocol/client leaves with the graph's leaf count; Weft
// applies it in distribute itself with its subvolume count, since the cookie is opaque to every
// consumer above.
//
// Rebalance (rebalance.go, migrate.go): FixLayout rewrites directory layouts over the current
// subvolumes with Layout.Fix; Migrate moves a file to its hashed subvolume while it stays readable
// and writable — a destination link file, phase-1 marks (S_ISVTX|S_ISGID + linkto) on the source
// that make clients replay their writes on the destination under range locks shared with the
// chunked copy, then a commit that turns the source into an unlinked link file (phase 2) which
// sends clients to the destination; Rebalance does both for the whole volume. The protocol and
// its limits are documented in rebalance.go. A down subvolume keeps its hash range, so fops hashed
// to it fail with ENOTCONN.
//
// Create makes new files only (exclusively, on the hashed subvolume); without O_EXCL an existing
// name is opened where its data is, as Open does. Every fop that makes a name (create, mknod,
// mkdir, symlink, link, rename's destination) first looks the name up on every subvolume when
// the directory's layout is not committed (its commit hash is not the volume's: fix-layout ran
// and files may still sit where they hashed before) — GlusterFS's lookup-optimize; in a
// committed directory the hashed subvolume's answer is authoritative and create is one fop.
// Rebalance commits: each directory whose files are all in place gets the rebalance's new
// commit hash in its layout, and when the whole rebalance succeeded the hash is settled on the
// root (trusted.glusterfs.dht.commithash); fix-layout alone, a failed or a stopped rebalance
// commit nothing. A client reads an uncommitted directory's layout and the volume hash again
// when its cached copy is a second old, so long-lived clients see the commit. Names starting with ".weft-dht-" are
// distribute's own (rename's temporaries): hidden from readdir and lookup, refused to clients;
// the fix-layout/rebalance crawl removes those older than rename-leftover-age (an interrupted
// rename's leftovers).
//
// The golden vectors in testdata/ were recorded from a real GlusterFS 10.3 volume (see the file
// headers); the tests check placement, new-directory layouts and fix-layout against them.
package distribute
