// Package store holds the cluster store: the state every peer agrees on (peers, volumes,
// bricks and their ports, volume options, the cluster secret), the raft finite state machine
// that applies commands to it, and FileLog, the durable raft LogStore and StableStore it is
// persisted with.
//
// Its GlusterFS counterpart is what glusterd keeps under /var/lib/glusterd (peers/, vols/,
// glusterd.info) and the op state machine that stages and commits volume operations on every
// peer. Here a command is validated against the current state inside Apply, on every peer, in
// log order: two conflicting operations issued at once from two peers are both logged, the
// first applies and the second is rejected with a reason, identically everywhere.
//
// FileLog is a small append-only record file (length, CRC-32C, record) replayed on open, with
// a torn tail truncated and the file rewritten when deleted entries dominate; the stable store
// is one JSON file replaced atomically. It replaces raft-boltdb: v1 pulls in the unmaintained
// boltdb/bolt, whose unsafe slice casts trip Go's checkptr under -race, and v2 (bbolt) does not
// resolve here; the cluster store is a few kilobytes of configuration, for which a log file
// fsync'ed per append is both simpler and sufficient.
package store
