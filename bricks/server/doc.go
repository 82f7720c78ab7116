// Package server is the protocol/server translator: the top of a brick process's graph
// (storage/posix → features/locks → debug/io-stats → protocol/server), serving the brick
// protocol (package bricks/proto) over ONC RPC (graph/rpc). It is the counterpart of
// GlusterFS's xlators/protocol/server.
//
// Options: listen (address:port, port 0 picks one; Addr tells which), transport (epoll |
// netconn), auth.allow and auth.reject (GlusterFS auth/addr semantics: "*", addresses, CIDRs and
// shell wildcards such as 192.168.*.*; a rejected address is refused even when allowed; host
// names are not resolved), auth.secret (the shared secret a client proves with HMAC-SHA256 over
// both nonces in the CHALLENGE/SETVOLUME handshake; it never travels), volume-id, workers.
//
// Init binds the socket (a port in use fails the brick at start); calls are served from
// PARENT_UP on; Fini closes the listener and all connections. Connections refused by the address
// rules are closed at once. Fops before a successful SETVOLUME fail with EPERM, undecodable
// arguments get GARBAGE_ARGS, unknown procedures PROC_UNAVAIL.
//
// Each connection has its own client id (from the handshake; it becomes graph.Creds.ClientID with
// the uid, gid and groups of the call's AUTH_SYS credential and the pid and lock owner of the
// arguments) and its own fd table (remote fd numbers → *graph.FD). When the connection goes, its
// fops in flight are cancelled and awaited, its fds released, and ReleaseClient(id) is called on
// every translator of the brick graph that implements it (features/locks drops the locks).
//
// GFIDs are resolved through the server's inode table (the graph's), which also feeds the
// statedump (Statedump) with the table's sizes and every client's open fds.
//
// Starting an in-process brick in tests: build posix → locks → protocol/server with
// graph.Construct (listen "127.0.0.1:0"), graph.NewGraph, Activate; then
// top.(*server.Server).Addr() is the address to give protocol/client.
package server
