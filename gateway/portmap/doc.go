// Package portmap implements the port mapper, version 2 (RFC 1833 §3): NULL, SET, UNSET, GETPORT
// and DUMP, with CALLIT refused (PROC_UNAVAIL: an indirect call is an amplification and
// spoofing vector and nothing the gateway needs), and rpcbind versions 3 and 4 over the same
// table (RFC 1833 §2: SET, UNSET, GETADDR, DUMP, GETTIME, and in version 4 GETVERSADDR and
// GETADDRLIST; BCAST/INDIRECT, the address conversions and GETSTAT are PROC_UNAVAIL). libtirpc
// clients — showmount, mount.nfs, rpcinfo without -p — ask rpcbind v4 and v3 first; rpcinfo -p
// and pmap_getport use version 2. SET and UNSET are accepted only from loopback callers. The
// types are hand-written (go-xdr has no portmap). GlusterFS's gNFS registers with the system
// portmapper through libtirpc's pmap_set (rpc/rpc-lib/src/rpcsvc.c).
package portmap
