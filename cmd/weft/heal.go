package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/weftfs/weft/graph"
	_ "github.com/weftfs/weft/graph/xlators/all"
	"github.com/weftfs/weft/graph/xlators/cluster/replicate"
)

// weft heal: the self-heal tools of a client volfile (GlusterFS's "gluster volume heal VOL
// [info|full]" and the glustershd process) for every cluster/replicate translator in it.
func init() {
	var volfilePath string
	var wait, interval time.Duration
	var verbose bool
	cmd := &cobra.Command{
		Use:   "heal --volfile CLIENT.vol info|index|full|daemon",
		Short: "Show or run self-heal of the replicate translators of a client volfile",
		Long: `info    per brick, the files its index lists as needing heal, and which are in split-brain
index   heal every file listed in the bricks' indices (what the self-heal daemon does)
full    crawl the whole volume and heal everything that differs
daemon  run the self-heal daemon: an index heal every --interval and when a brick comes back`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"info", "index", "full", "daemon"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHeal(cmd.Context(), cmd.OutOrStdout(), volfilePath, args[0], wait, interval, verbose)
		},
	}
	cmd.Flags().StringVar(&volfilePath, "volfile", "", "client volfile (required)")
	cmd.Flags().DurationVar(&wait, "wait", 10*time.Second, "how long to wait for the bricks to connect")
	cmd.Flags().DurationVar(&interval, "interval", 10*time.Minute, "daemon: time between index heals")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "log to stderr")
	_ = cmd.MarkFlagRequired("volfile")
	rootCmd.AddCommand(cmd)
}

func runHeal(ctx context.Context, out io.Writer, volfilePath, what string, wait, interval time.Duration, verbose bool) error {
	switch what {
	case "info", "index", "full", "daemon":
	default:
		return fmt.Errorf("heal: unknown action %q (info, index, full or daemon)", what)
	}
	log := zap.NewNop()
	if verbose {
		l, err := zap.NewDevelopment()
		if err != nil {
			return err
		}
		log = l
	}
	g, err := graph.BuildFile(volfilePath, log)
	if err != nil {
		return err
	}
	var afrs []*replicate.AFR
	for _, x := range g.Xlators {
		if a, ok := x.(*replicate.AFR); ok {
			afrs = append(afrs, a)
		}
	}
	if len(afrs) == 0 {
		return fmt.Errorf("heal: %s has no %s volume", volfilePath, replicate.Type)
	}
	if err := g.Activate(ctx); err != nil {
		return err
	}
	defer g.Fini()
	// Wait until every child of every replicate is up, or --wait passes.
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		all := true
		for _, a := range afrs {
			for i := range a.Children() {
				all = all && a.ChildUp(i)
			}
		}
		if all {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	switch what {
	case "info":
		return healInfo(ctx, out, afrs)
	case "daemon":
		done := make(chan struct{})
		for _, a := range afrs {
			go func(a *replicate.AFR) {
				replicate.RunHealDaemon(ctx, a, interval)
				done <- struct{}{}
			}(a)
		}
		for range afrs {
			<-done
		}
		return nil
	}
	split := 0
	var firstErr error
	for _, a := range afrs {
		var sum replicate.HealSummary
		var err error
		if what == "full" {
			sum, err = replicate.HealFull(ctx, a)
		} else {
			sum, err = replicate.HealAll(ctx, a)
		}
		fmt.Fprintf(out, "%s: scanned %d, healed %d, split-brain %d, failed %d, stale index entries removed %d\n",
			a.Name(), sum.Scanned, sum.Healed, len(sum.SplitBrain), len(sum.Failed), sum.Purged)
		for _, g := range sum.SplitBrain {
			fmt.Fprintf(out, "  split-brain: <gfid:%s>\n", g)
		}
		var failed []string
		for g, e := range sum.Failed {
			failed = append(failed, fmt.Sprintf("  failed: <gfid:%s>: %s", g, e))
		}
		sort.Strings(failed)
		for _, f := range failed {
			fmt.Fprintln(out, f)
		}
		split += len(sum.SplitBrain)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", a.Name(), err)
		}
	}
	if firstErr != nil {
		return firstErr
	}
	if split > 0 {
		return errors.New("heal: files in split-brain were left alone (set favorite-child-policy or resolve them by hand)")
	}
	return nil
}

func healInfo(ctx context.Context, out io.Writer, afrs []*replicate.AFR) error {
	for _, a := range afrs {
		infos, err := replicate.HealInfo(ctx, a)
		if err != nil {
			return err
		}
		for _, ci := range infos {
			fmt.Fprintf(out, "Brick %s\n", ci.Child)
			switch {
			case !ci.Up:
				fmt.Fprintf(out, "Status: Transport endpoint is not connected\nNumber of entries: -\n\n")
				continue
			case ci.Err != "":
				fmt.Fprintf(out, "Status: %s\n", ci.Err)
			default:
				fmt.Fprintf(out, "Status: Connected\n")
			}
			sort.Slice(ci.Entries, func(i, j int) bool { return ci.Entries[i].GFID.String() < ci.Entries[j].GFID.String() })
			for _, e := range ci.Entries {
				name := e.Path
				if name == "" {
					name = "<gfid:" + e.GFID.String() + ">"
				}
				switch e.Status {
				case "split-brain":
					fmt.Fprintf(out, "%s - Is in split-brain\n", name)
				case "possibly healing":
					fmt.Fprintf(out, "%s - Possibly undergoing heal\n", name)
				default:
					fmt.Fprintln(out, name)
				}
			}
			fmt.Fprintf(out, "Number of entries: %d\n\n", len(ci.Entries))
		}
	}
	return nil
}
