package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/gateway/drc"
	"github.com/weftfs/weft/gateway/export"
	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/gateway/mount"
	"github.com/weftfs/weft/gateway/nfs3"
	"github.com/weftfs/weft/gateway/nfsstat"
	"github.com/weftfs/weft/gateway/portmap"
	"github.com/weftfs/weft/gateway/xdr"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/rpc"
	"go.uber.org/zap"
)

// Config configures a gateway. A gateway serves the volumes SetVolumes gives it (each from a
// volfile, its graph switched live on changes) and, when Top is set, one static volume over a
// graph the caller built and tears down.
type Config struct {
	Top      graph.Xlator           // optional: the top of an activated client graph (a static volume)
	Volume   string                 // the static volume's name (required with Top)
	VolumeID handle.VolumeID        // zero: derived from Volume
	Secret   []byte                 // the cluster secret for handle MACs (≥ 16 bytes)
	Exports  *configs.ExportsConfig // the static volume's exports; nil: /Volume to every client
	Listen   string                 // host to listen on ("" = all addresses)

	// UpTimeout bounds the wait for a new graph's bricks before its volume is served (0: the
	// graph's longest network.ping-timeout, or 10s).
	UpTimeout time.Duration
	// DrainTimeout bounds the wait for an old graph's fops when it is replaced or its volume
	// removed (default 30s); it is finalised in the background after that, once drained.
	DrainTimeout time.Duration

	NFSPort     int  // default 2049; -1: ephemeral
	MountPort   int  // 0 or -1: ephemeral
	PortmapPort int  // default 111; -1: ephemeral
	NoPortmap   bool // neither embed a port mapper nor register with rpcbind

	Log        *zap.Logger
	Registerer prometheus.Registerer // nil: metrics are not registered
	Transport  rpc.Transport         // nil: rpc.DefaultTransport()
	DRCSize    int                   // completed replies kept (default 8192)
	FDIdle     time.Duration         // idle expiry of cached FDs (default 10s)
	Verf       *[8]byte              // NFS write verifier; random when nil
}

// Gateway is a running gateway.
type Gateway struct {
	cfg     Config
	log     *zap.Logger
	rpc     *rpc.Server
	udp     *rpc.Server // portmap and MOUNT over UDP (rpcinfo, showmount)
	nfs     *nfs3.Server
	mnt     *mount.Server
	pm      *portmap.Server // embedded port mapper (nil when rpcbind is used or disabled)
	drc     *drc.Cache
	metrics *metrics

	nfsAddr, mountAddr, pmAddr net.Addr
	mountUDPAddr, pmUDPAddr    net.Addr // nil when UDP could not be served
	rpcbind                    string   // address of the system rpcbind we registered with
	registered                 []portmap.Mapping

	volMu sync.Mutex // serialises SetVolumes and Close
	vols  atomic.Pointer[map[string]*volume]
	exps  atomic.Pointer[export.Table]

	closeOnce sync.Once
}

func port(p, def int) string {
	switch {
	case p == 0:
		p = def
	case p < 0:
		p = 0
	}
	return strconv.Itoa(p)
}

// Start builds the protocol servers and starts listening; add volumes with SetVolumes.
func Start(ctx context.Context, cfg Config) (*Gateway, error) {
	if len(cfg.Secret) < 16 {
		return nil, errors.New("gateway: a cluster secret of at least 16 bytes is required")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	g := &Gateway{cfg: cfg, log: cfg.Log, drc: drc.New(cfg.DRCSize)}
	vols := map[string]*volume{}
	if cfg.Top != nil {
		if cfg.Volume == "" {
			return nil, errors.New("gateway: Volume is required with Top")
		}
		if cfg.VolumeID == (handle.VolumeID{}) {
			cfg.VolumeID = handle.VolumeIDFromName(cfg.Volume)
		}
		if cfg.Exports == nil {
			cfg.Exports = configs.DefaultExports([]string{"/" + cfg.Volume})
		}
		codec, err := handle.NewCodec(cfg.VolumeID, cfg.Secret)
		if err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		served := 0
		for _, e := range cfg.Exports.Exports {
			vol := e.Volume
			if vol == "" {
				vol = strings.SplitN(strings.TrimPrefix(path.Clean(e.Path), "/"), "/", 2)[0]
			}
			if vol == cfg.Volume {
				served++
			}
		}
		if served == 0 {
			return nil, fmt.Errorf("gateway: no export of volume %s", cfg.Volume)
		}
		v := &volume{name: cfg.Volume, id: cfg.VolumeID, codec: codec, top: cfg.Top, gw: g,
			ready: make(chan struct{}), log: cfg.Log.With(zap.String("volume", cfg.Volume))}
		v.markReady()
		vols[cfg.Volume] = v
	}
	g.cfg = cfg
	g.vols.Store(&vols)
	tab, err := g.table(vols)
	if err != nil {
		return nil, fmt.Errorf("gateway: exports: %w", err)
	}
	g.exps.Store(tab)
	ns, err := nfs3.New(nfs3.Config{Exports: tab, Log: cfg.Log.Named("nfs3"), FDIdle: cfg.FDIdle, Verf: cfg.Verf})
	if err != nil {
		return nil, err
	}
	for _, v := range vols {
		if err := ns.AddVolume(v.name, v.top, v.codec); err != nil {
			return nil, err
		}
	}
	g.nfs = ns
	g.mnt = mount.NewSource(g)
	g.metrics = newMetrics(cfg.Registerer, g.drc)
	g.rpc = rpc.NewServer(rpc.ServerOptions{Transport: cfg.Transport, MaxRecordSize: 4 << 20})
	g.rpc.Register(nfs3.Program, nfs3.Version, rpc.HandlerFunc(g.serveNFS))
	g.rpc.Register(mount.Program, mount.V3, rpc.HandlerFunc(g.serveMount))
	g.rpc.Register(mount.Program, mount.V1, rpc.HandlerFunc(g.serveMount))

	g.udp = rpc.NewServer(rpc.ServerOptions{Transport: UDPTransport(), MaxRecordSize: 1 << 16, Workers: 16})
	g.udp.Register(mount.Program, mount.V3, rpc.HandlerFunc(g.serveMount))
	g.udp.Register(mount.Program, mount.V1, rpc.HandlerFunc(g.serveMount))

	fail := func(err error) (*Gateway, error) {
		_ = g.rpc.Close()
		_ = g.udp.Close()
		ns.Close()
		return nil, err
	}
	host := cfg.Listen
	if g.nfsAddr, err = g.rpc.Listen("tcp", net.JoinHostPort(host, port(cfg.NFSPort, 2049))); err != nil {
		return fail(fmt.Errorf("gateway: NFS listener: %w", err))
	}
	if g.mountAddr, err = g.rpc.Listen("tcp", net.JoinHostPort(host, port(cfg.MountPort, 0))); err != nil {
		return fail(fmt.Errorf("gateway: MOUNT listener: %w", err))
	}
	// MOUNT over UDP on the same port number (showmount and older mount tools use it).
	mp := strconv.Itoa(g.mountAddr.(*net.TCPAddr).Port)
	if g.mountUDPAddr, err = g.udp.Listen("udp", net.JoinHostPort(host, mp)); err != nil {
		g.log.Warn("MOUNT not served over UDP", zap.Error(err))
		g.mountUDPAddr = nil
	}
	if !cfg.NoPortmap {
		if err := g.setupPortmap(ctx, host); err != nil {
			return fail(err)
		}
	}
	fields := []zap.Field{zap.Strings("volumes", g.Volumes()), zap.Stringer("nfs", g.nfsAddr), zap.Stringer("mount", g.mountAddr)}
	if g.mountUDPAddr != nil {
		fields = append(fields, zap.Stringer("mount-udp", g.mountUDPAddr))
	}
	if g.pmAddr != nil {
		fields = append(fields, zap.Stringer("portmap", g.pmAddr))
	}
	if g.pmUDPAddr != nil {
		fields = append(fields, zap.Stringer("portmap-udp", g.pmUDPAddr))
	}
	g.log.Info("gateway started", fields...)
	return g, nil
}

// mappings are the registrations of the gateway's programs: NFS on TCP, MOUNT on TCP and,
// when served there, UDP.
func (g *Gateway) mappings() []portmap.Mapping {
	np := uint32(g.nfsAddr.(*net.TCPAddr).Port)
	mp := uint32(g.mountAddr.(*net.TCPAddr).Port)
	ms := []portmap.Mapping{
		{Prog: nfs3.Program, Vers: nfs3.Version, Prot: portmap.ProtoTCP, Port: np},
		{Prog: mount.Program, Vers: mount.V1, Prot: portmap.ProtoTCP, Port: mp},
		{Prog: mount.Program, Vers: mount.V3, Prot: portmap.ProtoTCP, Port: mp},
	}
	if g.mountUDPAddr != nil {
		up := uint32(g.mountUDPAddr.(*net.UDPAddr).Port)
		ms = append(ms,
			portmap.Mapping{Prog: mount.Program, Vers: mount.V1, Prot: portmap.ProtoUDP, Port: up},
			portmap.Mapping{Prog: mount.Program, Vers: mount.V3, Prot: portmap.ProtoUDP, Port: up})
	}
	return ms
}

// setupPortmap registers with a port mapper already listening on the portmap port (the
// system's rpcbind), or else embeds one there.
func (g *Gateway) setupPortmap(ctx context.Context, host string) error {
	pmHost := host
	if pmHost == "" || pmHost == "0.0.0.0" || pmHost == "::" {
		pmHost = "127.0.0.1"
	}
	p := port(g.cfg.PortmapPort, 111)
	if p != "0" {
		addr := net.JoinHostPort(pmHost, p)
		if err := g.registerWith(ctx, addr); err == nil {
			g.rpcbind = addr
			g.log.Info("registered with the system port mapper", zap.String("addr", addr))
			return nil
		}
	}
	g.pm = portmap.NewServer()
	for _, v := range []uint32{portmap.Version, portmap.RPCBVersion3, portmap.RPCBVersion4} {
		g.rpc.Register(portmap.Program, v, rpc.HandlerFunc(g.servePortmap))
		g.udp.Register(portmap.Program, v, rpc.HandlerFunc(g.servePortmap))
	}
	a, err := g.rpc.Listen("tcp", net.JoinHostPort(host, p))
	if err != nil {
		return fmt.Errorf("gateway: portmap listener (use --no-portmap or another --portmap-port): %w", err)
	}
	g.pmAddr = a
	g.pm.Set(portmap.Mapping{Prog: portmap.Program, Vers: portmap.Version, Prot: portmap.ProtoTCP, Port: uint32(a.(*net.TCPAddr).Port)})
	// The same port number over UDP: rpcinfo and libtirpc's getport ask there first.
	ua, err := g.udp.Listen("udp", net.JoinHostPort(host, strconv.Itoa(a.(*net.TCPAddr).Port)))
	if err != nil {
		g.log.Warn("port mapper not served over UDP", zap.Error(err))
	} else {
		g.pmUDPAddr = ua
		g.pm.Set(portmap.Mapping{Prog: portmap.Program, Vers: portmap.Version, Prot: portmap.ProtoUDP, Port: uint32(ua.(*net.UDPAddr).Port)})
	}
	for _, m := range g.mappings() {
		g.pm.Set(m)
	}
	return nil
}

// registerWith sets the gateway's mappings in the port mapper at addr (RFC 1833 §3.2 SET after
// UNSET, as pmap_set does).
func (g *Gateway) registerWith(ctx context.Context, addr string) error {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cl, err := rpc.Dial(dctx, "tcp", addr, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.Call(dctx, portmap.Program, portmap.Version, portmap.ProcNull, nil, rpc.NoAuth); err != nil {
		return err
	}
	// UNSET removes every protocol of a (prog, vers): clear each pair once, then SET all the
	// mappings (MOUNT has a TCP and a UDP one per version).
	ms := g.mappings()
	unset := map[[2]uint32]bool{}
	for _, m := range ms {
		if unset[[2]uint32{m.Prog, m.Vers}] {
			continue
		}
		unset[[2]uint32{m.Prog, m.Vers}] = true
		if _, err := cl.Call(dctx, portmap.Program, portmap.Version, portmap.ProcUnset, m.Encode(), rpc.NoAuth); err != nil {
			return err
		}
	}
	for _, m := range ms {
		res, err := cl.Call(dctx, portmap.Program, portmap.Version, portmap.ProcSet, m.Encode(), rpc.NoAuth)
		if err != nil {
			return err
		}
		if r := xdr.NewReader(res); !r.Bool() {
			return fmt.Errorf("gateway: port mapper at %s refused SET %d/%d", addr, m.Prog, m.Vers)
		}
		g.registered = append(g.registered, m)
	}
	return nil
}

func (g *Gateway) unregister() {
	if g.rpcbind == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cl, err := rpc.Dial(ctx, "tcp", g.rpcbind, nil)
	if err != nil {
		g.log.Warn("unregister from the port mapper", zap.Error(err))
		return
	}
	defer cl.Close()
	for _, m := range g.registered {
		_, _ = cl.Call(ctx, portmap.Program, portmap.Version, portmap.ProcUnset, m.Encode(), rpc.NoAuth)
	}
}

// NFSAddr returns the NFS listener's address.
func (g *Gateway) NFSAddr() net.Addr { return g.nfsAddr }

// MountAddr returns the MOUNT listener's address.
func (g *Gateway) MountAddr() net.Addr { return g.mountAddr }

// MountUDPAddr returns the address MOUNT is served on over UDP (nil when it is not).
func (g *Gateway) MountUDPAddr() net.Addr { return g.mountUDPAddr }

// PortmapUDPAddr returns the embedded port mapper's UDP address (nil when not served).
func (g *Gateway) PortmapUDPAddr() net.Addr { return g.pmUDPAddr }

// PortmapAddr returns the embedded port mapper's address (nil when not embedded).
func (g *Gateway) PortmapAddr() net.Addr { return g.pmAddr }

// RPC returns the RPC server, for registering more programs (NLM, NSM) on the same listeners.
func (g *Gateway) RPC() *rpc.Server { return g.rpc }

// RegisterProgram registers a program version on the gateway's RPC server and, when a port
// mapper is in use, maps it to the NFS port (NLM/NSM hook).
func (g *Gateway) RegisterProgram(prog, vers uint32, h rpc.Handler) {
	g.rpc.Register(prog, vers, h)
	m := portmap.Mapping{Prog: prog, Vers: vers, Prot: portmap.ProtoTCP, Port: uint32(g.nfsAddr.(*net.TCPAddr).Port)}
	if g.pm != nil {
		g.pm.Set(m)
	}
}

// NFS returns the NFSv3 server (write verifier, FD cache control).
func (g *Gateway) NFS() *nfs3.Server { return g.nfs }

// Mount returns the MOUNT server.
func (g *Gateway) Mount() *mount.Server { return g.mnt }

// DRC returns the duplicate request cache.
func (g *Gateway) DRC() *drc.Cache { return g.drc }

// Close stops accepting, lets calls in flight finish (until ctx ends), unregisters from
// rpcbind, releases every cached FD and finalises the graphs of the volumes served from
// volfiles. The static volume's graph (Config.Top) is the caller's to tear down.
func (g *Gateway) Close(ctx context.Context) error {
	var err error
	g.closeOnce.Do(func() {
		g.unregister()
		_ = g.udp.Close()
		err = g.rpc.Shutdown(ctx)
		g.nfs.Close()
		g.metrics.unregister()
		g.volMu.Lock()
		defer g.volMu.Unlock()
		var wg sync.WaitGroup
		for _, v := range *g.vols.Load() {
			if v.active == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				v.close(ctx)
				v.active.Wait()
			}()
		}
		wg.Wait()
	})
	return err
}

// addrOf returns the caller's address and port.
func addrOf(c *rpc.Call) netip.AddrPort {
	if c.Conn != nil {
		switch a := c.Conn.Info().RemoteAddr.(type) {
		case *net.TCPAddr:
			return a.AddrPort()
		case *net.UDPAddr:
			return a.AddrPort()
		}
	}
	return netip.AddrPort{}
}

// localOf returns the address and port the call arrived at.
func localOf(c *rpc.Call) netip.AddrPort {
	if c.Conn != nil {
		switch a := c.Conn.Info().LocalAddr.(type) {
		case *net.TCPAddr:
			return a.AddrPort()
		case *net.UDPAddr:
			return a.AddrPort()
		}
	}
	return netip.AddrPort{}
}

func acceptOf(err error) rpc.AcceptStat {
	switch {
	case err == nil:
		return rpc.Success
	case errors.Is(err, xdr.ErrGarbageArgs):
		return rpc.GarbageArgs
	case errors.Is(err, xdr.ErrProcUnavail):
		return rpc.ProcUnavail
	}
	return rpc.SystemErr
}

// writerPool recycles reply writers (their head buffers; payloads are references).
var writerPool = sync.Pool{New: func() any { return xdr.NewWriter(make([]byte, 0, 4096)) }}

// serveNFS runs one NFSv3 call, through the duplicate request cache when the procedure is not
// idempotent.
func (g *Gateway) serveNFS(ctx context.Context, c *rpc.Call, r *rpc.Reply) rpc.AcceptStat {
	start := time.Now()
	addr := addrOf(c)
	var key drc.Key
	cached := !nfs3.IsIdempotent(c.Proc)
	if cached {
		key = drc.NewKey(addr.Addr(), c.XID, c.Prog, c.Vers, c.Proc, c.Args)
		switch st, saved := g.drc.Begin(key); st {
		case drc.InProgress:
			r.Drop()
			g.metrics.drcDrop.Inc()
			return rpc.Success
		case drc.Done:
			_, _ = r.Write(saved)
			g.metrics.drcHit.Inc()
			return rpc.Success
		}
	}
	call := &nfs3.Call{Proc: c.Proc, Args: c.Args, Addr: addr}
	if c.Cred.Flavor == rpc.AuthSys {
		call.Creds = graph.CredsFrom(ctx)
	} else {
		call.AuthNone = true
	}
	w := writerPool.Get().(*xdr.Writer)
	err := g.nfs.Dispatch(ctx, call, w)
	stat := acceptOf(err)
	if cached {
		if stat == rpc.Success {
			g.drc.Finish(key, w.Bytes())
		} else {
			g.drc.Abort(key)
		}
	}
	g.metrics.observe(c.Proc, w.Head(), stat, time.Since(start))
	if stat == rpc.Success {
		// Head bytes are copied into the reply; READ data is attached by reference (with its
		// ReadReply.Release) and written from the graph's buffer with writev.
		w.Emit(r)
	}
	w.Reset() // releases payloads that were not emitted
	if cap(w.Head()) <= 1<<20 {
		writerPool.Put(w)
	}
	return stat
}

func (g *Gateway) serveMount(ctx context.Context, c *rpc.Call, r *rpc.Reply) rpc.AcceptStat {
	w := xdr.NewWriter(nil)
	err := g.mnt.Dispatch(ctx, &mount.Call{Vers: c.Vers, Proc: c.Proc, Args: c.Args, Addr: addrOf(c)}, w)
	if err == nil {
		_, _ = r.Write(w.Bytes())
	}
	return acceptOf(err)
}

// servePortmap serves portmap version 2 and rpcbind versions 3 and 4 (RFC 1833).
func (g *Gateway) servePortmap(ctx context.Context, c *rpc.Call, r *rpc.Reply) rpc.AcceptStat {
	w := xdr.NewWriter(nil)
	var err error
	if c.Vers == portmap.Version {
		err = g.pm.Dispatch(c.Proc, c.Args, addrOf(c), w)
	} else {
		listen, _ := netip.ParseAddr(g.cfg.Listen)
		err = g.pm.DispatchRPCB(&portmap.RPCBCall{Vers: c.Vers, Proc: c.Proc, Args: c.Args,
			Local: localOf(c), Remote: addrOf(c), Listen: listen}, w)
	}
	if err == nil {
		_, _ = r.Write(w.Bytes())
	}
	return acceptOf(err)
}

// metrics are the gateway's Prometheus collectors.
type metrics struct {
	reg     prometheus.Registerer
	calls   *prometheus.CounterVec
	latency *prometheus.HistogramVec
	drcHit  prometheus.Counter
	drcDrop prometheus.Counter
	colls   []prometheus.Collector
}

func newMetrics(reg prometheus.Registerer, _ *drc.Cache) *metrics {
	m := &metrics{
		reg: reg,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_gateway_nfs3_calls_total", Help: "NFSv3 calls by procedure and NFS status.",
		}, []string{"proc", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "weft_gateway_nfs3_call_seconds", Help: "NFSv3 call latency by procedure.",
			Buckets: prometheus.ExponentialBuckets(20e-6, 2, 18),
		}, []string{"proc"}),
		drcHit:  prometheus.NewCounter(prometheus.CounterOpts{Name: "weft_gateway_drc_replays_total", Help: "Retransmissions answered from the duplicate request cache."}),
		drcDrop: prometheus.NewCounter(prometheus.CounterOpts{Name: "weft_gateway_drc_drops_total", Help: "Retransmissions dropped while the original was in progress."}),
	}
	m.colls = []prometheus.Collector{m.calls, m.latency, m.drcHit, m.drcDrop}
	if reg != nil {
		for _, c := range m.colls {
			_ = reg.Register(c)
		}
	}
	return m
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.colls {
		m.reg.Unregister(c)
	}
}

func (m *metrics) observe(proc uint32, body []byte, stat rpc.AcceptStat, d time.Duration) {
	name := "UNKNOWN"
	if proc < nfs3.NumProcs {
		name = nfs3.ProcNames[proc]
	}
	status := stat.String()
	if stat == rpc.Success {
		status = "NFS3_OK"
		if proc != nfs3.ProcNull && len(body) >= 4 {
			status = nfsstat.Status3(uint32(body[0])<<24 | uint32(body[1])<<16 | uint32(body[2])<<8 | uint32(body[3])).String()
		}
	}
	m.calls.WithLabelValues(name, status).Inc()
	m.latency.WithLabelValues(name).Observe(d.Seconds())
}
