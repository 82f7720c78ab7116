// Package membership is Weft's node daemon (GlusterFS's glusterd): peers found and watched with
// gossip (hashicorp/memberlist), the cluster configuration kept in a replicated log
// (hashicorp/raft), volume operations validated and committed through it, volfiles generated
// from a volume's definition, brick and gateway processes supervised, and the management API
// the CLI talks to. Its sub-packages:
//
//   - store: the cluster state (peers, volumes, bricks, ports, options, the secret), the raft
//     state machine that applies validated commands to it, and the durable file log under raft.
//   - volgen: brick and client volfiles from a volume's definition (glusterd-volgen.c).
//   - api: the management API's request and reply types, its HMAC authentication and client.
//   - glusterd: reads GlusterFS volume definitions from glusterd's working directory, for
//     `weft volume import` (glusterd-store.c's format).
//   - daemon: the running daemon: raft + memberlist + API server + volume operations +
//     supervision of brick and gateway processes (glusterd's glusterd-op-sm, -svc, -pmap).
package membership
