package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/weftfs/weft/configs"
	_ "github.com/weftfs/weft/graph/xlators/all" // option specs for volume set
	"github.com/weftfs/weft/membership/daemon"
)

// weft daemon: the node daemon (GlusterFS's glusterd).
func init() {
	var cfgFile string
	cmd := &cobra.Command{
		Use:   "daemon [flags]",
		Short: "Run the node daemon: cluster store, peers, volume operations, brick and gateway supervision",
		Long: `Run the node daemon, one per node. Configuration: /etc/weft/weft.yaml (or --config), then
WEFT_* environment variables (WEFT_STATE_DIR, WEFT_BIND, WEFT_MGMT_PORT, ...), then flags.
A daemon starts as a one-member cluster; 'weft peer probe HOST' on a member adds another.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := configs.LoadDaemon(cfgFile, cmd.Flags())
			if err != nil {
				return err
			}
			log, err := newLogger(cfg.LogLevel)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			return runDaemon(cmd.Context(), cfg, log)
		},
	}
	d := configs.DefaultDaemon()
	f := cmd.Flags()
	f.StringVar(&cfgFile, "config", "", "configuration file (default "+configs.DefaultConfigFile+" when it exists)")
	f.String("bind", d.Bind, "address every daemon port binds (default: all addresses)")
	f.String("advertise", d.Advertise, "address peers, bricks and clients use (default: --bind, or the host's address)")
	f.String("name", d.Name, "this node's host name (default: os.Hostname)")
	f.String("state-dir", d.StateDir, "state directory (cluster log, volfiles, process logs)")
	f.String("socket", d.Socket, "unix socket of the management API for the local CLI")
	f.Int("mgmt-port", d.MgmtPort, "management API port between peers")
	f.Int("raft-port", d.RaftPort, "raft port")
	f.Int("gossip-port", d.GossipPort, "gossip (memberlist) port, TCP and UDP")
	f.Int("brick-port-base", d.BrickPortBase, "first brick port")
	f.Int("brick-port-range", d.BrickPortRange, "number of brick ports")
	f.Bool("gateway", d.Gateway, "run this node's NFS gateway")
	f.Int("nfs-port", d.NFSPort, "gateway NFS port")
	f.Int("mount-port", d.MountPort, "gateway MOUNT port")
	f.Int("portmap-port", d.PortmapPort, "gateway portmap port")
	f.Float64("raft-timeout-scale", d.RaftTimeoutScale, "scale raft and gossip timeouts (< 1 for tests)")
	f.String("log-level", d.LogLevel, "debug, info, warn or error")
	rootCmd.AddCommand(cmd)
}

func newLogger(level string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		return nil, fmt.Errorf("log-level: %w", err)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	zc.Encoding = "console"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return zc.Build()
}

func runDaemon(ctx context.Context, cfg configs.Daemon, log *zap.Logger) error {
	d, err := daemon.New(cfg, daemon.Options{Log: log, Version: version})
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done() // SIGTERM / SIGINT
	return d.Close()
}
