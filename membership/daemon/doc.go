// Package daemon is the node daemon, `weft daemon` (GlusterFS's glusterd): it runs raft over
// the cluster store (membership/store) and memberlist gossip for peer liveness, serves the
// management API (membership/api) on a unix socket for the local CLI and on TCP for peers,
// carries out volume operations — validated locally, staged on the peers holding the bricks
// (directories exist, are empty or this volume's), committed once through the raft leader —
// and supervises this node's brick processes and NFS gateway (`weft brick`, `weft gateway`,
// the same binary), restarting them with backoff and regenerating their volfiles (volgen)
// when the volume changes.
//
// GlusterFS counterparts: glusterd.c, glusterd-peer-utils.c and glusterd-handshake.c (probe),
// glusterd-volume-ops.c and glusterd-brick-ops.c (stage/commit of volume operations),
// glusterd-svc-mgmt.c and glusterd-pmap.c (processes and ports).
package daemon
