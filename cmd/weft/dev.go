package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/daemon"
)

// weft dev: one node in the foreground serving a 2 × 2 volume "vol" over NFS.
func init() {
	var (
		dir, bind, logLevel          string
		nfsPort, portmapPort, mountP int
	)
	cmd := &cobra.Command{
		Use:   "dev [--dir DIR] [--bind ADDR] [--nfs-port N] [--portmap-port N]",
		Short: "Run one node in the foreground with a volume 'vol' (distribute 2 × replicate 2) served over NFS",
		Long: `Run a one-node cluster in the foreground: the daemon (state under DIR/state, socket DIR/weft.sock),
four brick processes on DIR/bricks/b1..b4 forming volume 'vol' (distribute 2 × replicate 2; created
and started when absent) and the NFS gateway. Prints "ready: mount -t nfs HOST:/vol /mnt" once clients
can mount; Ctrl-C stops everything. Other weft commands reach it with --socket DIR/weft.sock.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), cmd.OutOrStdout(), dir, bind, logLevel, nfsPort, mountP, portmapPort)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "./run", "directory for state, bricks and logs")
	f.StringVar(&bind, "bind", "127.0.0.1", "address to serve on")
	f.IntVar(&nfsPort, "nfs-port", configs.DefaultNFSPort, "NFS port")
	f.IntVar(&mountP, "mount-port", configs.DefaultMountPort, "MOUNT port")
	f.IntVar(&portmapPort, "portmap-port", configs.DefaultPortmapPort, "portmap port")
	f.StringVar(&logLevel, "log-level", "warn", "daemon log level")
	rootCmd.AddCommand(cmd)
}

func runDev(ctx context.Context, out io.Writer, dir, bind, logLevel string, nfsPort, mountPort, pmPort int) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	cfg := configs.DefaultDaemon()
	cfg.Bind, cfg.StateDir, cfg.Socket = bind, filepath.Join(abs, "state"), filepath.Join(abs, "weft.sock")
	cfg.NFSPort, cfg.MountPort, cfg.PortmapPort = nfsPort, mountPort, pmPort
	cfg.RaftTimeoutScale, cfg.LogLevel = 0.2, logLevel
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := newLogger(logLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	d, err := daemon.New(cfg, daemon.Options{Log: log, Version: version})
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	defer d.Close()
	cli := api.UnixClient(cfg.Socket, time.Minute)
	if err := devVolume(ctx, cli, abs, cfg.Advertise); err != nil {
		return err
	}
	if err := devWaitReady(ctx, cli); err != nil {
		return err
	}
	opts := ""
	if nfsPort != configs.DefaultNFSPort || mountPort != configs.DefaultMountPort {
		opts = fmt.Sprintf("-o vers=3,proto=tcp,port=%d,mountport=%d,mountproto=tcp,nolock ", nfsPort, mountPort)
	}
	fmt.Fprintf(out, "ready: mount -t nfs %s%s:/vol /mnt\n", opts, cfg.Advertise)
	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	return nil
}

// devVolume creates and starts "vol" unless it exists and is started.
func devVolume(ctx context.Context, cli *api.Client, dir, host string) error {
	deadline := time.Now().Add(15 * time.Second)
	for { // until the one-member cluster has elected itself and recorded this peer
		var ps []api.PeerStatus
		err := cli.Do(ctx, http.MethodGet, "/v1/peers", nil, &ps)
		if err == nil && len(ps) > 0 {
			break
		}
		if err == nil {
			err = errors.New("dev: the cluster store was not initialised in time")
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	var vs []api.VolumeInfo
	if err := cli.Do(ctx, http.MethodGet, "/v1/volumes", nil, &vs); err != nil {
		return err
	}
	var vol *api.VolumeInfo
	for i := range vs {
		if vs[i].Name == "vol" {
			vol = &vs[i]
		}
	}
	if vol == nil {
		req := &api.CreateRequest{Name: "vol", Replica: 2}
		for i := 1; i <= 4; i++ {
			p := filepath.Join(dir, "bricks", fmt.Sprintf("b%d", i))
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			req.Bricks = append(req.Bricks, host+":"+p)
		}
		if err := cli.Do(ctx, http.MethodPost, "/v1/volumes/create", req, nil); err != nil {
			return err
		}
		// A development node: NFS clients from unprivileged ports too (libnfs and test clients
		// as non-root); root is not squashed (GlusterFS's default).
		set := &api.SetRequest{Name: "vol", Options: map[string]string{"nfs.ports-insecure": "on"}}
		if err := cli.Do(ctx, http.MethodPost, "/v1/volumes/set", set, nil); err != nil {
			return err
		}
	} else if vol.Status == "Started" {
		return nil
	}
	return cli.Do(ctx, http.MethodPost, "/v1/volumes/start", &api.VolumeRequest{Name: "vol"}, nil)
}

// devWaitReady waits until every brick and the gateway are online.
func devWaitReady(ctx context.Context, cli *api.Client) error {
	deadline := time.Now().Add(60 * time.Second)
	var last []api.VolumeStatus
	for time.Now().Before(deadline) {
		if err := cli.Do(ctx, http.MethodGet, "/v1/volumes/status?name=vol&heal=0", nil, &last); err == nil && len(last) == 1 {
			ok := len(last[0].Gateways) == 1 && last[0].Gateways[0].Online
			for _, b := range last[0].Bricks {
				ok = ok && b.Online
			}
			if ok {
				return devWaitBricksReachable(ctx, cli)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	var why []string
	if len(last) == 1 {
		for _, p := range append(last[0].Bricks, last[0].Gateways...) {
			if !p.Online {
				why = append(why, fmt.Sprintf("%s %s%s: %s", p.Kind, p.Host, p.Path, p.LastErr))
			}
		}
	}
	return errors.New("dev: not ready after 60s: " + strings.Join(why, "; "))
}

// devWaitBricksReachable waits until a client graph reaches every brick (heal info reports
// each up), then gives the gateway's own brick connections, which retry with a backoff, a
// moment: the gateway answers as soon as it listens, and a write before its bricks are
// connected fails with EROFS (replica quorum).
func devWaitBricksReachable(ctx context.Context, cli *api.Client) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var r api.HealReply
		err := cli.Do(ctx, http.MethodPost, "/v1/volumes/heal", &api.HealRequest{Name: "vol", Action: "info"}, &r)
		up := err == nil && len(r.Bricks) > 0
		for _, b := range r.Bricks {
			up = up && b.Up
		}
		if up {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Second):
	}
	return nil
}
