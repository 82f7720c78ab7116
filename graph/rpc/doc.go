// Package rpc is Weft's ONC RPC version 2 core (RFC 5531, which obsoletes RFC 1831 and, before
// it, RFC 1057): record marking over TCP (§11), call and reply messages (§9), AUTH_NONE and
// AUTH_SYS credentials (§10.1, appendix A), a Server that dispatches calls to registered
// program versions, and a Client; both directions work on every connection. It is shared by
// the brick wire protocol (bricks/protocol/server, graph/xlators/protocol/client) and the NFS
// gateway (NFSv3, MOUNT, NLM, NSM, portmap, NFSv4). Its GlusterFS counterpart is rpc/rpc-lib
// (rpcsvc.c, rpc-clnt.c) with the socket transport of rpc/rpc-transport/socket.
//
// # Why our own core
//
// The NFS servers available in Go process one request at a time per connection (Linux and ESXi
// put a whole mount on one connection), dispatch without the program version (a client trying
// NFSv4 first must get PROG_MISMATCH with the supported range, not a wrong answer), and hide
// the AUTH_SYS credential from handlers (no root squash). This package fixes those at the root:
// many calls in flight per connection on a bounded worker pool, replies in any order, version
// dispatch with PROG_MISMATCH low/high, and the caller's credential as graph.Creds in the
// handler's context. The message headers are encoded and decoded by hand (see header.go): they
// are small, fixed and on the hot path of every call, and decoding them in place from the
// record buffer costs no allocation, where the io.Reader-based generated codecs of
// github.com/buildbarn/go-xdr (still the right tool for the NFS bodies) allocate and copy.
//
// # Serving
//
//	srv := rpc.NewServer(rpc.ServerOptions{OnDisconnect: releaseLocks})
//	srv.Register(100003, 3, rpc.HandlerFunc(func(ctx context.Context, c *rpc.Call, r *rpc.Reply) rpc.AcceptStat {
//		creds := graph.CredsFrom(ctx)           // uid/gid/groups, ClientID = c.Conn.Info().ClientID
//		... decode c.Args, append results to r ...
//		return rpc.Success                      // or ProcUnavail, GarbageArgs, SystemErr
//	}))
//	addr, err := srv.Listen("tcp", ":2049")
//	...
//	err = srv.Shutdown(ctx)
//
// A handler may instead Drop the reply (duplicate request cache), RejectAuth it (AUTH_TOOWEAK),
// or Detach it and Send later from another goroutine (NLM blocking locks). READ data is
// attached with Reply.AppendOpaquePayload and written with writev, without a copy.
//
// # Calling
//
//	cl, err := rpc.Dial(ctx, "tcp", "host:49152", nil)
//	res, err := cl.Call(ctx, prog, vers, proc, args, rpc.NoAuth)
//
// A reply other than SUCCESS is an *Error (which unwraps to an errno); a broken connection
// fails every pending call with an error wrapping unix.ENOTCONN, and Done/Err report it.
// Conn.DoPooled returns the reply's record buffer with the results, for the caller to release
// once it is done with them (protocol/client hands READ data up this way, to
// graph.ReadReply.Release).
//
// # Transports
//
// The Transport interface moves records; NetTransport uses the net package (a reader
// goroutine per connection) and, on Linux, EpollTransport runs a few event loops on epoll with
// non-blocking sockets, edge-triggered reads and writev batching. DefaultTransport is the epoll
// one on Linux. Both pass the same tests; BenchmarkEcho compares them (calls/s, MB/s, p50/p99
// per transport and the epoll/net ratio). The epoll loops are shared by every server and
// client of the process and wait through the Go runtime's poller (the epoll fd is registered
// with it), so they never hold a thread in epoll_wait. Clients use the same transport as
// servers: Dial connects with net.Dialer (name resolution, ctx) and hands a duplicate of the
// socket to an event loop. A sender of at most 64 KiB that knows other calls are in flight on
// its connection yields once before writev, so concurrent replies and calls leave in one
// system call. Sockets are registered once for input and output (edge-triggered, never
// modified); when one is full, the loop resumes its output on the next EPOLLOUT edge. A loop
// reads at most 4 MiB from one connection before serving the others.
//
// Back-pressure: a connection has at most MaxInFlight calls read but not answered; at the
// limit the transport stops reading that connection (the peer's TCP window closes) until a
// reply is written. Nothing is dropped. Records larger than MaxRecordSize close the connection
// as soon as a fragment header announces it, before anything is allocated for it. Memory
// committed ahead of data is bounded (record.go): a fragment needing at most 64 KiB more is
// reserved at once; a larger one takes its whole length from a process-wide budget
// (DefaultReserveBudget, 256 MiB), so its bytes are read straight into place (a 1 MiB WRITE is
// never copied to grow its buffer), and gives it back once its bytes have arrived; with the
// budget spent, a record starts at 64 KiB and grows geometrically as data arrives. So 1024
// connections each announcing a maximum-size record commit about 320 MiB, not 4 GiB. A record of
// several fragments grows geometrically from one fragment to the next. Buffers come from
// per-size-class pools (powers of two up to 64 KiB, then quarter steps: a 1 MiB record plus headers uses a
// 1.25 MiB buffer), so large records reuse buffers instead of faulting in fresh memory.
package rpc
