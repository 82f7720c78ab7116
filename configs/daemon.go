package configs

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Default values of the node daemon's configuration. Every port has a default, so daemons on
// different addresses of one machine (127.0.0.1, 127.0.0.2, ...) use the same ports.
const (
	DefaultConfigFile     = "/etc/weft/weft.yaml"
	DefaultStateDir       = "/var/lib/weft"
	DefaultSocket         = "/run/weft/weft.sock"
	DefaultMgmtPort       = 24007 // GlusterFS's glusterd port
	DefaultRaftPort       = 24005
	DefaultGossipPort     = 24006
	DefaultBrickPortBase  = 49152 // GlusterFS's brick port range starts here
	DefaultBrickPortRange = 512
	DefaultNFSPort        = 2049
	DefaultMountPort      = 20048
	DefaultPortmapPort    = 111
)

// Daemon is the configuration of `weft daemon` (file /etc/weft/weft.yaml, environment WEFT_*,
// flags; later ones win).
//
//	bind: 10.0.0.1            # address every daemon port binds; "" = all addresses
//	advertise: 10.0.0.1       # address peers, bricks and clients use (default: bind, or the host's)
//	name: node1               # host name peers may use in brick specs (default: os.Hostname)
//	state-dir: /var/lib/weft
//	socket: /run/weft/weft.sock
//	mgmt-port: 24007          # management API between peers (TCP, HMAC with the cluster secret)
//	raft-port: 24005
//	gossip-port: 24006        # memberlist (TCP and UDP)
//	brick-port-base: 49152
//	brick-port-range: 512
//	gateway: true             # run this node's NFS gateway
//	nfs-port: 2049
//	mount-port: 20048
//	portmap-port: 111
//	raft-timeout-scale: 1     # < 1 shortens raft's timeouts (tests)
//	log-level: info
type Daemon struct {
	Bind             string  `mapstructure:"bind"`
	Advertise        string  `mapstructure:"advertise"`
	Name             string  `mapstructure:"name"`
	StateDir         string  `mapstructure:"state-dir"`
	Socket           string  `mapstructure:"socket"`
	MgmtPort         int     `mapstructure:"mgmt-port"`
	RaftPort         int     `mapstructure:"raft-port"`
	GossipPort       int     `mapstructure:"gossip-port"`
	BrickPortBase    int     `mapstructure:"brick-port-base"`
	BrickPortRange   int     `mapstructure:"brick-port-range"`
	Gateway          bool    `mapstructure:"gateway"`
	NFSPort          int     `mapstructure:"nfs-port"`
	MountPort        int     `mapstructure:"mount-port"`
	PortmapPort      int     `mapstructure:"portmap-port"`
	RaftTimeoutScale float64 `mapstructure:"raft-timeout-scale"`
	LogLevel         string  `mapstructure:"log-level"`
}

// DefaultDaemon returns the defaults.
func DefaultDaemon() Daemon {
	return Daemon{
		StateDir: DefaultStateDir, Socket: DefaultSocket,
		MgmtPort: DefaultMgmtPort, RaftPort: DefaultRaftPort, GossipPort: DefaultGossipPort,
		BrickPortBase: DefaultBrickPortBase, BrickPortRange: DefaultBrickPortRange,
		Gateway: true, NFSPort: DefaultNFSPort, MountPort: DefaultMountPort, PortmapPort: DefaultPortmapPort,
		RaftTimeoutScale: 1, LogLevel: "info",
	}
}

// Validate checks the configuration and fills derived defaults (advertise address, name).
func (d *Daemon) Validate() error {
	if d.Bind != "" {
		if _, err := netip.ParseAddr(d.Bind); err != nil {
			return fmt.Errorf("bind %q: not an IP address", d.Bind)
		}
	}
	if d.Advertise == "" {
		d.Advertise = d.Bind
		if a, err := netip.ParseAddr(d.Bind); d.Bind == "" || (err == nil && a.IsUnspecified()) {
			d.Advertise = hostAddress()
		}
	}
	if d.Advertise == "" {
		return errors.New("advertise: no address found; set advertise or bind")
	}
	if d.Name == "" {
		d.Name, _ = os.Hostname()
	}
	if d.StateDir == "" || !filepath.IsAbs(d.StateDir) {
		return fmt.Errorf("state-dir %q: must be an absolute path", d.StateDir)
	}
	if d.Socket == "" || !filepath.IsAbs(d.Socket) {
		return fmt.Errorf("socket %q: must be an absolute path", d.Socket)
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"mgmt-port", d.MgmtPort}, {"raft-port", d.RaftPort}, {"gossip-port", d.GossipPort}, {"brick-port-base", d.BrickPortBase},
		{"nfs-port", d.NFSPort}, {"mount-port", d.MountPort}, {"portmap-port", d.PortmapPort}} {
		if p.v < 1 || p.v > 65535 {
			return fmt.Errorf("%s %d: not a port", p.name, p.v)
		}
	}
	if d.BrickPortRange < 1 || d.BrickPortBase+d.BrickPortRange-1 > 65535 {
		return fmt.Errorf("brick-port-range %d: must be at least 1 and end at or below 65535", d.BrickPortRange)
	}
	if d.MgmtPort == d.RaftPort || d.MgmtPort == d.GossipPort || d.RaftPort == d.GossipPort {
		return errors.New("mgmt-port, raft-port and gossip-port must differ")
	}
	if d.RaftTimeoutScale <= 0 || d.RaftTimeoutScale > 100 {
		return fmt.Errorf("raft-timeout-scale %v: must be in (0, 100]", d.RaftTimeoutScale)
	}
	switch strings.ToLower(d.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log-level %q: one of debug, info, warn, error", d.LogLevel)
	}
	return nil
}

// hostAddress returns the host's first non-loopback unicast address, or "".
func hostAddress() string {
	addrs, err := interfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if a.Is4() && !a.IsLoopback() && !a.IsLinkLocalUnicast() {
			return a.String()
		}
	}
	for _, a := range addrs {
		if !a.IsLoopback() && !a.IsLinkLocalUnicast() {
			return a.String()
		}
	}
	return "127.0.0.1"
}

// SocketFromEnv returns the management socket a CLI command uses: the flag value when given,
// then WEFT_SOCKET, then the default.
func SocketFromEnv(flag string) string {
	if flag != "" {
		return flag
	}
	if s := os.Getenv("WEFT_SOCKET"); s != "" {
		return s
	}
	return DefaultSocket
}

// LoadDaemon reads the daemon configuration: defaults, then the file (file: the --config flag;
// "" means /etc/weft/weft.yaml if it exists), then WEFT_* environment variables (WEFT_STATE_DIR,
// WEFT_MGMT_PORT, ...), then the flags in fs that were set. Unknown keys in the file are errors.
func LoadDaemon(file string, fs *pflag.FlagSet) (Daemon, error) {
	v := viper.New()
	d := DefaultDaemon()
	defaults := map[string]any{
		"bind": d.Bind, "advertise": d.Advertise, "name": d.Name, "state-dir": d.StateDir, "socket": d.Socket,
		"mgmt-port": d.MgmtPort, "raft-port": d.RaftPort, "gossip-port": d.GossipPort,
		"brick-port-base": d.BrickPortBase, "brick-port-range": d.BrickPortRange, "gateway": d.Gateway,
		"nfs-port": d.NFSPort, "mount-port": d.MountPort, "portmap-port": d.PortmapPort,
		"raft-timeout-scale": d.RaftTimeoutScale, "log-level": d.LogLevel,
	}
	for k, val := range defaults {
		v.SetDefault(k, val)
	}
	explicit := file != ""
	if file == "" {
		file = DefaultConfigFile
	}
	if _, err := os.Stat(file); err == nil {
		v.SetConfigFile(file)
		if err := v.ReadInConfig(); err != nil {
			return d, fmt.Errorf("config %s: %w", file, err)
		}
	} else if explicit {
		return d, fmt.Errorf("config: %w", err)
	}
	v.SetEnvPrefix("WEFT")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if fs != nil {
		var bindErr error
		fs.VisitAll(func(f *pflag.Flag) {
			if _, ok := defaults[f.Name]; ok && f.Changed {
				if err := v.BindPFlag(f.Name, f); err != nil {
					bindErr = err
				}
			}
		})
		if bindErr != nil {
			return d, bindErr
		}
	}
	if err := v.UnmarshalExact(&d); err != nil {
		return d, fmt.Errorf("config %s: %w", file, err)
	}
	if err := d.Validate(); err != nil {
		return d, fmt.Errorf("config: %w", err)
	}
	return d, nil
}

func interfaceAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out, nil
}
