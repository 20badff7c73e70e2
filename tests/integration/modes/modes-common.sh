# Sourced by the modes-*.sh integration tests (not a test itself).
# Usage in a test: source "$(dirname "$0")/modes-common.sh" KEYVAULTD KEYVAULT BACKUPD RESTORE PROBE
# Starts a real keyvaultd on a free loopback port (stopped on exit) and provides helpers.
set -uo pipefail

kvd=${1:?usage: $0 KEYVAULTD KEYVAULT BACKUPD RESTORE PROBE}
kv=${2:?}
bk=${3:?}
rs=${4:?}
probe=${5:?}
bench=${CF_SOURCE_ROOT:-$(cd "$(dirname "$0")/../../.." && pwd)}/../shared/bench
if [ ! -f "$bench/genstore.py" ] || [ ! -f "$bench/dbsame.py" ]; then
	echo "SKIP: $bench/genstore.py and dbsame.py are needed" >&2
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cf-modes.XXXXXX") || exit 1
kvd_pids=()
cleanup() {
	for p in "${kvd_pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ -n "${CF_KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
unset COFFER_PASSPHRASE COFFER_PASSWORD XDG_STATE_HOME XDG_CACHE_HOME
fails=0
checks=0

ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }

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

# has FILE REGEX DESCRIPTION: the file matches (extended regex)
has() { if grep -Eq -- "$2" "$1"; then ok; else bad "$3: $(head -c 2000 "$1")"; fi; }

json_get() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

genstore() { python3 "$bench/genstore.py" "$@" >/dev/null 2>&1; }

same_store() {
	local a=$1 b=$2
	diff -r -x 'chat.db*' "$a" "$b" >"$tmp/diff" 2>&1 || { echo "files differ: $(head -5 "$tmp/diff")"; return 1; }
	python3 "$bench/dbsame.py" "$a/chat.db" "$b/chat.db" >"$tmp/dbsame" 2>&1 || { echo "databases differ: $(cat "$tmp/dbsame")"; return 1; }
}
check_same() {
	local why
	if why=$(same_store "$1" "$2"); then ok; else bad "$3: $why"; fi
}

# start_kvd DIR [PORT]: a keyvaultd with its database and escrow key in DIR, on PORT or
# a free one; sets $url
start_kvd() {
	local dir=$1 port=${2:-0}
	mkdir -p "$dir"
	rm -f "$dir/port"
	"$kvd" --db "$dir/kvd.db" --escrow-key "$dir/escrow.key" --listen "127.0.0.1:$port" \
		--port-file "$dir/port" -q >/dev/null 2>>"$dir/keyvaultd.log" &
	local pid=$!
	kvd_pids+=($pid)
	echo $pid >"$dir/pid"
	for _ in $(seq 1 400); do
		[ -s "$dir/port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	[ -s "$dir/port" ] || { echo "keyvaultd did not start: $(tail -3 "$dir/keyvaultd.log")" >&2; return 1; }
	url="http://127.0.0.1:$(cat "$dir/port")"
}

# stop_kvd DIR: stop that keyvaultd cleanly
stop_kvd() {
	local pid
	pid=$(cat "$1/pid")
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# copy_kvd DIR COPY: what an operator keeps: the database and the escrow key of the
# keyvaultd in DIR, copied while it is stopped; it is started again on the same port
copy_kvd() {
	local port
	port=$(cat "$1/port")
	stop_kvd "$1"
	mkdir -p "$2"
	cp "$1/kvd.db" "$1/escrow.key" "$2/" || return 1
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		start_kvd "$1" "$port" && [ "$url" = "http://127.0.0.1:$port" ] && return 0
		sleep 0.5
	done
	return 1
}

# pw NAME: a password file for account NAME (path printed)
pw() { printf 'password of %s, long enough\n' "$1" >"$tmp/pw-$1"; echo "$tmp/pw-$1"; }

# account NAME STATE: keyvault init with an account at $url (fails the test when it fails)
account() {
	"$kv" init --server "$url" --account "$1" --password-file "$(pw "$1")" --state-dir "$2" \
		>"$tmp/init.out" 2>&1 || { bad "init account $1"; cat "$tmp/init.out" >&2; return 1; }
}

# backup STORE REPO STATE CACHE: one backup, failing the test when it fails
backup() {
	"$bk" now --store "$1" --repo "$2" --state-dir "$3" --cache-dir "$4" \
		>"$tmp/backup.out" 2>&1 || { bad "backup of $1 into $2"; cat "$tmp/backup.out" >&2; return 1; }
}

# seqs REPO STATE CACHE: the sequence numbers of the present snapshots, space-separated
seqs() {
	"$rs" list --json --repo "$1" --state-dir "$2" --cache-dir "$3" >"$tmp/list.json" 2>/dev/null &&
		json_get "$tmp/list.json" '" ".join(str(s["sequence"]) for s in d)'
}

# repo_id STATE: the id (hex) of the only repository STATE's keychain holds
repo_id() { "$kv" status --json --state-dir "$1" >"$tmp/st.json" 2>/dev/null && json_get "$tmp/st.json" 'd["repositories"][0]["repo_id"]'; }

# decrypted STATE CACHE REPO KEYFILE SEQ...: how many objects of those snapshots KEYFILE opens
# (prints "decrypted/objects"; "error" when the probe failed)
decrypted() {
	"$probe" try "$@" >"$tmp/probe.json" 2>"$tmp/probe.err" &&
		json_get "$tmp/probe.json" '"%d/%d" % (d["decrypted"], d["objects"])' || echo error
}

finish() {
	echo "$checks checks, $fails failed"
	[ "$fails" -eq 0 ]
}
