#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian/Ubuntu machine (as root), from Debian's
# packages and the npm registry only, then the project's npm packages. Safe to run again: it installs
# only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: build (strip for x64 and arm64), arm64 checks (qemu), benchmarks, and the real tools the
# end-to-end tests run in the sandbox.
PKGS=(
  ca-certificates xz-utils zstd binutils binutils-aarch64-linux-gnu
  qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross
  hyperfine time
  iproute2 util-linux curl openssl openssh-client openssh-server passwd sudo
  e2fsprogs fdisk parted genisoimage udftools dosfstools
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
