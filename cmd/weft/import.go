package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/weftfs/weft/membership/api"
	"github.com/weftfs/weft/membership/glusterd"
	"github.com/weftfs/weft/membership/store"
	"github.com/weftfs/weft/membership/volgen"
)

// notCarried are GlusterFS options an import leaves out on purpose, with the reason it prints.
var notCarried = map[string]string{
	"nfs.disable": "it switched off GlusterFS's own NFS server (gNFS); serving the volume over NFS is what Weft is for",
	"auth.allow": "it listed the volume's GlusterFS (FUSE) clients; Weft's bricks are reached by Weft's own gateways " +
		"and self-heal daemons. To limit which NFS clients may mount, set nfs.rpc-auth-allow",
	"auth.reject":              "it listed GlusterFS clients to refuse; to refuse NFS clients, set nfs.rpc-auth-reject",
	"features.read-only":       "Weft has no read-only translator: the volume is WRITABLE through Weft",
	"features.worm":            "Weft has no WORM translator: files are not write-once through Weft",
	"features.worm-file-level": "Weft has no WORM translator: files are not write-once through Weft",
	"features.quota":           "Weft does not enforce quotas: the limits set on directories are not applied",
}

// importPlan is what `weft volume import` creates from a GlusterFS volume definition.
type importPlan struct {
	def     *glusterd.Volume
	req     *api.CreateRequest
	skipped []string // "KEY VALUE: why", sorted by key
}

// planImport turns a GlusterFS volume definition into a create request: the same name,
// layout, bricks (hosts renamed by hosts, OLD=NEW) and brick-ids, the bricks' volume id, and
// the options Weft has (validated as `volume set` does, by this binary's translators).
func planImport(def *glusterd.Volume, hosts map[string]string) (*importPlan, error) {
	p := &importPlan{def: def, req: &api.CreateRequest{Name: def.Name, Replica: def.Replica, Arbiter: def.Arbiter, Force: true, VolumeID: def.ID, Options: map[string]string{}}}
	gv := &volgen.Volume{Name: def.Name, ID: def.ID, Replica: def.Replica, Arbiter: def.Arbiter}
	for _, b := range def.Bricks {
		h := b.Host
		if n, ok := hosts[h]; ok {
			h = n
		}
		p.req.Bricks = append(p.req.Bricks, h+":"+b.Path)
		p.req.BrickIDs = append(p.req.BrickIDs, b.ID)
		gv.Bricks = append(gv.Bricks, volgen.Brick{Host: h, Path: b.Path, ID: b.ID})
	}
	for h := range hosts {
		used := false
		for _, b := range def.Bricks {
			used = used || b.Host == h
		}
		if !used {
			return nil, fmt.Errorf("volume import: --host %s=...: no brick of %s is on host %s", h, def.Name, h)
		}
	}
	for _, k := range def.OptionKeys() {
		val := def.Options[k]
		if why, ok := notCarried[strings.Replace(k, "auth.addr.", "auth.", 1)]; ok {
			if strings.HasPrefix(k, "features.") && !glusterd.On(val) {
				why = "off in GlusterFS, and Weft has no such feature"
			}
			p.skipped = append(p.skipped, fmt.Sprintf("%s %s: %s", k, val, why))
			continue
		}
		if err := volgen.CheckOption(gv, k, val, volgen.Params{}); errors.Is(err, volgen.ErrNoSuchOption) {
			p.skipped = append(p.skipped, fmt.Sprintf("%s %s: Weft has no such option", k, val))
			continue
		} else if err != nil {
			p.skipped = append(p.skipped, fmt.Sprintf("%s %s: %v", k, val, err))
			continue
		}
		p.req.Options[k] = val
	}
	gv.Options = p.req.Options
	if err := volgen.CheckClientOptions(gv); err != nil {
		return nil, fmt.Errorf("volume import: %s: the options carried over do not agree: %w", def.Name, err)
	}
	return p, nil
}

// print describes the plan.
func (p *importPlan) print(w io.Writer) {
	d := p.def
	layout := fmt.Sprintf("distribute %d", len(d.Bricks))
	if d.Replica > 1 {
		layout = fmt.Sprintf("%d x %d = %d", len(d.Bricks)/d.Replica, d.Replica, len(d.Bricks))
		if d.Arbiter > 0 {
			layout = fmt.Sprintf("%d x (%d + %d) = %d", len(d.Bricks)/d.Replica, d.Replica-d.Arbiter, d.Arbiter, len(d.Bricks))
		}
	}
	state := "stopped"
	if d.Started {
		state = "started"
	}
	fmt.Fprintf(w, "GlusterFS volume %s, id %s, %s, %s in GlusterFS\n", d.Name, d.ID, layout, state)
	for i, b := range p.req.Bricks {
		fmt.Fprintf(w, "  Brick%d: %s (%s)\n", i+1, b, p.req.BrickIDs[i])
	}
	if len(p.req.Options) > 0 {
		fmt.Fprintln(w, "Options carried over:")
		for _, k := range d.OptionKeys() {
			if v, ok := p.req.Options[k]; ok {
				fmt.Fprintf(w, "  %s %s\n", k, v)
			}
		}
	}
	if len(p.skipped) > 0 {
		fmt.Fprintln(w, "Options not carried over:")
		for _, s := range p.skipped {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
}

// checkAgainstGlusterd refuses a `volume create ... force` that would adopt a GlusterFS
// volume whose definition is still in glusterd's directory dir under the same name, when
// creating it by position would get it wrong: bricks in another order than GlusterFS's, or
// brick-ids that are not their positions (after a GlusterFS remove-brick), under which its
// replicas' changelogs name the bricks. `weft volume import` carries both.
func checkAgainstGlusterd(dir string, req *api.CreateRequest) error {
	if !req.Force {
		return nil
	}
	def, err := glusterd.ReadVolume(dir, req.Name)
	if err != nil {
		return nil // no (readable) GlusterFS definition of this name here
	}
	use := fmt.Sprintf("use `weft volume import %s`, which takes them from GlusterFS's definition", req.Name)
	if len(def.Bricks) != len(req.Bricks) || def.Replica != req.Replica {
		return fmt.Errorf("volume create: %s: GlusterFS's definition of %s in %s has %d bricks, replica %d; %s", req.Name, req.Name, dir, len(def.Bricks), def.Replica, use)
	}
	for i, b := range def.Bricks {
		if _, path, _ := strings.Cut(req.Bricks[i], ":"); path != b.Path {
			return fmt.Errorf("volume create: %s: brick %d is %s in GlusterFS's definition of %s (%s), not %s: a brick order other than GlusterFS's pairs the wrong bricks as replicas; %s", req.Name, i+1, b.Spec(), req.Name, dir, req.Bricks[i], use)
		}
		if want := store.BrickID(req.Name, i); b.ID != want {
			return fmt.Errorf("volume create: %s: brick %s has brick-id %s in GlusterFS's definition (%s), not %s: its replicas' changelogs name it so, and a create names bricks by position; %s", req.Name, b.Spec(), b.ID, dir, want, use)
		}
	}
	return nil
}

// importCommand is `weft volume import` (no GlusterFS counterpart: it is the way off GlusterFS).
func importCommand(mf *mgmtFlags) *cobra.Command {
	var dir string
	var hostMap []string
	var dryRun, start bool
	c := &cobra.Command{
		Use:   "import NAME [--glusterd-dir DIR] [--host OLD=NEW ...] [--dry-run] [--start]",
		Short: "Take over a GlusterFS volume in place, from glusterd's own definition of it",
		Long: `Create a Weft volume from a GlusterFS volume's definition in glusterd's working directory
(default ` + glusterd.DefaultDir + `): the same name, layout, bricks in the same order, brick-ids and
volume id, and the options Weft has. The bricks keep their data (GlusterFS's on-brick format is
Weft's). The bricks must carry the volume's id; a brick that a GlusterFS brick process
(glusterfsd) still serves is refused: stop the GlusterFS volume, or glusterd and its brick
processes, first. --host renames a brick host, for peers Weft knows by another name or address.
Options Weft does not have are listed, not carried over.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hosts := map[string]string{}
			for _, h := range hostMap {
				old, nw, ok := strings.Cut(h, "=")
				if !ok || old == "" || nw == "" {
					return fmt.Errorf("volume import: --host %q: want OLD=NEW", h)
				}
				hosts[old] = nw
			}
			def, err := glusterd.ReadVolume(dir, args[0])
			if err != nil {
				return fmt.Errorf("volume import: %w", err)
			}
			plan, err := planImport(def, hosts)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			plan.print(w)
			if dryRun {
				fmt.Fprintln(w, "dry run: nothing created")
				return nil
			}
			if err := mf.post(cmd.Context(), w, "/v1/volumes/create", plan.req); err != nil {
				return err
			}
			if start {
				return mf.post(cmd.Context(), w, "/v1/volumes/start", &api.VolumeRequest{Name: def.Name})
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "glusterd-dir", glusterd.DefaultDir, "glusterd's working directory")
	c.Flags().StringArrayVar(&hostMap, "host", nil, "OLD=NEW: serve the bricks GlusterFS has on host OLD from peer NEW (repeatable)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be created, and create nothing")
	c.Flags().BoolVar(&start, "start", false, "start the volume once created")
	return c
}
