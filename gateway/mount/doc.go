// Package mount implements the MOUNT protocol, version 3 (RFC 1813 appendix I) and the parts of
// version 1 (RFC 1094 appendix A) that showmount and older tools use: NULL, MNT, DUMP, UMNT,
// UMNTALL and EXPORT. MNT checks the client against the export table and returns the root handle
// of the export (or of a subdirectory below an export) with the auth flavors AUTH_SYS and
// AUTH_NONE. Version 1 MNT, whose handles are 32 bytes (too small for Weft's), answers EACCES.
// The gateway serves it over TCP and UDP on the same port (showmount and older mount tools use UDP).
// GlusterFS's counterpart is xlators/nfs/server/src/mount3.c.
package mount
