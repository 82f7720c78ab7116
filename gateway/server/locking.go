package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/gateway/nlm"
	"github.com/weftfs/weft/gateway/nsm"
	"github.com/weftfs/weft/gateway/portmap"
	"github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph/rpc"
)

// Fixed default ports of the lock protocols, so that they can be forwarded and firewalled
// (the values Red Hat documents for lockd and statd).
const (
	DefaultNLMPort = 32803
	DefaultNSMPort = 32765
)

// LockingConfig configures the NFSv3 lock protocols (NLM and NSM) of a gateway.
type LockingConfig struct {
	StateDir string // the NSM state directory (required; e.g. <gateway state>/nsm)
	NLMPort  int    // 0: DefaultNLMPort; -1: ephemeral
	NSMPort  int    // 0: DefaultNSMPort; -1: ephemeral
	// Grace is the NLM grace period after a restart (0: nlm.DefaultGrace, negative: none); it
	// runs only when clients held locks before the restart, or always with GraceAlways.
	Grace       time.Duration
	GraceAlways bool
	Hostname    string // our name in SM_NOTIFY and GRANTED; default os.Hostname()
	// ClientPortmapPort is the port of the clients' port mappers (GRANTED callbacks,
	// SM_NOTIFY after a restart); default 111.
	ClientPortmapPort int
}

// Locking is the running NLM and NSM of a gateway.
type Locking struct {
	NLM *nlm.Server
	NSM *nsm.Server

	g                *Gateway
	nlmAddr, nsmAddr net.Addr
	registered       []portmap.Mapping // with the system rpcbind
	cancel           context.CancelFunc
	done             chan struct{}
	udpOnce          sync.Once // ServeUDP
	nlmUDP, nsmUDP   net.Addr
	udpErr           error
}

// StartLocking serves NLM (versions 1, 3, 4) and NSM (version 1) on the gateway's RPC server,
// on their own listeners (and on the gateway's other ports too, as every program is), maps
// them in the port mapper the gateway uses (embedded or the system's rpcbind), and notifies in
// the background the hosts that held locks before this start. Call it once, after Start;
// call Close when the gateway stops.
func (g *Gateway) StartLocking(ctx context.Context, lc LockingConfig) (*Locking, error) {
	if lc.StateDir == "" {
		return nil, errors.New("gateway: locking: a state directory is required")
	}
	// One NLM for every volume: its handles are decoded whatever volume they name, and its fops
	// go to the graph of that volume (lockTop, nlmHandler).
	codec, err := handle.NewAnyVolumeCodec(g.cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("gateway: locking: %w", err)
	}
	ns, err := nsm.Open(nsm.Config{Dir: lc.StateDir, Hostname: lc.Hostname, PortmapPort: lc.ClientPortmapPort,
		Transport: g.cfg.Transport, Log: g.log.Named("nsm")})
	if err != nil {
		return nil, fmt.Errorf("gateway: locking: %w", err)
	}
	ls, err := nlm.New(nlm.Config{Top: &routedTop{r: &lockTop{g: g}}, Handles: codec, NSM: ns, Grace: lc.Grace, GraceAlways: lc.GraceAlways,
		Hostname: lc.Hostname, PortmapPort: lc.ClientPortmapPort, Transport: g.cfg.Transport, Log: g.log.Named("nlm")})
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("gateway: locking: %w", err)
	}
	l := &Locking{NLM: ls, NSM: ns, g: g, done: make(chan struct{})}
	fail := func(err error) (*Locking, error) {
		ls.Close()
		ns.Close()
		return nil, err
	}
	if l.nlmAddr, err = g.rpc.Listen("tcp", net.JoinHostPort(g.cfg.Listen, port(lc.NLMPort, DefaultNLMPort))); err != nil {
		return fail(fmt.Errorf("gateway: NLM listener (--nlm-port): %w", err))
	}
	if l.nsmAddr, err = g.rpc.Listen("tcp", net.JoinHostPort(g.cfg.Listen, port(lc.NSMPort, DefaultNSMPort))); err != nil {
		return fail(fmt.Errorf("gateway: NSM listener (--nsm-port): %w", err))
	}
	registerNLM(g.rpc, ls)
	ns.Register(g.rpc)
	if err := l.mapPorts(ctx); err != nil {
		g.log.Warn("lock protocols not registered with the port mapper; clients must be given the ports", zap.Error(err))
	}
	// Over UDP too: Linux's rpc.statd sends SM_NOTIFY by UDP, and lockd may call NLM by UDP.
	if _, _, err := l.ServeUDP(ctx); err != nil {
		g.log.Warn("lock protocols not served over UDP", zap.Error(err))
	}
	var nctx context.Context
	nctx, l.cancel = context.WithCancel(context.Background())
	go func() {
		defer close(l.done)
		if n := len(ns.Previous()); n > 0 {
			ok := ns.NotifyAll(nctx)
			g.log.Info("restart notifications sent", zap.Int("hosts", n), zap.Int("answered", ok))
		}
	}()
	g.log.Info("lock protocols started", zap.Stringer("nlm", l.nlmAddr), zap.Stringer("nsm", l.nsmAddr),
		zap.Int32("nsm state", ns.State()), zap.Bool("grace", ls.InGrace()))
	return l, nil
}

func (l *Locking) mappings() []portmap.Mapping {
	return lockMappings(portmap.ProtoTCP, l.nlmAddr.(*net.TCPAddr).Port, l.nsmAddr.(*net.TCPAddr).Port)
}

// lockMappings are the port mappings of the lock protocols over prot: NLM versions 1, 3 and 4
// on nlmPort, NSM on nsmPort.
func lockMappings(prot uint32, nlmPort, nsmPort int) []portmap.Mapping {
	np, sp := uint32(nlmPort), uint32(nsmPort)
	return []portmap.Mapping{
		{Prog: nlm.Program, Vers: nlm.V1, Prot: prot, Port: np},
		{Prog: nlm.Program, Vers: nlm.V3, Prot: prot, Port: np},
		{Prog: nlm.Program, Vers: nlm.V4, Prot: prot, Port: np},
		{Prog: nsm.Program, Vers: nsm.Version, Prot: prot, Port: sp},
	}
}

// mapPorts sets the TCP mappings in the embedded port mapper, or in the system's rpcbind the
// gateway registered with (RFC 1833 §3.2 UNSET then SET).
func (l *Locking) mapPorts(ctx context.Context) error { return l.setMappings(ctx, l.mappings(), true) }

// setMappings sets ms in the embedded port mapper, or in the system's rpcbind (RFC 1833 §3.2
// SET, after UNSET when unset is true: UNSET removes a program version's mappings for every
// protocol), recording each mapping rpcbind took so that Close can remove it.
func (l *Locking) setMappings(ctx context.Context, ms []portmap.Mapping, unset bool) error {
	g := l.g
	if g.pm != nil {
		for _, m := range ms {
			g.pm.Set(m)
		}
		return nil
	}
	if g.rpcbind == "" {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cl, err := rpc.Dial(dctx, "tcp", g.rpcbind, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, m := range ms {
		if unset {
			if _, err := cl.Call(dctx, portmap.Program, portmap.Version, portmap.ProcUnset, m.Encode(), rpc.NoAuth); err != nil {
				return err
			}
		}
		res, err := cl.Call(dctx, portmap.Program, portmap.Version, portmap.ProcSet, m.Encode(), rpc.NoAuth)
		if err != nil {
			return err
		}
		if !xdr.NewReader(res).Bool() {
			return fmt.Errorf("port mapper at %s refused SET %d/%d/%s", g.rpcbind, m.Prog, m.Vers, protoName(m.Prot))
		}
		l.registered = append(l.registered, m)
	}
	return nil
}

func protoName(p uint32) string {
	if p == portmap.ProtoUDP {
		return "udp"
	}
	return "tcp"
}

// NLMAddr returns the NLM listener's address.
func (l *Locking) NLMAddr() net.Addr { return l.nlmAddr }

// NSMAddr returns the NSM listener's address.
func (l *Locking) NSMAddr() net.Addr { return l.nsmAddr }

// Close stops notifications, cancels blocked lock requests, releases the locks taken through
// this gateway (closing its FDs; the hosts stay recorded, so they are told to reclaim after the
// next start) and removes the mappings from the system rpcbind. Call it after Gateway.Close.
func (l *Locking) Close() {
	l.cancel()
	<-l.done
	l.NLM.Close()
	l.NSM.Close()
	if len(l.registered) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cl, err := rpc.Dial(ctx, "tcp", l.g.rpcbind, nil)
	if err != nil {
		return
	}
	defer cl.Close()
	for _, m := range l.registered {
		_, _ = cl.Call(ctx, portmap.Program, portmap.Version, portmap.ProcUnset, m.Encode(), rpc.NoAuth)
	}
}
