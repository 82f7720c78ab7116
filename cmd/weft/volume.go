package main

import (
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/glusterd"
)

// parseCreateArgs parses GlusterFS's `volume create NAME [replica N [arbiter 1]] BRICK... [force]`.
func parseCreateArgs(args []string) (*api.CreateRequest, error) {
	if len(args) < 2 {
		return nil, fmt.Errorf("usage: weft volume create NAME [replica N [arbiter 1]] HOST:/path ... [force]")
	}
	req := &api.CreateRequest{Name: args[0], Replica: 1}
	rest := args[1:]
	num := func(word string) (int, error) {
		if len(rest) < 2 {
			return 0, fmt.Errorf("volume create: %s needs a count", word)
		}
		n, err := strconv.Atoi(rest[1])
		if err != nil || n < 1 {
			return 0, fmt.Errorf("volume create: %s count %q is not a positive number", word, rest[1])
		}
		rest = rest[2:]
		return n, nil
	}
	var err error
	if len(rest) > 0 && rest[0] == "replica" {
		if req.Replica, err = num("replica"); err != nil {
			return nil, err
		}
		if len(rest) > 0 && rest[0] == "arbiter" {
			if req.Arbiter, err = num("arbiter"); err != nil {
				return nil, err
			}
		}
	}
	if len(rest) > 0 && rest[len(rest)-1] == "force" {
		req.Force = true
		rest = rest[:len(rest)-1]
	}
	bricks, err := brickArgs("volume create", rest)
	if err != nil {
		return nil, err
	}
	req.Bricks = bricks
	return req, nil
}

func brickArgs(op string, args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("%s: no bricks given (HOST:/path ...)", op)
	}
	for _, a := range args {
		if !strings.Contains(a, ":/") {
			return nil, fmt.Errorf("%s: %q is not a brick (expected HOST:/absolute/path)", op, a)
		}
	}
	return args, nil
}

// weft volume ... (gluster volume ...).
func init() {
	var mf mgmtFlags
	vc := &cobra.Command{Use: "volume", Short: "Create, start, inspect and change volumes (through the local daemon)"}
	addMgmtFlags(vc, &mf)
	post := func(path string, in any) func(cmd *cobra.Command) error {
		return func(cmd *cobra.Command) error { return mf.post(cmd.Context(), cmd.OutOrStdout(), path, in) }
	}
	vc.AddCommand(&cobra.Command{
		Use:   "create NAME [replica N [arbiter 1]] HOST:/path ... [force]",
		Short: "Create a volume (bricks must exist and be empty unless force)",
		Long: `Create a volume. Bricks must exist and be empty, unless force is given. With force, bricks
that already carry a volume id (a GlusterFS volume's, or a deleted volume's) keep their data and
the new volume takes that id: give the old volume's name and its bricks in its order to serve a
GlusterFS volume in place.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := parseCreateArgs(args)
			if err != nil {
				return err
			}
			if err := checkAgainstGlusterd(glusterd.DefaultDir, req); err != nil {
				return err
			}
			return post("/v1/volumes/create", req)(cmd)
		},
	})
	for _, op := range []string{"start", "stop", "delete", "statedump"} {
		use := op + " NAME"
		if op == "start" || op == "stop" {
			use += " [force]"
		}
		vc.AddCommand(&cobra.Command{
			Use:   use,
			Short: strings.ToUpper(op[:1]) + op[1:] + " a volume",
			Args:  cobra.RangeArgs(1, 2),
			RunE: func(cmd *cobra.Command, args []string) error {
				req := &api.VolumeRequest{Name: args[0]}
				if len(args) == 2 {
					if args[1] != "force" || (op != "start" && op != "stop") {
						return fmt.Errorf("volume %s: unexpected argument %q", op, args[1])
					}
					req.Force = true
				}
				return post("/v1/volumes/"+op, req)(cmd)
			},
		})
	}
	vc.AddCommand(&cobra.Command{
		Use:   "set NAME KEY VALUE [KEY VALUE ...]",
		Short: "Set volume options (validated against the translators' option specs; applied by regenerating volfiles)",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args)%2 != 1 {
				return fmt.Errorf("volume set: options come as KEY VALUE pairs")
			}
			req := &api.SetRequest{Name: args[0], Options: map[string]string{}}
			for i := 1; i < len(args); i += 2 {
				req.Options[args[i]] = args[i+1]
			}
			return post("/v1/volumes/set", req)(cmd)
		},
	})
	vc.AddCommand(&cobra.Command{
		Use:   "reset NAME [KEY ...|all]",
		Short: "Reset volume options to their defaults",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &api.ResetRequest{Name: args[0]}
			if !(len(args) == 2 && args[1] == "all") {
				req.Keys = args[1:]
			}
			return post("/v1/volumes/reset", req)(cmd)
		},
	})
	vc.AddCommand(&cobra.Command{
		Use:   "info [NAME]",
		Short: "Show volume definitions",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := ""
			if len(args) == 1 {
				q = "?name=" + url.QueryEscape(args[0])
			}
			var vs []api.VolumeInfo
			if err := mf.get(cmd.Context(), "/v1/volumes"+q, &vs); err != nil {
				return err
			}
			if mf.json {
				return printJSON(cmd.OutOrStdout(), vs)
			}
			printInfo(cmd.OutOrStdout(), vs)
			return nil
		},
	})
	vc.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List volume names",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var vs []api.VolumeInfo
			if err := mf.get(cmd.Context(), "/v1/volumes", &vs); err != nil {
				return err
			}
			if mf.json {
				names := []string{}
				for _, v := range vs {
					names = append(names, v.Name)
				}
				return printJSON(cmd.OutOrStdout(), names)
			}
			if len(vs) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No volumes present in cluster")
			}
			for _, v := range vs {
				fmt.Fprintln(cmd.OutOrStdout(), v.Name)
			}
			return nil
		},
	})
	vc.AddCommand(&cobra.Command{
		Use:   "status [NAME]",
		Short: "Show bricks (port, pid, online) and gateways of volumes",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := ""
			if len(args) == 1 {
				q = "?name=" + url.QueryEscape(args[0])
			}
			var vs []api.VolumeStatus
			if err := mf.get(cmd.Context(), "/v1/volumes/status"+q, &vs); err != nil {
				return err
			}
			if mf.json {
				return printJSON(cmd.OutOrStdout(), vs)
			}
			printStatus(cmd.OutOrStdout(), vs)
			return nil
		},
	})
	var brick string
	vf := &cobra.Command{
		Use:   "volfile NAME [--brick HOST:/path]",
		Short: "Print the client volfile of a volume, or a brick's volfile",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"volume": {args[0]}}
			if brick != "" {
				q.Set("brick", brick)
			}
			var out map[string]string
			if err := mf.get(cmd.Context(), "/v1/volfile?"+q.Encode(), &out); err != nil {
				return err
			}
			_, err := io.WriteString(cmd.OutOrStdout(), out["volfile"])
			return err
		},
	}
	vf.Flags().StringVar(&brick, "brick", "", "the brick (HOST:/path) whose volfile to print")
	vc.AddCommand(vf)
	vc.AddCommand(&cobra.Command{
		Use:   "add-brick NAME [replica N] HOST:/path ... [force]",
		Short: "Add bricks (whole replica sets) to a volume",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &api.BrickRequest{Name: args[0]}
			rest := args[1:]
			if len(rest) >= 2 && rest[0] == "replica" {
				n, err := strconv.Atoi(rest[1])
				if err != nil || n < 1 {
					return fmt.Errorf("volume add-brick: replica count %q is not a positive number", rest[1])
				}
				req.Replica, rest = n, rest[2:]
			}
			if len(rest) > 0 && rest[len(rest)-1] == "force" {
				req.Force, rest = true, rest[:len(rest)-1]
			}
			bricks, err := brickArgs("volume add-brick", rest)
			if err != nil {
				return err
			}
			req.Bricks = bricks
			return post("/v1/volumes/add-brick", req)(cmd)
		},
	})
	vc.AddCommand(&cobra.Command{
		Use:   "remove-brick NAME HOST:/path ... start|status|stop|commit|force",
		Short: "Remove whole replica sets from a volume",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			action := args[len(args)-1]
			req := &api.BrickRequest{Name: args[0], Action: action}
			rest := args[1 : len(args)-1]
			if action == "commit" && len(rest) > 0 && rest[len(rest)-1] == "commit" {
				rest = rest[:len(rest)-1]
			}
			if len(rest) > 0 {
				bricks, err := brickArgs("volume remove-brick", rest)
				if err != nil {
					return err
				}
				req.Bricks = bricks
			}
			if action == "start" || action == "status" {
				return removeBrickTask(cmd, &mf, req)
			}
			return post("/v1/volumes/remove-brick", req)(cmd)
		},
	})
	vc.AddCommand(&cobra.Command{
		Use:   "replace-brick NAME OLD-HOST:/path NEW-HOST:/path commit force",
		Short: "Replace a brick by an empty one (replica heal repopulates it)",
		Args:  cobra.ExactArgs(5),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[3] != "commit" || args[4] != "force" {
				return fmt.Errorf("volume replace-brick: only 'commit force' is supported, as in GlusterFS")
			}
			if _, err := brickArgs("volume replace-brick", args[1:3]); err != nil {
				return err
			}
			return post("/v1/volumes/replace-brick", &api.BrickRequest{Name: args[0], Old: args[1], New: args[2]})(cmd)
		},
	})
	addTaskCommands(vc, &mf)
	addProfileCommand(vc, &mf)
	vc.AddCommand(importCommand(&mf))
	rootCmd.AddCommand(vc)
}

func printInfo(w io.Writer, vs []api.VolumeInfo) {
	if len(vs) == 0 {
		fmt.Fprintln(w, "No volumes present")
		return
	}
	for i, v := range vs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Volume Name: %s\nType: %s\nVolume ID: %s\nStatus: %s\nNumber of Bricks: %s\nTransport-type: tcp\nBricks:\n",
			v.Name, v.Type, v.ID, v.Status, v.Layout)
		for j, b := range v.Bricks {
			arb := ""
			if v.Arbiter > 0 && (j+1)%v.Replica == 0 {
				arb = " (arbiter)"
			}
			fmt.Fprintf(w, "Brick%d: %s%s\n", j+1, b.String(), arb)
		}
		if len(v.Options) > 0 {
			fmt.Fprintln(w, "Options Reconfigured:")
			keys := make([]string, 0, len(v.Options))
			for k := range v.Options {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "%s: %s\n", k, v.Options[k])
			}
		}
		if v.RemoveBrick != nil {
			fmt.Fprintf(w, "Remove-brick: %s (%s)\n", strings.Join(v.RemoveBrick.Bricks, " "), v.RemoveBrick.Status)
		}
	}
}

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

func printStatus(w io.Writer, vs []api.VolumeStatus) {
	for i, v := range vs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Status of volume: %s (%s)\n", v.Name, v.Status)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "Process\tTCP Port\tOnline\tPid\tNote")
		for _, b := range v.Bricks {
			pid := "N/A"
			if b.Pid > 0 {
				pid = strconv.Itoa(b.Pid)
			}
			fmt.Fprintf(tw, "Brick %s:%s\t%d\t%s\t%s\t%s\n", b.Host, b.Path, b.Port, yn(b.Online), pid, b.LastErr)
		}
		for _, g := range v.Gateways {
			pid := "N/A"
			if g.Pid > 0 {
				pid = strconv.Itoa(g.Pid)
			}
			fmt.Fprintf(tw, "NFS gateway on %s\t%d\t%s\t%s\t%s\n", g.Host, g.Port, yn(g.Online), pid, g.LastErr)
		}
		_ = tw.Flush()
		if v.HealBacklog == nil {
			fmt.Fprintln(w, "Heal backlog: -")
		} else {
			fmt.Fprintf(w, "Heal backlog: %d\n", *v.HealBacklog)
		}
		for _, p := range v.SelfHeal {
			fmt.Fprintf(w, "Self-heal daemon on %s: online %s, pid %d %s\n", p.Host, yn(p.Online), p.Pid, p.LastErr)
		}
		if v.Task != nil {
			fmt.Fprintln(w, taskLine(v.Task))
		}
	}
}
