#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian/Ubuntu machine (as root), from Debian's
# packages and the npm registry only, then the project's npm packages. Safe to run again: it installs
# only what is missing. `--bench` also installs the Python agent for bench/provision.ts (CI does not need it).
set -euo pipefail
cd "$(dirname "$0")/.."
bench=0
if [ "${1:-}" = --bench ]; then bench=1; fi

# Debian packages: build (strip for x64 and arm64, mksquashfs for the Flatcar system extension), arm64 checks
# (qemu), benchmarks, the real tools the end-to-end tests run in the sandbox, and for the image test
# (test/image/image.test.ts) debootstrap and systemd-nspawn, which boot a Debian root with systemd in a container;
# libfaketime moves the agent's wall clock in the clock-jump test (test/e2e/hostile-input.test.ts); strace counts the
# fsyncs of the atomic writer (test/unit/os/atomic-file.test.ts).
PKGS=(
  ca-certificates xz-utils zstd binutils binutils-aarch64-linux-gnu
  qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross
  hyperfine time
  iproute2 util-linux curl iptables openssl openssh-client openssh-server passwd sudo
  e2fsprogs fdisk parted genisoimage udftools dosfstools unzip zip mount faketime
  squashfs-tools debootstrap systemd-container strace
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages, including the pinned Node runtime (package "node") that every npm script runs on.
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

# The Python agent for the side-by-side provisioning benchmark (docs/contract.md §7), only with --bench. Debian's package
# enables and starts walinuxagent.service on install: it must never run on this machine (it would provision the
# host), so starting is refused through policy-rc.d during the install, the unit is disabled afterwards, and the
# script fails if an agent process runs anyway. bench/provision.ts runs it only inside the namespace sandbox.
if [ "$bench" = 1 ] && ! dpkg-query -W -f='${Status}' waagent 2>/dev/null | grep -q 'install ok installed'; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: --bench installs waagent and eject; run as root" >&2
    exit 1
  fi
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  echo "bootstrap: installing waagent eject (bench only; the service is not started)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends waagent eject >/dev/null || { [ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d; exit 1; }
  [ "$own_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable walinuxagent.service >/dev/null 2>&1 || true
    if [ -d /run/systemd/system ]; then systemctl stop walinuxagent.service >/dev/null 2>&1 || true; fi
  fi
  if ps -eo args= | grep -q '^[p]ython3.* /usr/sbin/waagent\|^/usr/sbin/waagent'; then
    echo "bootstrap: a waagent process runs on this machine after the install: stop it (systemctl stop walinuxagent)" >&2
    exit 1
  fi
fi
