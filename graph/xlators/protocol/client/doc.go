// Package client is the protocol/client translator: the leaf of a client graph that speaks the
// brick protocol (package bricks/proto) to one brick process over ONC RPC (graph/rpc). It is the
// counterpart of GlusterFS's xlators/protocol/client.
//
// Options: remote-host, remote-port, remote-subvolume (the volume of the brick's volfile to
// attach to), transport (epoll | netconn), auth.secret or auth.secret-file (the shared secret
// proven with HMAC in the SETVOLUME handshake), network.ping-timeout (default 42s, as GlusterFS),
// reconnect-backoff-min / reconnect-backoff-max.
//
// The client connects on PARENT_UP (or at the first fop), emitting CHILD_CONNECTING, then
// CHILD_UP once the handshake succeeded; when the connection breaks or a ping is not answered
// within the ping timeout it fails every in-flight call with ENOTCONN, emits CHILD_DOWN and
// reconnects with an exponential backoff bounded by reconnect-backoff-max. Fds opened before a
// reconnect are opened again by GFID with their original flags before CHILD_UP; an fd that
// cannot be re-opened fails later fops with EBADFD. Every connection has its own client id, so
// the brick releases the locks of a dead connection without touching a newer one.
//
// A fop issued before the first connection attempt finished waits for it (bounded by the
// caller's context); later, while disconnected, fops fail at once with ENOTCONN.
package client
