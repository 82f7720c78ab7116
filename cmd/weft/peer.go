package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/weftfs/weft/membership/api"
)

// weft peer probe|detach|status (gluster peer ...).
func init() {
	var mf mgmtFlags
	pc := &cobra.Command{Use: "peer", Short: "Manage the cluster's peers (through the local daemon)"}
	addMgmtFlags(pc, &mf)
	pc.AddCommand(&cobra.Command{
		Use:   "probe HOST[:PORT]",
		Short: "Add the daemon on HOST to this cluster (it must hold no volumes and no other peers)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return mf.post(cmd.Context(), cmd.OutOrStdout(), "/v1/peers/probe", &api.ProbeRequest{Host: args[0]})
		},
	})
	pc.AddCommand(&cobra.Command{
		Use:   "detach HOST",
		Short: "Remove a peer that holds no bricks",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return mf.post(cmd.Context(), cmd.OutOrStdout(), "/v1/peers/detach", &api.DetachRequest{Host: args[0]})
		},
	})
	status := &cobra.Command{
		Use:     "status",
		Aliases: []string{"list"},
		Short:   "List the peers with their state (gossip) and the raft leader",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ps []api.PeerStatus
			if err := mf.get(cmd.Context(), "/v1/peers", &ps); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if mf.json {
				return printJSON(w, ps)
			}
			fmt.Fprintf(w, "Number of Peers: %d\n", len(ps))
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "UUID\tAddress\tName\tState\tRole")
			for _, p := range ps {
				role := ""
				if p.Leader {
					role = "leader"
				}
				if p.Self {
					role += " (this node)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.ID, p.Address, p.Name, p.State, role)
			}
			return tw.Flush()
		},
	}
	pc.AddCommand(status)
	rootCmd.AddCommand(pc)
}
