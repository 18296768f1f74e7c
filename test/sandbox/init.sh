# Runs as pid 1 of the sandbox's fresh namespaces (started by sandbox.ts through unshare). $SB is the sandbox's
# directory on the host. Makes private writable copies of the directories the agent changes, brings up loopback
# only (no other interface, no route: nothing can leave), then waits on stdin: when the harness closes the pipe
# (or dies), this process ends and the kernel kills everything in the pid namespace. Meanwhile bash, as pid 1,
# reaps the orphans reparented to it (cat would leave them as zombies).
set -euo pipefail
mount --make-rprivate /
exec 3<"$SB"
# the checkout (node runtime, dist/, test files) may itself live under /tmp: keep it reachable through fd 4
exec 4<"$REPO"
for d in etc home root var mnt run; do
  [ -d "/$d" ] || continue
  mkdir -p "$SB/upper/$d" "$SB/work/$d"
  mount -t overlay "sandbox-$d" -o "lowerdir=/$d,upperdir=$SB/upper/$d,workdir=$SB/work/$d" "/$d"
done
mount -t tmpfs -o mode=1777 sandbox-tmp /tmp
# the sandbox directory stays visible at its host path (emulator control socket, port files, test files);
# --no-canonicalize keeps mount from resolving the fd link to the (now covered) path
mkdir -p "$SB"
mount --no-canonicalize --bind /proc/self/fd/3 "$SB"
exec 3<&-
case "$REPO" in /tmp/*) mkdir -p "$REPO"; mount --no-canonicalize --bind /proc/self/fd/4 "$REPO" ;; esac
exec 4<&-
mount -t sysfs sandbox-sys /sys
# The kernel's devices are the host's: keep the agent off the host's real disks. Its SCSI timeout writes land in
# private copies of the attributes, and a resource disk on the host (VMBus, the udev link) is not visible; tests
# that want one bind-mount a fake VMBus tree over /sys/bus themselves.
for t in /sys/block/sd*/device/timeout; do
  [ -e "$t" ] || continue
  copy="$SB/scsi-timeout-$(basename "$(dirname "$(dirname "$t")")")"
  cat "$t" > "$copy"
  mount --bind "$copy" "$t"
done
if [ -d /sys/bus/vmbus ]; then mount -t tmpfs -o ro sandbox-novmbus /sys/bus/vmbus; fi
if [ -d /dev/disk/azure ]; then mount -t tmpfs -o ro sandbox-noazure /dev/disk/azure; fi
# /dev is the host's too: the daemon's console log (Logs.Console) goes nowhere instead of onto the host's console
if [ -e /dev/console ]; then mount --bind /dev/null /dev/console; fi
mkdir -p /var/lib/waagent /var/log
ip link set lo up
hostname "$SANDBOX_HOSTNAME"
echo READY
while read -r _; do :; done
