#!/usr/bin/env bash
# An interrupted backup resumes: kill -9 at several points of a backup (before any pack,
# after the first pack, after many packs), then a new backup succeeds, the packs uploaded
# before the kill are still there and are not uploaded again (the resumed run stores
# about what the full run stored minus what was already there). SIGTERM stops a backup
# with exit 1 and "interrupted", without a snapshot. The kill points are events (packs
# seen in the repository), not durations.
# Usage: test-backupd-resume.sh PATH-TO-backupd PATH-TO-keyvault
set -uo pipefail

bd=${1:?usage: $0 PATH-TO-backupd PATH-TO-keyvault}
kv=${2:?usage: $0 PATH-TO-backupd PATH-TO-keyvault}
genstore=${CF_SOURCE_ROOT:?CF_SOURCE_ROOT is not set}/../shared/bench/genstore.py
restore=${CF_BUILD_ROOT:?CF_BUILD_ROOT is not set}/restore/restore
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cf-bdres.XXXXXX") || exit 1
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }
json_get() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
packs() { find "$1/data" -type f 2>/dev/null | wc -l; }
pack_bytes() { find "$1/data" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}'; }

unset COFFER_PASSPHRASE XDG_STATE_HOME XDG_CACHE_HOME
S=$tmp/state ST=$tmp/store
python3 "$genstore" "$ST" --messages 3000 --attachments 300 --scale 1 2>/dev/null ||
	{ echo "genstore failed" >&2; exit 1; }
"$kv" init --local --state-dir "$S" >/dev/null || { echo "keyvault init failed" >&2; exit 1; }

# backup NAME [args...]: one complete run into repo-NAME / cache-NAME, JSON in NAME.json
backup() {
	local name=$1; shift
	"$bd" now --json --pack-size 1 --store "$ST" --repo "$tmp/repo-$name" --state-dir "$S" \
		--cache-dir "$tmp/cache-$name" "$@" >"$tmp/$name.json" 2>"$tmp/$name.err" </dev/null
}

# the reference: one uninterrupted run
backup full || { cat "$tmp/full.err" >&2; exit 1; }
full_stored=$(json_get "$tmp/full.json" 'd["stored_bytes"]')
full_packs=$(packs "$tmp/repo-full")
[ "$full_packs" -ge 40 ] && ok || bad "the reference run made $full_packs packs (want >= 40)"

# start NAME: a backup in the background; wait_packs NAME N: until N packs or its end
start() {
	"$bd" now --json --pack-size 1 --store "$ST" --repo "$tmp/repo-$1" --state-dir "$S" \
		--cache-dir "$tmp/cache-$1" >"$tmp/$1.int.json" 2>"$tmp/$1.int.err" </dev/null &
	pid=$!
}
wait_packs() {
	for _ in $(seq 3000); do
		[ "$(packs "$tmp/repo-$1")" -ge "$2" ] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}

# kill_at NAME N: kill -9 once N packs are stored, resume, check
kill_at() {
	local name=$1 n=$2 before before_bytes resumed snaps
	start "$name"
	if [ "$n" -gt 0 ]; then
		wait_packs "$name" "$n" || { bad "$name: the backup ended before $n packs"; return; }
	fi
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
	find "$tmp/repo-$name/data" -type f 2>/dev/null | sort >"$tmp/$name.before"
	before=$(wc -l <"$tmp/$name.before")
	before_bytes=$(pack_bytes "$tmp/repo-$name")
	snaps=$(ls "$tmp/repo-$name/snapshots" 2>/dev/null | wc -l)
	[ "$snaps" -eq 0 ] && ok || bad "$name: a killed backup wrote a snapshot"
	[ "$before" -ge "$n" ] && ok || bad "$name: $before packs after the kill, want >= $n"
	if backup "$name"; then ok; else bad "$name: the backup after kill -9 failed"; sed 's/^/  /' "$tmp/$name.err" >&2; return; fi
	[ "$(ls "$tmp/repo-$name/snapshots" | wc -l)" -eq 1 ] && ok || bad "$name: one snapshot after resuming"
	[ "$(json_get "$tmp/$name.json" 'd["seq"]')" = 1 ] && ok || bad "$name: sequence 1"
	# every pack stored before the kill is still there, unchanged in name
	while read -r f; do [ -f "$f" ] || bad "$name: pack $f is gone"; done <"$tmp/$name.before"
	resumed=$(json_get "$tmp/$name.json" 'd["stored_bytes"]')
	# nothing uploaded twice: the resumed run stores the rest, not everything again
	# (slack: padding differs per pack, the lost partial pack, the index)
	if [ "$before" -gt 0 ]; then
		[ "$resumed" -lt "$full_stored" ] && ok || bad "$name: resumed run stored $resumed, a full run $full_stored"
	fi
	[ $((resumed + before_bytes)) -le $((full_stored + full_stored / 8 + 3 * 1048576)) ] && ok ||
		bad "$name: $before_bytes bytes before the kill + $resumed after > full $full_stored: packs uploaded again?"
	# files finished before a pack upload were recorded in the file cache then
	if [ "$before" -ge 10 ]; then
		[ "$(json_get "$tmp/$name.json" 'd["files_unchanged"]')" -gt 0 ] && ok ||
			bad "$name: no file cache rows survived the kill"
	fi
	find "$tmp/cache-$name" -name 'backupd-db-*' | grep -q . && bad "$name: database copy left after resuming" || ok
	# the resumed snapshot's data is all there (when the restore CLI is built)
	if [ -x "$restore" ] && "$restore" check --help >/dev/null 2>&1; then
		"$restore" check --repo "$tmp/repo-$name" --state-dir "$S" --cache-dir "$tmp/cache-$name" \
			>"$tmp/$name.check" 2>&1 </dev/null && ok || { bad "$name: restore check"; cat "$tmp/$name.check" >&2; }
	fi
}

kill_at start 0
kill_at first 1
kill_at many $((full_packs / 3))

# a second kill during the resumed run of the same repository, then a final resume
start twice
wait_packs twice 5 || bad "twice: ended before 5 packs"
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
start twice
wait_packs twice $((full_packs / 2)) || bad "twice: second run ended before half the packs"
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
backup twice && ok || { bad "twice: final run failed"; cat "$tmp/twice.err" >&2; }
[ "$(pack_bytes "$tmp/repo-twice")" -le $(($(pack_bytes "$tmp/repo-full") * 5 / 4 + 3 * 1048576)) ] && ok ||
	bad "twice: repository much larger than one full run"

# --- SIGTERM: stop at the next blob, exit 1 "interrupted", no snapshot; then resume ---
start term
wait_packs term 2 || bad "term: ended before 2 packs"
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 1 ] && ok || bad "SIGTERM: exit $rc, want 1"
grep -q '^backupd: backup of .* interrupted' "$tmp/term.int.err" && ok || bad "SIGTERM: says interrupted"
[ "$(grep -v '^backupd: info: ' "$tmp/term.int.err" | grep -c .)" -eq 1 ] && ok ||
	{ bad "SIGTERM: one message"; cat "$tmp/term.int.err" >&2; }
[ -z "$(ls "$tmp/repo-term/snapshots" 2>/dev/null)" ] && ok || bad "SIGTERM: no snapshot written"
find "$tmp/cache-term" -name 'backupd-db-*' | grep -q . && bad "SIGTERM: database copy left" || ok
term_bytes=$(pack_bytes "$tmp/repo-term")
backup term && ok || { bad "term: resume failed"; cat "$tmp/term.err" >&2; }
resumed=$(json_get "$tmp/term.json" 'd["stored_bytes"]')
[ "$resumed" -lt "$full_stored" ] && [ $((resumed + term_bytes)) -le $((full_stored + full_stored / 8 + 3 * 1048576)) ] &&
	ok || bad "term: resumed run stored $resumed after $term_bytes (full $full_stored)"

# --- SIGINT the same way ---
start int
wait_packs int 2 || bad "int: ended before 2 packs"
kill -INT "$pid" 2>/dev/null
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 1 ] && grep -q 'interrupted' "$tmp/int.int.err" && ok || bad "SIGINT: exit $rc"
[ -z "$(ls "$tmp/repo-int/snapshots" 2>/dev/null)" ] && ok || bad "SIGINT: no snapshot written"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
