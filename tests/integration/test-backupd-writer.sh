#!/usr/bin/env bash
# backupd now while a writer process keeps committing into chat.db (WAL, with
# checkpoints) and adding and deleting attachments: every backup succeeds. When the
# restore CLI exists, the restored chat.db passes integrity_check, is one committed state
# (the writer's counter matches its rows), and names no attachment that the snapshot
# lacks without listing it as vanished.
# Usage: test-backupd-writer.sh PATH-TO-backupd PATH-TO-keyvault
set -uo pipefail

bd=${1:?usage: $0 PATH-TO-backupd PATH-TO-keyvault}
kv=${2:?usage: $0 PATH-TO-backupd PATH-TO-keyvault}
genstore=${CF_SOURCE_ROOT:?CF_SOURCE_ROOT is not set}/../shared/bench/genstore.py
restore=${CF_BUILD_ROOT:?CF_BUILD_ROOT is not set}/restore/restore
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cf-bdwr.XXXXXX") || exit 1
writer=
cleanup() {
	[ -n "$writer" ] && kill "$writer" 2>/dev/null && wait "$writer" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }

unset COFFER_PASSPHRASE XDG_STATE_HOME XDG_CACHE_HOME
S=$tmp/state C=$tmp/cache R=$tmp/repo ST=$tmp/store
common=(--state-dir "$S" --cache-dir "$C" --repo "$R")

python3 "$genstore" "$ST" --messages 20000 --attachments 60 --scale 0.2 2>/dev/null ||
	{ echo "genstore failed" >&2; exit 1; }
"$kv" init --local --state-dir "$S" >/dev/null || { echo "keyvault init failed" >&2; exit 1; }

# The writer: each transaction adds messages and bumps a counter in kvtable, so every
# committed state has count(writer rows) == counter; every 4th adds an attachment (file
# first, then its row), every 7th deletes one of its attachments (row, commit, then the
# file, as the app does); a checkpoint every 5 commits. Bounded: 120 s or the stop file.
cat >"$tmp/writer.py" <<'EOF'
import os, sqlite3, sys, time
store, ready, stop = sys.argv[1:4]
db = sqlite3.connect(os.path.join(store, "chat.db"), isolation_level=None, timeout=30)
db.execute("INSERT OR REPLACE INTO kvtable (key, value) VALUES ('writer', 0)")
n, mine, t0 = 0, [], time.time()
while not os.path.exists(stop) and time.time() - t0 < 120:
    n += 1
    new_file = None
    if n % 4 == 0:
        rel = "Attachments/ww/%02d/W-%d/note.txt" % (n % 16, n)
        path = os.path.join(store, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(os.urandom(2000 + n % 5000))
        new_file = rel
    db.execute("BEGIN IMMEDIATE")
    for i in range(10):
        db.execute("INSERT INTO message (guid, text) VALUES (?, ?)", ("w-%d-%d" % (n, i), "writer %d" % n))
    if new_file:
        db.execute("INSERT INTO attachment (guid, original_guid, filename) VALUES (?, ?, ?)",
                   ("wa-%d" % n, "wa-%d" % n, "~/Library/Messages/" + new_file))
    gone = None
    if n % 7 == 0 and mine:
        gone = mine.pop(0)
        db.execute("DELETE FROM attachment WHERE filename = ?", ("~/Library/Messages/" + gone,))
    db.execute("UPDATE kvtable SET value = value + 10 WHERE key = 'writer'")
    db.execute("COMMIT")
    if new_file:
        mine.append(new_file)
    if gone:
        os.remove(os.path.join(store, gone))
    if n % 5 == 0:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    if n == 20:
        open(ready, "w").close()
    time.sleep(0.002)
print(n)
EOF
python3 "$tmp/writer.py" "$ST" "$tmp/ready" "$tmp/stop" >"$tmp/writer.out" 2>"$tmp/writer.err" &
writer=$!
for _ in $(seq 600); do [ -e "$tmp/ready" ] && break; sleep 0.05; done
[ -e "$tmp/ready" ] || { echo "the writer did not start" >&2; cat "$tmp/writer.err" >&2; exit 1; }

for i in 1 2 3; do
	"$bd" now --json --store "$ST" "${common[@]}" >"$tmp/b$i.json" 2>"$tmp/b$i.err" </dev/null
	rc=$?
	[ "$rc" -eq 0 ] && ok || { bad "backup $i during writes: exit $rc"; sed 's/^/  /' "$tmp/b$i.err" >&2; }
done
touch "$tmp/stop"
wait "$writer"
wrc=$?
writer=
[ "$wrc" -eq 0 ] && ok || { bad "writer failed"; cat "$tmp/writer.err" >&2; }
[ "$(cat "$tmp/writer.out")" -gt 20 ] && ok || bad "the writer committed during the backups"
[ "$(ls "$R/snapshots" | wc -l)" -eq 3 ] && ok || bad "three snapshots"
find "$C" -name 'backupd-db-*' | grep -q . && bad "database copy left in the spool" || ok
# the live store keeps its own -wal; nothing of ours appears in it
find "$ST" -maxdepth 1 -name 'backupd*' | grep -q . && bad "files left in the store" || ok

# --- restore-side verification, when the restore CLI is built ---
if [ -x "$restore" ] && "$restore" snapshot --help 2>/dev/null | grep -q -- '--to'; then
	"$restore" snapshot latest --to "$tmp/out" "${common[@]}" >"$tmp/r.out" 2>"$tmp/r.err" </dev/null
	rc=$?
	[ "$rc" -eq 0 ] && ok || { bad "restore latest: exit $rc"; sed 's/^/  /' "$tmp/r.err" >&2; }
	python3 - "$tmp/out" "$tmp/b3.json" <<'EOF' && ok || bad "restored chat.db: consistent, attachments present or vanished"
import json, os, sqlite3, sys
out, summary = sys.argv[1:3]
vanished = set(json.load(open(summary))["vanished_paths"])
for extra in ("chat.db-wal", "chat.db-shm"):   # before SQLite opens it and makes them
    assert not os.path.exists(os.path.join(out, extra)), extra
db = sqlite3.connect("file:%s?mode=ro" % os.path.join(out, "chat.db"), uri=True)
assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "integrity_check"
rows = db.execute("SELECT count(*) FROM message WHERE guid LIKE 'w-%'").fetchone()[0]
counter = int(db.execute("SELECT value FROM kvtable WHERE key = 'writer'").fetchone()[0])
assert rows == counter, "not one committed state: %d rows, counter %d" % (rows, counter)
prefix = "~/Library/Messages/"
for (name,) in db.execute("SELECT filename FROM attachment WHERE filename IS NOT NULL"):
    if name.startswith(prefix):
        rel = name[len(prefix):]
        assert os.path.isfile(os.path.join(out, rel)) or rel in vanished, "missing " + rel
EOF
else
	echo "restore CLI not built: restore-side checks skipped" >&2
fi

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
