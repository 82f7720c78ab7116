package export

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/graph"
	"golang.org/x/sys/unix"
)

// Resolver is the subset of *net.Resolver the table uses for host-name rules.
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Table is the compiled export table. It is safe for concurrent use.
type Table struct {
	exports []*Export
	byID    map[handle.ExportID]*Export
	byPath  map[string]*Export
	res     Resolver
	dns     *dnsCache
}

// Export is one export of the table.
type Export struct {
	Path   string          // as mounted: "/vol" or "/vol/sub"
	Volume string          // the volume name
	Sub    string          // the path inside the volume: "/" or "/sub"
	ID     handle.ExportID // stable id carried in file handles
	Config configs.Export  // validated configuration

	table *Table
	rules []rule

	mu   sync.Mutex
	root graph.GFID // resolved root (RootGFID for a whole-volume export)
}

type rule struct {
	cfg    *configs.ClientRule
	opts   configs.ClientOptions
	all    bool
	addr   netip.Addr
	prefix netip.Prefix
	host   string // lower case; exact host name
	glob   string // lower case; wildcard host name
}

// NewTable compiles a validated export table. res may be nil (net.DefaultResolver).
func NewTable(cfg *configs.ExportsConfig, res Resolver) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if res == nil {
		res = net.DefaultResolver
	}
	t := &Table{byID: map[handle.ExportID]*Export{}, byPath: map[string]*Export{}, res: res, dns: newDNSCache()}
	for i := range cfg.Exports {
		c := cfg.Exports[i]
		sub := strings.TrimPrefix(c.Path, "/"+c.Volume)
		if sub == "" {
			sub = "/"
		}
		e := &Export{Path: c.Path, Volume: c.Volume, Sub: sub, ID: handle.ExportIDFromPath(c.Path), Config: c, table: t}
		if sub == "/" {
			e.root = graph.RootGFID
		}
		for j := range e.Config.Clients {
			r := &e.Config.Clients[j]
			cr := rule{cfg: r, opts: e.Config.Options(r)}
			m := r.Match
			switch {
			case m == "*":
				cr.all = true
			case strings.Contains(m, "/"):
				p, err := netip.ParsePrefix(m)
				if err != nil {
					return nil, fmt.Errorf("export %s: client %q: %w", c.Path, m, err)
				}
				cr.prefix = p.Masked()
			default:
				if a, err := netip.ParseAddr(m); err == nil {
					cr.addr = a.Unmap()
				} else if strings.ContainsAny(m, "*?") {
					cr.glob = strings.ToLower(m)
				} else {
					cr.host = strings.ToLower(strings.TrimSuffix(m, "."))
				}
			}
			e.rules = append(e.rules, cr)
		}
		if _, dup := t.byID[e.ID]; dup {
			return nil, fmt.Errorf("export %s: export id collision", c.Path)
		}
		t.exports = append(t.exports, e)
		t.byID[e.ID] = e
		t.byPath[e.Path] = e
	}
	return t, nil
}

// Exports returns the exports in configuration order.
func (t *Table) Exports() []*Export { return t.exports }

// ByID returns the export with id, or nil.
func (t *Table) ByID(id handle.ExportID) *Export { return t.byID[id] }

// ByPath returns the export mounted as p (cleaned; a trailing slash is ignored), or nil.
func (t *Table) ByPath(p string) *Export {
	if p == "" {
		return nil
	}
	return t.byPath[path.Clean("/"+p)]
}

// Check decides whether the client at addr may use the export and returns its options. The first
// matching client rule wins.
func (e *Export) Check(ctx context.Context, addr netip.Addr) (configs.ClientOptions, bool) {
	addr = addr.Unmap()
	var names []string
	namesDone := false
	for i := range e.rules {
		r := &e.rules[i]
		switch {
		case r.all:
			return r.opts, true
		case r.prefix.IsValid():
			if r.prefix.Contains(addr) {
				return r.opts, true
			}
		case r.addr.IsValid():
			if r.addr == addr {
				return r.opts, true
			}
		case r.host != "":
			for _, a := range e.table.dns.forward(ctx, e.table.res, r.host) {
				if a == addr {
					return r.opts, true
				}
			}
		case r.glob != "":
			if !namesDone {
				names = e.table.dns.reverse(ctx, e.table.res, addr)
				namesDone = true
			}
			for _, n := range names {
				if globMatch(r.glob, n) {
					return r.opts, true
				}
			}
		}
	}
	return configs.ClientOptions{}, false
}

// ClientPatterns returns the client match strings (for MOUNT EXPORT's groups).
func (e *Export) ClientPatterns() []string {
	out := make([]string, 0, len(e.rules))
	for _, r := range e.rules {
		out = append(out, r.cfg.Match)
	}
	return out
}

// Root returns the GFID of the export's root directory, resolving a subdirectory export by
// looking its path up through top once.
func (e *Export) Root(ctx context.Context, top graph.Fops) (graph.GFID, error) {
	e.mu.Lock()
	r := e.root
	e.mu.Unlock()
	if !r.IsZero() {
		return r, nil
	}
	cur := graph.RootGFID
	p := ""
	for _, comp := range strings.Split(strings.Trim(e.Sub, "/"), "/") {
		p += "/" + comp
		rep, err := top.Lookup(ctx, &graph.Loc{Path: p, Name: comp, ParentGFID: cur}, nil)
		if err != nil {
			return graph.GFID{}, fmt.Errorf("export %s: resolve %s: %w", e.Path, p, err)
		}
		if !rep.Stat.IsDir() {
			return graph.GFID{}, graph.Errorf(unix.ENOTDIR, "export %s: %s is not a directory", e.Path, p)
		}
		cur = rep.Stat.GFID
	}
	e.mu.Lock()
	e.root = cur
	e.mu.Unlock()
	return cur, nil
}

// globMatch matches a host name against a pattern with * (any run of characters, dots included,
// as exports(5) wildmat does) and ? (one character). Both are lower case.
func globMatch(pat, s string) bool {
	// Iterative wildcard matching with backtracking on the last '*'.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pat) && (pat[p] == '?' || pat[p] == s[i]):
			p++
			i++
		case p < len(pat) && pat[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}

// Creds applies the client's squash options to the caller's credentials (exports(5)):
// anonymous callers (authNone) and, per mode, root or everyone become anonuid/anongid. The result
// is a fresh value; in is not modified.
func Creds(o configs.ClientOptions, in *graph.Creds, authNone bool) *graph.Creds {
	c := *in
	c.Groups = append([]uint32(nil), in.Groups...)
	anon := func() {
		c.UID, c.GID, c.Groups = o.AnonUID, o.AnonGID, nil
	}
	switch {
	case authNone:
		anon()
	case o.Squash == configs.SquashAll:
		anon()
	case o.Squash == configs.SquashNoRoot:
	default: // root_squash
		if c.UID == 0 {
			c.UID = o.AnonUID
		}
		if c.GID == 0 {
			c.GID = o.AnonGID
		}
		for i, g := range c.Groups {
			if g == 0 {
				c.Groups[i] = o.AnonGID
			}
		}
	}
	return &c
}

// dnsCache caches forward and reverse lookups for a minute (negative results too), bounded.
type dnsCache struct {
	mu  sync.Mutex
	fwd map[string]dnsEntry
	rev map[netip.Addr]dnsEntry
}

type dnsEntry struct {
	addrs   []netip.Addr
	names   []string
	expires time.Time
}

const dnsTTL = time.Minute
const dnsMax = 4096

func newDNSCache() *dnsCache {
	return &dnsCache{fwd: map[string]dnsEntry{}, rev: map[netip.Addr]dnsEntry{}}
}

func (d *dnsCache) forward(ctx context.Context, res Resolver, host string) []netip.Addr {
	d.mu.Lock()
	e, ok := d.fwd[host]
	d.mu.Unlock()
	if ok && time.Now().Before(e.expires) {
		return e.addrs
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, _ := res.LookupNetIP(ctx, "ip", host)
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	d.mu.Lock()
	if len(d.fwd) >= dnsMax {
		clear(d.fwd)
	}
	d.fwd[host] = dnsEntry{addrs: addrs, expires: time.Now().Add(dnsTTL)}
	d.mu.Unlock()
	return addrs
}

// reverse returns the forward-confirmed names of addr.
func (d *dnsCache) reverse(ctx context.Context, res Resolver, addr netip.Addr) []string {
	d.mu.Lock()
	e, ok := d.rev[addr]
	d.mu.Unlock()
	if ok && time.Now().Before(e.expires) {
		return e.names
	}
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	cands, _ := res.LookupAddr(lctx, addr.String())
	var names []string
	for _, n := range cands {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		for _, a := range d.forward(ctx, res, n) {
			if a == addr {
				names = append(names, n)
				break
			}
		}
	}
	d.mu.Lock()
	if len(d.rev) >= dnsMax {
		clear(d.rev)
	}
	d.rev[addr] = dnsEntry{names: names, expires: time.Now().Add(dnsTTL)}
	d.mu.Unlock()
	return names
}

// Empty returns a table without exports (a gateway serving no volume yet).
func Empty() *Table {
	return &Table{byID: map[handle.ExportID]*Export{}, byPath: map[string]*Export{}, res: net.DefaultResolver, dns: newDNSCache()}
}
