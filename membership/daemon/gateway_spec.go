package daemon

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/weftfs/weft/membership/store"
	"github.com/weftfs/weft/membership/volgen"
)

// gatewaySpec is the node's NFS gateway process, if any volume is served (started, nfs.disable
// off). started lists the started volumes by name.
//
// One gateway serves every such volume. Its command line does not depend on them: it reads
// the volume manifest (<state>/gateway/volumes.json: each volume's name, client volfile and
// exports; see gateway/server.Manifest) and the client volfiles (<state>/vols/NAME/client.vol),
// all part of the spec's content, so that a volume started, stopped or changed (option set,
// add-brick) is applied by rewriting them and sending SIGHUP: the gateway adds and removes
// volumes and switches graphs live, keeping its NFS connections and mounts.
func (d *Daemon) gatewaySpec(st *store.State, started []string, p volgen.Params) (spec, bool, error) {
	var served []string
	for _, name := range started {
		if !volgen.NFSDisabled(toVolgen(st, st.Volumes[name])) {
			served = append(served, name)
		}
	}
	if len(served) == 0 {
		return spec{}, false, nil
	}
	manifest := d.path("gateway", "volumes.json")
	sp := spec{
		key: "gateway", kind: "gateway", host: d.cfg.Advertise, port: d.cfg.NFSPort,
		volume:      served[0],
		volumes:     served,
		volfilePath: manifest,
		checkAddr:   hostPort(d.cfg.Advertise, d.cfg.NFSPort),
		logPath:     d.path("logs", "gateway.log"),
		files:       map[string]string{},
	}
	sp.appliedPath = d.path("gateway", gatewayAppliedFile)
	type mvol struct {
		Name       string `json:"name"`
		Volfile    string `json:"volfile"`
		Exports    any    `json:"exports"`
		Generation string `json:"generation,omitempty"`
	}
	var vols []mvol
	for _, name := range served {
		gv := toVolgen(st, st.Volumes[name])
		vf, err := volgen.ClientVolfile(gv, p)
		if err != nil {
			return spec{}, false, err
		}
		txt, err := volgen.Text(vf)
		if err != nil {
			return spec{}, false, err
		}
		path := d.path("vols", name, "client.vol")
		sp.files[path] = txt
		// The export table in the gateway's export-config form (its "exports" list).
		var exps struct {
			Exports any `json:"exports"`
		}
		if err := json.Unmarshal([]byte(exportsJSON(volgen.Exports(gv))), &exps); err != nil {
			return spec{}, false, fmt.Errorf("volume %s: exports: %w", name, err)
		}
		vols = append(vols, mvol{Name: name, Volfile: path, Exports: exps.Exports, Generation: gatewayGeneration(st.Volumes[name])})
	}
	b, err := json.MarshalIndent(map[string]any{"volumes": vols}, "", "  ")
	if err != nil {
		return spec{}, false, err
	}
	sp.volfile = string(b) + "\n"
	sp.args = []string{"gateway", "--volumes", manifest,
		"--secret-file", d.path("secret"), "--nfs-port", strconv.Itoa(d.cfg.NFSPort),
		"--mount-port", strconv.Itoa(d.cfg.MountPort), "--portmap-port", strconv.Itoa(d.cfg.PortmapPort),
		"--state-dir", d.path("gateway"), "--log-level", d.childLogLevel()}
	if d.cfg.Bind != "" {
		sp.args = append(sp.args, "--listen", d.cfg.Bind)
	}
	return sp, true, nil
}

// gatewayAppliedFile is where, in its state directory, the gateway reports its pid and the
// generation each volume runs (gateway/server.AppliedFile).
const gatewayAppliedFile = "applied.json"

// gatewayGeneration is a volume's generation in the gateway manifest. After a remove-brick has
// rewritten the layouts without the bricks being emptied, the gateways must not go on creating
// files there from layouts they cached: the generation changes with every rewrite, which makes
// each gateway build the volume a new graph (fresh layout caches) live on SIGHUP, keeping its
// NFS connections, mounts and locks, instead of restarting. The remove-brick task waits for
// every gateway to report it (waitGatewaysApplied).
func gatewayGeneration(v *store.Volume) string {
	if rb := v.RemoveBrick; rb != nil && rb.LayoutEpoch > 0 {
		return fmt.Sprintf("remove-brick layout %d", rb.LayoutEpoch)
	}
	return ""
}
