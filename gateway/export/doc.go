// Package export is the gateway's compiled export table: which paths are exported, which clients
// may use them (addresses, CIDRs, host names and wildcards, resolved with forward-confirmed
// reverse DNS as exports(5) describes), with which options (ro/rw, squashing, secure ports), and
// the credential squashing applied to every call. It is built from configs.ExportsConfig.
//
// Every NFS call is checked here against the export its file handle names, not only MNT
// (GlusterFS: xlators/nfs/server/src/mount3.c mnt3_check_client_net and nfs3 export checks).
package export
