// Package handle encodes and decodes Weft's NFS file handles (RFC 1813 §2.4 nfs_fh3, opaque, at
// most 64 bytes; RFC 7530 §4.2 nfs_fh4 uses the same bytes).
//
// A handle is self-describing and stable on every gateway node and across restarts (DESIGN.md,
// "GFIDs everywhere"):
//
//	offset size
//	0      2    magic "WF"
//	2      1    version (1)
//	3      1    flags (0)
//	4      16   volume id
//	20     8    export id (derived from the export path; binds the handle to its export)
//	28     16   GFID
//	44     16   MAC: HMAC-SHA256(cluster secret, bytes 0..43), truncated to 16 bytes
//
// A handle whose length, magic, version or MAC is wrong, or that names another volume, is
// rejected with ErrBadHandle (NFS3ERR_BADHANDLE); a handle with a valid MAC whose GFID no longer
// exists is reported STALE by the caller after the graph says ENOENT/ESTALE. The GlusterFS
// counterpart is xlators/nfs/server/src/nfs3-fh.c (magic, version, export id, gfid, mount id),
// which carries no MAC.
package handle
