package daemon

import (
	"fmt"
	"strconv"

	"github.com/weftfs/weft/membership/store"
	"github.com/weftfs/weft/membership/volgen"
)

// gatewaySpec is the node's NFS gateway process, if any volume is served (started, nfs.disable
// off). started lists the started volumes by name.
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
	{
		// One gateway per node; it serves one volume (the gateway takes one client graph):
		// the first started volume by name whose nfs.disable is off.
		name := served[0]
		gv := toVolgen(st, st.Volumes[name])
		vf, err := volgen.ClientVolfile(gv, p)
		if err != nil {
			return spec{}, false, err
		}
		txt, err := volgen.Text(vf)
		if err != nil {
			return spec{}, false, err
		}
		listen := d.cfg.Bind
		check := d.cfg.Advertise
		sp := spec{
			key: "gateway", kind: "gateway", volume: name, host: d.cfg.Advertise, port: d.cfg.NFSPort,
			volfilePath: d.path("vols", name, "client.vol"), volfile: txt,
			checkAddr: hostPort(check, d.cfg.NFSPort),
			logPath:   d.path("logs", "gateway.log"),
			extraPath: d.path("vols", name, "exports.json"), extra: exportsJSON(volgen.Exports(gv)),
		}
		if rb := st.Volumes[name].RemoveBrick; rb != nil && rb.LayoutEpoch > 0 {
			// Restart after a remove-brick rewrote the layouts: the gateway must not keep
			// creating files on the bricks being emptied from layouts it cached.
			sp.restartKey = fmt.Sprintf("remove-brick layout %d", rb.LayoutEpoch)
		}
		sp.args = []string{"gateway", "--volfile", sp.volfilePath, "--export-config", sp.extraPath, "--volume", name,
			"--secret-file", d.path("secret"), "--nfs-port", strconv.Itoa(d.cfg.NFSPort),
			"--mount-port", strconv.Itoa(d.cfg.MountPort), "--portmap-port", strconv.Itoa(d.cfg.PortmapPort),
			"--state-dir", d.path("gateway"), "--log-level", d.childLogLevel()}
		if listen != "" {
			sp.args = append(sp.args, "--listen", listen)
		}
		return sp, true, nil
	}
}
