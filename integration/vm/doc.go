// Package vm boots a stock Debian Linux kernel under qemu as a real NFS client for Weft's
// integration tests (the kernel of the test machines has no NFS client). It follows
// shared/notes/kernel-client.md: Debian's linux-image-amd64 is downloaded with apt and unpacked
// (never installed), the ELF vmlinux is extracted from the vmlinuz and booted through its PVH
// entry point under TCG, an initramfs of busybox plus the needed modules mounts the host's root
// read-only over virtio-9p with a tmpfs overlay, and a second, writable 9p share carries the job
// script in and its results out. The guest reaches the host only through qemu guestfwd rules to
// chosen ports on the host's loopback (in the test's own network namespace).
package vm
