// Package bricks holds the brick side of Weft: the translators that run in a brick process
// below protocol/server and own a local directory (GlusterFS's server-side xlator stack).
//
// Sub-packages:
//
//	posix   storage/posix, the leaf that stores files on a local file system in GlusterFS's
//	        exact on-brick format (xlators/storage/posix in GlusterFS)
package bricks
