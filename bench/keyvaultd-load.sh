#!/usr/bin/env bash
# bench/keyvaultd-load.sh — requests per second of keyvaultd on loopback: logins and escrow
# reads from concurrent keep-alive clients (bench/keyvaultd-load.py), written to
# bench/RESULTS-keyvaultd.md with the machine and the exact command.
#
#   bench/keyvaultd-load.sh                       2000 requests per operation, 4 clients
#   REQUESTS=5000 CLIENTS=8 THREADS=2 bench/keyvaultd-load.sh
#
# Builds keyvaultd (meson, debugoptimized, NDEBUG) into $COFFER_BUILD (default
# build-bench-kvd/). Bounded: a fixed number of requests, at most DEADLINE seconds per
# operation. Rate limits are switched off for the run (--rate-address 0 --rate-account 0):
# with the defaults one address gets 600 requests a minute, which is what it would measure.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=${COFFER_BUILD:-$ROOT/build-bench-kvd}
REQUESTS=${REQUESTS:-2000}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-2}
DEADLINE=${DEADLINE:-120}
OUT=$HERE/RESULTS-keyvaultd.md

[ -f "$BUILD/build.ninja" ] ||
	meson setup "$BUILD" "$ROOT" --buildtype=debugoptimized -Db_ndebug=true >/dev/null
ninja -C "$BUILD" keyvaultd/keyvaultd keyvaultd/kvd-testsign >/dev/null
KVD=$BUILD/keyvaultd/keyvaultd
SIGN=$BUILD/keyvaultd/kvd-testsign

CMD=(python3 "$HERE/keyvaultd-load.py" "$KVD" "$SIGN" --requests "$REQUESTS"
	--clients "$CLIENTS" --threads "$THREADS" --deadline "$DEADLINE")
table=$("${CMD[@]}")

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
fs=$(df -T "${TMPDIR:-/tmp}" | awk 'NR == 2 {print $2}')
rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
opts=$(meson introspect --buildoptions "$BUILD" | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(o["buildtype"] + (", NDEBUG" if o["b_ndebug"] in ("true", True) else ""))')
{
	echo "# keyvaultd load test — $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Written by \`bench/keyvaultd-load.sh\` (client: \`bench/keyvaultd-load.py\`)."
	echo
	echo "## Machine"
	echo
	echo "- CPU: $(nproc) vCPU, $cpu; RAM: $mem; load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r); database on $fs in ${TMPDIR:-/tmp}"
	echo "- Coffer $rev (+ working tree), $(cc --version | head -1), meson $opts"
	echo "- libmicrohttpd $(pkg-config --modversion libmicrohttpd), SQLite $(pkg-config --modversion sqlite3), jansson $(pkg-config --modversion jansson), libsodium $(pkg-config --modversion libsodium)"
	echo
	echo "## Setup"
	echo
	echo "keyvaultd on 127.0.0.1 with \`--threads $THREADS --rate-address 0 --rate-account 0\`,"
	echo "its database in a fresh temporary folder (WAL, \`synchronous=FULL\`: every request"
	echo "commits one transaction — rate-limit counters, session use, audit entries — and waits"
	echo "for its fsync). $CLIENTS Python clients (http.client, one keep-alive connection each)"
	echo "send $REQUESTS requests per operation between them, all on the same machine (client"
	echo "and server share the $(nproc) CPUs). Logins are password logins of one account (the"
	echo "client sends the auth key; the server hashes and compares it, counts the attempt and"
	echo "stores a new session). Escrow reads are made by sessions bound to the account's"
	echo "device: each opens the sealed record and appends an \`escrow-read\` audit entry."
	echo
	echo "Command: \`${CMD[*]}\`"
	echo
	echo "## Results"
	echo
	echo "$table"
	echo
	echo "Latencies are per request as the client sees them (milliseconds). The client-side"
	echo "Argon2id of a real login (\`CF_ARGON2_INTERACTIVE\`, about 0.1–0.3 s per login on"
	echo "the device) is not part of the server's work and is not included."
} >"$OUT"
echo "$table"
echo "written: $OUT"
