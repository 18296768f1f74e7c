#!/bin/sh
# The arm64 executable under qemu-user, for the end-to-end tests: WAAGENT_BIN points the sandbox's WAAGENT here
# (npm run test:arm64). binfmt_misc is not assumed: qemu-aarch64-static runs the binary with the arm64 libc,
# libstdc++ and libgcc of /usr/aarch64-linux-gnu (scripts/bootstrap.sh installs all of it).
exec qemu-aarch64-static -L /usr/aarch64-linux-gnu "$(dirname "$0")/../../dist/waagent-linux-arm64" "$@"
