#!/usr/bin/env bash
# The demo command: install what is missing, build, and run the main job end to end on
# local defaults, printing each step. Idempotent: every run starts a fresh demo folder.
#
# It runs what the project has so far: the backup round trip joins when the engine lands
# (issue 3), the servers on loopback with the storage and protection-mode issues.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared=${CF_SHARED_ROOT:-$root/../shared}
demo=${CF_DEMO_DIR:-${TMPDIR:-/tmp}/coffer-demo}

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Installing missing Debian packages"
./scripts/install-deps.sh

step "Building (meson + ninja, build/)"
if [ -f build/build.ninja ]; then meson setup --reconfigure build >/dev/null; else meson setup build >/dev/null; fi
ninja -C build

rm -rf "$demo"
mkdir -p "$demo"

step "Generating a demo message store (iMessage-like chat.db + Attachments/) in $demo/store"
if [ -x "$shared/bench/genstore.py" ] || [ -f "$shared/bench/genstore.py" ]; then
	python3 "$shared/bench/genstore.py" "$demo/store" --messages 20000 --attachments 60 --scale 0.2
	du -sh "$demo/store"
else
	echo "(shared/bench/genstore.py not found next to the project: skipping demo data)"
fi

step "Creating this device's keychain (keyvault init --local)"
./build/keyvault/keyvault init --local --state-dir "$demo/device"
ls -l "$demo/device"

step "Keychain status"
./build/keyvault/keyvault status --state-dir "$demo/device"

step "Done. Demo files are in $demo"
