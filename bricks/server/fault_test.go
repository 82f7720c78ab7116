package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/bricks/proto"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/rpc"
	"github.com/weftfs/weft/internal/testbin"
)

// TestKillBrickUnderLoad: kill -9 of the brick while 16 writers are busy fails every in-flight
// call with ENOTCONN within the ping timeout and sends CHILD_DOWN; a brick restarted on the same
// port brings CHILD_UP, new fops succeed, and an fd opened before the crash works again.
func TestKillBrickUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns brick processes")
	}
	dir := t.TempDir()
	vol := writeBrickVolfile(t, dir, "")
	addr := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t))
	bp := startBrickProc(t, vol, addr)
	const pingTimeout = 2 * time.Second
	c, ev := newClient(t, addr, "epoll", nil)
	ev.wait(t, graph.EventChildUp, 10*time.Second)
	ctx := context.Background()

	// A file opened before the crash.
	keep := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	gfid := graph.NewGFID()
	if _, err := c.Create(ctx, graph.RootLoc().Child("kept"), unix.O_RDWR|unix.O_CREAT, 0o644, 0, keep, graph.Xdata{"gfid-req": gfid[:]}); err != nil {
		t.Fatal(err)
	}
	defer keep.Unref()

	const writers = 16
	data := bytes.Repeat([]byte{7}, 256<<10)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	killedAt := make(chan time.Time, 1)
	started := make(chan struct{}, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
			defer fd.Unref()
			if _, err := c.Create(ctx, graph.RootLoc().Child(fmt.Sprintf("w%d", i)), unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil); err != nil {
				errs <- fmt.Errorf("writer %d create: %w", i, err)
				return
			}
			started <- struct{}{}
			for off := int64(0); ; off += int64(len(data)) {
				if _, err := c.Writev(ctx, fd, data, off%(64<<20), 0, nil); err != nil {
					errs <- err
					return
				}
			}
		}(i)
	}
	for i := 0; i < writers; i++ {
		select {
		case <-started:
		case err := <-errs:
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	bp.kill9()
	killedAt <- time.Now()
	wg.Wait()
	elapsed := time.Since(<-killedAt)
	close(errs)
	n := 0
	for err := range errs {
		n++
		if !errors.Is(err, unix.ENOTCONN) {
			t.Errorf("in-flight writer error does not wrap ENOTCONN: %v", err)
		}
	}
	if n != writers {
		t.Fatalf("%d writers failed, want %d", n, writers)
	}
	if elapsed > pingTimeout {
		t.Errorf("writers failed %v after the kill, ping timeout %v", elapsed, pingTimeout)
	}
	ev.wait(t, graph.EventChildDown, pingTimeout)
	if _, _, err := c.Stat(ctx, graph.RootLoc(), nil); !errors.Is(err, unix.ENOTCONN) {
		t.Fatalf("stat while down: %v, want ENOTCONN", err)
	}

	startBrickProc(t, vol, addr)
	ev.wait(t, graph.EventChildUp, 10*time.Second)
	if _, _, err := c.Stat(ctx, graph.RootLoc(), nil); err != nil {
		t.Fatalf("stat after restart: %v", err)
	}
	// The fd opened before the crash was re-opened by gfid.
	if _, err := c.Writev(ctx, keep, []byte("after"), 0, 0, nil); err != nil {
		t.Fatalf("write on the fd opened before the crash: %v", err)
	}
	rr, err := c.Readv(ctx, keep, 5, 0, 0, nil)
	if err != nil || string(rr.Data) != "after" {
		t.Fatalf("read on the re-opened fd: %v %q", err, rr.Data)
	}
}

// TestFDLostIsEBADFD: an fd whose file is gone when the client reconnects fails with EBADFD.
func TestFDLostIsEBADFD(t *testing.T) {
	b := startBrick(t, "netconn", nil)
	addr := b.srv.Addr().String()
	c, ev := newClient(t, addr, "netconn", nil)
	ev.wait(t, graph.EventChildUp, 5*time.Second)
	ctx := context.Background()
	fd := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	defer fd.Unref()
	loc := graph.RootLoc().Child("gone")
	if _, err := c.Create(ctx, loc, unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd, nil); err != nil {
		t.Fatal(err)
	}
	// Remove the file behind the server's back... through another client, then break the link.
	c2, ev2 := newClient(t, addr, "netconn", nil)
	ev2.wait(t, graph.EventChildUp, 5*time.Second)
	if _, err := c2.Unlink(ctx, loc, 0, nil); err != nil {
		t.Fatal(err)
	}
	// Kill c's connection on the server side; the client reconnects and cannot re-open.
	for _, conn := range serverConns(b) {
		if conn.Info().RemoteAddr.String() != "" {
			_ = conn.Close()
		}
	}
	ev.wait(t, graph.EventChildDown, 5*time.Second)
	ev.wait(t, graph.EventChildUp, 5*time.Second)
	if _, err := c.Writev(ctx, fd, []byte("x"), 0, 0, nil); !errors.Is(err, unix.EBADFD) {
		t.Fatalf("write on a lost fd: %v, want EBADFD", err)
	}
}

func serverConns(b *brick) []*rpc.Conn { return b.srv.RPCServer().Conns() }

// TestDisconnectReleasesLocks: a client's locks and fds are released when its connection goes,
// so another client can take the lock.
func TestDisconnectReleasesLocks(t *testing.T) {
	b := startBrick(t, "epoll", nil)
	addr := b.srv.Addr().String()
	ctx := context.Background()
	c1, ev1 := newClient(t, addr, "epoll", nil)
	ev1.wait(t, graph.EventChildUp, 5*time.Second)
	c2, ev2 := newClient(t, addr, "epoll", nil)
	ev2.wait(t, graph.EventChildUp, 5*time.Second)
	loc := graph.RootLoc().Child("locked")
	gfid := graph.NewGFID()
	fd1 := graph.NewFD(nil, graph.GFID{}, unix.O_RDWR)
	if _, err := c1.Create(ctx, loc, unix.O_RDWR|unix.O_CREAT, 0o644, 0, fd1, graph.Xdata{"gfid-req": gfid[:]}); err != nil {
		t.Fatal(err)
	}
	defer fd1.Unref()
	loc.GFID = gfid
	fd2 := graph.NewFD(nil, gfid, unix.O_RDWR)
	defer fd2.Unref()
	if _, err := c2.Open(ctx, loc, unix.O_RDWR, fd2, nil); err != nil {
		t.Fatal(err)
	}
	ctx1 := graph.WithCreds(ctx, &graph.Creds{LkOwner: []byte("owner-1"), Pid: 1})
	ctx2 := graph.WithCreds(ctx, &graph.Creds{LkOwner: []byte("owner-2"), Pid: 2})
	wl := &graph.Flock{Type: graph.LockWrite, Start: 0, Len: 0}
	if _, _, err := c1.Lk(ctx1, fd1, graph.SetLk, wl, nil); err != nil {
		t.Fatalf("c1 lock: %v", err)
	}
	if _, err := c1.Inodelk(ctx1, "dom", loc, graph.SetLk, wl, nil); err != nil {
		t.Fatalf("c1 inodelk: %v", err)
	}
	if _, _, err := c2.Lk(ctx2, fd2, graph.SetLk, wl, nil); !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) {
		t.Fatalf("c2 lock while c1 holds it: %v, want EAGAIN", err)
	}
	fdsBefore := b.srv.OpenFDs()
	c1.Fini() // the connection goes; fd1 and the locks of c1 stay referenced on the client side
	waitFor(t, func() bool { return b.srv.OpenFDs() == fdsBefore-1 }, "the brick releases the gone client's fd")
	// The fd leaves the client's table before the release of its fds and locks has run (it
	// waits for the client's fops in flight first), so the locks become free shortly after.
	waitFor(t, func() bool {
		_, _, err := c2.Lk(ctx2, fd2, graph.SetLk, wl, nil)
		return err == nil
	}, "c2's posix lock after c1 disconnected")
	waitFor(t, func() bool {
		_, err := c2.Inodelk(ctx2, "dom", loc, graph.SetLk, wl, nil)
		return err == nil
	}, "c2's inodelk after c1 disconnected")
}

// rawConn speaks records on a plain TCP socket.
type rawConn struct {
	t *testing.T
	c net.Conn
}

func dialRaw(t *testing.T, addr string) *rawConn {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c}
}

func callRecord(xid, proc uint32, args []byte) []byte {
	var e proto.Encoder
	e.Uint32(0) // record mark, patched below
	e.Uint32(xid)
	e.Uint32(0) // CALL
	e.Uint32(2) // rpcvers
	e.Uint32(proto.Program)
	e.Uint32(proto.Version)
	e.Uint32(proc)
	e.Uint32(0) // AUTH_NONE
	e.Uint32(0)
	e.Uint32(0)
	e.Uint32(0)
	e.Buf = append(e.Buf, args...)
	binary.BigEndian.PutUint32(e.Buf, 0x80000000|uint32(len(e.Buf)-4))
	return e.Buf
}

// reply reads one reply record and returns its accept stat and results (or -1 if the
// connection closed).
func (r *rawConn) reply() (int, []byte) {
	_ = r.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	var mark [4]byte
	if _, err := io.ReadFull(r.c, mark[:]); err != nil {
		return -1, nil
	}
	n := binary.BigEndian.Uint32(mark[:]) & 0x7fffffff
	body := make([]byte, n)
	if _, err := io.ReadFull(r.c, body); err != nil {
		return -1, nil
	}
	d := proto.NewDecoder(body)
	d.Uint32()           // xid
	d.Uint32()           // REPLY
	if d.Uint32() != 0 { // MSG_DENIED
		return 100, nil
	}
	d.Uint32() // verf flavor
	d.Opaque(400)
	stat := d.Uint32()
	return int(stat), body[len(body)-d.Remaining():]
}

// TestMalformedInput: garbage on the brick port gets error replies or a closed connection, and
// a well-behaved client keeps being served meanwhile.
func TestMalformedInput(t *testing.T) {
	b := startBrick(t, "epoll", map[string]string{"auth.secret": "right"})
	addr := b.srv.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	good, ev := newClient(t, addr, "epoll", map[string]string{"auth.secret": "right"})
	ev.wait(t, graph.EventChildUp, 5*time.Second)
	var wg sync.WaitGroup
	var goodErr error
	goodOps := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if _, _, err := good.Stat(ctx, graph.RootLoc(), nil); err != nil && ctx.Err() == nil {
				goodErr = err
				return
			}
			goodOps++
		}
	}()

	// Fops before the handshake → EPERM in the fop reply.
	r := dialRaw(t, addr)
	var e proto.Encoder
	_ = proto.EncodeArgs(&e, graph.FopStat, &proto.Args{Loc: proto.Loc{GFID: graph.RootGFID}})
	_, _ = r.c.Write(callRecord(1, proto.ProcOf(graph.FopStat), e.Buf))
	stat, res := r.reply()
	var rep proto.Reply
	if stat != 0 || proto.DecodeReply(res, graph.FopStat, &rep) != nil || rep.Errno != uint32(unix.EPERM) {
		t.Fatalf("fop before handshake: stat %d errno %d", stat, rep.Errno)
	}
	// Unknown procedure → PROC_UNAVAIL (3); garbage arguments → GARBAGE_ARGS (4).
	_, _ = r.c.Write(callRecord(2, 9999, nil))
	if stat, _ := r.reply(); stat != 3 {
		t.Fatalf("unknown procedure: accept stat %d, want PROC_UNAVAIL", stat)
	}
	_, _ = r.c.Write(callRecord(3, proto.ProcOf(graph.FopWritev), []byte{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}))
	if stat, _ := r.reply(); stat != 4 {
		t.Fatalf("garbage args: accept stat %d, want GARBAGE_ARGS", stat)
	}
	// Bad secret → EACCES.
	ca := proto.ChallengeArgs{ClientID: "intruder"}
	e = proto.Encoder{}
	ca.Encode(&e)
	_, _ = r.c.Write(callRecord(4, proto.ProcChallenge, e.Buf))
	stat, res = r.reply()
	var cr proto.ChallengeReply
	if stat != 0 || cr.Decode(proto.NewDecoder(res)) != nil {
		t.Fatalf("challenge: %d", stat)
	}
	sa := proto.SetvolumeArgs{ClientID: "intruder", Volume: "brick-locks", Proof: proto.ClientProof([]byte("wrong"), cr.ServerNonce, ca.ClientNonce, "intruder", "brick-locks")}
	e = proto.Encoder{}
	sa.Encode(&e)
	_, _ = r.c.Write(callRecord(5, proto.ProcSetvolume, e.Buf))
	stat, res = r.reply()
	var sr proto.SetvolumeReply
	if stat != 0 || sr.Decode(proto.NewDecoder(res)) != nil || sr.Errno != uint32(unix.EACCES) {
		t.Fatalf("bad secret: stat %d errno %d", stat, sr.Errno)
	}
	// Huge record length → the connection is closed.
	h := dialRaw(t, addr)
	_, _ = h.c.Write([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3})
	if stat, _ := h.reply(); stat != -1 {
		t.Fatalf("huge record: got a reply %d, want a closed connection", stat)
	}
	// Truncated record, then the peer goes: nothing to answer, the server must not hang on it.
	tr := dialRaw(t, addr)
	rec := callRecord(6, proto.ProcPing, nil)
	_, _ = tr.c.Write(rec[:len(rec)-5])
	tr.c.Close()
	// Pure garbage.
	g := dialRaw(t, addr)
	_, _ = g.c.Write(bytes.Repeat([]byte{0x80, 0, 0, 8, 'g', 'a', 'r', 'b', 'a', 'g', 'e', '!'}, 10))
	for i := 0; i < 10; i++ {
		if stat, _ := g.reply(); stat == -1 {
			break
		}
	}

	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	if goodErr != nil {
		t.Fatalf("well-behaved client failed during the abuse: %v", goodErr)
	}
	if goodOps == 0 {
		t.Fatal("well-behaved client made no progress")
	}
	if _, _, err := good.Stat(context.Background(), graph.RootLoc(), nil); err != nil {
		t.Fatalf("well-behaved client after the abuse: %v", err)
	}
}

// TestHandshakeRefusals: wrong secret, unknown subvolume and auth.reject keep a client down.
func TestHandshakeRefusals(t *testing.T) {
	b := startBrick(t, "netconn", map[string]string{"auth.secret": "right"})
	addr := b.srv.Addr().String()
	for name, opts := range map[string]map[string]string{
		"wrong secret":   {"auth.secret": "wrong"},
		"no secret":      {},
		"unknown volume": {"auth.secret": "right", "remote-subvolume": "nope"},
	} {
		c, _ := newClient(t, addr, "netconn", opts)
		_, _, err := c.Stat(context.Background(), graph.RootLoc(), nil)
		if !errors.Is(err, unix.ENOTCONN) {
			t.Errorf("%s: stat = %v, want ENOTCONN", name, err)
		}
		if c.Connected() {
			t.Errorf("%s: client connected", name)
		}
	}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("right\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok, okEv := newClient(t, addr, "netconn", map[string]string{"auth.secret-file": secretFile})
	okEv.wait(t, graph.EventChildUp, 5*time.Second)
	if _, _, err := ok.Stat(context.Background(), graph.RootLoc(), nil); err != nil {
		t.Errorf("client with auth.secret-file: %v", err)
	}
	rb := startBrick(t, "netconn", map[string]string{"auth.reject": "127.0.0.0/8"})
	c, _ := newClient(t, rb.srv.Addr().String(), "netconn", nil)
	if _, _, err := c.Stat(context.Background(), graph.RootLoc(), nil); !errors.Is(err, unix.ENOTCONN) {
		t.Errorf("rejected address: stat = %v, want ENOTCONN", err)
	}
}

// TestPingTimeoutOnHungBrick: a brick that stops answering (SIGSTOP) is disconnected after the
// ping timeout: the call in flight fails with ENOTCONN and CHILD_DOWN is sent; after SIGCONT
// the client reconnects.
func TestPingTimeoutOnHungBrick(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a brick process")
	}
	dir := t.TempDir()
	vol := writeBrickVolfile(t, dir, "")
	addr := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t))
	bp := startBrickProc(t, vol, addr)
	const pingTimeout = time.Second
	c, ev := newClient(t, addr, "netconn", map[string]string{"network.ping-timeout": "1s"})
	ev.wait(t, graph.EventChildUp, 10*time.Second)
	if err := bp.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer bp.cmd.Process.Signal(syscall.SIGCONT)
	waitFor(t, func() bool { return procState(bp.cmd.Process.Pid) == 'T' }, "the brick is stopped")
	start := time.Now()
	_, _, err := c.Stat(context.Background(), graph.RootLoc(), nil)
	took := time.Since(start)
	if !errors.Is(err, unix.ENOTCONN) {
		t.Fatalf("stat on a hung brick: %v, want ENOTCONN", err)
	}
	if took > pingTimeout+500*time.Millisecond {
		t.Errorf("stat on a hung brick failed after %v, ping timeout %v", took, pingTimeout)
	}
	ev.wait(t, graph.EventChildDown, time.Second)
	_ = bp.cmd.Process.Signal(syscall.SIGCONT)
	ev.wait(t, graph.EventChildUp, 10*time.Second)
	if _, _, err := c.Stat(context.Background(), graph.RootLoc(), nil); err != nil {
		t.Fatalf("stat after SIGCONT: %v", err)
	}
}

// procState returns the state letter of a process from /proc/PID/stat ('T' when stopped).
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}
