#!/usr/bin/env bash
# End to end with a live writer: a process standing in for the messaging app keeps
# committing into chat.db (WAL, passive checkpoints), adds attachments (file first, then
# its row), deletes some (row, commit, then file) and unlinks some files whose rows stay,
# while `backupd now` runs twice (the second an incremental). Both snapshots are then
# restored and each must be: a chat.db that passes integrity_check and is exactly one
# state the writer committed (its counter matches its rows, and its rows are those of
# that commit); every attachment the restored chat.db names is restored or listed as
# vanished by `restore list` (which agrees with what backupd reported); files unlinked
# before the backups are listed; every restored file is byte-identical to what was
# written; the generated part of the database is unchanged.
# Usage: test-live-writer.sh PATH-TO-backupd PATH-TO-restore PATH-TO-keyvault
set -uo pipefail

bd=${1:?usage: $0 PATH-TO-backupd PATH-TO-restore PATH-TO-keyvault}
rs=${2:?usage: $0 PATH-TO-backupd PATH-TO-restore PATH-TO-keyvault}
kv=${3:?usage: $0 PATH-TO-backupd PATH-TO-restore PATH-TO-keyvault}
src=${CF_SOURCE_ROOT:?CF_SOURCE_ROOT is not set}
genstore=$src/../shared/bench/genstore.py
lw=$src/tests/integration/livewriter.py
if [ ! -f "$genstore" ] || [ ! -f "$src/../shared/bench/dbsame.py" ]; then
	echo "SKIP: genstore.py and dbsame.py are needed" >&2
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cf-livewr.XXXXXX") || exit 1
writer=
cleanup() {
	if [ -n "$writer" ]; then
		touch "$tmp/stop"
		kill "$writer" 2>/dev/null
		wait "$writer" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
unset COFFER_PASSPHRASE XDG_STATE_HOME XDG_CACHE_HOME
fails=0
checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }
show() { sed 's/^/    /' "$1" | head -20 >&2; }
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
commits() { [ -f "$tmp/writer.log" ] && wc -l <"$tmp/writer.log" || echo 0; }

ST=$tmp/store
common=(--repo "$tmp/repo" --state-dir "$tmp/state" --cache-dir "$tmp/cache")

python3 "$genstore" "$ST" --messages 3000 --attachments 40 --scale 0.1 >/dev/null 2>&1 ||
	{ echo "genstore failed" >&2; exit 1; }
cp -a "$ST" "$tmp/pristine"
# one generated attachment file gone before anything runs (its row stays): it must be
# listed as vanished by every snapshot
gone=$(python3 - "$ST" <<'EOF'
import os, sqlite3, sys
db = sqlite3.connect(os.path.join(sys.argv[1], "chat.db"))
for (fn,) in db.execute("SELECT filename FROM attachment ORDER BY ROWID"):
    rel = fn.replace("~/Library/Messages/", "", 1)
    if os.path.isfile(os.path.join(sys.argv[1], rel)):
        os.unlink(os.path.join(sys.argv[1], rel))
        print(rel)
        break
EOF
)
[ -n "$gone" ] && ok || bad "no generated attachment to remove"
"$kv" init --local --state-dir "$tmp/state" >"$tmp/kv.out" 2>&1 ||
	{ echo "keyvault init failed" >&2; cat "$tmp/kv.out" >&2; exit 1; }

python3 "$lw" write "$ST" "$tmp/writer.log" "$tmp/ready" "$tmp/stop" --max-seconds 120 \
	>"$tmp/writer.out" 2>"$tmp/writer.err" &
writer=$!
for _ in $(seq 600); do
	[ -e "$tmp/ready" ] && break
	kill -0 "$writer" 2>/dev/null || break
	sleep 0.05
done
[ -e "$tmp/ready" ] || { echo "the writer did not start" >&2; cat "$tmp/writer.err" >&2; exit 1; }

for i in 1 2; do
	before=$(commits)
	"$bd" now --json --store "$ST" "${common[@]}" >"$tmp/b$i.json" 2>"$tmp/b$i.err" </dev/null
	rc=$?
	if [ "$rc" -eq 0 ]; then ok; else bad "backup $i during writes: exit $rc"; show "$tmp/b$i.err"; fi
	echo "backup $i: the writer was at commit $before, then $(commits);" \
		"vanished: $(jget "$tmp/b$i.json" 'd["vanished"]' 2>/dev/null)"
done
touch "$tmp/stop"
wait "$writer"
wrc=$?
writer=
if [ "$wrc" -eq 0 ]; then ok; else bad "the writer failed (exit $wrc)"; show "$tmp/writer.err"; fi
[ "$(commits)" -gt 30 ] && ok || bad "the writer committed nothing after it was ready"
[ "$(commits)" -ge 40 ] || echo "note: the writer made only $(commits) commits" >&2

# the second backup is an incremental: the unchanged generated attachments are not read
if [ "$(jget "$tmp/b2.json" 'd["files_read"] < d["files"] and d["files_unchanged"] > 0')" = True ]; then ok
else bad "backup 2 re-read unchanged files: $(cat "$tmp/b2.json")"; fi

"$rs" list --json "${common[@]}" >"$tmp/list.json" 2>"$tmp/list.err" </dev/null
rc=$?
if [ "$rc" -eq 0 ] && [ "$(jget "$tmp/list.json" 'len(d)')" = 2 ]; then ok
else bad "restore list: exit $rc, want two snapshots"; show "$tmp/list.err"; fi

for i in 1 2; do
	seq=$(jget "$tmp/b$i.json" 'd["seq"]')
	jget "$tmp/list.json" "json.dumps([s for s in d if s['sequence'] == $seq][0]['vanished'])" \
		>"$tmp/vanished$i.json" 2>/dev/null || { bad "snapshot $seq is not listed"; continue; }
	# restore list shows what backupd reported
	if [ "$(jget "$tmp/vanished$i.json" 'sorted(d)')" = "$(jget "$tmp/b$i.json" 'sorted(d["vanished_paths"])')" ]; then ok
	else bad "snapshot $seq: restore list's vanished files differ from backupd's report"; fi
	if [ "$(jget "$tmp/vanished$i.json" "'$gone' in d")" = True ]; then ok
	else bad "snapshot $seq: $gone (gone before the backup, row kept) is not listed as vanished"; fi

	"$rs" snapshot "$seq" --to "$tmp/out$i" --verify "${common[@]}" >"$tmp/r$i.out" 2>"$tmp/r$i.err" </dev/null
	rc=$?
	if [ "$rc" -eq 0 ]; then ok; else bad "restore snapshot $seq: exit $rc"; show "$tmp/r$i.err"; continue; fi
	if python3 "$lw" check "$tmp/out$i" "$tmp/pristine" "$tmp/writer.log" "$tmp/vanished$i.json" \
		>"$tmp/check$i.out" 2>&1; then ok
	else bad "restored snapshot $seq:"; show "$tmp/check$i.out"; fi
	echo "snapshot $seq: $(tail -1 "$tmp/check$i.out")"
done

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
