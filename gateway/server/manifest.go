package server

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/viper"

	"github.com/weftfs/weft/configs"
	"github.com/weftfs/weft/gateway/handle"
	"github.com/weftfs/weft/graph"
)

// Manifest is the list of volumes a gateway serves: the file of `weft gateway --volumes FILE`
// (JSON, YAML or TOML by extension). The daemon writes it, with the client volfiles, and sends
// SIGHUP when any of them changes; the gateway's command line stays the same. Example:
//
//	{"volumes": [
//	  {"name": "vol", "volfile": "/var/lib/weft/vols/vol/client.vol",
//	   "exports": [{"path": "/vol", "clients": [{"match": "*"}], "squash": "root_squash"}]},
//	  {"name": "scratch", "id": "0123456789abcdef0123456789abcdef",
//	   "volfile": "scratch/client.vol", "generation": "remove-brick layout 2"}
//	]}
type Manifest struct {
	Volumes []ManifestVolume `mapstructure:"volumes" json:"volumes"`
}

// ManifestVolume is one volume of a Manifest.
type ManifestVolume struct {
	// Name is the volume's name (what /NAME exports by default).
	Name string `mapstructure:"name" json:"name"`
	// ID is the volume id carried in file handles, 32 hex digits; empty: derived from Name
	// (handle.VolumeIDFromName), which keeps handles valid across restarts.
	ID string `mapstructure:"id" json:"id,omitempty"`
	// Volfile is the client volfile's path; a relative path is relative to the manifest.
	Volfile string `mapstructure:"volfile" json:"volfile"`
	// Exports are the volume's exports, as in an export config (configs.ExportsConfig);
	// absent: /NAME to every client, read-write, root squashed.
	Exports []configs.Export `mapstructure:"exports" json:"exports,omitempty"`
	// Generation: a change rebuilds the volume's graph even when its volfile is unchanged.
	Generation string `mapstructure:"generation" json:"generation,omitempty"`
}

// LoadManifest reads a manifest and the volfiles it names.
func LoadManifest(file string) ([]VolumeSpec, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("volume manifest: %w", err)
	}
	v := viper.New()
	v.SetConfigFile(file)
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("volume manifest %s: %w", file, err)
	}
	var m Manifest
	if err := v.UnmarshalExact(&m); err != nil {
		return nil, fmt.Errorf("volume manifest %s: %w", file, err)
	}
	return m.Specs(filepath.Dir(file))
}

// Specs checks the manifest and reads its volfiles (relative paths under dir).
func (m *Manifest) Specs(dir string) ([]VolumeSpec, error) {
	out := make([]VolumeSpec, 0, len(m.Volumes))
	for i, mv := range m.Volumes {
		where := fmt.Sprintf("volumes[%d] (%s)", i, mv.Name)
		if mv.Name == "" || mv.Volfile == "" {
			return nil, fmt.Errorf("volume manifest: %s: name and volfile are required", where)
		}
		sp := VolumeSpec{Name: mv.Name, Generation: mv.Generation}
		if mv.ID != "" {
			b, err := hex.DecodeString(mv.ID)
			if err != nil || len(b) != len(sp.ID) {
				return nil, fmt.Errorf("volume manifest: %s: id %q is not %d hex digits", where, mv.ID, 2*len(sp.ID))
			}
			copy(sp.ID[:], b)
		}
		if mv.Exports != nil {
			c := &configs.ExportsConfig{Exports: mv.Exports}
			for j := range c.Exports {
				if c.Exports[j].Volume == "" {
					c.Exports[j].Volume = mv.Name
				}
			}
			if err := c.Validate(); err != nil {
				return nil, fmt.Errorf("volume manifest: %s: %w", where, err)
			}
			sp.Exports = c.Exports
		}
		p := mv.Volfile
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		vf, err := graph.ParseFile(p)
		if err != nil {
			return nil, fmt.Errorf("volume manifest: %s: %w", where, err)
		}
		sp.Volfile = vf
		out = append(out, sp)
	}
	return out, nil
}

// VolumeIDHex returns the manifest form of a volume id.
func VolumeIDHex(id handle.VolumeID) string { return hex.EncodeToString(id[:]) }

// AppliedFile is the name, in the gateway's --state-dir, of the file in which `weft gateway`
// reports what it has applied: its pid and each served volume's generation (Applied). It is
// rewritten, atomically, after the first load and after every reload, so that the daemon that
// wrote the manifest learns when a reload has taken effect without restarting the gateway.
const AppliedFile = "applied.json"

// Applied is the content of AppliedFile.
type Applied struct {
	Pid         int               `json:"pid"`
	Generations map[string]string `json:"generations"`
}

// WriteApplied writes a to path atomically (a temporary file renamed over it).
func WriteApplied(path string, a Applied) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("applied state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".applied-*")
	if err != nil {
		return fmt.Errorf("applied state: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("applied state %s: %w", path, werr)
	}
	return nil
}
