#!/usr/bin/env bash
# Page-granular database incrementals (docs/database-chunking.md): after one simulated day
# (genstore --mutate) an incremental stores about the pages that changed, not the whole
# chat.db; each snapshot restores to the database it was taken from; prune and check
# follow the page maps. Asserts byte counts, never times.
# Usage: test-restore-dbpages.sh RESTORE BACKUPD KEYVAULT
source "$(dirname "$0")/test-restore-common.sh"

genstore "$tmp/store" --seed 5 --messages 30000 --attachments 20 --scale 0.1 || { bad "genstore"; finish; exit; }
"$kv" init --local --state-dir "$tmp/st" >/dev/null || { bad "keyvault init"; finish; exit; }
R=(--repo "$tmp/repo" --state-dir "$tmp/st" --cache-dir "$tmp/cache")
cp -a "$tmp/store" "$tmp/day0"
bk_json() { "$bk" now --store "$tmp/store" "${R[@]}" --json >"$tmp/b.json" 2>"$tmp/b.err" || { bad "backup: $(cat "$tmp/b.err")"; return 1; }; }

bk_json || { finish; exit; }
full_new=$(json_get "$tmp/b.json" 'd["new_bytes"]')
db=$(stat -c %s "$tmp/store/chat.db")
[ "$full_new" -ge "$db" ] && ok || bad "the full backup stores all of chat.db ($full_new < $db)"

# an unchanged store: nothing of the database is stored again
bk_json || { finish; exit; }
same_new=$(json_get "$tmp/b.json" 'd["new_bytes"]')
[ "$same_new" -lt 200000 ] && ok || bad "an unchanged store adds $same_new bytes (want only the tree and map)"

genstore --mutate "$tmp/store" || bad "genstore --mutate"
cp -a "$tmp/store" "$tmp/day1"
changed=$(python3 "$bench/pagediff.py" "$tmp/day0/chat.db" "$tmp/store/chat.db" | grep -o '^[0-9]*' | head -1)
[ -n "$changed" ] && [ "$changed" -gt 0 ] || { bad "pagediff: $(python3 "$bench/pagediff.py" "$tmp/day0/chat.db" "$tmp/store/chat.db")"; finish; exit; }
att_new=$(cd "$tmp/store" && find Attachments -type f -newer "$tmp/day0/chat.db" -printf '%s\n' | awk '{s+=$1} END {print s+0}')
bk_json || { finish; exit; }
incr_new=$(json_get "$tmp/b.json" 'd["new_bytes"]')
incr_stored=$(json_get "$tmp/b.json" 'd["stored_bytes"]')
floor=$((changed * 4096))
echo "db $db bytes, changed pages $changed ($floor bytes), new attachments $att_new; incremental new $incr_new stored $incr_stored"
# plaintext: the changed pages (plus whole groups that mostly changed) and the new files,
# plus the tree and the page map; far below the database itself
[ "$incr_new" -le $((floor * 2 + att_new + 300000)) ] && ok || bad "incremental adds $incr_new plaintext bytes for $floor bytes of changed pages"
[ "$incr_new" -ge "$floor" ] && ok || bad "incremental adds $incr_new bytes, less than the $floor bytes of changed pages"
[ "$incr_stored" -le $((db / 4)) ] && ok || bad "incremental uploads $incr_stored bytes for a $db-byte database"

# every snapshot restores to the database it was taken from
expect 0 "restore #1" -- "$rs" snapshot '#1' --to "$tmp/o1" "${R[@]}"
check_same "$tmp/day0" "$tmp/o1" "restore of the full backup"
expect 0 "restore #3" -- "$rs" snapshot '#3' --to "$tmp/o3" "${R[@]}"
check_same "$tmp/day1" "$tmp/o3" "restore of the incremental"
expect 0 "export #3" -- "$rs" export '#3' "${R[@]}"
mkdir -p "$tmp/x3" && tar -xf "$tmp/out" -C "$tmp/x3" chat.db && cmp -s "$tmp/x3/chat.db" "$tmp/o3/chat.db" && ok || bad "export gives the restored chat.db"
expect 0 "check --read-data" -- "$rs" check --read-data "${R[@]}"

# forgetting the full backup keeps every page the later snapshots use
expect 0 "forget #1 #2" -- "$rs" forget '#1' '#2' "${R[@]}"
expect 0 "prune" -- "$rs" prune --grace 0 "${R[@]}"
expect 0 "prune phase 2" -- "$rs" prune --grace 0 "${R[@]}"
rm -rf "$tmp/cache"
expect 0 "restore #3 after prune, fresh cache" -- "$rs" snapshot '#3' --to "$tmp/o4" "${R[@]}"
check_same "$tmp/day1" "$tmp/o4" "restore of the incremental after prune"
expect 0 "check --read-data after prune" -- "$rs" check --read-data "${R[@]}"

# without its state file (fresh cache) a backup still works and restores
genstore --mutate "$tmp/store" || bad "genstore --mutate 2"
bk_json || { finish; exit; }
expect 0 "restore latest" -- "$rs" snapshot latest --to "$tmp/o5" "${R[@]}"
check_same "$tmp/store" "$tmp/o5" "restore of a backup made without a state file"
finish
