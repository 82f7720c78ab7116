package volgen

import (
	"strings"

	"github.com/weftfs/weft/graph/volfile"
)

// Topology returns a key of the shape of a volfile's graph: every volume's name, type and
// subvolumes, plus the listen address of protocol/server volumes (a live process cannot move
// its listener). Two volfiles with the same key differ only in options a running graph applies
// in place (graph.Graph.SameTopology / Reconfigure); a different key needs a new process.
func Topology(vf *volfile.Volfile) string {
	var b strings.Builder
	for _, v := range vf.Volumes {
		b.WriteString(v.Name)
		b.WriteByte('\x00')
		b.WriteString(v.Type)
		for _, s := range v.Subvolumes {
			b.WriteByte('\x00')
			b.WriteString(s)
		}
		if v.Type == TypeServer {
			for _, k := range []string{"listen", "transport.socket.listen-address", "transport", "transport-type", "workers"} {
				if x, ok := v.Options[k]; ok {
					b.WriteString("\x00" + k + "=" + x)
				}
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
