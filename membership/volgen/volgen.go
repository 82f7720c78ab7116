package volgen

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/volfile"
)

// Translator types volgen places.
const (
	TypePosix      = "storage/posix"
	TypeLocks      = "features/locks"
	TypeIOStats    = "debug/io-stats"
	TypeServer     = "protocol/server"
	TypeClient     = "protocol/client"
	TypeReplicate  = "cluster/replicate"
	TypeDistribute = "cluster/distribute"
	TypeIndex      = "features/index"
)

// PerformanceOrder is the order of performance translators in the client graph, top-down
// below io-stats as GlusterFS stacks them; registered performance types not listed go after,
// sorted by name.
var PerformanceOrder = []string{"md-cache", "io-threads", "open-behind", "quick-read", "io-cache", "readdir-ahead", "read-ahead", "write-behind", "nl-cache"}

// Brick is one brick of a volume as volgen needs it.
type Brick struct {
	Host string // address clients connect to and the brick listens on
	Path string
	Port int
	// ID names the brick's protocol/client (VOL-client-N, stable over the brick's life in the
	// volume: store.Brick.ID); empty: ClientName of its position.
	ID string
}

// Volume is a volume's definition.
type Volume struct {
	Name    string
	ID      string
	Replica int // 1 (or 0): no replication
	Arbiter int // 0 or 1
	Bricks  []Brick
	Options map[string]string
}

// Params are what volgen needs besides the volume.
type Params struct {
	// Secret is the cluster secret bricks and clients prove to each other.
	Secret string
	// Lookup finds a translator type's registration (nil: graph.LookupType).
	Lookup func(typ string) (*graph.Registration, bool)
	// Types lists registered types (nil: graph.Types); used to find performance translators.
	Types func() []string
}

func (p *Params) lookup(t string) (*graph.Registration, bool) {
	if p.Lookup != nil {
		return p.Lookup(t)
	}
	return graph.LookupType(t)
}

func (p *Params) types() []string {
	if p.Types != nil {
		return p.Types()
	}
	return graph.Types()
}

// reserved lists, per type, the options volgen writes itself.
var reserved = map[string]map[string]bool{
	TypePosix:     {"directory": true, "volume-id": true},
	TypeServer:    {"listen": true, "transport.socket.listen-address": true, "auth.secret": true, "volume-id": true},
	TypeClient:    {"remote-host": true, "remote-port": true, "remote-subvolume": true, "auth.secret": true, "auth.secret-file": true},
	TypeReplicate: {"afr-pending-xattr": true, "arbiter-count": true},
}

// ErrNoSuchOption is wrapped when a volume option key names no option of the volume's
// translators.
var ErrNoSuchOption = errors.New("no such volume option")

func (v *Volume) replica() int {
	if v.Replica < 1 {
		return 1
	}
	return v.Replica
}

// candidates returns the translator types a volume's graphs may contain (performance ones
// only when registered).
func (v *Volume) candidates(p *Params) []string {
	ts := []string{TypePosix, TypeLocks, TypeIOStats, TypeServer, TypeClient, TypeDistribute}
	if v.replica() > 1 {
		ts = append(ts, TypeReplicate)
	}
	for _, t := range p.types() {
		if strings.HasPrefix(t, "performance/") {
			ts = append(ts, t)
		}
	}
	return ts
}

// target is where a volume option lands: a translator type and the option's canonical key.
type target struct{ typ, key string }

// perfToggle returns the performance type a key "performance.NAME" switches, if registered.
func perfToggle(key string, p *Params) (string, bool) {
	name, ok := strings.CutPrefix(key, "performance.")
	if !ok {
		return "", false
	}
	t := "performance/" + name
	_, reg := p.lookup(t)
	return t, reg
}

// resolve finds the targets of a volume option key.
func (v *Volume) resolve(key string, p *Params) ([]target, error) {
	var out []target
	cands := v.candidates(p)
	find := func(t, k string) (string, bool) {
		r, ok := p.lookup(t)
		if !ok {
			return "", false
		}
		for _, s := range r.Options {
			if s.Key == k || contains(s.Aliases, k) {
				return s.Key, true
			}
		}
		return "", false
	}
	for _, t := range cands {
		if k, ok := find(t, key); ok {
			out = append(out, target{t, k})
		}
	}
	if len(out) == 0 {
		if prefix, rest, ok := strings.Cut(key, "."); ok {
			for _, t := range cands {
				cat, base, _ := strings.Cut(t, "/")
				if prefix != cat && prefix != base && !(prefix == "diagnostics" && t == TypeIOStats) {
					continue
				}
				if k, ok := find(t, rest); ok {
					out = append(out, target{t, k})
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("option %q: %w for a %s volume", key, ErrNoSuchOption, strings.ToLower(v.typeName()))
	}
	for _, tg := range out {
		if reserved[tg.typ][tg.key] {
			return nil, fmt.Errorf("option %q is managed by the daemon and cannot be set", key)
		}
	}
	return out, nil
}

func (v *Volume) typeName() string {
	switch {
	case v.replica() == 1:
		return "distribute"
	case len(v.Bricks) == v.replica():
		return "replicate"
	}
	return "distributed-replicate"
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// CheckOption validates one volume option: the key resolves to translator options (or a
// performance translator switch) of the volume's graphs and the value parses under every
// target's spec.
func CheckOption(v *Volume, key, value string, p Params) error {
	if o, ok := DaemonOptions[key]; ok {
		if err := o.Check(value); err != nil {
			return fmt.Errorf("option %s %q: %w", key, value, err)
		}
		return nil
	}
	if t, ok := perfToggle(key, &p); ok {
		if _, err := graph.ParseBool(value); err != nil {
			return fmt.Errorf("option %s %q: switches %s: %w", key, value, t, err)
		}
		return nil
	}
	tgs, err := v.resolve(key, &p)
	if err != nil {
		return err
	}
	for _, tg := range tgs {
		r, _ := p.lookup(tg.typ)
		if _, err := graph.ValidateOptions(r.Options, map[string]string{tg.key: value}); err != nil {
			return fmt.Errorf("option %s (%s): %w", key, tg.typ, err)
		}
	}
	return nil
}

// optionsFor returns the volume options that land on type typ, keyed by canonical key.
func (v *Volume) optionsFor(typ string, p *Params) (map[string]string, error) {
	out := map[string]string{}
	keys := make([]string, 0, len(v.Options))
	for k := range v.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := perfToggle(k, p); ok || IsDaemonOption(k) {
			continue
		}
		tgs, err := v.resolve(k, p)
		if err != nil {
			return nil, err
		}
		for _, tg := range tgs {
			if tg.typ == typ {
				out[tg.key] = v.Options[k]
			}
		}
	}
	return out, nil
}

// enabledPerformance returns the performance types switched on, in stacking order (top-down).
func (v *Volume) enabledPerformance(p *Params) []string {
	on := map[string]bool{}
	for k, val := range v.Options {
		if t, ok := perfToggle(k, p); ok {
			if b, err := graph.ParseBool(val); err == nil && b {
				on[t] = true
			}
		}
	}
	var out []string
	for _, n := range PerformanceOrder {
		if on["performance/"+n] {
			out = append(out, "performance/"+n)
			delete(on, "performance/"+n)
		}
	}
	rest := make([]string, 0, len(on))
	for t := range on {
		rest = append(rest, t)
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func (v *Volume) check() error {
	if v.Name == "" || len(v.Bricks) == 0 {
		return errors.New("volgen: a volume needs a name and bricks")
	}
	if len(v.Bricks)%v.replica() != 0 {
		return fmt.Errorf("volgen: %d bricks is not a multiple of replica %d", len(v.Bricks), v.replica())
	}
	return nil
}

func vol(name, typ string, opts map[string]string, subs ...string) *volfile.Volume {
	if opts == nil {
		opts = map[string]string{}
	}
	return &volfile.Volume{Name: name, Type: typ, Options: opts, Subvolumes: subs}
}

func merge(dst, src map[string]string) map[string]string {
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

// BrickVolfile returns the volfile of brick i.
func BrickVolfile(v *Volume, i int, p Params) (*volfile.Volfile, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	if i < 0 || i >= len(v.Bricks) {
		return nil, fmt.Errorf("volgen: brick %d out of range", i)
	}
	b := v.Bricks[i]
	o := func(t string) (map[string]string, error) { return v.optionsFor(t, &p) }
	posix, err := o(TypePosix)
	if err != nil {
		return nil, err
	}
	locks, err := o(TypeLocks)
	if err != nil {
		return nil, err
	}
	stats, err := o(TypeIOStats)
	if err != nil {
		return nil, err
	}
	srv, err := o(TypeServer)
	if err != nil {
		return nil, err
	}
	merge(posix, map[string]string{"directory": b.Path})
	merge(srv, map[string]string{"listen": hostPort(b.Host, b.Port)})
	if v.ID != "" {
		posix["volume-id"] = v.ID
		srv["volume-id"] = v.ID
	}
	if p.Secret != "" {
		srv["auth.secret"] = p.Secret
	}
	vols := []*volfile.Volume{
		vol(v.Name+"-posix", TypePosix, posix),
		vol(v.Name+"-locks", TypeLocks, locks, v.Name+"-posix"),
	}
	below := v.Name + "-locks"
	if v.replica() > 1 {
		// Replicated bricks keep the xattrop/dirty indices the self-heal daemon sweeps
		// (GlusterFS places features/index on every brick; it matters only under replicate).
		vols = append(vols, vol(v.Name+"-index", TypeIndex, map[string]string{
			"index-base":                b.Path + "/.glusterfs/indices",
			"xattrop-pending-watchlist": "trusted.afr." + v.Name + "-",
		}, below))
		below = v.Name + "-index"
	}
	vols = append(vols, vol(b.Path, TypeIOStats, stats, below), vol(v.Name+"-server", TypeServer, srv, b.Path))
	vf := &volfile.Volfile{Volumes: vols}
	return vf, vf.Validate()
}

func hostPort(h string, p int) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]:" + strconv.Itoa(p)
	}
	return h + ":" + strconv.Itoa(p)
}

// ClientName returns the name of the protocol/client of the brick at position i that has no
// ID of its own (VOL-client-i), which is also its name in its replica set's afr-pending-xattr
// and trusted.afr.* xattrs.
func ClientName(vol string, i int) string { return fmt.Sprintf("%s-client-%d", vol, i) }

// ClientVolfile returns the client volfile of the volume (what gateways load).
func ClientVolfile(v *Volume, p Params) (*volfile.Volfile, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	cli, err := v.optionsFor(TypeClient, &p)
	if err != nil {
		return nil, err
	}
	var vols []*volfile.Volume
	var clients []string
	for i, b := range v.Bricks {
		o := merge(map[string]string{}, cli)
		o["remote-host"] = b.Host
		o["remote-port"] = strconv.Itoa(b.Port)
		o["remote-subvolume"] = b.Path
		if p.Secret != "" {
			o["auth.secret"] = p.Secret
		}
		n := b.ID
		if n == "" {
			n = ClientName(v.Name, i)
		}
		vols = append(vols, vol(n, TypeClient, o))
		clients = append(clients, n)
	}
	subs := clients
	if r := v.replica(); r > 1 {
		afr, err := v.optionsFor(TypeReplicate, &p)
		if err != nil {
			return nil, err
		}
		subs = nil
		for s := 0; s < len(clients)/r; s++ {
			set := clients[s*r : s*r+r]
			o := merge(map[string]string{}, afr)
			o["afr-pending-xattr"] = strings.Join(set, ",")
			if v.Arbiter > 0 {
				o["arbiter-count"] = strconv.Itoa(v.Arbiter)
			}
			n := fmt.Sprintf("%s-replicate-%d", v.Name, s)
			vols = append(vols, vol(n, TypeReplicate, o, set...))
			subs = append(subs, n)
		}
	}
	dht, err := v.optionsFor(TypeDistribute, &p)
	if err != nil {
		return nil, err
	}
	below := v.Name + "-dht"
	vols = append(vols, vol(below, TypeDistribute, dht, subs...))
	perf := v.enabledPerformance(&p)
	for i := len(perf) - 1; i >= 0; i-- {
		t := perf[i]
		o, err := v.optionsFor(t, &p)
		if err != nil {
			return nil, err
		}
		n := v.Name + "-" + strings.TrimPrefix(t, "performance/")
		vols = append(vols, vol(n, t, o, below))
		below = n
	}
	stats, err := v.optionsFor(TypeIOStats, &p)
	if err != nil {
		return nil, err
	}
	vols = append(vols, vol(v.Name, TypeIOStats, stats, below))
	vf := &volfile.Volfile{Volumes: vols}
	return vf, vf.Validate()
}

// Text prints vf canonically.
func Text(vf *volfile.Volfile) (string, error) {
	b, err := volfile.Format(vf)
	return string(b), err
}
