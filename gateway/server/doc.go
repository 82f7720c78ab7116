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
// One gateway serves many volumes (GlusterFS's gNFS serves every started volume the same way):
// SetVolumes takes the list (`weft gateway --volumes MANIFEST`, re-read on SIGHUP; see
// Manifest), adds and removes volumes and switches a changed volume's graph live with
// graph.Active.SwitchWith — in place for an option change; for a new topology the new graph is
// built, waited for until its bricks are up (waitUp), made current, the volume's cached NFS FDs
// flushed, and the old graph finalised once its last fop and FD are done — without closing a
// connection or a mount. Each volume has a fixed top (volTop) the protocol servers call: a fop
// on a Loc goes to the current graph, a fop on an FD to the graph the FD was opened on. NFS and
// MOUNT calls go to the volume their handle (or export path) names, a handle of a volume not
// served is STALE; one NLM serves every volume (lockTop: each call is tagged with the volume of
// its handle). A volume served before its bricks connected would answer EROFS/ENOTCONN: calls
// on a new volume wait for its first graph instead (bounded by the ping timeout).
//
// NLM and NSM register on the same RPC server through Gateway.RPC (see RegisterProgram).
// GlusterFS's counterpart is xlators/nfs/server/src/nfs.c (gNFS's init and program setup) and,
// for graph switches, fuse-bridge.c's fuse_graph_sync / fuse_migrate_fd.
package server
