package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/weftfs/weft/graph"
	"github.com/weftfs/weft/graph/volfile"
	_ "github.com/weftfs/weft/graph/xlators/all" // register every translator type
)

// `weft volfile …`: check, print and list what volfiles can contain.
func init() {
	vc := &cobra.Command{
		Use:   "volfile",
		Short: "Check and format volfiles; list translator types",
	}
	vc.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a volfile by building its graph (without activating it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := graph.BuildFile(args[0], nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok: %d volumes, top %s (%s)\n", args[0], len(g.Xlators), g.Top.Name(), g.Top.Type())
			return nil
		},
	})
	vc.AddCommand(&cobra.Command{
		Use:   "print FILE",
		Short: "Print a volfile in canonical form (options sorted, 4-space indent)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vf, err := graph.ParseFile(args[0])
			if err != nil {
				return err
			}
			return volfile.Print(cmd.OutOrStdout(), vf)
		},
	})
	vc.AddCommand(&cobra.Command{
		Use:   "types",
		Short: "List the registered translator types with their options",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printTypes(cmd.OutOrStdout())
		},
	})
	rootCmd.AddCommand(vc)
}

// printTypes writes every registered type, sorted, with its subvolume bounds and options.
func printTypes(w io.Writer) error {
	for i, t := range graph.Types() {
		r, _ := graph.LookupType(t)
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s  (subvolumes %s)\n", t, childBounds(r.MinChildren, r.MaxChildren))
		if r.Description != "" {
			fmt.Fprintf(w, "    %s\n", r.Description)
		}
		for _, o := range r.Options {
			var attrs []string
			attrs = append(attrs, o.Type.String())
			if o.Type == graph.OptEnum {
				attrs = append(attrs, "one of "+strings.Join(o.Enum, "|"))
			}
			if o.Min != 0 || o.Max != 0 {
				attrs = append(attrs, "range "+num(o.Min)+".."+num(o.Max))
			}
			if o.Default != "" {
				attrs = append(attrs, "default "+volfile.QuoteValue(o.Default))
			}
			if len(o.Aliases) > 0 {
				attrs = append(attrs, "alias "+strings.Join(o.Aliases, ", "))
			}
			fmt.Fprintf(w, "    option %s (%s)", o.Key, strings.Join(attrs, "; "))
			if o.Description != "" {
				fmt.Fprintf(w, ": %s", o.Description)
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func childBounds(min, max int) string {
	switch {
	case max < 0:
		return fmt.Sprintf("%d or more", min)
	case min == max:
		return fmt.Sprint(min)
	}
	return fmt.Sprintf("%d..%d", min, max)
}
