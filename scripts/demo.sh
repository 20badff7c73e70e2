#!/usr/bin/env bash
# The demo command: install what is missing, build, and run the main job end to end on
# local defaults, printing each step for a person to follow. Idempotent: every run starts
# a fresh demo folder and stops the servers it started.
#
# keyvaultd and a WebDAV server (nginx) on loopback; a generated message store; an
# account and this device; `backupd run` on a short schedule while the store changes,
# `backupd now` through the daemon, status, the retention policy (dry run), a clean stop;
# a switch to advanced protection with a recovery key; the device lost (its keychain
# deleted); recovery with the recovery key on a "new" device; a restore, verified.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared=${CF_SHARED_ROOT:-$root/../shared}
demo=${CF_DEMO_DIR:-${TMPDIR:-/tmp}/coffer-demo}
build=${CF_DEMO_BUILD:-build} # the build folder (relative to the project)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
say() { printf '    %s\n' "$*"; }

step "Installing missing Debian packages"
./scripts/install-deps.sh

step "Building (meson + ninja, $build/)"
if [ -f "$build/build.ninja" ]; then meson setup --reconfigure "$build" >/dev/null; else meson setup "$build" >/dev/null; fi
ninja -C "$build"

bin=$root/$build
kvd=$bin/keyvaultd/keyvaultd
kv=$bin/keyvault/keyvault
bd=$bin/backupd/program/backupd
rs=$bin/restore/restore
genstore=$shared/bench/genstore.py
if [ ! -f "$genstore" ]; then
	echo "demo: $genstore is needed for the demo data (the shared folder next to the project)" >&2
	exit 1
fi

# a previous run's servers, if it was interrupted
for f in "$demo"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
rm -rf "$demo"
mkdir -p "$demo"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

tmp=$demo
storage_dir=$root/tests/integration/storage
# shellcheck source=../tests/integration/storage/servers.sh
. "$storage_dir/servers.sh"

step "Starting keyvaultd on loopback (accounts, escrow, recovery shares, witness, audit)"
mkdir -p "$demo/kvd"
"$kvd" --db "$demo/kvd/kvd.db" --escrow-key "$demo/kvd/escrow.key" --listen 127.0.0.1:0 \
	--port-file "$demo/kvd/port" -q 2>"$demo/kvd/keyvaultd.log" &
pids+=($!)
echo $! >"$demo/keyvaultd.pid"
for _ in $(seq 1 200); do [ -s "$demo/kvd/port" ] && break; sleep 0.05; done
kv_url="http://127.0.0.1:$(cat "$demo/kvd/port")"
say "keyvaultd at $kv_url, database $demo/kvd/kvd.db, escrow key $demo/kvd/escrow.key (0600)"

step "Starting a WebDAV server (nginx with dav + dav-ext) on loopback"
start_nginx "$demo/nginx"
pids+=("${server_pids[@]}")
echo "$nginx_pid" >"$demo/nginx.pid"
repo="webdav+$dav_url/backups/alice-phone"
say "repository: $repo (HTTP Basic auth from COFFER_WEBDAV_USER/PASSWORD)"

step "Generating a demo message store (iMessage-like chat.db + Attachments/)"
python3 "$genstore" "$demo/store" --messages 20000 --attachments 60 --scale 0.2
du -sh "$demo/store"

dev=$demo/phone
cache=$demo/cache
printf 'correct horse battery staple, demo\n' >"$demo/password"
chmod 600 "$demo/password"

step "Creating an account on keyvaultd and this device (keyvault init, standard protection)"
"$kv" init --server "$kv_url" --account alice --password-file "$demo/password" --state-dir "$dev"

step "The configuration backupd reads (one INI file; docs/configuration.md)"
mkdir -p "$demo/run"
chmod 700 "$demo/run"
cat >"$demo/coffer.conf" <<CONF
[store]
path = $demo/store
lock_dir = $demo/run

[repository]
url = $repo
state_dir = $dev
cache_dir = $cache

[schedule]
interval = 3s
skip_on_battery = no

[retention]
keep_last = 3
keep_daily = 7
CONF
chmod 600 "$demo/coffer.conf"
sed 's/^/    /' "$demo/coffer.conf"
bk() { local cmd=$1; shift; "$bd" "$cmd" --config "$demo/coffer.conf" "$@"; }

step "Running backupd as a service: scheduled backups while the store changes"
"$bd" run --config "$demo/coffer.conf" >"$demo/backupd.log" 2>&1 &
daemon=$!
pids+=($daemon)
echo $daemon >"$demo/backupd.pid"
snapshots() { # how many snapshots the repository lists (0 while it cannot say)
	"$rs" list --json --repo "$repo" --state-dir "$dev" --cache-dir "$cache" 2>/dev/null |
		python3 -c '
import json, sys
try:
    print(len(json.load(sys.stdin)))
except Exception:
    print(0)'
}
for day in 1 2 3; do
	for _ in $(seq 1 600); do [ "$(snapshots)" -ge "$day" ] && break; sleep 0.2; done
	say "snapshot $day written by the schedule; now one simulated day of messages"
	python3 "$genstore" --mutate "$demo/store" 2>&1 | sed 's/^/    /'
done
for _ in $(seq 1 600); do [ "$(snapshots)" -ge 4 ] && break; sleep 0.2; done

step "backupd now, while the daemon runs: it asks the daemon and prints the result"
python3 "$genstore" --mutate "$demo/store" >/dev/null 2>&1
bk now

step "backupd status (last success, next run, repository, protection, audit log)"
bk status

step "The retention policy: what it keeps and why (dry run; the daemon applies it after each backup)"
bk retention --dry-run

step "Stopping the service (SIGTERM: a running backup would stop at its next blob)"
kill -TERM "$daemon"
wait "$daemon" && say "backupd run exited 0"
tail -n 3 "$demo/backupd.log" | sed 's/^/    /'

step "Snapshots in the repository (restore list)"
"$rs" list --repo "$repo" --state-dir "$dev" --cache-dir "$cache"

step "What the storage operator sees: sizes and opaque names only"
find "$demo/nginx/dav" -type f | sed "s|$demo/nginx/dav/||" | sort | head -n 8 | sed 's/^/    /'
say "... $(find "$demo/nginx/dav" -type f | wc -l) objects, $(du -sh "$demo/nginx/dav" | cut -f1)"

step "Creating a recovery key (write it down: it is shown once)"
"$kv" recovery-key create --json --state-dir "$dev" --cache-dir "$cache" --repo "$repo" >"$demo/rk.json"
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["recovery_key"])' "$demo/rk.json" >"$demo/recovery-key"
chmod 600 "$demo/recovery-key"
say "recovery key: $(cat "$demo/recovery-key")"

step "Switching to advanced protection: keyvaultd forgets the backup key"
"$kv" mode advanced --reencrypt-history --state-dir "$dev" --cache-dir "$cache" --repo "$repo"

step "keyvault status: who can read which snapshots now"
"$kv" status --state-dir "$dev"

step "One more backup under advanced protection (its summary ends with the new audit entries)"
bk now

step "Losing the phone: its keychain is deleted"
rm -rf "$dev" "$cache"
say "removed $dev and the cache"

step "Recovering on a new device with the recovery key alone (restore recover)"
"$rs" recover --repo "$repo" --state-dir "$demo/new-phone" --cache-dir "$demo/new-cache" \
	--recovery-key-file "$demo/recovery-key" --to "$demo/restored"

step "Verifying: every attachment byte-identical, chat.db holds the same data"
diff -r -q -x 'chat.db*' "$demo/store" "$demo/restored" && say "attachments: identical"
python3 "$shared/bench/dbsame.py" "$demo/store/chat.db" "$demo/restored/chat.db"

step "Checking every object of the repository from the new device (restore check --read-data)"
"$rs" check --read-data --repo "$repo" --state-dir "$demo/new-phone" --cache-dir "$demo/new-cache"

step "Done. Demo files are in $demo"
