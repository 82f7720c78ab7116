package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/weftfs/weft/membership/api"
)

// weft volume profile NAME start|stop|info (gluster volume profile).
func addProfileCommand(vc *cobra.Command, mf *mgmtFlags) {
	vc.AddCommand(&cobra.Command{
		Use:   "profile NAME start|stop|info",
		Short: "Measure fop counts and latencies on every brick (io-stats), and show them",
		Long: `start turns on io-stats latency measurement and fop counting on every brick of the volume
(diagnostics.latency-measurement and diagnostics.count-fop-hits, applied live); info shows each
brick's cumulative figures (since the brick process started) and those of the interval since
the previous info; stop turns both options off. Latency minimum and maximum are the bounds of
io-stats' power-of-two latency buckets.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[1] {
			case "start", "stop", "info":
			default:
				return fmt.Errorf("volume profile: unknown action %q (start, stop, info)", args[1])
			}
			var rep api.ProfileReply
			if err := mf.client().Do(cmd.Context(), http.MethodPost, "/v1/volumes/profile", &api.ProfileRequest{Name: args[0], Action: args[1]}, &rep); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if mf.json {
				return printJSON(w, rep)
			}
			if args[1] != "info" {
				fmt.Fprintln(w, rep.Message)
				return nil
			}
			printProfile(w, &rep)
			return nil
		},
	})
}

// fopName is the name GlusterFS's profile output uses for a fop.
func fopName(f string) string {
	switch f {
	case "Readv":
		return "READ"
	case "Writev":
		return "WRITE"
	}
	return strings.ToUpper(f)
}

func printProfileStats(w io.Writer, title string, s *api.ProfileStats) {
	fmt.Fprintf(w, "%s:\n", title)
	fmt.Fprintf(w, " %%-latency   Avg-latency   Min-Latency   Max-Latency   No. of calls         Fop\n")
	fmt.Fprintf(w, " ---------   -----------   -----------   -----------   ------------        ----\n")
	us := func(v float64) string {
		if v < 0 {
			return "inf"
		}
		return fmt.Sprintf("%.2f us", v)
	}
	for _, f := range s.Fops {
		fmt.Fprintf(w, "%10.2f %13s %13s %13s %14d %12s\n", f.PctLatency, us(f.AvgLatencyUs), us(f.MinLatencyUs), us(f.MaxLatencyUs), f.Calls, fopName(f.Fop))
	}
	fmt.Fprintf(w, "\n    Duration: %d seconds\n   Data Read: %d bytes\nData Written: %d bytes\n\n", int64(s.DurationSec), s.ReadBytes, s.WrittenBytes)
}

// printProfile prints profile info as `gluster volume profile NAME info` does.
func printProfile(w io.Writer, rep *api.ProfileReply) {
	for _, b := range rep.Bricks {
		title := "Brick: " + b.Brick
		fmt.Fprintf(w, "%s\n%s\n", title, strings.Repeat("-", len(title)))
		if b.Error != "" {
			fmt.Fprintf(w, "not available: %s\n\n", b.Error)
			continue
		}
		printProfileStats(w, "Cumulative Stats", &b.Cumulative)
		printProfileStats(w, fmt.Sprintf("Interval %d Stats", b.Interval), &b.IntervalStats)
	}
}
