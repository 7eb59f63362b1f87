#!/usr/bin/env bash
# Everything godwit needs on a fresh Debian 12 machine (as root): OS packages, npm packages, and
# the build (TypeScript into dist/, the C helper into native/build). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=(gcc make libc6-dev nftables libnftables1 iproute2 util-linux bsdutils procps psmisc python3 redis-server openssl ansible-core python3-apt libsqlite3-0 chromium postgresql tmux nginx-light memcached)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing OS packages: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "== npm install (builds native/ and the TypeScript)"
npm install --no-audit --no-fund
