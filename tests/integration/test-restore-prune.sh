#!/usr/bin/env bash
# forget and prune: forgetting a snapshot leaves an explained gap; prune plans, waits for
# the grace period, then deletes only packs no snapshot references; what remains still
# restores and checks clean.
# Usage: test-restore-prune.sh RESTORE BACKUPD KEYVAULT
source "$(dirname "$0")/test-restore-common.sh"

# two unrelated stores backed up from one folder: snapshot 1's packs hold nothing that
# snapshot 2 needs
genstore "$tmp/s1" --messages 2000 --attachments 10 --scale 0.1 || { bad "genstore 1"; finish; exit; }
genstore "$tmp/s2" --seed 2 --messages 2000 --attachments 10 --scale 0.1 || { bad "genstore 2"; finish; exit; }
"$kv" init --local --state-dir "$tmp/st" >/dev/null || { bad "keyvault init"; finish; exit; }
R=(--repo "$tmp/repo" --state-dir "$tmp/st" --cache-dir "$tmp/cache")
cp -a "$tmp/s1" "$tmp/store"
backup "$tmp/store" "$tmp/repo" "$tmp/st" || { finish; exit; }
rm -rf "$tmp/store" && cp -a "$tmp/s2" "$tmp/store"
backup "$tmp/store" "$tmp/repo" "$tmp/st" || { finish; exit; }
packs() { find "$tmp/repo/data" -type f | sort; }
count() { find "$tmp/repo/$1" -type f 2>/dev/null | wc -l; }
packs >"$tmp/packs.before"
[ "$(count data)" -ge 2 ] && ok || bad "at least two packs"

# --- forget ---
expect 1 "forget an unknown snapshot" -- "$rs" forget '#7' "${R[@]}"
expect 1 "forget with one unknown id forgets nothing" -- "$rs" forget '#1' '#7' "${R[@]}"
[ "$(count snapshots)" = 2 ] && ok || bad "both manifests still there"
expect 0 "forget #1" -- "$rs" forget '#1' --json "${R[@]}"
[ "$(json_get "$tmp/out" 'd["forgotten"][0]["sequence"]')" = 1 ] && ok || bad "forget --json"
[ "$(count snapshots)" = 1 ] && [ "$(count forget)" = 1 ] && ok || bad "manifest deleted, forget record stored"
expect 0 "list after forget: the gap is explained" -- "$rs" list --json "${R[@]}"
[ "$(json_get "$tmp/out" '[s["sequence"] for s in d]')" = "[2]" ] && ok || bad "only #2 listed: $(cat "$tmp/out")"
expect 0 "check after forget" -- "$rs" check "${R[@]}"
expect 1 "a forgotten snapshot cannot be restored" -- "$rs" snapshot '#1' --to "$tmp/o0" "${R[@]}"

# --- prune: dry run, phase 1, the grace period, phase 2 ---
find "$tmp/repo" -type f | sort >"$tmp/all.before"
expect 0 "prune --dry-run" -- "$rs" prune --dry-run "${R[@]}"
grep -q 'would be planned' "$tmp/out" && ok || bad "dry run says what it would plan: $(cat "$tmp/out")"
find "$tmp/repo" -type f | sort | cmp -s - "$tmp/all.before" && ok || bad "--dry-run changed nothing"
expect 2 "prune --grace with a bad value" -- "$rs" prune --grace -1 "${R[@]}"
expect 0 "prune: phase 1" -- "$rs" prune --json "${R[@]}"
[ "$(json_get "$tmp/out" 'd["packs_planned"]')" -ge 1 ] && ok || bad "phase 1 plans the unused packs"
[ "$(json_get "$tmp/out" 'd["packs_deleted"]')" = 0 ] && ok || bad "phase 1 deletes nothing"
[ "$(count locks)" = 1 ] && ok || bad "one plan in locks/"
packs | cmp -s - "$tmp/packs.before" && ok || bad "no pack deleted in phase 1"
expect 0 "prune within the grace period" -- "$rs" prune --json "${R[@]}"
[ "$(json_get "$tmp/out" 'd["plans_waiting"]')" = 1 ] && ok || bad "the plan waits"
packs | cmp -s - "$tmp/packs.before" && ok || bad "no pack deleted within the grace period"
[ "$(count locks)" = 1 ] && ok || bad "no second plan for planned packs"
expect 0 "prune --grace 0 --dry-run" -- "$rs" prune --grace 0 --dry-run "${R[@]}"
packs | cmp -s - "$tmp/packs.before" && ok || bad "dry run of phase 2 deletes nothing"
expect 0 "prune --grace 0: phase 2" -- "$rs" prune --grace 0 --json "${R[@]}"
deleted=$(json_get "$tmp/out" 'd["packs_deleted"]')
[ "$deleted" -ge 1 ] && ok || bad "phase 2 deletes the planned packs: $(cat "$tmp/out")"
[ "$(count data)" = $(( $(wc -l <"$tmp/packs.before") - deleted )) ] && ok || bad "$deleted packs gone from data/"
[ "$(count locks)" = 0 ] && ok || bad "the plan is removed"

# what remains is whole: restore #2 exactly, check reads everything
expect 0 "restore #2 after prune" -- "$rs" snapshot latest --to "$tmp/o2" "${R[@]}"
check_same "$tmp/s2" "$tmp/o2" "restore after prune"
rm -rf "$tmp/cache"
expect 0 "restore #2 after prune with a fresh cache" -- "$rs" snapshot latest --to "$tmp/o3" "${R[@]}"
check_same "$tmp/s2" "$tmp/o3" "restore after prune (fresh cache)"
expect 0 "check --read-data after prune" -- "$rs" check --read-data "${R[@]}"
expect 0 "prune has nothing more to do" -- "$rs" prune --grace 0 --json "${R[@]}"
[ "$(json_get "$tmp/out" 'd["packs_planned"] + d["packs_deleted"]')" = 0 ] && ok || bad "nothing left to prune"

# a backup after prune still works and restores (the cache follows the deletions)
genstore --mutate "$tmp/store" || bad "genstore --mutate"
backup "$tmp/store" "$tmp/repo" "$tmp/st"
expect 0 "restore the backup made after prune" -- "$rs" snapshot latest --to "$tmp/o4" "${R[@]}"
check_same "$tmp/store" "$tmp/o4" "restore of a backup after prune"

finish
