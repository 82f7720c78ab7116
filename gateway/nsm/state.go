package nsm

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Host is a monitored host as recorded in the state directory: the name it uses in NLM
// requests and SM_NOTIFY (caller_name / mon_name) and the address it last called from, where
// its port mapper and statd are.
type Host struct {
	Name string
	Addr netip.Addr // may be invalid when only the name is known
}

const (
	stateFile = "state"
	monDir    = "sm"
	notifyDir = "sm.bak"
)

var plainName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,200}$`)

// hostFile returns the file name of a host: the name itself when it is plain, otherwise a
// hash (the file's content carries the name).
func hostFile(name string) string {
	if plainName.MatchString(name) {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return "x-" + hex.EncodeToString(sum[:16])
}

// store is the on-disk state (see the package documentation).
type store struct{ dir string }

func (s store) path(parts ...string) string {
	return filepath.Join(append([]string{s.dir}, parts...)...)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("nsm: fsync %s: %w", dir, err)
	}
	return nil
}

// writeFile replaces path with data durably: temporary file, fsync, rename, fsync of the
// directory.
func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("nsm: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("nsm: write %s: %w", path, err)
	}
	return syncDir(dir)
}

func (s store) init() error {
	for _, d := range []string{s.dir, s.path(monDir), s.path(notifyDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("nsm: state directory: %w", err)
		}
	}
	return nil
}

// readState returns the stored state number (0 when there is none yet).
func (s store) readState() (int32, error) {
	b, err := os.ReadFile(s.path(stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("nsm: %w", err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 32)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("nsm: corrupt state file %s: %q", s.path(stateFile), b)
	}
	return int32(v), nil
}

func (s store) writeState(v int32) error {
	return writeFile(s.path(stateFile), []byte(strconv.FormatInt(int64(v), 10)+"\n"))
}

func encodeHost(h Host) []byte {
	a := ""
	if h.Addr.IsValid() {
		a = h.Addr.String()
	}
	return []byte(h.Name + "\n" + a + "\n")
}

func decodeHost(b []byte) (Host, bool) {
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 2 || lines[0] == "" || len(lines[0]) > MaxStrLen {
		return Host{}, false
	}
	h := Host{Name: lines[0]}
	if lines[1] != "" {
		a, err := netip.ParseAddr(lines[1])
		if err != nil {
			return Host{}, false
		}
		h.Addr = a
	}
	return h, true
}

func (s store) putHost(sub string, h Host) error {
	return writeFile(s.path(sub, hostFile(h.Name)), encodeHost(h))
}

func (s store) removeHost(sub, name string) error {
	err := os.Remove(s.path(sub, hostFile(name)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("nsm: %w", err)
	}
	if err == nil {
		return syncDir(s.path(sub))
	}
	return nil
}

// hosts lists the hosts recorded in sub, sorted by name. Unreadable or corrupt entries are
// returned as bad file names (and skipped).
func (s store) hosts(sub string) ([]Host, []string, error) {
	ents, err := os.ReadDir(s.path(sub))
	if err != nil {
		return nil, nil, fmt.Errorf("nsm: %w", err)
	}
	var out []Host
	var bad []string
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(s.path(sub, e.Name()))
		if err != nil {
			bad = append(bad, e.Name())
			continue
		}
		h, ok := decodeHost(b)
		if !ok || hostFile(h.Name) != e.Name() {
			bad = append(bad, e.Name())
			continue
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, bad, nil
}

// moveToNotify moves every monitored host into the notify list (a restart or SM_SIMU_CRASH).
func (s store) moveToNotify() error {
	hs, _, err := s.hosts(monDir)
	if err != nil {
		return err
	}
	for _, h := range hs {
		if err := os.Rename(s.path(monDir, hostFile(h.Name)), s.path(notifyDir, hostFile(h.Name))); err != nil {
			return fmt.Errorf("nsm: %w", err)
		}
	}
	if len(hs) > 0 {
		if err := syncDir(s.path(notifyDir)); err != nil {
			return err
		}
		return syncDir(s.path(monDir))
	}
	return nil
}

// nextUp returns the next odd state number after v.
func nextUp(v int32) int32 {
	if v < 0 {
		v = 0
	}
	if v >= 1<<31-3 {
		return 1 // wrapped after two billion restarts
	}
	if v%2 == 0 {
		return v + 1
	}
	return v + 2
}
