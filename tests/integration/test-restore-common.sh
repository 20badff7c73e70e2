# Sourced by the test-restore-*.sh integration tests (not a test itself).
# Usage in a test: source "$(dirname "$0")/test-restore-common.sh" RESTORE BACKUPD KEYVAULT
set -uo pipefail

rs=${1:?usage: $0 PATH-TO-restore PATH-TO-backupd PATH-TO-keyvault}
bk=${2:?usage: $0 PATH-TO-restore PATH-TO-backupd PATH-TO-keyvault}
kv=${3:?usage: $0 PATH-TO-restore PATH-TO-backupd PATH-TO-keyvault}
bench=${CF_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/../shared/bench
if [ ! -f "$bench/genstore.py" ] || [ ! -f "$bench/dbsame.py" ]; then
	echo "SKIP: $bench/genstore.py and dbsame.py are needed" >&2
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cf-restore.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
unset COFFER_PASSPHRASE XDG_STATE_HOME XDG_CACHE_HOME
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

# json_get FILE EXPR: evaluate a Python expression over the JSON document d in FILE
json_get() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

genstore() { python3 "$bench/genstore.py" "$@" >/dev/null 2>&1; }

# same_store A B: every file but chat.db* byte-identical, the databases hold the same
# data and B's passes integrity_check, and B has no -wal/-shm.
same_store() {
	local a=$1 b=$2
	diff -r -x 'chat.db*' "$a" "$b" >"$tmp/diff" 2>&1 || { echo "files differ: $(head -5 "$tmp/diff")"; return 1; }
	python3 "$bench/dbsame.py" "$a/chat.db" "$b/chat.db" >"$tmp/dbsame" 2>&1 || { echo "databases differ: $(cat "$tmp/dbsame")"; return 1; }
	[ "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$b/chat.db")" = ok ] \
		|| { echo "integrity_check fails on $b/chat.db"; return 1; }
	[ ! -e "$b/chat.db-wal" ] && [ ! -e "$b/chat.db-shm" ] || { echo "stray -wal/-shm in $b"; return 1; }
}

# check_same A B DESCRIPTION
check_same() {
	local why
	if why=$(same_store "$1" "$2"); then ok; else bad "$3: $why"; fi
}

# backup STORE REPO STATE [CACHE]: one backup, failing the test when it fails
backup() {
	"$bk" now --store "$1" --repo "$2" --state-dir "$3" --cache-dir "${4:-$tmp/cache}" \
		>"$tmp/backup.out" 2>&1 || { bad "backup of $1 into $2"; cat "$tmp/backup.out" >&2; return 1; }
}

finish() {
	echo "$checks checks, $fails failed"
	[ "$fails" -eq 0 ]
}
