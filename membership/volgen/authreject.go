package volgen

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// nfs.rpc-auth-reject (GlusterFS gNFS): clients refused even when nfs.rpc-auth-allow lists them
// (reject wins). The gateway's export table holds allowed clients only (first match wins, no
// match is refused), so the daemon writes the allowed set minus the rejected one: every allow
// entry is turned into address prefixes from which the rejected prefixes are cut out. That is
// exact for addresses and CIDRs; host names and wildcards cannot be subtracted, so a reject list
// takes addresses and CIDRs only, and, while it is set, the allow list too ("all" included).

// parseRejectList parses a reject list: "none" (or empty) is nil.
func parseRejectList(v string) ([]netip.Prefix, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "none" {
		return nil, nil
	}
	var out []netip.Prefix
	for _, c := range ClientList(v) {
		if c == "*" {
			return nil, errors.New(`"all" would refuse every client: set nfs.disable on instead`)
		}
		p, err := clientPrefix(c)
		if err != nil {
			return nil, fmt.Errorf("%w (nfs.rpc-auth-reject takes addresses and CIDRs)", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// clientPrefix parses an address or a CIDR as a prefix.
func clientPrefix(c string) (netip.Prefix, error) {
	if strings.Contains(c, "/") {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad CIDR %q", c)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(c)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or a CIDR", c)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func checkReject(v string) error {
	_, err := parseRejectList(v)
	return err
}

// CheckClientOptions checks nfs.rpc-auth-allow and nfs.rpc-auth-reject of v together: with a
// reject list, the allow list must be made of addresses, CIDRs or "all".
func CheckClientOptions(v *Volume) error {
	rej, err := parseRejectList(DaemonOptionValue(v, "nfs.rpc-auth-reject"))
	if err != nil || len(rej) == 0 {
		return err
	}
	for _, c := range ClientList(DaemonOptionValue(v, "nfs.rpc-auth-allow")) {
		if c == "*" {
			continue
		}
		if _, err := clientPrefix(c); err != nil {
			return fmt.Errorf("nfs.rpc-auth-allow %s: with nfs.rpc-auth-reject set, allowed clients must be addresses, CIDRs or all", c)
		}
	}
	if len(allowedClients(DaemonOptionValue(v, "nfs.rpc-auth-allow"), DaemonOptionValue(v, "nfs.rpc-auth-reject"))) == 0 {
		return errors.New("nfs.rpc-auth-reject refuses every client nfs.rpc-auth-allow lets in: set nfs.disable on instead")
	}
	return nil
}

// subtract returns the prefixes covering p minus r, in address order.
func subtract(p, r netip.Prefix) []netip.Prefix {
	if !p.Overlaps(r) {
		return []netip.Prefix{p}
	}
	if r.Bits() <= p.Bits() {
		return nil // r covers p
	}
	// p strictly contains r: split p in halves, keep the one without r, recurse into the other.
	bits := p.Bits() + 1
	lo := netip.PrefixFrom(p.Addr(), bits).Masked()
	hiAddr := p.Addr().AsSlice()
	i := p.Bits()
	hiAddr[i/8] |= 0x80 >> (i % 8)
	ha, _ := netip.AddrFromSlice(hiAddr)
	hi := netip.PrefixFrom(ha, bits)
	if lo.Overlaps(r) {
		return append(subtract(lo, r), hi)
	}
	return append([]netip.Prefix{lo}, subtract(hi, r)...)
}

// allowedClients returns the export's client matches: the allow list, minus the reject list.
func allowedClients(allow, reject string) []string {
	rej, err := parseRejectList(reject)
	if err != nil || len(rej) == 0 {
		return ClientList(allow)
	}
	var out []string
	for _, c := range ClientList(allow) {
		var ps []netip.Prefix
		if c == "*" {
			ps = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
		} else if p, err := clientPrefix(c); err == nil {
			ps = []netip.Prefix{p}
		} else {
			continue // a host name: refused by CheckClientOptions while a reject list is set
		}
		for _, r := range rej {
			var next []netip.Prefix
			for _, p := range ps {
				next = append(next, subtract(p, r)...)
			}
			ps = next
		}
		for _, p := range ps {
			out = append(out, p.String())
		}
	}
	return out
}
