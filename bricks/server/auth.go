package server

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"strings"
)

// addrRule is one entry of auth.allow / auth.reject: "*", an address, a CIDR prefix, or an
// address with shell wildcards ("192.168.*.*", "10.0.0.?"), as GlusterFS's auth/addr takes them.
type addrRule struct {
	text   string
	any    bool
	prefix netip.Prefix
	glob   string
}

func parseRules(words []string) ([]addrRule, error) {
	var rules []addrRule
	for _, w := range words {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		r := addrRule{text: w}
		switch {
		case w == "*":
			r.any = true
		case strings.Contains(w, "/"):
			p, err := netip.ParsePrefix(w)
			if err != nil {
				return nil, fmt.Errorf("bad CIDR %q: %w", w, err)
			}
			r.prefix = p.Masked()
		case strings.ContainsAny(w, "*?["):
			if _, err := path.Match(w, ""); err != nil {
				return nil, fmt.Errorf("bad pattern %q: %w", w, err)
			}
			r.glob = w
		default:
			a, err := netip.ParseAddr(w)
			if err != nil {
				return nil, fmt.Errorf("bad address %q (host names are not resolved)", w)
			}
			r.prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func (r *addrRule) match(a netip.Addr) bool {
	switch {
	case r.any:
		return true
	case r.glob != "":
		ok, _ := path.Match(r.glob, a.String())
		return ok
	default:
		return r.prefix.Contains(a)
	}
}

// authorize applies GlusterFS's addr rules: an address that matches auth.reject is refused; else
// one that matches auth.allow is accepted; else it is refused. Loopback peers of a server with
// default rules (allow *) are accepted like any other.
func authorize(allow, reject []addrRule, remote net.Addr) bool {
	ap, err := netip.ParseAddrPort(remote.String())
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for i := range reject {
		if reject[i].match(a) {
			return false
		}
	}
	for i := range allow {
		if allow[i].match(a) {
			return true
		}
	}
	return false
}
