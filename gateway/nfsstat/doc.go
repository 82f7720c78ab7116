// Package nfsstat is the one table that maps errnos (unix.Errno, as every fop returns them) to
// NFS status codes: nfsstat3 (RFC 1813 §2.6) and nfsstat4 (RFC 7530 §13, RFC 8881 §15).
// GlusterFS's counterpart is nfs3_errno_to_nfsstat3 in xlators/nfs/server/src/nfs3-helpers.c.
package nfsstat
