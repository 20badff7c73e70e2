# Sourced by the daemon tests (not a test itself).
# Usage in a test: source "$(dirname "$0")/daemon-common.sh" BACKUPD KEYVAULT RESTORE
# Everything lives in one temporary folder: XDG config and runtime folders too, so the
# user's own configuration and daemons are never seen. Daemons started with start_daemon
# are killed on exit.
set -uo pipefail

bd=${1:?usage: $0 PATH-TO-backupd PATH-TO-keyvault PATH-TO-restore}
kv=${2:?usage: $0 PATH-TO-backupd PATH-TO-keyvault PATH-TO-restore}
rs=${3:?usage: $0 PATH-TO-backupd PATH-TO-keyvault PATH-TO-restore}
bench=${CF_SOURCE_ROOT:-$(cd "$(dirname "$0")/../../.." && pwd)}/../shared/bench
[ -f "$bench/genstore.py" ] || { echo "genstore.py not found in $bench" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cf-daemon.XXXXXX") || exit 1
daemons=()
cleanup() {
	for p in "${daemons[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
unset COFFER_PASSPHRASE XDG_STATE_HOME XDG_CACHE_HOME NOTIFY_SOCKET
export XDG_CONFIG_HOME=$tmp/xdg-config XDG_RUNTIME_DIR=$tmp/xdg-run TZ=UTC
mkdir -p "$XDG_CONFIG_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
fails=0
checks=0

ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }
finish() {
	echo "$checks checks, $fails failed"
	[ "$fails" -eq 0 ]
}

# expect CODE DESCRIPTION -- COMMAND...: run it, compare the exit status; output in $tmp/out, $tmp/err
expect() {
	local want=$1 what=$2; shift 3
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	local got=$?
	if [ "$got" -eq "$want" ]; then ok; else
		bad "$what: exit $got, want $want"
		sed 's/^/  stdout: /' "$tmp/out" | head -20 >&2
		sed 's/^/  stderr: /' "$tmp/err" | head -20 >&2
	fi
}

# json_get FILE EXPR: a Python expression over the JSON document d in FILE
json_get() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# db_q STATE_DIR SQL: one value from the state database (read-only)
db_q() {
	python3 -c 'import sqlite3,sys
c = sqlite3.connect("file:" + sys.argv[1] + "/state.db?mode=ro", uri=True)
r = c.execute(sys.argv[2]).fetchone()
print("" if r is None or r[0] is None else r[0])' "$1" "$2"
}

genstore() { python3 "$bench/genstore.py" "$@" >/dev/null 2>&1; }

# wait_for TRIES COMMAND...: run COMMAND every 0.1 s until it succeeds (at most TRIES times).
# What the tests wait for are events (a log line, a row, a pack); TRIES only bounds a hang.
wait_for() {
	local n=$1; shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}

# start_daemon NAME [backupd run options...]: background daemon, log in $tmp/NAME.log, pid in $dpid
start_daemon() {
	local name=$1; shift
	"$bd" run "$@" >"$tmp/$name.out" 2>"$tmp/$name.log" </dev/null &
	dpid=$!
	daemons+=("$dpid")
}

# stop_daemon PID: SIGTERM and wait; the exit status in $dstatus
stop_daemon() {
	kill -TERM "$1" 2>/dev/null
	wait "$1"
	dstatus=$?
}

logged() { grep -q -- "$2" "$tmp/$1.log"; }
