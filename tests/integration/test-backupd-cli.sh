#!/usr/bin/env bash
# backupd now: first backup into a new file:// repository, the incremental after a
# simulated day, --json, bad inputs and usage errors.
# Usage: test-backupd-cli.sh PATH-TO-backupd PATH-TO-keyvault
set -uo pipefail

bd=${1:?usage: $0 PATH-TO-backupd PATH-TO-keyvault}
kv=${2:?usage: $0 PATH-TO-backupd PATH-TO-keyvault}
genstore=${CF_SOURCE_ROOT:?CF_SOURCE_ROOT is not set}/../shared/bench/genstore.py
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cf-bdcli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
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
		bad "$what: exit $got, want $want"; sed 's/^/  stderr: /' "$tmp/err" >&2
	fi
}

# json_get FILE EXPR: evaluate a Python expression over the JSON document d in FILE
json_get() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

unset COFFER_PASSPHRASE XDG_STATE_HOME XDG_CACHE_HOME
S=$tmp/state C=$tmp/cache R=$tmp/repo ST=$tmp/store
common=(--state-dir "$S" --cache-dir "$C")

[ -f "$genstore" ] || { echo "genstore.py not found at $genstore" >&2; exit 1; }
python3 "$genstore" "$ST" --messages 3000 --attachments 40 --scale 0.1 2>/dev/null ||
	{ echo "genstore failed" >&2; exit 1; }
# attachments dominate this one, so the database's changes do not hide the incremental
python3 "$genstore" "$tmp/store2" --seed 5 --messages 1000 --attachments 100 --scale 1 2>/dev/null ||
	{ echo "genstore failed" >&2; exit 1; }
nfiles=$(find "$ST" -type f | wc -l)

# --- help and usage errors (nothing needs a keychain) ---
expect 0 "--help" -- "$bd" --help
grep -q '^Usage: backupd' "$tmp/out" && ok || bad "--help prints usage on stdout"
grep -q 'now' "$tmp/out" && ok || bad "--help lists now"
grep -Eq '^  (run|status) ' "$tmp/out" && ok || bad "--help lists run and status"
expect 0 "help" -- "$bd" help
expect 0 "help now" -- "$bd" help now
expect 0 "now --help" -- "$bd" now --help
grep -q '^Usage: backupd now' "$tmp/out" && ok || bad "now --help prints its usage"
expect 0 "now -h after other options" -- "$bd" now --store "$ST" -h
expect 0 "--version" -- "$bd" --version
expect 2 "no command" -- "$bd"
expect 2 "unknown command" -- "$bd" frobnicate
expect 2 "run without a store" -- "$bd" run --repo "$R" "${common[@]}"
expect 0 "status before any backup" -- "$bd" status --state-dir "$S"
expect 2 "help for an unknown command" -- "$bd" help frobnicate
expect 2 "unknown option" -- "$bd" now --store "$ST" --repo "$R" --bogus
grep -q "unknown option '--bogus'" "$tmp/err" && ok || bad "unknown option is named"
expect 2 "option without its value" -- "$bd" now --store "$ST" --repo
expect 2 "no --store" -- "$bd" now --repo "$R" "${common[@]}"
expect 2 "no --repo" -- "$bd" now --store "$ST" "${common[@]}"
expect 2 "stray argument" -- "$bd" now extra --store "$ST" --repo "$R" "${common[@]}"
expect 2 "pack size 0" -- "$bd" now --store "$ST" --repo "$R" --pack-size 0 "${common[@]}"
expect 2 "pack size 65" -- "$bd" now --store "$ST" --repo "$R" --pack-size 65 "${common[@]}"
expect 2 "pack size not a number" -- "$bd" now --store "$ST" --repo "$R" --pack-size 8x "${common[@]}"
[ ! -e "$R" ] && [ ! -e "$C" ] && ok || bad "usage errors created nothing"

# --- bad inputs: exit 1, one clear line, nothing written ---
expect 1 "missing keychain" -- "$bd" now --store "$ST" --repo "$R" "${common[@]}"
grep -q '^backupd: open repository .*: not found' "$tmp/err" && ok || bad "missing keychain message"
grep -q "keyvault init" "$tmp/err" && ok || bad "missing keychain: says how to make one"
[ ! -e "$R" ] && ok || bad "missing keychain: no repository created"

expect 0 "keyvault init" -- "$kv" init --local --state-dir "$S"

expect 1 "missing store" -- "$bd" now --store "$tmp/absent" --repo "$R" "${common[@]}"
grep -q "^backupd: store $tmp/absent: not found" "$tmp/err" && ok || bad "missing store message"
mkdir "$tmp/nodb" && echo hi >"$tmp/nodb/file"
expect 1 "store without chat.db" -- "$bd" now --store "$tmp/nodb" --repo "$R" "${common[@]}"
grep -q "no readable chat.db in $tmp/nodb" "$tmp/err" && ok || bad "no chat.db message"
expect 1 "store is a file" -- "$bd" now --store "$tmp/nodb/file" --repo "$R" "${common[@]}"
grep -q "is not a folder" "$tmp/err" && ok || bad "not a folder message"
mkdir "$tmp/notsql" && head -c 5000 /dev/urandom >"$tmp/notsql/chat.db"
expect 1 "chat.db is not SQLite" -- "$bd" now --store "$tmp/notsql" --repo "$R" "${common[@]}"
grep -q "chat.db is not a SQLite database" "$tmp/err" && ok || bad "not SQLite message"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && ok || bad "one line for a bad store"
[ ! -e "$R" ] && ok || bad "bad stores: no repository created"
# a SQLite header over garbage: found by SQLite while copying (repository may be initialised)
mkdir "$tmp/corrupt" && cp "$ST/chat.db" "$tmp/corrupt/chat.db"
python3 - "$tmp/corrupt/chat.db" <<'EOF'
import os, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(100)
    f.write(os.urandom(8192))          # the schema page and the next one
EOF
expect 1 "corrupt chat.db" -- "$bd" now --store "$tmp/corrupt" --repo "$tmp/repo-c" "${common[@]}"
grep -q "^backupd: backup of $tmp/corrupt into .*: \(data is corrupt\|malformed\)" "$tmp/err" && ok ||
	bad "corrupt chat.db message"
[ ! -e "$tmp/repo-c/snapshots" ] || [ -z "$(ls "$tmp/repo-c/snapshots")" ] && ok ||
	bad "corrupt chat.db: no snapshot"
# locked: a rollback-journal database held under an exclusive lock for longer than the wait
mkdir "$tmp/locked"
python3 - "$tmp/locked/chat.db" "$tmp/locked.ready" <<'EOF' &
import sqlite3, sys, time, os
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=DELETE")
db.execute("CREATE TABLE message (ROWID INTEGER PRIMARY KEY, text TEXT)")
db.execute("BEGIN EXCLUSIVE")
db.execute("INSERT INTO message (text) VALUES ('held')")
open(sys.argv[2], "w").close()
time.sleep(30)                         # killed by the test long before
EOF
locker=$!
for _ in $(seq 200); do [ -e "$tmp/locked.ready" ] && break; sleep 0.05; done
expect 1 "locked chat.db" -- "$bd" now --store "$tmp/locked" --repo "$tmp/repo-l" "${common[@]}"
grep -q "^backupd: backup of $tmp/locked into .*: busy or locked" "$tmp/err" && ok ||
	bad "locked chat.db message"
kill "$locker" 2>/dev/null; wait "$locker" 2>/dev/null

# --- first backup: initialises a bare-path repository ---
expect 0 "first backup" -- "$bd" now --store "$ST" --repo "$R" "${common[@]}"
for f in config keys data index snapshots; do
	[ -e "$R/$f" ] && ok || bad "repository has $f"
done
[ "$(ls "$R/snapshots" | wc -l)" -eq 1 ] && ok || bad "one snapshot object"
grep -Eq '^Snapshot [0-9a-f]{8} saved \(sequence 1\)$' "$tmp/out" && ok || bad "summary names the snapshot"
grep -Eq "^Files: +$nfiles \($nfiles read, 0 unchanged\)" "$tmp/out" && ok || bad "summary counts files"
for w in 'Bytes:' 'New bytes:' 'Stored bytes:' 'Vanished: +0' 'Duration:'; do
	grep -Eq "^$w" "$tmp/out" && ok || bad "summary has '$w'"
done
[ ! -s "$tmp/err" ] || ! grep -qv 'info:' "$tmp/err" && ok || bad "no warnings on a clean store"
find "$C" -name 'backupd-db-*' | grep -q . && bad "database copy left in the spool" || ok

# round trip, when the restore CLI is built: every file identical, chat.db the same data
restore=${CF_BUILD_ROOT:?CF_BUILD_ROOT is not set}/restore/restore
if [ -x "$restore" ] && "$restore" snapshot --help 2>/dev/null | grep -q -- '--to'; then
	expect 0 "restore latest" -- "$restore" snapshot latest --to "$tmp/rt" --repo "$R" "${common[@]}"
	# (the live store may hold chat.db-wal/-shm: SQLite makes them for any reader)
	diff -r --exclude='chat.db*' "$ST" "$tmp/rt" >&2 && ok || bad "restored files differ"
	ls "$tmp/rt" | grep -q -e '-wal$' -e '-shm$' && bad "restore has -wal/-shm" || ok
	python3 "$CF_SOURCE_ROOT/../shared/bench/dbsame.py" "$ST/chat.db" "$tmp/rt/chat.db" >/dev/null &&
		ok || bad "restored chat.db holds other data"
else
	echo "restore CLI not built: round trip skipped" >&2
fi

# --- --json; an unchanged store reads only the database ---
expect 0 "second backup --json" -- "$bd" now --json --store "$ST" --repo "file://$R" "${common[@]}"
cp "$tmp/out" "$tmp/second.json"
[ "$(json_get "$tmp/second.json" 'd["seq"]')" = 2 ] && ok || bad "json seq"
[[ $(json_get "$tmp/second.json" 'd["id"]') =~ ^[0-9a-f]{64}$ ]] && ok || bad "json id is 64 hex digits"
[ "$(json_get "$tmp/second.json" 'd["files"]')" = "$nfiles" ] && ok || bad "json files"
[ "$(json_get "$tmp/second.json" 'd["files_read"]')" = 1 ] && ok || bad "json: only chat.db read"
[ "$(json_get "$tmp/second.json" 'd["files_unchanged"]')" = $((nfiles - 1)) ] && ok ||
	bad "json files_unchanged"
[ "$(json_get "$tmp/second.json" 'd["new_bytes"]')" = 0 ] && ok || bad "unchanged store: no new bytes"
[ "$(json_get "$tmp/second.json" 'd["vanished"]')" = 0 ] && ok || bad "json vanished"
json_get "$tmp/second.json" 'd["bytes"] > 1000000 and d["duration"] >= 0 and d["dirs"] > 0' |
	grep -qx True && ok || bad "json bytes, duration, dirs"
[ "$(ls "$R/snapshots" | wc -l)" -eq 2 ] && ok || bad "two snapshot objects"

# --- the incremental after one simulated day reads only what changed ---
R2=$tmp/repo2
expect 0 "store2 first backup" -- "$bd" now --json --store "$tmp/store2" --repo "$R2" "${common[@]}"
cp "$tmp/out" "$tmp/full.json"
python3 "$genstore" --mutate "$tmp/store2" 2>/dev/null || bad "genstore --mutate"
expect 0 "store2 incremental" -- "$bd" now --json --store "$tmp/store2" --repo "$R2" "${common[@]}"
cp "$tmp/out" "$tmp/incr.json"
json_get "$tmp/incr.json" 'd["files_read"] < d["files"] and d["files_unchanged"] > 0' |
	grep -qx True && ok || bad "incremental: files_read < files, files_unchanged > 0"
# read = chat.db + the new attachments (mutate adds at least 3, deletes 1)
json_get "$tmp/incr.json" '4 <= d["files_read"] <= 12' | grep -qx True && ok ||
	bad "incremental reads only chat.db and the new attachments: $(json_get "$tmp/incr.json" 'd["files_read"]')"
full_new=$(json_get "$tmp/full.json" 'd["new_bytes"]')
incr_new=$(json_get "$tmp/incr.json" 'd["new_bytes"]')
[ "$((incr_new * 4))" -lt "$full_new" ] && ok || bad "incremental new bytes $incr_new vs full $full_new"
[ "$(json_get "$tmp/incr.json" 'd["seq"]')" = 2 ] && ok || bad "incremental seq"

# --- a file the database names that is gone: reported and recorded as vanished ---
victim=$(find "$tmp/store2/Attachments" -type f | sort | head -1)
rel=${victim#"$tmp/store2/"}
rm "$victim"
expect 0 "backup with a vanished file" -- "$bd" now --json --store "$tmp/store2" --repo "$R2" "${common[@]}"
cp "$tmp/out" "$tmp/vanished.json"
[ "$(json_get "$tmp/vanished.json" 'd["vanished"]')" = 1 ] && ok || bad "vanished count"
[ "$(json_get "$tmp/vanished.json" 'd["vanished_paths"][0]')" = "$rel" ] && ok || bad "vanished path"
grep -q "^backupd: 1 file vanished during the backup: $rel\$" "$tmp/err" && ok || bad "vanished report"

# --- special files are skipped with a warning, the backup still succeeds ---
ln -s /etc/passwd "$tmp/store2/link"
mkfifo "$tmp/store2/fifo"
expect 0 "backup with special files" -- "$bd" now --json --store "$tmp/store2" --repo "$R2" "${common[@]}"
grep -q "skipping .*/link: a symbolic link" "$tmp/err" && ok || bad "symlink warning"
grep -q "skipping .*/fifo: a FIFO" "$tmp/err" && ok || bad "fifo warning"
[ "$(json_get "$tmp/out" 'd["skipped"]')" = 2 ] && ok || bad "skipped count"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
