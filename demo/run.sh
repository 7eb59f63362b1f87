#!/usr/bin/env bash
# The demo: a running process with 512 MiB of memory moves between two simulated hosts on this
# machine (network, PID and mount namespaces joined by a bridge), through the godwit agents on
# each: pre-copy while it runs, final dump, restore on the other host, where it counts on and
# checks its memory. Runs as root; tears everything down, even on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== godwit check"
node bin/godwit.js check || true
echo
echo "== a live migration from host A to host B: godwit migrate"
node dist/demo/migrate.js
