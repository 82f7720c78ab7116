// Package all links every translator into a binary: each file holds blank imports of one
// helper's translator packages, whose init functions register their types (GlusterFS loads
// xlators as shared objects from its xlator directory; Go links them statically).
package all
