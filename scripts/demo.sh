#!/usr/bin/env bash
# The demo: builds the agent, then in a fresh namespace sandbox (test/sandbox) starts the fabric emulator
# (test/fabric) and runs the built dist/waagent against it: -version, -provision from a UDF media image (and again:
# nothing to do), -goal-state, then -daemon for a few cycles, stopped with SIGTERM. Prints every step.
# Needs root (namespaces, mounts) and what scripts/bootstrap.sh installs. Changes nothing on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: the sandbox needs root (it creates namespaces and mounts); run it as root" >&2
  exit 1
fi
if [ ! -x node_modules/.bin/node ]; then
  echo "demo: node_modules is missing; run: bash scripts/bootstrap.sh" >&2
  exit 1
fi
echo "demo: building (npm run build)"
npm run --silent build
exec node_modules/.bin/node test/sandbox/demo.ts
