package nsm_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/weftfs/weft/gateway/nsm"
	"github.com/weftfs/weft/gateway/portmap"
	gxdr "github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph/rpc"
)

var transport = rpc.NetTransport()

func serve(t *testing.T, reg func(*rpc.Server)) int {
	t.Helper()
	srv := rpc.NewServer(rpc.ServerOptions{Transport: transport})
	reg(srv)
	a, err := srv.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return a.(*net.TCPAddr).Port
}

// peer is a remote machine: a port mapper and a program that records the calls it gets.
type peer struct {
	pm     *portmap.Server
	pmPort int
	mu     sync.Mutex
	calls  [][]byte
	got    chan struct{}
}

func newPeer(t *testing.T, prog, vers uint32) *peer {
	p := &peer{pm: portmap.NewServer(), got: make(chan struct{}, 16)}
	p.pmPort = serve(t, func(s *rpc.Server) {
		s.Register(portmap.Program, portmap.Version, rpc.HandlerFunc(func(ctx context.Context, c *rpc.Call, r *rpc.Reply) rpc.AcceptStat {
			w := gxdr.NewWriter(nil)
			if err := p.pm.Dispatch(c.Proc, c.Args, netip.MustParseAddrPort("127.0.0.1:1"), w); err != nil {
				return rpc.GarbageArgs
			}
			_, _ = r.Write(w.Bytes())
			return rpc.Success
		}))
	})
	port := serve(t, func(s *rpc.Server) {
		s.Register(prog, vers, rpc.HandlerFunc(func(ctx context.Context, c *rpc.Call, r *rpc.Reply) rpc.AcceptStat {
			p.mu.Lock()
			p.calls = append(p.calls, append([]byte{byte(c.Proc)}, c.Args...))
			p.mu.Unlock()
			p.got <- struct{}{}
			return rpc.Success
		}))
	})
	p.pm.Set(portmap.Mapping{Prog: prog, Vers: vers, Prot: portmap.ProtoTCP, Port: uint32(port)})
	return p
}

func open(t *testing.T, dir string, pmPort int) *nsm.Server {
	t.Helper()
	s, err := nsm.Open(nsm.Config{Dir: dir, Hostname: "gw1", PortmapPort: pmPort, NotifyFor: time.Second, CallTimeout: time.Second, Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestStatePersistsAndNotifiesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	p := newPeer(t, nsm.Program, nsm.Version)
	s1 := open(t, dir, p.pmPort)
	if s1.State() != 1 || len(s1.Previous()) != 0 {
		t.Fatalf("first start: state %d previous %v", s1.State(), s1.Previous())
	}
	lo := netip.MustParseAddr("127.0.0.1")
	for _, h := range []string{"client1", "client with spaces/and slash", "gone"} {
		if err := s1.Monitor(h, lo); err != nil {
			t.Fatal(err)
		}
	}
	if err := s1.Unmonitor("gone"); err != nil {
		t.Fatal(err)
	}
	hs, err := s1.Monitored()
	if err != nil || len(hs) != 2 {
		t.Fatalf("monitored %v %v", hs, err)
	}
	// A corrupt record is skipped, not fatal.
	if err := os.WriteFile(filepath.Join(dir, "sm", "junk"), []byte("\x00\x01"), 0o600); err != nil {
		t.Fatal(err)
	}
	s1.Close()

	s2 := open(t, dir, p.pmPort)
	if s2.State() != 3 {
		t.Fatalf("state after restart %d, want 3", s2.State())
	}
	b, _ := os.ReadFile(filepath.Join(dir, "state"))
	if string(b) != "3\n" {
		t.Fatalf("state file %q", b)
	}
	if prev := s2.Previous(); len(prev) != 2 || prev[0].Name != "client with spaces/and slash" || prev[1].Name != "client1" || prev[1].Addr != lo {
		t.Fatalf("previous %v", prev)
	}
	if n := s2.NotifyAll(t.Context()); n != 2 {
		t.Fatalf("notified %d", n)
	}
	p.mu.Lock()
	calls := p.calls
	p.mu.Unlock()
	if len(calls) != 2 {
		t.Fatalf("%d SM_NOTIFY calls", len(calls))
	}
	for _, c := range calls {
		sc, err := nsm.DecodeStatChge(c[1:])
		if c[0] != nsm.ProcNotify || err != nil || sc.MonName != "gw1" || sc.State != 3 {
			t.Fatalf("call %d %+v %v", c[0], sc, err)
		}
	}
	s2.Close()
	// Notified hosts are off the list: the next start has nobody to notify.
	s3 := open(t, dir, p.pmPort)
	if s3.State() != 5 || len(s3.Previous()) != 0 {
		t.Fatalf("third start: state %d previous %v", s3.State(), s3.Previous())
	}
}

func TestUnreachableHostIsDroppedAfterNotifyFor(t *testing.T) {
	dir := t.TempDir()
	s1 := open(t, dir, 1) // nothing listens on port 1
	if err := s1.Monitor("ghost", netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	s2 := open(t, dir, 1)
	start := time.Now()
	if n := s2.NotifyAll(t.Context()); n != 0 {
		t.Fatalf("notified %d", n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("NotifyAll took %v with NotifyFor 1s", d)
	}
	s2.Close()
	if s3 := open(t, dir, 1); len(s3.Previous()) != 0 {
		t.Fatalf("ghost kept: %v", s3.Previous())
	}
}

func call(t *testing.T, port int, proc uint32, args []byte) ([]byte, error) {
	cl, err := rpc.Dial(t.Context(), "tcp", "127.0.0.1:"+strconv.Itoa(port), &rpc.ClientOptions{Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return cl.Call(ctx, nsm.Program, nsm.Version, proc, args, rpc.NoAuth)
}

func TestProceduresAndCallbacks(t *testing.T) {
	const cbProg, cbVers, cbProc = 200100, 1, 16
	p := newPeer(t, cbProg, cbVers)
	s := open(t, t.TempDir(), p.pmPort)
	var mu sync.Mutex
	var seen []string
	s.SetObserver(func(name string, state int32) {
		mu.Lock()
		seen = append(seen, name+"/"+strconv.Itoa(int(state)))
		mu.Unlock()
	})
	port := serve(t, s.Register)

	res, err := call(t, port, nsm.ProcStat, nsm.AppendSmName(nil, "anyone"))
	if st, state, derr := nsm.DecodeStatRes(res); err != nil || derr != nil || st != nsm.StatSucc || state != s.State() {
		t.Fatalf("SM_STAT: %v %v %v %d", err, derr, st, state)
	}
	mon := nsm.Mon{ID: nsm.MonID{MonName: "client9", MyID: nsm.MyID{Name: "127.0.0.1", Prog: cbProg, Vers: cbVers, Proc: cbProc}}}
	copy(mon.Priv[:], "private-cookie!!")
	res, err = call(t, port, nsm.ProcMon, nsm.AppendMon(nil, &mon))
	if st, _, derr := nsm.DecodeStatRes(res); err != nil || derr != nil || st != nsm.StatSucc {
		t.Fatalf("SM_MON: %v %v %v", err, derr, st)
	}
	if hs, _ := s.Monitored(); len(hs) != 1 || hs[0].Name != "client9" {
		t.Fatalf("monitored %v", hs)
	}
	if _, err := call(t, port, nsm.ProcNotify, nsm.AppendStatChge(nil, &nsm.StatChge{MonName: "CLIENT9", State: 11})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.got:
	case <-time.After(5 * time.Second):
		t.Fatal("no callback to my_id")
	}
	p.mu.Lock()
	c := p.calls[0]
	p.mu.Unlock()
	st, err := nsm.DecodeStatus(c[1:])
	if c[0] != cbProc || err != nil || st.MonName != "CLIENT9" || st.State != 11 || string(st.Priv[:]) != "private-cookie!!" {
		t.Fatalf("callback %d %+v %v", c[0], st, err)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0] != "CLIENT9/11" {
		t.Fatalf("observer saw %v", seen)
	}
	mu.Unlock()
	res, err = call(t, port, nsm.ProcUnmon, nsm.AppendMonID(nil, &mon.ID))
	if err != nil || len(res) != 4 {
		t.Fatalf("SM_UNMON %v %x", err, res)
	}
	if hs, _ := s.Monitored(); len(hs) != 0 {
		t.Fatalf("monitored after UNMON %v", hs)
	}
	if _, err := call(t, port, nsm.ProcMon, nsm.AppendMon(nil, &mon)); err != nil {
		t.Fatal(err)
	}
	if _, err := call(t, port, nsm.ProcUnmonAll, nsm.AppendMyID(nil, &mon.ID.MyID)); err != nil {
		t.Fatal(err)
	}
	if hs, _ := s.Monitored(); len(hs) != 0 {
		t.Fatalf("monitored after UNMON_ALL %v", hs)
	}
	before := s.State()
	if _, err := call(t, port, nsm.ProcSimuCrash, nil); err != nil {
		t.Fatal(err)
	}
	if s.State() != before+2 {
		t.Fatalf("state %d after SIMU_CRASH from %d", s.State(), before)
	}
}

func TestMalformed(t *testing.T) {
	s := open(t, t.TempDir(), 1)
	port := serve(t, s.Register)
	for _, proc := range []uint32{nsm.ProcStat, nsm.ProcMon, nsm.ProcUnmon, nsm.ProcUnmonAll, nsm.ProcSimuCrash, nsm.ProcNotify} {
		for _, body := range [][]byte{{1}, {0xff, 0xff, 0xff, 0xff}, append(nsm.AppendStatChge(nil, &nsm.StatChge{MonName: "x"}), 1, 2, 3, 4)} {
			_, err := call(t, port, proc, body)
			var e *rpc.Error
			if !errors.As(err, &e) || e.Accept != rpc.GarbageArgs {
				t.Errorf("proc %d body %x: %v, want GARBAGE_ARGS", proc, body, err)
			}
		}
	}
	if _, err := call(t, port, 7, nil); !errors.Is(err, errProcUnavail(err)) {
		t.Errorf("proc 7: %v", err)
	}
	if _, err := call(t, port, nsm.ProcNull, nil); err != nil {
		t.Fatal(err)
	}
}

func errProcUnavail(err error) error {
	var e *rpc.Error
	if errors.As(err, &e) && e.Accept == rpc.ProcUnavail {
		return err
	}
	return errors.New("not PROC_UNAVAIL")
}

func TestOpenErrors(t *testing.T) {
	if _, err := nsm.Open(nsm.Config{}); err == nil {
		t.Fatal("no dir accepted")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "state"), []byte("banana"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := nsm.Open(nsm.Config{Dir: dir, Hostname: "h"}); err == nil {
		t.Fatal("corrupt state accepted")
	}
	if _, err := nsm.Open(nsm.Config{Dir: t.TempDir(), Hostname: "h", PortmapPort: 70000}); err == nil {
		t.Fatal("bad port accepted")
	}
}
