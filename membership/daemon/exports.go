package daemon

import (
	"encoding/json"

	"github.com/weftfs/weft/configs"
)

// exportsJSON renders an export table as the JSON `weft gateway --export-config` reads
// (configs.LoadExports: the mapstructure keys of configs.ExportsConfig).
func exportsJSON(c *configs.ExportsConfig) string {
	var exps []map[string]any
	for _, e := range c.Exports {
		m := map[string]any{"path": e.Path, "volume": e.Volume, "access": e.Access, "squash": e.Squash}
		if e.AnonUID != nil {
			m["anonuid"] = *e.AnonUID
		}
		if e.AnonGID != nil {
			m["anongid"] = *e.AnonGID
		}
		if e.Secure != nil {
			m["secure"] = *e.Secure
		}
		var cl []map[string]any
		for _, r := range e.Clients {
			cl = append(cl, map[string]any{"match": r.Match})
		}
		m["clients"] = cl
		exps = append(exps, m)
	}
	b, _ := json.MarshalIndent(map[string]any{"exports": exps}, "", "  ")
	return string(b) + "\n"
}
