#!/usr/bin/env bash
# Install the Debian 12 packages Coffer needs to build, test and run its demo.
# Idempotent: installs only what is missing; runs apt-get update at most once.
set -euo pipefail

PKGS=(
  build-essential meson ninja-build pkg-config git python3
  libsodium-dev libcurl4-openssl-dev libarchive-dev libsqlite3-dev sqlite3
  libzstd-dev libmicrohttpd-dev libjansson-dev libinih-dev libexpat1-dev
  clang libclang-rt-14-dev
  nginx libnginx-mod-http-dav-ext
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

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
