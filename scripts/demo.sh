#!/usr/bin/env bash
# The demo command: install what is missing, build, and run the main job end to end on
# local defaults, printing each step. Idempotent: every run starts a fresh demo folder.
#
# Today: keychain, first backup, a simulated day, incremental backup, list, restore,
# verify, check, on a file:// repository. Servers on loopback (keyvaultd, WebDAV, S3)
# and the daemon join with their issues.
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

kc="$demo/device"
repo="$demo/repo"
cache="$demo/cache"
bin=./build
common=(--repo "$repo" --state-dir "$kc" --cache-dir "$cache")

step "Creating this device's keychain (keyvault init --local)"
$bin/keyvault/keyvault init --local --state-dir "$kc"
ls -l "$kc"

if [ -d "$demo/store" ]; then
	step "First backup: initialises an encrypted repository at $repo"
	$bin/backupd/program/backupd now --store "$demo/store" "${common[@]}"

	step "One simulated day of messages (genstore.py --mutate), then an incremental backup"
	python3 "$shared/bench/genstore.py" --mutate "$demo/store" >/dev/null
	$bin/backupd/program/backupd now --store "$demo/store" "${common[@]}"

	step "Snapshots in the repository (restore list)"
	$bin/restore/restore list "${common[@]}"

	step "What the storage operator sees: sizes and opaque names only"
	find "$repo" -type f | sed "s|$repo/||" | sort | head -n 12
	echo "... $(find "$repo" -type f | wc -l) objects, $(du -sh "$repo" | cut -f1)"

	step "Restoring the latest snapshot into $demo/restored"
	$bin/restore/restore snapshot latest --to "$demo/restored" --verify "${common[@]}"

	step "Verifying: every attachment byte-identical, chat.db holds the same data"
	diff -r -q -x 'chat.db*' "$demo/store" "$demo/restored" && echo "attachments: identical"
	python3 "$shared/bench/dbsame.py" "$demo/store/chat.db" "$demo/restored/chat.db"

	step "Checking every object of the repository (restore check --read-data)"
	$bin/restore/restore check --read-data "${common[@]}"
fi

step "Keychain status"
$bin/keyvault/keyvault status --state-dir "$kc"

step "Done. Demo files are in $demo"
