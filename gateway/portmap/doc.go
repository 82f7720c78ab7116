// Package portmap implements the port mapper, version 2 (RFC 1833 §3): NULL, SET, UNSET, GETPORT
// and DUMP, with CALLIT refused (PROC_UNAVAIL: an indirect call is an amplification and
// spoofing vector and nothing the gateway needs). SET and UNSET are accepted only from loopback
// callers. The types are hand-written (go-xdr has no portmap). The package also has a small
// client used to register the gateway's programs with the system's rpcbind and to unregister
// them on shutdown. GlusterFS's gNFS registers with the system portmapper through libtirpc's
// pmap_set (rpc/rpc-lib/src/rpcsvc.c).
package portmap
