package vm

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Kernel is an unpacked Debian kernel: the uncompressed vmlinux and its module tree.
type Kernel struct {
	Version    string // e.g. "6.1.0-56-amd64"
	Vmlinux    string // ELF image bootable through its PVH entry point
	ModulesDir string // .../lib/modules/<Version>
}

// DefaultCacheDir is where kernels and initramfs images are kept between runs.
const DefaultCacheDir = "/var/cache/weft-vm"

// EnsureKernel returns the kernel unpacked under cacheDir, downloading Debian's current
// linux-image-amd64 dependency with `apt-get download` the first time.
func EnsureKernel(cacheDir string) (*Kernel, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("vm: cache dir: %w", err)
	}
	deb, err := findDeb(cacheDir)
	if err != nil {
		return nil, err
	}
	if deb == "" {
		if deb, err = downloadKernel(cacheDir); err != nil {
			return nil, err
		}
	}
	root := filepath.Join(cacheDir, strings.TrimSuffix(filepath.Base(deb), ".deb"))
	if _, err := os.Stat(filepath.Join(root, "lib", "modules")); err != nil {
		tmp := root + ".tmp"
		os.RemoveAll(tmp)
		if out, err := exec.Command("dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("vm: dpkg-deb -x %s: %v: %s", deb, err, out)
		}
		if err := os.Rename(tmp, root); err != nil {
			return nil, fmt.Errorf("vm: %w", err)
		}
	}
	mods, err := os.ReadDir(filepath.Join(root, "lib", "modules"))
	if err != nil || len(mods) != 1 {
		return nil, fmt.Errorf("vm: %s: expected one module tree (%v)", root, err)
	}
	k := &Kernel{Version: mods[0].Name(), ModulesDir: filepath.Join(root, "lib", "modules", mods[0].Name())}
	k.Vmlinux = filepath.Join(root, "vmlinux")
	if _, err := os.Stat(k.Vmlinux); err != nil {
		if err := extractVmlinux(filepath.Join(root, "boot", "vmlinuz-"+k.Version), k.Vmlinux); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func findDeb(dir string) (string, error) {
	m, err := filepath.Glob(filepath.Join(dir, "linux-image-*-amd64_*_amd64.deb"))
	if err != nil {
		return "", err
	}
	sort.Strings(m)
	if len(m) == 0 {
		return "", nil
	}
	return m[len(m)-1], nil
}

// downloadKernel resolves linux-image-amd64 to its versioned package and downloads the .deb.
func downloadKernel(dir string) (string, error) {
	out, err := exec.Command("apt-cache", "depends", "linux-image-amd64").Output()
	if err != nil {
		return "", fmt.Errorf("vm: apt-cache depends linux-image-amd64: %w (run apt-get update?)", err)
	}
	var pkg string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			pkg = f[1]
			break
		}
	}
	if pkg == "" {
		return "", fmt.Errorf("vm: cannot resolve linux-image-amd64 from apt-cache output")
	}
	cmd := exec.Command("apt-get", "download", "-q", pkg)
	cmd.Dir = dir
	if o, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("vm: apt-get download %s: %v: %s", pkg, err, o)
	}
	deb, err := findDeb(dir)
	if err != nil || deb == "" {
		return "", fmt.Errorf("vm: downloaded %s but no .deb found in %s", pkg, dir)
	}
	return deb, nil
}

// extractVmlinux finds the xz stream inside a bzImage and decompresses it: the result is the ELF
// vmlinux, which qemu boots through its PVH note, skipping the slow in-guest decompressor.
func extractVmlinux(vmlinuz, out string) error {
	data, err := os.ReadFile(vmlinuz)
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	i := bytes.Index(data, []byte{0xFD, '7', 'z', 'X', 'Z', 0x00})
	if i < 0 {
		return fmt.Errorf("vm: %s: no xz stream (kernel not xz-compressed?)", vmlinuz)
	}
	cmd := exec.Command("xz", "-dc", "--single-stream")
	cmd.Stdin = bytes.NewReader(data[i:])
	var buf bytes.Buffer
	cmd.Stdout = &buf
	// xz complains about trailing garbage after the stream; the output is complete regardless.
	_ = cmd.Run()
	if _, err := elf.NewFile(bytes.NewReader(buf.Bytes())); err != nil {
		return fmt.Errorf("vm: decompressed kernel is not ELF: %w", err)
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	return os.Rename(tmp, out)
}

// moduleIndex maps module names (with '-' folded to '_') to .ko paths and their dependencies,
// read from each module's .modinfo section (the unpacked package has no modules.dep).
type moduleIndex struct {
	path map[string]string
}

func indexModules(dir string) (*moduleIndex, error) {
	idx := &moduleIndex{path: map[string]string{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			idx.path[modName(strings.TrimSuffix(d.Name(), ".ko"))] = p
		}
		return nil
	})
	return idx, err
}

func modName(s string) string { return strings.ReplaceAll(s, "-", "_") }

func modDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, nil
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var deps []string
			for _, d := range strings.Split(string(v), ",") {
				if d != "" {
					deps = append(deps, modName(d))
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}

// closure returns the modules named and their dependencies, dependencies first.
func (idx *moduleIndex) closure(names []string) ([]string, error) {
	var order []string
	state := map[string]int{}
	var visit func(n string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("vm: module dependency cycle at %s", n)
		case 2:
			return nil
		}
		p, ok := idx.path[n]
		if !ok {
			return fmt.Errorf("vm: module %s: %w", n, errors.New("not in the kernel package"))
		}
		state[n] = 1
		deps, err := modDepends(p)
		if err != nil {
			return fmt.Errorf("vm: module %s: %w", n, err)
		}
		for _, d := range deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[n] = 2
		order = append(order, n)
		return nil
	}
	for _, n := range names {
		if err := visit(modName(n)); err != nil {
			return nil, err
		}
	}
	return order, nil
}
