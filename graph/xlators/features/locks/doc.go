// Package locks is the features/locks translator: the lock server of a brick, stacked above
// storage/posix. Its GlusterFS counterpart is xlators/features/locks (posix.c, common.c,
// inodelk.c, entrylk.c); the semantics follow it, the code is Weft's own.
//
// It answers five fops itself and never winds them to its child: Lk (POSIX byte-range locks),
// Inodelk/Finodelk (range locks in named domains, used by replicate, distribute and disperse to
// serialise their work) and Entrylk/Fentrylk (locks on names in a directory). Flush is
// intercepted to release POSIX locks; every other fop passes through (graph.Passthrough).
//
// # Owners
//
// A lock belongs to an owner: the client connection (graph.Creds.ClientID) plus the lock-owner
// bytes (the Flock's Owner when set, otherwise graph.Creds.LkOwner; entry locks use the latter).
// Two requests of the same owner never conflict with each other. An empty lock owner is
// accepted and is simply one more owner of that client (GlusterFS rejects a null lk-owner from
// new clients with EINVAL; Weft's in-process translators do not always set one).
//
// # POSIX locks (Lk)
//
// fcntl(2) semantics per owner: a lock replaces the owner's existing locks in its range (split
// where they stick out, so a read lock in the middle of a write lock leaves three pieces), an
// unlock may release any sub-range, a read↔write conversion is an upgrade or downgrade of the
// owner's own range, Len 0 runs to the end of the file and a negative Len locks the bytes before
// Start. An owner's pieces never overlap; adjacent pieces of the same type taken through the
// same FD are merged (Linux merges adjacent locks too; GlusterFS merges only overlapping ones).
// GETLK returns the first conflicting granted lock with its owner's type, range, pid and owner
// bytes, or the request itself with Type F_UNLCK. SETLK fails with EAGAIN on a conflict.
//
// SETLKW waits on a channel, never by polling. Before it waits it releases the owner's own
// locks in the requested range, as GlusterFS's pl_send_prelock_unlock does, so two readers that
// both upgrade the same range cannot wait for each other forever; there is no other deadlock
// detection (GlusterFS has none either, and EDEADLK across clients would need the wait-for
// graph of every brick). The released range stays released if the wait then fails or is
// cancelled (as in GlusterFS); a request whose context is already done when it would have to
// wait fails with EINTR without touching the owner's locks. Cancelling the request's context
// while it waits removes the waiter and returns an error wrapping EINTR and the context's
// error; a waiter granted before the cancellation is noticed keeps its lock and succeeds, as
// fcntl does when a signal arrives too late.
//
// Fairness: blocked SETLKW requests are granted in order of arrival as soon as they no longer
// conflict with granted locks (repeatedly, since a grant can be a downgrade). A new request is
// judged only against granted locks, so a stream of readers can hold off a waiting writer: this
// is what Linux and GlusterFS do for POSIX locks, and what NLM clients expect.
//
// Releasing: Flush by an owner releases that owner's granted POSIX locks on the file (closing
// any descriptor drops the process's locks, fcntl(2)); its blocked requests stay queued, as in
// GlusterFS. A Flush without a lock owner (protocol/server cleaning up a gone client) instead
// drops every lock taken through that FD and fails the requests blocked on it with EAGAIN. When
// an FD is finally released (its last reference goes), the locks taken through it are dropped
// too (GlusterFS pl_release).
//
// # Inodelk and entrylk
//
// Both live in domains (the volume argument), which never interact. Locks are records: never
// merged or split. Same-owner requests do not conflict (nesting, as GlusterFS allows), and an
// unlock removes the owner's newest lock with exactly the same range (inodelk) or the same name
// and type (entrylk); no such lock is EINVAL. Inodelk GETLK is ENOTSUP, as in GlusterFS. An
// inodelk on the special range [LLONG_MAX-1, EOF] moves to the domain "<volume>:metadata" as
// GlusterFS does for AFR's metadata locks.
//
// Both are served by one mechanism (lockDomain in domain.go, generic over the lock record):
// the queue, the grant order, unlock, cancellation, client release and revocation are the same
// code; only what conflicts and what an unlock matches differ.
//
// They are fair: a new request that conflicts with an earlier blocked one waits behind it,
// unless its owner already holds or awaits a lock in the domain (so nested locks do not
// deadlock on their own queue position); when locks go, blocked requests are granted in arrival
// order. Entry locks on "" cover every name in the directory. Entry read locks share with each
// other; upstream GlusterFS ignores the entrylk type and makes every entry lock exclusive (its
// own translators only take write entry locks, so both agree for them).
//
// # Clients, shutdown, memory
//
// ReleaseClient(clientID) drops every POSIX lock, inodelk and entrylk of a client connection,
// fails its blocked requests with EAGAIN and grants what that unblocks; protocol/server calls it
// (through the ClientReleaser interface) when a connection goes, after that connection's
// in-flight fops have returned. There is no graph event for a client disconnect, so an explicit
// method is the clean hook. Fini drops everything and fails blocked requests with ENOTCONN.
//
// State is kept per GFID only while something is locked, waited for, or being operated on, and
// is freed as soon as it is empty, so unlinked files leave nothing behind once their locks go
// (GlusterFS additionally makes unlink wait for inodelks; Weft does not).
//
// # Options
//
// mandatory-locking (off|file|forced|optimal): only off is implemented; the others fail Init.
// trace (bool): log every lock request and verdict. notify-contention (bool): not implemented
// (the graph has no upcall channel), on fails Init. revocation-secs (int, 0 off) and
// revocation-clear-all (bool): when a new inodelk/entrylk request conflicts with a granted lock
// older than revocation-secs, every granted lock of that domain is revoked (with clear-all the
// blocked requests fail with EAGAIN too), as GlusterFS does; POSIX locks are never revoked.
package locks
