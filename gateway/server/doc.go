// Package server wires the NFS gateway together: one ONC RPC server (graph/rpc) carrying NFSv3
// (program 100003, version 3 only, so NFSv4 calls get PROG_MISMATCH 3..3 and a default Linux
// mount falls back to v3), MOUNT v1/v3 and, when embedded, portmap v2 with rpcbind v3/v4;
// listeners on the NFS, MOUNT and portmap ports; a second RPC server over UDP (UDPTransport:
// one datagram, one call) for MOUNT and the port mapper, which rpcinfo and showmount use; the
// duplicate request cache in front of non-idempotent NFS procedures; registration with the
// system's rpcbind; Prometheus statistics per procedure.
//
// READ data goes from the graph's buffer to the socket without a copy: nfs3 attaches it to its
// xdr.Writer as a payload, serveNFS emits it into the rpc.Reply with AppendOpaquePayload
// (writev), and ReadReply.Release runs once the reply is written.
//
// NLM and NSM register on the same RPC server through Gateway.RPC (see RegisterProgram).
// GlusterFS's counterpart is xlators/nfs/server/src/nfs.c (gNFS's init and program setup).
package server
