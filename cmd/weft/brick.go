package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/weftfs/weft/bricks/server"
	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/volfile"
	_ "github.com/weftfs/weft/graph/xlators/all"
	iostats "github.com/weftfs/weft/graph/xlators/debug/io-stats"
	"github.com/weftfs/weft/graph/xlators/features/locks"
)

// weft brick: one brick process (GlusterFS's glusterfsd started for a brick). The brick path is
// on the command line as --brick-name (as glusterfsd's --brick-name) so tools find brick
// processes with ps/pgrep; when omitted, the volfile path stands for it and the statedump is
// named after the storage/posix directory found in the volfile.
func init() {
	var volfilePath, listen, brickName, logLevel, control string
	var procs int
	cmd := &cobra.Command{
		Use:   "brick --volfile FILE [--listen ADDR:PORT] [--brick-name PATH]",
		Short: "Run one brick process from a brick volfile whose top is protocol/server",
		Long: `Run one brick: build the graph of a brick volfile (storage/posix → features/locks →
debug/io-stats → protocol/server), serve it until SIGTERM or SIGINT, and write a statedump
(inode table, open fds per client, io-stats counters, locks held, options) under the temporary
directory on SIGUSR1; its path is logged.

On SIGHUP the brick re-reads its volfile and applies it live (graph.Active.Switch): option
changes are reconfigured in place, clients keep their connections, fds and locks. A volfile
whose graph has another shape or listen address is not applied (it would need a second
listener and would lose the clients' fds and locks): the brick logs it and keeps serving;
the daemon restarts a brick for such a change.

With --control-socket, the brick serves its io-stats profile (GET /profile, JSON) on that unix
socket for the local daemon (weft volume profile).

--procs sets how many fops run on CPUs at once (Go's GOMAXPROCS; GlusterFS's brick has its
io-threads for the same reason). A fop blocked in the disk (fsync, a cold read) keeps its
share until the Go runtime takes it back, which can take milliseconds; with only as many as
there are CPUs, a few fsyncs stall the network side of the brick. The default is twice the
CPUs, or GOMAXPROCS from the environment when set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := setBrickProcs(procs); err != nil {
				return err
			}
			return runBrick(cmd.Context(), volfilePath, listen, brickName, logLevel, control)
		},
	}
	cmd.Flags().StringVar(&volfilePath, "volfile", "", "brick volfile (required)")
	cmd.Flags().StringVar(&listen, "listen", "", "override the listen option of protocol/server (ADDR:PORT)")
	cmd.Flags().StringVar(&brickName, "brick-name", "", "the brick path, for process listings and statedump names")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&control, "control-socket", "", "unix socket serving the brick's profile to the local daemon")
	cmd.Flags().IntVar(&procs, "procs", 0, "fops on CPUs at once (GOMAXPROCS), 1-4096; 0: twice the CPUs, or GOMAXPROCS from the environment")
	_ = cmd.MarkFlagRequired("volfile")
	rootCmd.AddCommand(cmd)
}

// setBrickProcs applies --procs (0: the default) before anything starts goroutines that size
// themselves by GOMAXPROCS (the epoll transport's loops).
func setBrickProcs(procs int) error {
	switch {
	case procs < 0 || procs > 4096:
		return fmt.Errorf("--procs %d: want 1 to 4096, or 0 for the default", procs)
	case procs == 0 && os.Getenv("GOMAXPROCS") != "":
		return nil
	case procs == 0:
		procs = 2 * runtime.NumCPU()
	}
	runtime.GOMAXPROCS(procs)
	return nil
}

func runBrick(ctx context.Context, volfilePath, listen, brickName, logLevel, control string) error {
	// SIGHUP first: a reload signal arriving while the brick starts must not kill it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	zc.Encoding = "console"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	log, err := zc.Build()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	vf, err := loadBrickVolfile(volfilePath, listen)
	if err != nil {
		return err
	}
	if brickName == "" {
		for _, v := range vf.Volumes {
			if v.Type == "storage/posix" && v.Options["directory"] != "" {
				brickName = v.Options["directory"]
			}
		}
	}
	if brickName == "" {
		brickName = volfilePath
	}
	a := graph.NewActive(log, nil)
	if err := a.Switch(ctx, vf); err != nil {
		return fmt.Errorf("%s: %w", volfilePath, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := a.Close(cctx); err != nil {
			log.Warn("closing the brick graph", zap.Error(err))
		}
	}()
	srv, _ := a.Current().Top.(*server.Server)
	if control != "" {
		stop, err := serveControl(ctx, control, newProfiler(a.Current, time.Now()))
		if err != nil {
			return err
		}
		defer stop()
	}
	log.Info("brick started", zap.String("brick", brickName), zap.String("volfile", volfilePath), zap.Stringer("listen", srv.Addr()), zap.Int("pid", os.Getpid()), zap.Int("procs", runtime.GOMAXPROCS(0)))

	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	for {
		select {
		case <-ctx.Done():
			log.Info("brick stopping", zap.String("brick", brickName))
			return nil
		case <-usr1:
			path, err := writeStatedump(a.Current(), brickName)
			if err != nil {
				log.Error("statedump failed", zap.Error(err))
				continue
			}
			log.Info("statedump written", zap.String("path", path))
		case <-hup:
			if err := reloadBrick(ctx, a, vf, volfilePath, listen); err != nil {
				log.Error("volfile not applied; the brick serves its previous configuration", zap.String("volfile", volfilePath), zap.Error(err))
				continue
			}
			log.Info("volfile reloaded", zap.String("volfile", volfilePath))
		}
	}
}

// loadBrickVolfile reads a brick volfile, checks that its top is protocol/server and applies
// the --listen override.
func loadBrickVolfile(path, listen string) (*volfile.Volfile, error) {
	vf, err := graph.ParseFile(path)
	if err != nil {
		return nil, err
	}
	if len(vf.Volumes) == 0 {
		return nil, fmt.Errorf("%s: no volumes", path)
	}
	top := vf.Volumes[len(vf.Volumes)-1]
	if top.Type != server.Type {
		return nil, fmt.Errorf("%s: the last volume %s is %s; a brick volfile ends with %s", path, top.Name, top.Type, server.Type)
	}
	if listen != "" {
		if top.Options == nil {
			top.Options = map[string]string{}
		}
		delete(top.Options, "transport.socket.listen-address")
		top.Options["listen"] = listen
	}
	return vf, nil
}

// reloadBrick applies the volfile at path to the running graph in place. first is the volfile
// the brick started with: a new one whose graph has another shape or server listen address is
// refused, since its new protocol/server could not take over the listener nor the clients'
// fds and locks (the daemon restarts the brick for such a change).
func reloadBrick(ctx context.Context, a *graph.Active, first *volfile.Volfile, path, listen string) error {
	vf, err := loadBrickVolfile(path, listen)
	if err != nil {
		return err
	}
	if !a.Current().SameTopology(vf) {
		return errors.New("the new volfile changes the graph's translators; it applies when the brick restarts")
	}
	if a, b := serverListen(first), serverListen(vf); a != b {
		return fmt.Errorf("the new volfile moves the listener (%s → %s); it applies when the brick restarts", a, b)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return a.Switch(sctx, vf)
}

func serverListen(vf *volfile.Volfile) string {
	o := vf.Volumes[len(vf.Volumes)-1].Options
	if l := o["listen"]; l != "" {
		return l
	}
	return o["transport.socket.listen-address"]
}

// statedumpName follows GlusterFS: the brick path with '/' turned into '-' (leading one dropped),
// the pid, "dump" and the time: /bricks/b1 → bricks-b1.1234.dump.1700000000.
func statedumpName(brick string, pid int, now time.Time) string {
	b := strings.Trim(filepath.Clean(brick), "/")
	b = strings.ReplaceAll(b, "/", "-")
	if b == "" || b == "." {
		b = "brick"
	}
	return fmt.Sprintf("%s.%d.dump.%d", b, pid, now.Unix())
}

func writeStatedump(g *graph.Graph, brick string) (string, error) {
	path := filepath.Join(os.TempDir(), statedumpName(brick, os.Getpid(), time.Now()))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(f, "DUMP-START-TIME: %s\n\n[brick]\npath=%s\npid=%d\nlive-fds=%d\n\n", time.Now().UTC().Format(time.RFC3339Nano), brick, os.Getpid(), graph.LiveFDs())
	for i := len(g.Xlators) - 1; i >= 0; i-- {
		dumpXlator(f, g.Xlators[i])
	}
	fmt.Fprintf(f, "\nDUMP-END-TIME: %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	return path, errors.Join(f.Sync(), f.Close())
}

func dumpXlator(w io.Writer, x graph.Xlator) {
	switch v := x.(type) {
	case *server.Server:
		v.Statedump(w)
	case *locks.Locks:
		s := v.Stats()
		fmt.Fprintf(w, "\n[features/locks.%s]\ninodes=%d\nposixlk.granted=%d\nposixlk.blocked=%d\ninodelk.granted=%d\ninodelk.blocked=%d\nentrylk.granted=%d\nentrylk.blocked=%d\n",
			x.Name(), s.Inodes, s.Posix, s.PosixBlocked, s.Inodelks, s.InodelksBlocked, s.Entrylks, s.EntrylksBlocked)
	case *iostats.IOStats:
		s := v.Snapshot()
		fmt.Fprintf(w, "\n[debug/io-stats.%s]\nread-bytes=%d\nwritten-bytes=%d\n", x.Name(), s.ReadBytes, s.WrittenBytes)
		for f := graph.Fop(0); f < graph.NumFops; f++ {
			fs := s.Fops[f]
			if fs.Count == 0 {
				continue
			}
			fmt.Fprintf(w, "fop.%s.count=%d\nfop.%s.errors=%d\nfop.%s.mean-latency=%s\n", f, fs.Count, f, fs.Errors, f, fs.Mean())
		}
	default:
		fmt.Fprintf(w, "\n[%s.%s]\n", x.Type(), x.Name())
	}
	dumpOptions(w, x)
}

// dumpOptions lists the translator's given options (the secret excepted), so a statedump shows
// the configuration a reload applied.
func dumpOptions(w io.Writer, x graph.Xlator) {
	m := x.Options().Map()
	keys := make([]string, 0, len(m))
	for k := range m {
		if strings.Contains(k, "secret") {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "option.%s=%s\n", k, m[k])
	}
}
