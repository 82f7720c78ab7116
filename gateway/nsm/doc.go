// Package nsm is the gateway's Network Status Monitor (NSM, "statd"; ONC RPC program 100024
// version 1), as specified in The Open Group's XNFS, Version 3W, chapter 11 ("Network Status
// Monitor Protocol"). It is the crash-recovery half of NFSv3 file locking: the lock manager
// (gateway/nlm) records every client host that holds locks here, and after a gateway restart
// this package tells each of them (SM_NOTIFY to the statd found through the host's port mapper)
// so that they reclaim their locks during the NLM grace period. In the other direction, a client
// that reboots sends SM_NOTIFY to us and the NLM layer releases every lock that host held.
//
// Its counterparts are Linux's rpc.statd and sm-notify (nfs-utils) and, in GlusterFS, the
// statd handling of gNFS's NLM (xlators/nfs/server/src/nlm4.c, which shells out to sm-notify);
// here the monitor is in the gateway process and speaks the protocol itself.
//
// # Server procedures (XNFS chapter 11)
//
// SM_NULL; SM_STAT (answers STAT_SUCC and our state); SM_MON, SM_UNMON, SM_UNMON_ALL and
// SM_SIMU_CRASH, which only local callers (loopback) may use, as rpc.statd enforces — a
// remote caller gets STAT_FAIL or nothing done; SM_NOTIFY (a remote host's new state: the
// in-process observer, the NLM, is told, and the callbacks registered with SM_MON are made).
// The Server is an rpc.Handler: gateway/server serves it over TCP and, with Locking.ServeUDP,
// over UDP (Linux's rpc.statd sends SM_NOTIFY as a datagram). Outgoing calls use TCP.
//
// # Persistent state
//
// The state directory holds "state", the host's NSM state number as decimal text (odd while
// up: XNFS chapter 11 "an even number indicates the host is down, an odd number that it is
// up"), and two directories of one file per host: sm/ (the hosts monitored now) and sm.bak/
// (the hosts still to be notified of our last restart), as in nfs-utils. Every change is written
// to a temporary file, fsynced, renamed into place, and the directory fsynced.
//
// Open bumps the state to the next odd number and moves sm/ into sm.bak/; NotifyAll then sends
// SM_NOTIFY to each host in sm.bak/ and deletes its file once the host has answered (or after
// Config.NotifyFor of failed attempts).
package nsm
