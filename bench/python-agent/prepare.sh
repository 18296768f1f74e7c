# Prepares a fresh test/sandbox for the provisioning benchmark (docs/contract.md §7). Runs INSIDE the sandbox as root,
# after the emulator listens on 127.0.0.1:80 and :32526:  bash prepare.sh OVF_ENV_FILE
#  - eth0: a veth pair whose peer stays in this network namespace (192.0.2.0/24, documentation range) with a
#    default route through the peer, so the Python agent finds a primary interface; the platform addresses go to
#    a blackhole in a routing table of their own. Nothing can leave the namespace either way.
#  - the dhclient lease holding option 245 = 127.0.0.1, where the Python agent's Debian osutil looks for it
#    (/var/lib/dhcp/dhclient.*.leases, docs/protocol.md §1.1).
#  - DNS answering at once (a refusal from 127.0.0.1): on Azure the platform's resolver answers quickly, and here the
#    host's resolver is unreachable, so a lookup (the Python agent makes one after fetching the goal state) would
#    wait out the resolver timeout instead.
#  - a private /dev: the host's null/zero/full/random/urandom/tty, /dev/null as /dev/console (the Python agent
#    echoes its log there while provisioning), and sr0, a block node nothing backs.
#  - the provisioning media "already mounted": a read-only tmpfs whose source is named /dev/sr0, at
#    /mnt/cdrom/secure, holding ovf-env.xml. The Python agent sees /dev/sr0 in `mount` and reads the file, then
#    unmounts it and fails to eject (a warning). The kernels here have no udf/iso9660, and this needs no loop device.
set -euo pipefail
ovf="$1"

ip link add eth0 type veth peer name eth0peer
ip addr add 192.0.2.10/24 dev eth0
ip addr add 192.0.2.1/24 dev eth0peer
ip link set eth0peer up
ip link set eth0 up
ip route add default via 192.0.2.1 dev eth0
for net in 168.63.129.16/32 169.254.0.0/16; do
  ip route add blackhole "$net" table 100
  ip rule add to "$net" table 100
done

rm -f /etc/resolv.conf
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > /etc/resolv.conf

mkdir -p /var/lib/dhcp
cat > /var/lib/dhcp/dhclient.eth0.leases <<LEASE
lease {
  interface "eth0";
  fixed-address 192.0.2.10;
  option subnet-mask 255.255.255.0;
  option routers 192.0.2.1;
  option dhcp-lease-time 4294967295;
  option dhcp-server-identifier 192.0.2.1;
  option unknown-245 7f:0:0:1;
  renew 4 2099/01/01 00:00:00;
  rebind 4 2099/01/01 00:00:00;
  expire 4 2099/01/01 00:00:00;
}
LEASE

dev=/run/bench-dev
mkdir -p "$dev"
mount -t tmpfs -o mode=755,size=1m sandbox-dev "$dev"
for n in null zero full random urandom tty; do
  touch "$dev/$n"
  mount --bind "/dev/$n" "$dev/$n"
done
touch "$dev/console"
mount --bind /dev/null "$dev/console"
mkdir -p "$dev/pts" "$dev/shm"
mount --bind /dev/pts "$dev/pts"
mount -t tmpfs -o mode=1777 sandbox-shm "$dev/shm"
ln -s /proc/self/fd "$dev/fd"
ln -s /proc/self/fd/0 "$dev/stdin"
ln -s /proc/self/fd/1 "$dev/stdout"
ln -s /proc/self/fd/2 "$dev/stderr"
mknod "$dev/sr0" b 11 0
mount --move "$dev" /dev

mkdir -p /mnt/cdrom/secure
mount -t tmpfs -o mode=700,size=1m /dev/sr0 /mnt/cdrom/secure
cp "$ovf" /mnt/cdrom/secure/ovf-env.xml
mount -o remount,ro /mnt/cdrom/secure
