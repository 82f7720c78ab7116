// Package nlm is the gateway's Network Lock Manager: ONC RPC program 100021, versions 4 (the
// one Linux uses with NFSv3; RFC 1813 appendix II) and 1 and 3 (The Open Group, XNFS Version
// 3W, chapter 10 "Network Lock Manager Protocol"; the file-locking model is chapter 9). Its
// counterparts are Linux's lockd (fs/lockd/svc*.c) and GlusterFS's gNFS NLM
// (xlators/nfs/server/src/nlm4.c); the code is Weft's own.
//
// # Locks live in the graph
//
// Every lock is a graph Lk fop (graph.Fops.Lk: GETLK for TEST, SETLK for LOCK and UNLOCK,
// SETLKW for a blocked LOCK) on an FD opened through the volume graph, so features/locks on
// the bricks holds them and they conflict across every gateway over the same volume, and with
// locks taken by other front ends. The lock owner is the caller's host name (caller_name) and
// svid, encoded in graph.Flock.Owner and graph.Creds.LkOwner; graph.Creds.ClientID is
// "nlm:<host>". The gateway opens one FD per (client host, file) while that host holds or waits
// for locks on it, and closes it when nothing is left; closing it releases anything the graph
// still holds through it.
//
// # Transports
//
// The lock manager is an rpc.Handler and does not care how calls arrive: gateway/server serves
// it (and the NSM) over TCP and, with Locking.ServeUDP, over UDP on the same port numbers (one
// datagram per call; Linux's statd sends SM_NOTIFY over UDP and its lockd may use UDP). The
// caller's address, for _RES and GRANTED callbacks, comes from either. Outgoing calls use TCP.
//
// # Procedures
//
// TEST, LOCK, CANCEL, UNLOCK and NM_LOCK, their _MSG forms (answered by a *_RES call to the
// client's lock manager, found through its port mapper), SHARE/UNSHARE (DOS share
// reservations, kept in this gateway's memory: see shareTable), FREE_ALL, and the *_RES
// procedures (GRANTED_RES is the asynchronous answer to our GRANTED). GRANTED and
// GRANTED_MSG are for clients; a server refuses them with DENIED.
//
// # Blocking locks
//
// A LOCK with block set that conflicts is answered LCK_BLOCKED at once (an RPC worker never
// waits for a lock); a SETLKW then runs in a goroutine with a cancellable context. When it
// succeeds the lock is held and NLM_GRANTED is called on the client's lock manager (port from
// the client's port mapper at the caller's address; Linux's lockd listens there and answers
// GRANTED and GRANTED_MSG). CANCEL, UNLOCK of the same range, FREE_ALL, SM_NOTIFY and Close
// cancel the wait. A callback that cannot be delivered (a client behind NAT, e.g. qemu user
// networking) is retried a few times and then given up; the lock stays held, and the client's
// next poll (Linux re-sends LOCK every 30 s while blocked) is answered GRANTED because the
// owner already holds the range. A client that answers GRANTED with DENIED (it no longer
// waits) gets the lock released.
//
// # Crash recovery (XNFS chapters 9 and 11)
//
// Hosts are recorded with the status monitor (gateway/nsm) before a lock is reported granted.
// After a restart the monitor notifies them and the lock manager runs a grace period
// (Config.Grace, default 45 s) in which only reclaims (LOCK and SHARE with reclaim set) are
// granted and TEST, new LOCKs and SHAREs get DENIED_GRACE_PERIOD; UNLOCK and CANCEL are always
// accepted. The period is skipped when no host held locks before the restart (there is nothing
// to reclaim; Config.GraceAlways forces it). A client's SM_NOTIFY (it rebooted) or FREE_ALL
// releases every lock, blocked request and share of that host.
package nlm
