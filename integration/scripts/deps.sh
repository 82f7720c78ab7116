#!/usr/bin/env bash
# Installs what the test suites need on a fresh Debian machine. Idempotent and quiet when done.
#   - qemu-system-x86, busybox-static, xz-utils: a stock Debian kernel as a real NFS client (integration/vm)
#   - qemu-utils: qemu-img/qemu-io in the guest, to check QEMU image locking over NLM
#   - nfs-common, rpcbind, libnfs-utils: mount.nfs/showmount/rpcinfo and libnfs's nfs-ls/nfs-cp/nfs-cat
#   - attr: getfattr/setfattr to inspect brick xattrs; iproute2: network namespaces for the tests
#   - glusterfs-server, glusterfs-client: a real GlusterFS volume that Weft adopts in place
#     (integration/adopt_test.go; glusterd is never left running: services are not started)
set -euo pipefail
pkgs=(qemu-system-x86 qemu-utils busybox-static xz-utils nfs-common rpcbind libnfs-utils attr iproute2 glusterfs-server glusterfs-client)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing Debian packages and not root: ${missing[*]}" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	apt-get update -qq >/dev/null
	# Install without starting services (glusterd, rpcbind): the tests start their own, in
	# network namespaces. policy-rc.d exiting 101 tells invoke-rc.d to start nothing.
	rcd=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		rcd=/usr/sbin/policy-rc.d
		trap 'rm -f "$rcd"' EXIT
		printf '#!/bin/sh\nexit 101\n' > "$rcd"
		chmod +x "$rcd"
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The guest kernel for the kernel-client tests (downloaded once into /var/cache/weft-vm).
if ! ls /var/cache/weft-vm/linux-image-*-amd64_*_amd64.deb >/dev/null 2>&1; then
	mkdir -p /var/cache/weft-vm
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
	if [ -z "$pkg" ]; then apt-get update -qq >/dev/null; pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}'); fi
	(cd /var/cache/weft-vm && apt-get download -q "$pkg" >/dev/null 2>&1)
fi
