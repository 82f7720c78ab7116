#!/bin/bash
# Runs inside the qemu guest (a stock Debian kernel) as root against an NFS server reached at
# $S (10.0.2.100 through qemu guestfwd rules). Each step prints "== step" first; the Go test reads
# the output. Results the host must check are written to /job/*.out. The host follows the phase
# in /job/phase (e.g. to restart the server during the long write).
set -euo pipefail
S=${S:-10.0.2.100}
EXPORT=${EXPORT:-/vol}
SQUASH_EXPORT=${SQUASH_EXPORT:-}
NFS_PORT=${NFS_PORT:-2049}
MOUNT_PORT=${MOUNT_PORT:-20048}
NFILES=${NFILES:-2000}
BIG_MB=${BIG_MB:-1024}
step() { echo "== $*"; echo "$*" > /job/phase; }

step "start rpcbind and statd (NLM needs them on the client)"
rpcbind -w
rpc.statd --no-notify
mkdir -p /mnt/a /mnt/b /mnt/s

step "mount vers=3 with explicit ports"
mount -t nfs -o vers=3,proto=tcp,port=$NFS_PORT,mountport=$MOUNT_PORT,mountproto=tcp,hard,timeo=50,retrans=20 $S:$EXPORT /mnt/a
step "mount with no options (portmap; v4 first, then v3)"
mount -t nfs $S:$EXPORT /mnt/b
grep " /mnt/b " /proc/mounts | tee /job/plain-mount.out

step "copy a tree of $NFILES files"
# SRC is a tree the host made (the host's root is visible read-only); generating thousands of
# files with a shell loop is slow under TCG.
if [ -z "${SRC:-}" ]; then
	SRC=/tmp/src
	mkdir -p $SRC/d1/d2
	i=0
	while [ $i -lt $NFILES ]; do
		d=$SRC/d$((i % 7))
		mkdir -p $d
		head -c $(( (i * 7919) % 20000 + 1 )) /dev/urandom > $d/f$i
		i=$((i + 1))
	done
fi
cp -r --preserve=mode,ownership,timestamps $SRC /mnt/a/tree
(cd $SRC && find . -type f -print0 | sort -z | xargs -0 sha256sum) > /tmp/src.sums
(cd /mnt/b/tree && find . -type f -print0 | sort -z | xargs -0 sha256sum) > /tmp/nfs.sums
cmp /tmp/src.sums /tmp/nfs.sums
test "$(find /mnt/b/tree -type f | wc -l)" = "$NFILES"

step "rename, hard link, symlink"
echo hello > /mnt/a/r1
mv /mnt/a/r1 /mnt/a/r2
test ! -e /mnt/b/r1 && test "$(cat /mnt/b/r2)" = hello
ln /mnt/a/r2 /mnt/a/hl
test "$(stat -c %h /mnt/a/r2)" = 2
test "$(stat -c %i /mnt/a/r2)" = "$(stat -c %i /mnt/a/hl)"
ln -s r2 /mnt/a/sl
test "$(readlink /mnt/a/sl)" = r2 && test "$(cat /mnt/a/sl)" = hello
mv /mnt/a/tree/d1 /mnt/a/tree/d1renamed
test -d /mnt/b/tree/d1renamed/d2

step "chmod and chown as root"
chmod 0640 /mnt/a/r2
test "$(stat -c %a /mnt/a/r2)" = 640
chown 1234:4321 /mnt/a/r2
test "$(stat -c %u:%g /mnt/a/r2)" = 1234:4321

step "a normal user"
mkdir -m 0777 /mnt/a/pub
setpriv --reuid 1000 --regid 1000 --clear-groups sh -c 'echo u > /mnt/a/pub/userfile && chmod 0600 /mnt/a/pub/userfile'
test "$(stat -c %u:%g:%a /mnt/a/pub/userfile)" = 1000:1000:600
if setpriv --reuid 1000 --regid 1000 --clear-groups chown 0 /mnt/a/pub/userfile 2>/dev/null; then echo "user chown to root succeeded"; exit 1; fi
if setpriv --reuid 1001 --regid 1001 --clear-groups cat /mnt/a/pub/userfile 2>/dev/null; then echo "mode 0600 not enforced"; exit 1; fi

if [ -n "$SQUASH_EXPORT" ]; then
	step "root_squash export"
	mkdir -m 0777 /mnt/a/${SQUASH_EXPORT##*/}
	mount -t nfs -o vers=3,proto=tcp,port=$NFS_PORT,mountport=$MOUNT_PORT,mountproto=tcp $S:$SQUASH_EXPORT /mnt/s
	touch /mnt/s/squashed
	stat -c %u:%g /mnt/s/squashed | tee /job/squash.out
	if chown 0 /mnt/s/squashed 2>/dev/null; then echo "squashed root could chown"; exit 1; fi
	umount /mnt/s
fi

# lock_checks DIR: flock and fcntl (POSIX byte-range) locks on DIR/lockfile travel as NLM locks;
# a second owner must be refused while the first holds them and succeed after it lets go.
lock_checks() {
	local d=$1
	touch $d/lockfile
	rm -f /tmp/held /tmp/release
	flock $d/lockfile -c 'touch /tmp/held; while [ ! -e /tmp/release ]; do sleep 0.2; done' &
	local holder=$!
	for i in $(seq 1 300); do [ -e /tmp/held ] && break; sleep 0.2; done
	test -e /tmp/held
	if flock -n $d/lockfile -c true; then echo "flock not exclusive"; return 1; fi
	touch /tmp/release
	wait $holder
	flock -n $d/lockfile -c true
	python3 - $d/lockfile <<'PY'
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 100, 0)
pid = os.fork()
if pid == 0:
    fd2 = os.open(sys.argv[1], os.O_RDWR)
    try:
        fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 50)
        os._exit(1)  # overlapping range must conflict
    except OSError:
        pass
    fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 200)  # disjoint range is free
    os._exit(0)
_, st = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(st) == 0, "fcntl range locking wrong"
fcntl.lockf(fd, fcntl.LOCK_UN, 100, 0)
print("fcntl ok")
PY
}

# qemu_locks IMG: QEMU's image locking over NFSv3. QEMU takes byte-range locks on its images
# (bytes 100+ for the permissions it uses, 200+ for those it does not share); over NFSv3 they
# travel as NLM locks. While qemu-io holds the image read-write, a second opener must be
# refused promptly (never hang), -U must bypass the check, and once the holder exits (cleanly,
# or killed) the next opener gets the image. Runs with -x; on failure it prints the logs, the
# guest's lock table and lockd's trace.
qemu_locks() (
	local img=$1 ino qio t0 dt
	trap 'rc=$?; set +x; echo "QEMU lock check failed (exit $rc) at line $LINENO"; for f in /tmp/qio.log /tmp/qio2.log /tmp/qinfo.log; do echo "--- $f"; cat $f 2>/dev/null; done; echo "--- /proc/locks"; cat /proc/locks; echo "--- processes"; ps ax | grep -E "qemu|PID" | grep -v grep; echo "--- lockd trace"; dmesg | grep -iE "lockd|nlm" | tail -60' ERR
	set -Eex
	echo 32767 > /proc/sys/sunrpc/nlm_debug 2> /dev/null || true
	rm -f /tmp/qio.log /tmp/qio2.log /tmp/qinfo.log /tmp/qio.in
	qemu-img create -f qcow2 $img 64M > /dev/null
	ino=$(stat -c %i $img)
	# The holder reads its commands from a FIFO that this shell keeps open: it holds the image
	# until told to quit, however slow the guest is (a `sleep N | qemu-io` holder ran out of
	# time under load and exited by itself).
	mkfifo /tmp/qio.in
	qemu-io $img < /tmp/qio.in > /tmp/qio.log 2>&1 &
	qio=$!
	exec 3> /tmp/qio.in
	# It holds the image once the server granted its locks: the client then lists them.
	for i in $(seq 1 600); do grep -q ":$ino 100 " /proc/locks && break; kill -0 $qio; sleep 0.2; done
	grep ":$ino " /proc/locks
	t0=$(date +%s)
	if timeout 120 qemu-io -c quit $img > /tmp/qio2.log 2>&1; then echo "a second read-write opener got the image"; false; fi
	grep -q 'Failed to get "write" lock' /tmp/qio2.log
	if timeout 120 qemu-img info $img > /tmp/qinfo.log 2>&1; then echo "qemu-img info opened an image in use"; false; fi
	grep -q 'Failed to get shared "write" lock' /tmp/qinfo.log
	dt=$(( $(date +%s) - t0 ))
	echo "refused twice in ${dt}s"
	test $dt -lt 90
	timeout 120 qemu-img info -U $img > /dev/null
	kill -0 $qio
	# A clean exit: qemu-io closes the image, the client unlocks before close returns.
	echo quit >&3
	exec 3>&-
	wait $qio
	if grep ":$ino " /proc/locks; then echo "locks left after the holder exited"; false; fi
	timeout 120 qemu-io -c quit $img
	timeout 120 qemu-img info $img > /dev/null
	# A killed holder: the client sends the UNLOCK without waiting for it (the process is
	# dying), so the next opener may be refused until the server had it.
	qemu-io $img < /tmp/qio.in > /tmp/qio.log 2>&1 &
	qio=$!
	exec 3> /tmp/qio.in
	for i in $(seq 1 600); do grep -q ":$ino 100 " /proc/locks && break; kill -0 $qio; sleep 0.2; done
	grep -q ":$ino 100 " /proc/locks
	kill -9 $qio
	wait $qio || true
	exec 3>&-
	t0=$(date +%s) n=1
	until timeout 120 qemu-io -c quit $img > /tmp/qio2.log 2>&1; do
		grep -q 'Failed to get "write" lock' /tmp/qio2.log
		test $(( $(date +%s) - t0 )) -lt 30
		sleep 1
		n=$((n + 1))
	done
	echo "after its holder was killed, the image was opened at attempt $n"
	echo 0 > /proc/sys/sunrpc/nlm_debug 2> /dev/null || true
)

if [ "${LOCKS:-1}" = 1 ]; then
step "flock and fcntl locks (NLM)"
lock_checks /mnt/a
step "QEMU image locking over NLM"
qemu_locks /mnt/a/vm.qcow2
fi

step "sparse file"
dd if=/dev/zero of=/mnt/a/sparse bs=1 count=1 seek=1G status=none
sync
test "$(stat -c %s /mnt/a/sparse)" = 1073741825
test "$(du -k /mnt/a/sparse | cut -f1)" -lt 1024

step "big write"
dd if=/dev/urandom of=/mnt/a/big bs=1M count=$BIG_MB conv=fsync status=none
echo 3 > /proc/sys/vm/drop_caches
sha256sum /mnt/b/big | cut -d' ' -f1 | tee /job/big.out

# The host restarted the gateway during the big write: a new mount with no options must still
# negotiate through its port mapper, and the lock protocols must serve the restarted gateway.
step "after the restart: a mount with no options, flock and fcntl"
umount /mnt/b
mount -t nfs $S:$EXPORT /mnt/b
grep " /mnt/b " /proc/mounts | tee /job/plain-mount-restarted.out
if [ "${LOCKS:-1}" = 1 ]; then
	lock_checks /mnt/b
fi

step "unmount"
umount /mnt/a
umount /mnt/b
step "done"
