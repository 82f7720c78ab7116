package server

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"go.uber.org/zap"

	"github.com/weftfs/weft/gateway/portmap"
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
	ms := lockMappings(portmap.ProtoUDP, nlmAddr.(*net.UDPAddr).Port, nsmAddr.(*net.UDPAddr).Port)
	// SET only: StartLocking already cleared these program versions with UNSET (which removes
	// every protocol) and set their TCP mappings.
	if err := l.setMappings(ctx, ms, false); err != nil {
		g.log.Warn("lock protocols over UDP not registered with the port mapper", zap.Error(err))
	}
	g.log.Info("lock protocols served over UDP", zap.Stringer("nlm-udp", nlmAddr), zap.Stringer("nsm-udp", nsmAddr))
	return nlmAddr, nsmAddr, nil
}
