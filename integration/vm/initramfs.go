package vm

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Modules loaded by the guest's /init, in this order (their dependencies are added).
var guestModules = []string{
	"virtio_pci", "virtio_net", "9pnet_virtio", "9p", "overlay",
	"nfs", "nfsv3", "nfsv4",
}

// initScript runs as PID 1 in the initramfs: load modules, bring up the network, mount the host's
// root read-only with a tmpfs overlay, mount the job share, and switch_root into stage 2 (a script
// in the job share, run by the host's own /bin/sh).
const initScript = `#!/bin/busybox sh
B=/bin/busybox
$B mkdir -p /proc /sys /dev /ro /rw /newroot
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for m in $($B cat /modules.order); do
	$B insmod /lib/modules/$m.ko 2>/dev/null || echo "weft-vm: insmod $m failed"
done
$B ip link set lo up
$B ip link set eth0 up
$B ip addr add 10.0.2.15/24 dev eth0
$B ip route add default via 10.0.2.2
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro hostroot /ro || { echo "weft-vm: no hostroot"; $B poweroff -f; }
$B mount -t tmpfs -o size=2g tmpfs /rw
$B mkdir -p /rw/upper /rw/work
$B mount -t overlay overlay -o lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work /newroot || { echo "weft-vm: overlay failed"; $B poweroff -f; }
$B mkdir -p /newroot/job
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 job /newroot/job || { echo "weft-vm: no job share"; $B poweroff -f; }
$B umount /proc /sys
$B umount /dev
exec $B switch_root /newroot /bin/sh /job/.stage2
`

// stage2Script runs in the host's root file system (read-only 9p + tmpfs overlay): it prepares
// /proc, /dev and /run (the host's /tmp stays visible, so tests can hand the guest files there;
// writes land in the overlay), runs the job, records its exit status in the job share and powers
// the guest off.
const stage2Script = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mkdir -p /run/rpcbind /run/lock /var/lib/nfs/sm /var/lib/nfs/sm.bak
hostname weft-guest
echo "127.0.0.1 localhost weft-guest" > /etc/hosts
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
cd /job
/bin/bash /job/run.sh > /job/output.log 2>&1
echo $? > /job/status.tmp
sync
mv /job/status.tmp /job/status
sync
echo 1 > /proc/sys/kernel/sysrq
echo o > /proc/sysrq-trigger
sleep 10
`

// BuildInitramfs writes a newc cpio archive with busybox, the modules and /init to out.
func BuildInitramfs(k *Kernel, busybox, out string) error {
	idx, err := indexModules(k.ModulesDir)
	if err != nil {
		return fmt.Errorf("vm: indexing modules: %w", err)
	}
	order, err := idx.closure(guestModules)
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	defer os.Remove(tmp)
	w := newCpioWriter(bufio.NewWriterSize(f, 1<<20))
	for _, d := range []string{"bin", "dev", "lib", "lib/modules", "proc", "sys", "ro", "rw", "newroot"} {
		w.dir(d)
	}
	bb, err := os.ReadFile(busybox)
	if err != nil {
		f.Close()
		return fmt.Errorf("vm: busybox: %w", err)
	}
	w.file("bin/busybox", 0o755, bb)
	w.file("init", 0o755, []byte(initScript))
	w.file("modules.order", 0o644, []byte(strings.Join(order, "\n")+"\n"))
	for _, m := range order {
		data, err := os.ReadFile(idx.path[m])
		if err != nil {
			f.Close()
			return fmt.Errorf("vm: module %s: %w", m, err)
		}
		w.file("lib/modules/"+m+".ko", 0o644, data)
	}
	if err := w.close(); err != nil {
		f.Close()
		return fmt.Errorf("vm: writing initramfs: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	return os.Rename(tmp, out)
}

// cpioWriter writes the "newc" (SVR4, no CRC) cpio format the kernel unpacks as an initramfs.
type cpioWriter struct {
	w   *bufio.Writer
	ino int
	err error
}

func newCpioWriter(w *bufio.Writer) *cpioWriter { return &cpioWriter{w: w, ino: 1} }

func (c *cpioWriter) header(name string, mode uint32, size int) {
	if c.err != nil {
		return
	}
	c.ino++
	_, c.err = fmt.Fprintf(c.w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name)+1, 0)
	if c.err == nil {
		_, c.err = c.w.WriteString(name + "\x00")
	}
	c.pad(110 + len(name) + 1)
}

func (c *cpioWriter) pad(n int) {
	if c.err == nil && n%4 != 0 {
		_, c.err = c.w.Write(make([]byte, 4-n%4))
	}
}

func (c *cpioWriter) dir(name string) { c.header(name, 0o040755, 0) }

func (c *cpioWriter) file(name string, perm uint32, data []byte) {
	c.header(name, 0o100000|perm, len(data))
	if c.err == nil {
		_, c.err = c.w.Write(data)
	}
	c.pad(len(data))
}

func (c *cpioWriter) close() error {
	c.header("TRAILER!!!", 0, 0)
	if c.err != nil {
		return c.err
	}
	return c.w.Flush()
}

// EnsureInitramfs builds the initramfs for k under cacheDir once.
func EnsureInitramfs(k *Kernel, cacheDir string) (string, error) {
	sum := sha256.Sum256([]byte(initScript + strings.Join(guestModules, ",")))
	out := filepath.Join(cacheDir, fmt.Sprintf("initramfs-%s-%x.cpio", k.Version, sum[:4]))
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	bb := "/bin/busybox"
	if _, err := os.Stat(bb); err != nil {
		return "", fmt.Errorf("vm: busybox-static is not installed (%w)", err)
	}
	return out, BuildInitramfs(k, bb, out)
}
