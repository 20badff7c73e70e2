#!/usr/bin/env bash
# Install the Debian 12 packages Coffer needs to build, test and run its demo.
# Idempotent: installs only what is missing; runs apt-get update at most once.
set -euo pipefail

PKGS=(
  build-essential meson ninja-build pkg-config git python3
  libsodium-dev libcurl4-openssl-dev libarchive-dev libsqlite3-dev sqlite3
  libzstd-dev libmicrohttpd-dev libjansson-dev libinih-dev libexpat1-dev
  clang libclang-rt-14-dev
  nginx libnginx-mod-http-dav-ext curl openssl
  scdoc tzdata
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# node and npm (for s3rver): Debian's packages, unless a node with npm is already there
# (another node distribution provides npm itself and conflicts with Debian's npm)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

# s3rver (npm) for the S3 storage tests, pinned by tests/integration/storage/package.json
# and its lock file, installed into that folder's node_modules/ (ignored by git).
root=$(cd "$(dirname "$0")/.." && pwd)
s3dir=$root/tests/integration/storage
if [ ! -x "$s3dir/node_modules/.bin/s3rver" ]; then
  echo "install-deps: installing s3rver into $s3dir/node_modules"
  (cd "$s3dir" && npm ci --no-audit --no-fund --loglevel=error)
else
  echo "install-deps: s3rver present"
fi
