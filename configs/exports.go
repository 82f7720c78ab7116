package configs

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"strings"

	"github.com/spf13/viper"
)

// Export access modes.
const (
	AccessRW = "rw"
	AccessRO = "ro"
)

// Squash modes (exports(5)).
const (
	SquashRoot   = "root_squash"    // uid/gid 0 become anonuid/anongid (the default)
	SquashAll    = "all_squash"     // every uid/gid becomes anonuid/anongid
	SquashNoRoot = "no_root_squash" // credentials are used as sent
)

// DefaultAnonID is the default anonuid and anongid (nobody/nogroup).
const DefaultAnonID = 65534

// ExportsConfig is the gateway's export table (the file given with --export-config).
//
//	exports:
//	  - path: /gv0
//	    access: rw
//	    squash: root_squash
//	    clients:
//	      - match: 10.0.0.0/8
//	      - match: "*.example.com"
//	        access: ro
//	      - match: admin.example.com
//	        squash: no_root_squash
type ExportsConfig struct {
	Exports []Export `mapstructure:"exports" yaml:"exports"`
}

// Export is one exported path: a volume, or a subdirectory of one.
type Export struct {
	// Path is "/vol" or "/vol/sub/dir": what clients mount.
	Path string `mapstructure:"path" yaml:"path"`
	// Volume is the volume exported; defaults to the first component of Path.
	Volume string `mapstructure:"volume" yaml:"volume"`
	// Clients are the allowed clients, first match wins; no match means the client is denied.
	Clients []ClientRule `mapstructure:"clients" yaml:"clients"`
	// Access is "rw" (default) or "ro"; clients may override it.
	Access string `mapstructure:"access" yaml:"access"`
	// Squash is root_squash (default), all_squash or no_root_squash; clients may override it.
	Squash string `mapstructure:"squash" yaml:"squash"`
	// AnonUID and AnonGID are the squashed identity (default 65534).
	AnonUID *uint32 `mapstructure:"anonuid" yaml:"anonuid"`
	AnonGID *uint32 `mapstructure:"anongid" yaml:"anongid"`
	// Secure requires requests from a privileged source port (< 1024); default true.
	Secure *bool `mapstructure:"secure" yaml:"secure"`
	// NFSVersions lists the NFS versions allowed on this export (default [3, 4]).
	NFSVersions []int `mapstructure:"nfs_versions" yaml:"nfs_versions"`
}

// ClientRule selects clients and optionally overrides the export's options for them.
type ClientRule struct {
	// Match is "*" (everyone), an address ("10.1.2.3", "::1"), a CIDR ("10.0.0.0/8"), a host
	// name ("nfs1.example.com") or a wildcard host name ("*.example.com", "node?.lab").
	Match   string  `mapstructure:"match" yaml:"match"`
	Access  string  `mapstructure:"access" yaml:"access"`
	Squash  string  `mapstructure:"squash" yaml:"squash"`
	AnonUID *uint32 `mapstructure:"anonuid" yaml:"anonuid"`
	AnonGID *uint32 `mapstructure:"anongid" yaml:"anongid"`
	Secure  *bool   `mapstructure:"secure" yaml:"secure"`
}

// ClientOptions are the effective options of one client on one export.
type ClientOptions struct {
	ReadOnly bool
	Squash   string
	AnonUID  uint32
	AnonGID  uint32
	Secure   bool
}

// Options returns the effective options for a client matched by rule r on export e (r may be
// nil: the export's own options). Call after Validate.
func (e *Export) Options(r *ClientRule) ClientOptions {
	o := ClientOptions{ReadOnly: e.Access == AccessRO, Squash: e.Squash, AnonUID: DefaultAnonID, AnonGID: DefaultAnonID, Secure: true}
	if o.Squash == "" {
		o.Squash = SquashRoot
	}
	if e.AnonUID != nil {
		o.AnonUID = *e.AnonUID
	}
	if e.AnonGID != nil {
		o.AnonGID = *e.AnonGID
	}
	if e.Secure != nil {
		o.Secure = *e.Secure
	}
	if r == nil {
		return o
	}
	if r.Access != "" {
		o.ReadOnly = r.Access == AccessRO
	}
	if r.Squash != "" {
		o.Squash = r.Squash
	}
	if r.AnonUID != nil {
		o.AnonUID = *r.AnonUID
	}
	if r.AnonGID != nil {
		o.AnonGID = *r.AnonGID
	}
	if r.Secure != nil {
		o.Secure = *r.Secure
	}
	return o
}

// AllowsVersion reports whether NFS version v may be used on the export.
func (e *Export) AllowsVersion(v int) bool {
	if len(e.NFSVersions) == 0 {
		return true
	}
	for _, x := range e.NFSVersions {
		if x == v {
			return true
		}
	}
	return false
}

// Validate checks the export table, fills defaults (volume names), and returns every problem
// found, one per line, naming the export and field.
func (c *ExportsConfig) Validate() error {
	var errs []error
	if len(c.Exports) == 0 {
		errs = append(errs, errors.New("exports: no export defined"))
	}
	seen := map[string]bool{}
	for i := range c.Exports {
		e := &c.Exports[i]
		where := fmt.Sprintf("exports[%d] (%s)", i, e.Path)
		if err := e.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if seen[e.Path] {
			errs = append(errs, fmt.Errorf("%s: path exported twice", where))
		}
		seen[e.Path] = true
	}
	return errors.Join(errs...)
}

func (e *Export) validate() error {
	var errs []error
	if e.Path == "" || e.Path[0] != '/' {
		return fmt.Errorf("path %q must be absolute (/volume or /volume/subdir)", e.Path)
	}
	if strings.ContainsRune(e.Path, 0) {
		return fmt.Errorf("path contains NUL")
	}
	clean := path.Clean(e.Path)
	if clean != e.Path || clean == "/" {
		return fmt.Errorf("path %q is not a clean /volume[/subdir] path", e.Path)
	}
	for _, comp := range strings.Split(clean[1:], "/") {
		if len(comp) > 255 {
			return fmt.Errorf("path component of %d bytes exceeds 255", len(comp))
		}
	}
	vol := strings.Split(clean[1:], "/")[0]
	if e.Volume == "" {
		e.Volume = vol
	} else if e.Volume != vol {
		errs = append(errs, fmt.Errorf("volume %q does not match the path's first component %q", e.Volume, vol))
	}
	if err := checkAccess(e.Access); err != nil {
		errs = append(errs, err)
	}
	if err := checkSquash(e.Squash); err != nil {
		errs = append(errs, err)
	}
	for _, v := range e.NFSVersions {
		if v != 3 && v != 4 {
			errs = append(errs, fmt.Errorf("nfs_versions: %d is not 3 or 4", v))
		}
	}
	if len(e.Clients) == 0 {
		errs = append(errs, errors.New(`clients: none listed (use match: "*" to allow every client)`))
	}
	for j := range e.Clients {
		r := &e.Clients[j]
		if err := r.validate(); err != nil {
			errs = append(errs, fmt.Errorf("clients[%d] (%s): %w", j, r.Match, err))
		}
	}
	return errors.Join(errs...)
}

func checkAccess(a string) error {
	switch a {
	case "", AccessRW, AccessRO:
		return nil
	}
	return fmt.Errorf("access %q: want rw or ro", a)
}

func checkSquash(s string) error {
	switch s {
	case "", SquashRoot, SquashAll, SquashNoRoot:
		return nil
	}
	return fmt.Errorf("squash %q: want root_squash, all_squash or no_root_squash", s)
}

func (r *ClientRule) validate() error {
	if err := ValidateClientMatch(r.Match); err != nil {
		return err
	}
	return errors.Join(checkAccess(r.Access), checkSquash(r.Squash))
}

// ValidateClientMatch checks a client pattern: "*", an address, a CIDR, a host name or a host
// name wildcard (with * and ?).
func ValidateClientMatch(m string) error {
	if m == "" {
		return errors.New("match is empty")
	}
	if m == "*" {
		return nil
	}
	if strings.Contains(m, "/") {
		if _, err := netip.ParsePrefix(m); err != nil {
			return fmt.Errorf("bad CIDR %q: %w", m, err)
		}
		return nil
	}
	if _, err := netip.ParseAddr(m); err == nil {
		return nil
	}
	if len(m) > 253 {
		return fmt.Errorf("host name longer than 253 bytes")
	}
	for _, label := range strings.Split(m, ".") {
		if label == "" {
			return fmt.Errorf("host pattern %q has an empty label", m)
		}
		for _, ch := range label {
			ok := ch == '-' || ch == '*' || ch == '?' || ch == '_' ||
				(ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
			if !ok {
				return fmt.Errorf("host pattern %q: character %q not allowed", m, ch)
			}
		}
	}
	return nil
}

// DefaultExports returns the export table used when only --export paths are given: every client,
// read-write, root squashed, secure ports not required (the gateway's ports are often unprivileged
// in tests and containers; set secure in an export config for production).
func DefaultExports(paths []string) *ExportsConfig {
	c := &ExportsConfig{}
	f := false
	for _, p := range paths {
		c.Exports = append(c.Exports, Export{Path: p, Clients: []ClientRule{{Match: "*"}}, Secure: &f})
	}
	return c
}

// LoadExports reads an export table from a YAML, JSON or TOML file (by extension) and validates
// it.
func LoadExports(file string) (*ExportsConfig, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("export config: %w", err)
	}
	v := viper.New()
	v.SetConfigFile(file)
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("export config %s: %w", file, err)
	}
	var c ExportsConfig
	if err := v.UnmarshalExact(&c); err != nil {
		return nil, fmt.Errorf("export config %s: %w", file, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("export config %s: %w", file, err)
	}
	return &c, nil
}
