package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/gateway/server"
	"github.com/weftfs/weft/graph"
	_ "github.com/weftfs/weft/graph/xlators/all"
)

// weft gateway: the NFS gateway process over a client volfile (GlusterFS's gNFS process).
func init() {
	var (
		volfile, exportCfg, listen, secretFile, metricsAddr, volume, logLevel, volumes string
		exportPaths                                                                    []string
		nfsPort, mountPort, pmPort                                                     int
		noPortmap                                                                      bool
		lk                                                                             lockFlags
	)
	cmd := &cobra.Command{
		Use:   "gateway (--volumes MANIFEST | --volfile FILE --export /VOL) --secret-file F [flags]",
		Short: "Serve volumes over NFSv3 (with MOUNT and portmap) from client volfiles; SIGHUP reloads them",
		Long: `Serve volumes over NFSv3 (with MOUNT, NLM and portmap) from client volfiles.

--volumes FILE names a manifest (JSON, YAML or TOML) listing every volume to serve:
  {"volumes": [{"name": "vol", "volfile": "vols/vol/client.vol",
                "exports": [{"path": "/vol", "clients": [{"match": "*"}]}]}]}
(optional per volume: "id", 32 hex digits; "generation", whose change rebuilds the graph).
--volfile FILE with --export or --export-config serves one volume.

On SIGHUP the gateway re-reads the manifest (or the volfile and export config) and the volfiles:
new volumes are served once their bricks are up, removed ones stop being served, and a changed
volfile is applied live (an option change in place, a new topology by switching to a new graph
once its bricks are up), without closing NFS connections or mounts. With --volumes, the gateway
reports its pid and the generation each volume runs in <state-dir>/applied.json after every load.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGateway(cmd.Context(), gatewayFlags{
				volumes: volumes, volfile: volfile, exportCfg: exportCfg, exports: exportPaths, listen: listen,
				secretFile: secretFile, metricsAddr: metricsAddr, volume: volume, logLevel: logLevel,
				nfsPort: nfsPort, mountPort: mountPort, pmPort: pmPort, noPortmap: noPortmap,
				locking: lk,
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&volumes, "volumes", "", "volume manifest: the volumes to serve, with their volfiles and exports (re-read on SIGHUP)")
	f.StringVar(&volfile, "volfile", "", "client volfile of the one volume to serve (instead of --volumes)")
	f.StringSliceVar(&exportPaths, "export", nil, "export path /VOL or /VOL/SUBDIR (every client, rw, root_squash); repeatable")
	f.StringVar(&exportCfg, "export-config", "", "export table file (YAML/JSON/TOML; see configs.ExportsConfig)")
	f.StringVar(&volume, "volume", "", "volume name (default: the first component of the first export)")
	f.IntVar(&nfsPort, "nfs-port", 2049, "NFS port")
	f.IntVar(&mountPort, "mount-port", 20048, "MOUNT port (0: ephemeral)")
	f.IntVar(&pmPort, "portmap-port", 111, "portmap port: register with the rpcbind there, or embed a port mapper")
	f.BoolVar(&noPortmap, "no-portmap", false, "neither register with rpcbind nor embed a port mapper")
	f.StringVar(&listen, "listen", "", "address to listen on (default: all)")
	f.StringVar(&secretFile, "secret-file", "", "cluster secret for file handle MACs, at least 16 bytes (required)")
	f.StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics on ADDR:PORT (/metrics)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.BoolVar(&lk.off, "no-locking", false, "do not serve the NFSv3 lock protocols (NLM, NSM); clients must mount with nolock")
	f.IntVar(&lk.nlmPort, "nlm-port", server.DefaultNLMPort, "NLM (lock manager) port (0: ephemeral)")
	f.IntVar(&lk.nsmPort, "nsm-port", server.DefaultNSMPort, "NSM (status monitor) port (0: ephemeral)")
	f.StringVar(&lk.stateDir, "state-dir", "/var/lib/weft/gateway", "directory for the gateway's state: NSM state number and monitored hosts, and (with --volumes) applied.json, the generation each volume runs")
	f.DurationVar(&lk.grace, "nlm-grace", 45*time.Second, "NLM grace period after a restart, while clients reclaim their locks (0: none)")
	_ = cmd.MarkFlagRequired("secret-file")

	var statsAddr string
	stats := &cobra.Command{
		Use:   "stats --metrics-addr ADDR:PORT",
		Short: "Print per-procedure call counts and mean latency of a running gateway",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return gatewayStats(cmd.Context(), cmd.OutOrStdout(), statsAddr)
		},
	}
	stats.Flags().StringVar(&statsAddr, "metrics-addr", "127.0.0.1:9511", "the gateway's --metrics-addr")
	cmd.AddCommand(stats)
	rootCmd.AddCommand(cmd)
}

type gatewayFlags struct {
	volumes, volfile, exportCfg, listen, secretFile, metricsAddr, volume, logLevel string
	exports                                                                        []string
	nfsPort, mountPort, pmPort                                                     int
	noPortmap                                                                      bool
	locking                                                                        lockFlags
}

// lockFlags configure NLM and NSM (gateway/server.StartLocking).
type lockFlags struct {
	off              bool
	nlmPort, nsmPort int
	stateDir         string
	grace            time.Duration
}

// config maps the flags to the server's convention: 0 means the default there and -1 an
// ephemeral port, while on the command line 0 means ephemeral.
func (lf lockFlags) config() server.LockingConfig {
	p := func(v int) int {
		if v == 0 {
			return -1
		}
		return v
	}
	grace := lf.grace
	if grace == 0 {
		grace = -1
	}
	return server.LockingConfig{StateDir: filepath.Join(lf.stateDir, "nsm"), NLMPort: p(lf.nlmPort), NSMPort: p(lf.nsmPort), Grace: grace}
}

func runGateway(ctx context.Context, fl gatewayFlags) error {
	// SIGHUP reloads; its default action would kill the process, so catch it first of all.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(fl.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	switch {
	case fl.volumes != "" && fl.volfile != "":
		return errors.New("give --volumes or --volfile, not both")
	case fl.volumes == "" && fl.volfile == "":
		return errors.New("give --volumes MANIFEST, or --volfile FILE with --export or --export-config")
	case fl.volumes != "" && (fl.exportCfg != "" || len(fl.exports) > 0 || fl.volume != ""):
		return errors.New("with --volumes, exports are given in the manifest (not --export, --export-config or --volume)")
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.OutputPaths = []string{"stderr"}
	log, err := zc.Build()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	secret, err := os.ReadFile(fl.secretFile)
	if err != nil {
		return fmt.Errorf("--secret-file: %w", err)
	}
	secret = []byte(strings.TrimSpace(string(secret)))
	load := func() ([]server.VolumeSpec, error) { return gatewayVolumes(fl) }
	specs, err := load()
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	pmPort := fl.pmPort
	if pmPort == 0 {
		pmPort = -1
	}
	mountPort := fl.mountPort
	if mountPort == 0 {
		mountPort = -1
	}
	gw, err := server.Start(ctx, server.Config{
		Secret: secret, Listen: fl.listen,
		NFSPort: fl.nfsPort, MountPort: mountPort, PortmapPort: pmPort, NoPortmap: fl.noPortmap,
		Log: log, Registerer: reg,
	})
	if err != nil {
		return err
	}
	closeGW := func() error {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return gw.Close(cctx)
	}
	if err := gw.SetVolumes(ctx, specs); err != nil {
		_ = closeGW()
		return err
	}
	// Report what is applied (pid and generations) in the state directory, now and after each
	// reload, for the daemon that writes the manifest. Only a manifest has generations.
	reportApplied := func() {
		if fl.volumes == "" {
			return
		}
		dir := fl.locking.stateDir
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			err = server.WriteApplied(filepath.Join(dir, server.AppliedFile), server.Applied{Pid: os.Getpid(), Generations: gw.Generations()})
		}
		if err != nil {
			log.Warn("cannot report the applied volumes", zap.Error(err))
		}
	}
	reportApplied()
	if !fl.locking.off {
		lk, err := gw.StartLocking(ctx, fl.locking.config())
		if err != nil {
			_ = closeGW()
			return err
		}
		defer lk.Close()
	}
	var hs *http.Server
	if fl.metricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		hs = &http.Server{Addr: fl.metricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", zap.Error(err))
			}
		}()
	}
	for done := false; !done; {
		select {
		case <-ctx.Done(): // SIGTERM / SIGINT (main's signal.NotifyContext)
			done = true
		case <-hup:
			log.Info("SIGHUP: reloading the volumes")
			specs, err := load()
			if err == nil {
				err = gw.SetVolumes(ctx, specs)
			}
			if err != nil {
				log.Error("reload", zap.Error(err))
				reportApplied() // the volumes that did switch
				continue
			}
			reportApplied()
			log.Info("reloaded", zap.Strings("volumes", gw.Volumes()))
		}
	}
	log.Info("gateway shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if hs != nil {
		_ = hs.Shutdown(sctx)
	}
	return gw.Close(sctx)
}

// gatewayVolumes reads the volumes to serve: the manifest, or the one volume of --volfile with
// its exports.
func gatewayVolumes(fl gatewayFlags) ([]server.VolumeSpec, error) {
	if fl.volumes != "" {
		return server.LoadManifest(fl.volumes)
	}
	var exps *configs.ExportsConfig
	var err error
	switch {
	case fl.exportCfg != "":
		if exps, err = configs.LoadExports(fl.exportCfg); err != nil {
			return nil, err
		}
	case len(fl.exports) > 0:
		exps = configs.DefaultExports(fl.exports)
		if err := exps.Validate(); err != nil {
			return nil, fmt.Errorf("--export: %w", err)
		}
	default:
		return nil, errors.New("give --export or --export-config")
	}
	vol := fl.volume
	if vol == "" {
		vol = exportVolume(exps.Exports[0])
	}
	var mine []configs.Export
	for _, e := range exps.Exports {
		if exportVolume(e) == vol {
			mine = append(mine, e)
		}
	}
	if len(mine) == 0 {
		return nil, fmt.Errorf("no export of volume %s", vol)
	}
	vf, err := graph.ParseFile(fl.volfile)
	if err != nil {
		return nil, err
	}
	return []server.VolumeSpec{{Name: vol, Volfile: vf, Exports: mine}}, nil
}

// exportVolume is an export's volume: its Volume, else the first component of its path.
func exportVolume(e configs.Export) string {
	if e.Volume != "" {
		return e.Volume
	}
	return strings.SplitN(strings.TrimPrefix(filepath.Clean(e.Path), "/"), "/", 2)[0]
}

// gatewayStats reads the gateway's Prometheus text and prints calls and mean latency per
// procedure, sorted by procedure name.
func gatewayStats(ctx context.Context, out interface{ Write([]byte) (int, error) }, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	type agg struct {
		calls      float64
		sum, count float64
	}
	procs := map[string]*agg{}
	get := func(p string) *agg {
		if procs[p] == nil {
			procs[p] = &agg{}
		}
		return procs[p]
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		var name, labels string
		var v float64
		i := strings.IndexByte(line, '{')
		j := strings.LastIndexByte(line, '}')
		if strings.HasPrefix(line, "#") || i < 0 || j < i {
			continue
		}
		name, labels = line[:i], line[i+1:j]
		if _, err := fmt.Sscan(strings.TrimSpace(line[j+1:]), &v); err != nil {
			continue
		}
		proc := ""
		for _, kv := range strings.Split(labels, ",") {
			if strings.HasPrefix(kv, `proc="`) {
				proc = strings.TrimSuffix(strings.TrimPrefix(kv, `proc="`), `"`)
			}
		}
		switch name {
		case "weft_gateway_nfs3_calls_total":
			get(proc).calls += v
		case "weft_gateway_nfs3_call_seconds_sum":
			get(proc).sum += v
		case "weft_gateway_nfs3_call_seconds_count":
			get(proc).count += v
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	names := make([]string, 0, len(procs))
	for p := range procs {
		names = append(names, p)
	}
	sort.Strings(names)
	fmt.Fprintf(out, "%-12s %12s %14s\n", "PROC", "CALLS", "MEAN_LATENCY")
	for _, p := range names {
		a := procs[p]
		mean := time.Duration(0)
		if a.count > 0 {
			mean = time.Duration(a.sum / a.count * float64(time.Second))
		}
		fmt.Fprintf(out, "%-12s %12.0f %14s\n", p, a.calls, mean)
	}
	return nil
}
