#!/usr/bin/env bash
# bench/run.sh — Coffer against restic and Borg in one run, on the shared benchmark stores.
#
#   bench/run.sh [PRESET...]        PRESETs: small medium heavydb tenx (default: small medium heavydb tenx)
#   RUNS=2 bench/run.sh small       repetitions per tool (default 2 for small, 1 otherwise)
#   RUNS_medium=3 bench/run.sh      repetitions for one preset only (RUNS_small, RUNS_heavydb...)
#   TOOLS="restic" bench/run.sh     anchor tools besides Coffer (default: "restic borg")
#
# Builds Coffer (meson, debugoptimized, NDEBUG) into $COFFER_BUILD (default build-bench/),
# generates the stores with ../shared/bench/genstore.py under $BENCH_DIR (default
# /tmp/coffer-bench; kept between runs), runs ../shared/bench/anchors.sh with SUT_*
# commands for Coffer (a keychain without passphrase: no Argon2id), and writes
# bench/RESULTS.md: machine, versions, the exact commands, anchors.sh's tables.
# "tenx": the memory of a backup and a restore in a repository holding ten stores vs one.
# Installs restic, borgbackup and GNU time with apt-get when missing (this script only;
# the test command never needs them).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
BUILD=${COFFER_BUILD:-$ROOT/build-bench}
BENCH_DIR=${BENCH_DIR:-/tmp/coffer-bench}
PRESETS=${*:-small medium heavydb tenx}
OUT=$HERE/RESULTS.md
LOGDIR=$HERE/logs
mkdir -p "$BENCH_DIR" "$LOGDIR"

need=()
command -v restic >/dev/null || need+=(restic)
command -v borg >/dev/null || need+=(borgbackup)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >/dev/null
fi

[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$ROOT" --buildtype=debugoptimized -Db_ndebug=true >/dev/null
ninja -C "$BUILD" backupd/program/backupd restore/restore keyvault/keyvault >/dev/null
BK=$BUILD/backupd/program/backupd RS=$BUILD/restore/restore KV=$BUILD/keyvault/keyvault

store_for() { # preset -> store folder (generated once)
	local p=$1 dir=$BENCH_DIR/store-$1
	if [ ! -f "$dir/chat.db" ]; then
		case $p in
		heavydb) python3 "$SHARED/genstore.py" "$dir" --preset heavydb --seed 13 >&2 ;;
		*) python3 "$SHARED/genstore.py" "$dir" --preset "$p" >&2 ;;
		esac
	fi
	echo "$dir"
}

export SUT_NAME=coffer
export SUT_INIT="$KV init --local --state-dir {work}/st >/dev/null"
export SUT_BACKUP="$BK now --store {store} --repo {repo} --state-dir {work}/st --cache-dir {work}/cache --quiet"
export SUT_RESTORE="$RS snapshot latest --to {dest} --repo {repo} --state-dir {work}/st --cache-dir {work}/cache >/dev/null"
export SUT_RESTORED="{dest}"

peak() { # command... -> peak RSS in KiB (GNU time)
	/usr/bin/time -f '%M' -o "$BENCH_DIR/rss" "$@" >/dev/null 2>&1
	cat "$BENCH_DIR/rss"
}

tenx() {
	local w=$BENCH_DIR/tenx one ten
	rm -rf "$w" && mkdir -p "$w"
	"$KV" init --local --state-dir "$w/st" >/dev/null
	for i in $(seq 1 10); do
		[ -f "$BENCH_DIR/store-s$i/chat.db" ] || python3 "$SHARED/genstore.py" "$BENCH_DIR/store-s$i" --preset small --seed "$((100 + i))" >&2
	done
	cp -a "$BENCH_DIR/store-s1" "$w/store"
	"$BK" now --store "$w/store" --repo "$w/one" --state-dir "$w/st" --cache-dir "$w/c1" --quiet
	one=$(peak "$BK" now --store "$w/store" --repo "$w/one" --state-dir "$w/st" --cache-dir "$w/c1" --quiet)
	local r1; r1=$(peak "$RS" snapshot latest --to "$w/r1" --repo "$w/one" --state-dir "$w/st" --cache-dir "$w/c1")
	for i in $(seq 1 10); do
		"$BK" now --store "$BENCH_DIR/store-s$i" --repo "$w/ten" --state-dir "$w/st" --cache-dir "$w/c10" --quiet
	done
	"$BK" now --store "$w/store" --repo "$w/ten" --state-dir "$w/st" --cache-dir "$w/c10" --quiet
	ten=$(peak "$BK" now --store "$w/store" --repo "$w/ten" --state-dir "$w/st" --cache-dir "$w/c10" --quiet)
	local r10; r10=$(peak "$RS" snapshot latest --to "$w/r10" --repo "$w/ten" --state-dir "$w/st" --cache-dir "$w/c10")
	echo "| repository | size MB | peak RSS backup MiB | peak RSS restore MiB |"
	echo "|---|---|---|---|"
	echo "| one small store | $(( $(du -sb "$w/one" | cut -f1) / 1000000 )) | $((one / 1024)) | $((r1 / 1024)) |"
	echo "| ten small stores (seeds 101-110) + that store | $(( $(du -sb "$w/ten" | cut -f1) / 1000000 )) | $((ten / 1024)) | $((r10 / 1024)) |"
	rm -rf "$w"
}

{
	echo "# Coffer benchmark results — $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Written by \`bench/run.sh $PRESETS\`; raw anchors.sh output in \`bench/logs/\`."
	echo
	echo "## Machine"
	echo
	echo "- CPU: $(nproc) vCPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "- RAM: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r)"
	echo "- Coffer $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') (+ working tree), $(cc --version | head -1), meson debugoptimized -DNDEBUG"
	echo "- $(restic version | head -1); $(borg --version); SQLite $(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)'); zstd $(dpkg-query -W -f '${Version}' libzstd1 2>/dev/null); libsodium $(dpkg-query -W -f '${Version}' libsodium23 2>/dev/null)"
	echo
	echo "## Commands"
	echo
	echo '```'
	echo "SUT_INIT='$SUT_INIT'"
	echo "SUT_BACKUP='$SUT_BACKUP'"
	echo "SUT_RESTORE='$SUT_RESTORE'"
	echo "SUT_RESTORED='$SUT_RESTORED'"
	echo '```'
	echo "restic and Borg as anchors.sh runs them (\`../shared/bench/README.md\`)."
	echo
	echo "Other benchmarks, each with its own script and results file: storage backends"
	echo "(WebDAV, S3 vs file:// and restic's S3) \`bench/storage.sh\` → [RESULTS-storage.md](RESULTS-storage.md);"
	echo "keyvaultd login and escrow-read rates \`bench/keyvaultd-load.sh\` → [RESULTS-keyvaultd.md](RESULTS-keyvaultd.md)."
	echo
} >"$OUT.tmp"

for p in $PRESETS; do
	if [ "$p" = tenx ]; then
		{ echo "## Memory with a repository ten times larger"; echo; tenx; echo; } >>"$OUT.tmp"
		continue
	fi
	store=$(store_for "$p")
	runs_var=RUNS_$p
	runs=${!runs_var:-${RUNS:-$([ "$p" = small ] && echo 2 || echo 1)}}
	echo "== $p: $runs run(s)" >&2
	RUNS=$runs TOOLS=${TOOLS-restic borg} bash "$SHARED/anchors.sh" "$store" >"$LOGDIR/$p.txt" 2>&1 || true
	{
		echo "## --preset $p ($runs run(s))"
		echo
		echo '```'
		cat "$LOGDIR/$p.txt"
		echo '```'
		echo
	} >>"$OUT.tmp"
done
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT" >&2
