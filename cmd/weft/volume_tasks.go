package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/weftfs/weft/membership/api"
)

// weft volume rebalance NAME start|status|stop and weft volume heal NAME info|full.
func addTaskCommands(vc *cobra.Command, mf *mgmtFlags) {
	var wait bool
	rb := &cobra.Command{
		Use:   "rebalance NAME start|status|stop",
		Short: "Fix the layout of every directory and move files to the bricks their names hash to",
		Long: `start   starts the rebalance on the daemon you ask (it runs there, in the background)
status  shows its progress, asked of every node
stop    stops it; files already moved stay where they went

On a terminal, start and status follow the progress until the rebalance ends (--wait=false: do not).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[1] {
			case "start", "status", "stop":
			default:
				return fmt.Errorf("volume rebalance: unknown action %q (start, status, stop)", args[1])
			}
			var r api.TaskReply
			if err := mf.client().Do(cmd.Context(), http.MethodPost, "/v1/volumes/rebalance", &api.TaskRequest{Name: args[0], Action: args[1]}, &r); err != nil {
				return err
			}
			return showTask(cmd.Context(), cmd.OutOrStdout(), mf, &r, wait && args[1] != "stop", func(ctx context.Context) (*api.TaskReply, error) {
				var r api.TaskReply
				err := mf.client().Do(ctx, http.MethodPost, "/v1/volumes/rebalance", &api.TaskRequest{Name: args[0], Action: "status"}, &r)
				return &r, err
			})
		},
	}
	rb.Flags().BoolVar(&wait, "wait", true, "on a terminal, follow the progress until the task ends")
	vc.AddCommand(rb)
	vc.AddCommand(&cobra.Command{
		Use:   "heal NAME info|full",
		Short: "Show the files needing self-heal (info) or heal the whole volume now (full)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[1] != "info" && args[1] != "full" {
				return fmt.Errorf("volume heal: unknown action %q (info, full)", args[1])
			}
			var r api.HealReply
			if err := mf.client().Do(cmd.Context(), http.MethodPost, "/v1/volumes/heal", &api.HealRequest{Name: args[0], Action: args[1]}, &r); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if mf.json {
				return printJSON(w, r)
			}
			printHeal(w, &r)
			if len(r.SplitBrain) > 0 {
				return fmt.Errorf("volume heal: %d file(s) in split-brain were left alone", len(r.SplitBrain))
			}
			return nil
		},
	})
}

func printHeal(w io.Writer, r *api.HealReply) {
	for _, b := range r.Bricks {
		fmt.Fprintf(w, "Brick %s\n", b.Brick)
		switch {
		case !b.Up:
			fmt.Fprintf(w, "Status: Transport endpoint is not connected\nNumber of entries: -\n\n")
			continue
		case b.Error != "":
			fmt.Fprintf(w, "Status: %s\n", b.Error)
		default:
			fmt.Fprintln(w, "Status: Connected")
		}
		for _, e := range b.Entries {
			name := e.Path
			if name == "" {
				name = "<gfid:" + e.GFID + ">"
			}
			switch e.Status {
			case "split-brain":
				name += " - Is in split-brain"
			case "possibly healing":
				name += " - Possibly undergoing heal"
			}
			fmt.Fprintln(w, name)
		}
		fmt.Fprintf(w, "Number of entries: %d\n\n", len(b.Entries))
	}
	for _, g := range r.SplitBrain {
		fmt.Fprintf(w, "split-brain: <gfid:%s>\n", g)
	}
	for _, f := range r.Failed {
		fmt.Fprintf(w, "failed: <gfid:%s\n", f)
	}
	fmt.Fprintln(w, r.Message)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func humanBytes(n uint64) string {
	const u = 1024
	if n < u {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(u), 0
	for m := n / u; m >= u; m /= u {
		div *= u
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// taskLine is one line about a task.
func taskLine(t *api.TaskStatus) string {
	s := fmt.Sprintf("%s on %s: %s: %d dirs, %d scanned, %d migrated, %d skipped, %d failed, %s",
		t.Kind, t.Node, t.State, t.Dirs, t.Scanned, t.Migrated, t.Skipped, t.Failed, humanBytes(t.Bytes))
	if t.Committed > 0 {
		s += fmt.Sprintf(", %d dirs committed", t.Committed)
	}
	if t.Leftovers > 0 {
		s += fmt.Sprintf(", %d rename leftovers removed", t.Leftovers)
	}
	if t.Error != "" {
		s += " (" + t.Error + ")"
	}
	return s
}

// showTask prints a task reply; on a terminal with follow set it redraws a progress line
// until the task ends. --json prints the reply as JSON once.
func showTask(ctx context.Context, w io.Writer, mf *mgmtFlags, r *api.TaskReply, follow bool, poll func(context.Context) (*api.TaskReply, error)) error {
	if mf.json {
		return printJSON(w, r)
	}
	fmt.Fprintln(w, r.Message)
	if r.Task == nil {
		return nil
	}
	if !follow || !isTerminal(w) {
		fmt.Fprintln(w, taskLine(r.Task))
		return taskErr(r.Task)
	}
	spin := `|/-\`
	t := r.Task
	for i := 0; ; i++ {
		line := taskLine(t)
		if t.State == api.TaskRunning {
			cur := t.Current
			if len(cur) > 40 {
				cur = "…" + cur[len(cur)-39:]
			}
			line = fmt.Sprintf("%c %s %s", spin[i%len(spin)], line, cur)
		}
		fmt.Fprintf(w, "\r\033[K%s", line)
		if t.State != api.TaskRunning {
			fmt.Fprintln(w)
			return taskErr(t)
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(w)
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		nr, err := poll(ctx)
		if err != nil {
			fmt.Fprintln(w)
			return err
		}
		if nr.Task != nil {
			t = nr.Task
		}
	}
}

func taskErr(t *api.TaskStatus) error {
	if t.State == api.TaskFailed {
		return fmt.Errorf("%s failed: %s", t.Kind, strings.TrimSpace(t.Error))
	}
	return nil
}

// removeBrickTask runs remove-brick start or status and shows the migration's progress.
func removeBrickTask(cmd *cobra.Command, mf *mgmtFlags, req *api.BrickRequest) error {
	var r api.TaskReply
	if err := mf.client().Do(cmd.Context(), http.MethodPost, "/v1/volumes/remove-brick", req, &r); err != nil {
		return err
	}
	st := *req
	st.Action = "status"
	return showTask(cmd.Context(), cmd.OutOrStdout(), mf, &r, true, func(ctx context.Context) (*api.TaskReply, error) {
		var r api.TaskReply
		err := mf.client().Do(ctx, http.MethodPost, "/v1/volumes/remove-brick", &st, &r)
		return &r, err
	})
}
