// Package daemon is the node daemon, `weft daemon` (GlusterFS's glusterd): it runs raft over
// the cluster store (membership/store) and memberlist gossip for peer liveness, serves the
// management API (membership/api) on a unix socket for the local CLI and on TCP for peers,
// carries out volume operations — validated locally, staged on the peers holding the bricks
// (directories exist, are empty or this volume's), committed once through the raft leader —
// and supervises this node's brick processes and NFS gateway (`weft brick`, `weft gateway`,
// the same binary), restarting them with backoff and regenerating their volfiles (volgen)
// when the volume changes. It also supervises one self-heal daemon per node and replicated
// volume (`weft heal daemon`, glustershd), runs rebalance and remove-brick data migration in
// process over a client graph of the volume (tasks.go: progress in memory on the node that
// runs it, status asked of every node), answers heal info/full with cluster/replicate's heal
// library (heal.go), and writes each gateway's export table from the volume's daemon options
// (server.root-squash, nfs.rpc-auth-allow, nfs.ports-insecure, ...; volgen.DaemonOptions).
//
// GlusterFS counterparts: glusterd.c, glusterd-peer-utils.c and glusterd-handshake.c (probe),
// glusterd-volume-ops.c and glusterd-brick-ops.c (stage/commit of volume operations),
// glusterd-svc-mgmt.c and glusterd-pmap.c (processes and ports), glusterd-rebalance.c and
// dht-rebalance.c (rebalance, remove-brick), glfs-heal.c (heal info), glustershd.
package daemon
