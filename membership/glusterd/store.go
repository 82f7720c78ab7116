package glusterd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/weftfs/weft/membership/store"
)

// DefaultDir is glusterd's working directory on Debian, Ubuntu and Red Hat systems.
const DefaultDir = "/var/lib/glusterd"

// maxStoreFile bounds what is read of one store file: glusterd's own files are a few KiB.
const maxStoreFile = 1 << 20

// Volume is a GlusterFS volume's definition as glusterd stored it.
type Volume struct {
	Name    string
	ID      string // volume-id: the id in the bricks' trusted.glusterfs.volume-id
	Started bool   // status=1: started in GlusterFS when glusterd last wrote the file
	Replica int    // 1: no replication
	Arbiter int    // 0 or 1 (replica 3 arbiter 1)
	Bricks  []Brick
	// Options are those set on the volume (`gluster volume set`, and the ones glusterd sets
	// itself at create), by key.
	Options map[string]string
}

// Brick is one brick, in the volume's order.
type Brick struct {
	Host string // the host name or address glusterd knows the brick's peer by
	Path string
	ID   string // brick-id: NAME-client-N, the brick's client translator name
}

// Spec is the brick as `volume create` takes it: HOST:/path.
func (b Brick) Spec() string { return b.Host + ":" + b.Path }

// OptionKeys returns the option keys, sorted.
func (v *Volume) OptionKeys() []string {
	keys := make([]string, 0, len(v.Options))
	for k := range v.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Names lists the volumes defined under dir (glusterd's working directory), sorted.
func Names(dir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "vols"))
	if err != nil {
		return nil, fmt.Errorf("glusterd directory %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(dir, "vols", e.Name(), "info")); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	return out, nil
}

// validName is what glusterd accepts as a volume name (and what is safe in a path here).
var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// ReadVolume reads volume name from dir, glusterd's working directory. A layout Weft cannot
// serve (dispersed, thin-arbiter, striped), a remove-brick that was left in progress, or a
// store that contradicts itself is an error that says so.
func ReadVolume(dir, name string) (*Volume, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("%q is not a GlusterFS volume name", name)
	}
	vdir := filepath.Join(dir, "vols", name)
	info, err := readStoreFile(filepath.Join(vdir, "info"))
	if errors.Is(err, os.ErrNotExist) {
		names, _ := Names(dir)
		if len(names) == 0 {
			return nil, fmt.Errorf("GlusterFS volume %s: not found under %s (no volume is defined there)", name, dir)
		}
		return nil, fmt.Errorf("GlusterFS volume %s: not found under %s (it defines: %s)", name, dir, strings.Join(names, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("GlusterFS volume %s: %w", name, err)
	}
	v, bricks, err := parseInfo(name, info)
	if err != nil {
		return nil, fmt.Errorf("GlusterFS volume %s (%s): %w", name, filepath.Join(vdir, "info"), err)
	}
	for i, bf := range bricks {
		if bf == "" || strings.ContainsAny(bf, "/\x00") || bf == "." || bf == ".." {
			return nil, fmt.Errorf("GlusterFS volume %s: brick-%d names %q, not a brick file", name, i, bf)
		}
		kv, err := readStoreFile(filepath.Join(vdir, "bricks", bf))
		if err != nil {
			return nil, fmt.Errorf("GlusterFS volume %s: brick-%d: %w", name, i, err)
		}
		b, err := parseBrick(name, i, kv)
		if err != nil {
			return nil, fmt.Errorf("GlusterFS volume %s: brick-%d (%s): %w", name, i, filepath.Join(vdir, "bricks", bf), err)
		}
		for _, o := range v.Bricks {
			if o.ID == b.ID {
				return nil, fmt.Errorf("GlusterFS volume %s: bricks %s and %s both have brick-id %s", name, o.Spec(), b.Spec(), b.ID)
			}
		}
		v.Bricks = append(v.Bricks, b)
	}
	return v, nil
}

// kv is a store file's lines, in order.
type kv struct{ keys, vals []string }

func (s *kv) get(k string) (string, bool) {
	for i, key := range s.keys {
		if key == k {
			return s.vals[i], true
		}
	}
	return "", false
}

// readStoreFile reads a glusterd store file: key=value lines (glusterd's gf_store_save_value),
// split at the first "=".
func readStoreFile(path string) (*kv, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStoreFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxStoreFile {
		return nil, fmt.Errorf("%s: over %d bytes, not a glusterd store file", path, maxStoreFile)
	}
	kv, err := parseStore(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kv, nil
}

func parseStore(b []byte) (*kv, error) {
	out := &kv{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxStoreFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("line %d: %q is not key=value", n, line)
		}
		out.keys, out.vals = append(out.keys, k), append(out.vals, v)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// fixedKeys are info keys that are not volume options (glusterd-store.h's
// GLUSTERD_STORE_KEY_VOL_* and friends); an option always has a dot in its key.
var fixedKeys = map[string]bool{
	"type": true, "count": true, "status": true, "port": true, "sub_count": true,
	"stripe_count": true, "replica_count": true, "disperse_count": true, "redundancy_count": true,
	"arbiter_count": true, "thin_arbiter_count": true, "version": true, "transport-type": true,
	"volume-id": true, "username": true, "password": true, "op-version": true,
	"client-op-version": true, "quota-version": true, "parent_volname": true,
	"restored_from_snap": true, "restored_from_snapname_id": true, "restored_from_snapname": true,
	"snap-max-hard-limit": true, "snap_plugin": true, "caps": true, "rebalance_status": true,
}

// count parses a non-negative count key of info (absent: def).
func count(info *kv, key string, def int) (int, error) {
	s, ok := info.get(key)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<16 {
		return 0, fmt.Errorf("%s=%q is not a count", key, s)
	}
	return n, nil
}

// parseInfo reads a volume's info file; it returns the brick file names in brick order.
func parseInfo(name string, info *kv) (*Volume, []string, error) {
	v := &Volume{Name: name, Replica: 1, Options: map[string]string{}}
	id, ok := info.get("volume-id")
	if !ok {
		return nil, nil, errors.New("no volume-id")
	}
	if !uuidRE.MatchString(id) {
		return nil, nil, fmt.Errorf("volume-id %q is not a UUID", id)
	}
	v.ID = strings.ToLower(id)
	status, _ := info.get("status")
	v.Started = status == "1"
	n, err := count(info, "count", -1)
	if err != nil {
		return nil, nil, err
	}
	if n <= 0 {
		return nil, nil, errors.New("no brick count (count=)")
	}
	for _, k := range []string{"disperse_count", "thin_arbiter_count"} {
		c, err := count(info, k, 0)
		if err != nil {
			return nil, nil, err
		}
		if c > 0 {
			what := map[string]string{
				"disperse_count":     "a dispersed (erasure-coded) volume: Weft has no disperse translator",
				"thin_arbiter_count": "a thin-arbiter volume: Weft's replicate takes a full arbiter brick (replica 3 arbiter 1), not a thin arbiter",
			}[k]
			return nil, nil, fmt.Errorf("%s (%s=%d)", what, k, c)
		}
	}
	if c, err := count(info, "stripe_count", 1); err != nil {
		return nil, nil, err
	} else if c > 1 {
		return nil, nil, fmt.Errorf("a striped volume (stripe_count=%d): GlusterFS removed stripe and Weft has none", c)
	}
	if v.Replica, err = count(info, "replica_count", 1); err != nil {
		return nil, nil, err
	}
	if v.Replica == 0 {
		v.Replica = 1
	}
	if v.Arbiter, err = count(info, "arbiter_count", 0); err != nil {
		return nil, nil, err
	}
	if v.Arbiter != 0 && (v.Arbiter != 1 || v.Replica != 3) {
		return nil, nil, fmt.Errorf("arbiter_count=%d with replica_count=%d: Weft takes replica 3 arbiter 1 only", v.Arbiter, v.Replica)
	}
	if n%v.Replica != 0 {
		return nil, nil, fmt.Errorf("count=%d bricks is not a multiple of replica_count=%d", n, v.Replica)
	}
	if sh, ok := info.get("features.shard"); ok && On(sh) {
		return nil, nil, errors.New(ShardRefusal)
	}
	bricks := make([]string, n)
	for i, k := range info.keys {
		val := info.vals[i]
		switch {
		case strings.HasPrefix(k, "brick-"):
			j, err := strconv.Atoi(k[len("brick-"):])
			if err != nil || j < 0 {
				return nil, nil, fmt.Errorf("%q is not a brick key", k)
			}
			if j >= n {
				return nil, nil, fmt.Errorf("%s, but count=%d", k, n)
			}
			if bricks[j] != "" {
				return nil, nil, fmt.Errorf("%s given twice", k)
			}
			bricks[j] = val
		case strings.HasPrefix(k, "ta-brick-"):
			return nil, nil, errors.New("a thin-arbiter brick (ta-brick-N): Weft has no thin arbiter")
		case fixedKeys[k] || !strings.Contains(k, "."):
			// not an option
		default:
			v.Options[k] = val
		}
	}
	for i, b := range bricks {
		if b == "" {
			return nil, nil, fmt.Errorf("count=%d but no brick-%d", n, i)
		}
	}
	return v, bricks, nil
}

// ShardRefusal says why a sharded volume is not taken over: its big files are not whole on the
// bricks, and serving them as if they were would cut them short and corrupt them on write.
const ShardRefusal = "a sharded volume (features.shard=on, as GlusterFS's virt profile for VM images sets): " +
	"GlusterFS keeps every block of a file past the first (features.shard-block-size, 64MB by default) under .shard on the bricks, " +
	"and Weft has no shard translator, so it would serve those files cut at their first block and corrupt them on write; " +
	"copy the data off and back onto an unsharded volume, or keep this one on GlusterFS"

// On reports whether a GlusterFS boolean option value is on (gf_string2boolean).
func On(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "yes", "true", "enable", "1":
		return true
	}
	return false
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// parseBrick reads brick i's file. Its brick-id (NAME-client-N) names the brick's client
// translator, and so the changelog xattrs its replicas keep about it (trusted.afr.NAME-client-N);
// glusterd numbers new bricks above the highest id in use and does not renumber on
// remove-brick, so ids can have gaps. A brick file without one (volumes from before glusterd
// op-version 4) gets the position's, as glusterd gives it.
func parseBrick(name string, i int, f *kv) (Brick, error) {
	var b Brick
	b.Host, _ = f.get("hostname")
	b.Path, _ = f.get("path")
	if b.Host == "" || strings.ContainsAny(b.Host, "/ \t") {
		return b, fmt.Errorf("hostname %q is not a host", b.Host)
	}
	if !filepath.IsAbs(b.Path) || filepath.Clean(b.Path) != b.Path {
		return b, fmt.Errorf("path %q is not a clean absolute path", b.Path)
	}
	if d, _ := f.get("decommissioned"); d != "" && d != "0" {
		return b, fmt.Errorf("brick %s is being removed (a remove-brick was started and neither committed nor stopped): finish it in GlusterFS first", b.Spec())
	}
	b.ID = store.BrickID(name, i)
	if id, ok := f.get("brick-id"); ok {
		if _, ok := store.ParseBrickID(name, id); !ok {
			return b, fmt.Errorf("brick %s: brick-id %q is not %s-client-N", b.Spec(), id, name)
		}
		b.ID = id
	}
	return b, nil
}
