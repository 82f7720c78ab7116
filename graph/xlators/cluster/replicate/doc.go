// Package replicate is the cluster/replicate translator: GlusterFS's AFR (xlators/cluster/afr)
// in Go, with GlusterFS's on-disk changelog so replicated GlusterFS bricks can be adopted.
//
// Every modifying fop is a transaction (afr-transaction.c): lock (inodelk for data/metadata in
// the domain named after this translator, entrylk on the parent for entry ops), pre-op (an
// xattrop add-array on every up child raising trusted.afr.<name-of-child-i> for every i — three
// big-endian int32 counters: data, metadata, entry), the fop on every up child, and post-op
// (each child where the fop succeeded takes back the counts of the children where it succeeded
// too) — so the copies that stayed up blame exactly the children that missed the change. The
// child names come from the afr-pending-xattr option (as glusterd writes it:
// "<vol>-client-0,<vol>-client-1,...") or default to the children's volume names. A new entry
// created while a child was down is marked pending for data and metadata (and entry, for a
// directory) against that child, as in GlusterFS (testdata/ holds a recorded example).
//
// Quorum (quorum-type none|auto|fixed) gates every modifying fop with EROFS. Lookup goes to every
// up child, checks the GFIDs agree and reads the changelogs: blamed copies are not read from; two
// copies blaming each other with no innocent copy is split-brain → EIO for reads of that type.
// With arbiter-count 1 the last child holds no data: data fops skip it.
//
// Not yet done (see the session report): eager locking and delayed post-op (options accepted,
// one lock and one pre-op per fop), inline self-heal, the heal library and heal-info.
package replicate
