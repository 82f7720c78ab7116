package server

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/weftfs/weft/gateway/nlm"
	"github.com/weftfs/weft/gateway/nsm"
	"github.com/weftfs/weft/gateway/portmap"
	"github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph/rpc"
)

// ServeUDP serves NLM (versions 1, 3 and 4) and NSM (version 1) over UDP too, on the same port
// numbers as their TCP listeners, and maps them (protocol 17) in the port mapper the gateway
// uses. Linux's rpc.statd sends SM_NOTIFY over UDP, and its lockd may call NLM over UDP (XNFS
// chapter 10 defines NLM over both; RFC 1833 maps each protocol separately). Calls over UDP
// are the same calls as over TCP: one datagram each (UDPTransport), answered by the same
// handlers, so a client's locks are the same whichever way its calls come.
//
// StartLocking calls it once, after the TCP listeners; the UDP listeners close with the gateway
// (Gateway.Close) and the rpcbind mappings go with Locking.Close. It returns the UDP addresses
// of NLM and NSM; a second call returns the addresses of the first.
func (l *Locking) ServeUDP(ctx context.Context) (nlmAddr, nsmAddr net.Addr, err error) {
	l.udpOnce.Do(func() { l.nlmUDP, l.nsmUDP, l.udpErr = l.serveUDP(ctx) })
	return l.nlmUDP, l.nsmUDP, l.udpErr
}

func (l *Locking) serveUDP(ctx context.Context) (nlmAddr, nsmAddr net.Addr, err error) {
	g := l.g
	registerNLM(g.udp, l.NLM)
	l.NSM.Register(g.udp)
	host := g.cfg.Listen
	listen := func(what string, tcp net.Addr) (net.Addr, error) {
		p := strconv.Itoa(tcp.(*net.TCPAddr).Port)
		a, err := g.udp.Listen("udp", net.JoinHostPort(host, p))
		if err != nil {
			return nil, fmt.Errorf("gateway: %s over UDP on port %s: %w", what, p, err)
		}
		return a, nil
	}
	if nlmAddr, err = listen("NLM", l.nlmAddr); err != nil {
		return nil, nil, err
	}
	if nsmAddr, err = listen("NSM", l.nsmAddr); err != nil {
		return nlmAddr, nil, err
	}
	np, sp := uint32(nlmAddr.(*net.UDPAddr).Port), uint32(nsmAddr.(*net.UDPAddr).Port)
	ms := []portmap.Mapping{
		{Prog: nlm.Program, Vers: nlm.V1, Prot: portmap.ProtoUDP, Port: np},
		{Prog: nlm.Program, Vers: nlm.V3, Prot: portmap.ProtoUDP, Port: np},
		{Prog: nlm.Program, Vers: nlm.V4, Prot: portmap.ProtoUDP, Port: np},
		{Prog: nsm.Program, Vers: nsm.Version, Prot: portmap.ProtoUDP, Port: sp},
	}
	if err := l.mapUDP(ctx, ms); err != nil {
		g.log.Warn("lock protocols over UDP not registered with the port mapper", zap.Error(err))
	}
	g.log.Info("lock protocols served over UDP", zap.Stringer("nlm-udp", nlmAddr), zap.Stringer("nsm-udp", nsmAddr))
	return nlmAddr, nsmAddr, nil
}

// mapUDP sets the UDP mappings in the embedded port mapper, or in the system's rpcbind (SET
// only: StartLocking already cleared these program versions with UNSET, which removes every
// protocol, and set their TCP mappings).
func (l *Locking) mapUDP(ctx context.Context, ms []portmap.Mapping) error {
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
		res, err := cl.Call(dctx, portmap.Program, portmap.Version, portmap.ProcSet, m.Encode(), rpc.NoAuth)
		if err != nil {
			return err
		}
		if !xdr.NewReader(res).Bool() {
			return fmt.Errorf("port mapper at %s refused SET %d/%d over UDP", g.rpcbind, m.Prog, m.Vers)
		}
		l.registered = append(l.registered, m)
	}
	return nil
}
