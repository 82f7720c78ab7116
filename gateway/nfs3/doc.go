// Package nfs3 implements the NFS version 3 protocol (RFC 1813 §3) over a Weft translator graph:
// all 22 procedures, with file handles from gateway/handle, statuses from gateway/nfsstat, and
// every call checked against the export its handle names (gateway/export).
//
// Objects are addressed by GFID: a nameless graph.Loc{GFID} for the object of a handle, and
// graph.Loc{ParentGFID, Name} for a name in a directory. Reads and writes go through a cache of
// open FDs keyed by GFID with idle expiry; READDIR and READDIRPLUS keep a per-directory open FD
// keyed by (directory GFID, cookie verifier) so that paging through a directory is O(n). WRITE
// with FILE_SYNC or DATA_SYNC and COMMIT fsync through the graph before replying; the write
// verifier is random per gateway start. EXCLUSIVE CREATE stores its verifier in the
// "trusted.weft.nfs.createverf" xattr and honours it on retransmission.
//
// The GlusterFS counterpart is xlators/nfs/server/src/nfs3.c and nfs3-helpers.c (gNFS). Bodies
// are encoded with gateway/xdr (RFC 4506), not go-xdr's generated types, because those reject
// non-ASCII file names.
package nfs3
