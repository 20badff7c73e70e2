#!/usr/bin/env bash
# Whom restore trusts: a manifest signed by a device that is not in this repository's
# roster is refused (not listed, named by check); an older snapshot list served in place
# of the newest this device has seen is refused (rollback).
# Usage: test-restore-trust.sh RESTORE BACKUPD KEYVAULT
source "$(dirname "$0")/test-restore-common.sh"

genstore "$tmp/store" --messages 2000 --attachments 10 --scale 0.1 || { bad "genstore"; finish; exit; }
"$kv" init --local --state-dir "$tmp/st" >/dev/null || { bad "keyvault init"; finish; exit; }
"$kv" init --local --state-dir "$tmp/st2" >/dev/null || { bad "keyvault init (device 2)"; finish; exit; }
R=(--repo "$tmp/repo" --state-dir "$tmp/st" --cache-dir "$tmp/cache")
backup "$tmp/store" "$tmp/repo" "$tmp/st" || { finish; exit; }
genstore --mutate "$tmp/store" || { bad "genstore --mutate"; finish; exit; }
backup "$tmp/store" "$tmp/repo" "$tmp/st" || { finish; exit; }
expect 0 "list" -- "$rs" list --json "${R[@]}"
[ "$(json_get "$tmp/out" 'len(d)')" = 2 ] && ok || bad "two snapshots"
newest=$(json_get "$tmp/out" '[s["id"] for s in d if s["sequence"] == 2][0]')

# --- a manifest signed by a device that is not trusted here ---
# device 2 backs the same store up into its own repository B, whose snapshot is then
# planted into ours
backup "$tmp/store" "$tmp/repoB" "$tmp/st2" "$tmp/cache2" || { finish; exit; }
foreign=$(cd "$tmp/repoB" && ls snapshots)
cp "$tmp/repoB/snapshots/$foreign" "$tmp/repo/snapshots/$foreign"
expect 0 "list with a foreign manifest planted" -- "$rs" list --json "${R[@]}"
[ "$(json_get "$tmp/out" 'len(d)')" = 2 ] && ok || bad "the foreign snapshot is not listed"
json_get "$tmp/out" '[s["id"] for s in d]' | grep -q "$foreign" && bad "foreign id listed" || ok
grep -q "snapshots/$foreign" "$tmp/err" && grep -q 'warning' "$tmp/err" && ok || bad "a warning names it: $(cat "$tmp/err")"
expect 1 "the foreign snapshot cannot be restored" -- "$rs" snapshot "${foreign:0:12}" --to "$tmp/o1" "${R[@]}"
[ ! -e "$tmp/o1" ] && ok || bad "nothing restored from a foreign manifest"
expect 3 "check names the foreign manifest" -- "$rs" check "${R[@]}"
grep -q "^damaged: snapshots/$foreign (refused: signed by .*not a trusted device" "$tmp/out" && ok \
	|| bad "check output: $(cat "$tmp/out")"
expect 0 "the trusted snapshots still restore" -- "$rs" snapshot latest --to "$tmp/o2" "${R[@]}"
check_same "$tmp/store" "$tmp/o2" "restore beside a foreign manifest"
rm "$tmp/repo/snapshots/$foreign"
expect 0 "check passes once it is gone" -- "$rs" check "${R[@]}"

# --- rollback: the newest snapshot this device has seen disappears ---
mv "$tmp/repo/snapshots/$newest" "$tmp/newest.saved"
expect 1 "list refuses a rolled-back repository" -- "$rs" list "${R[@]}"
grep -q 'older than what this device has already seen' "$tmp/err" && ok || bad "rollback message: $(cat "$tmp/err")"
expect 1 "snapshot refuses a rolled-back repository" -- "$rs" snapshot latest --to "$tmp/o3" "${R[@]}"
[ ! -e "$tmp/o3" ] && ok || bad "nothing restored from a rolled-back repository"
expect 3 "check reports the rollback" -- "$rs" check "${R[@]}"
grep -q '^damaged: snapshots/ (sequence 2, which this device has seen, is missing' "$tmp/out" && ok \
	|| bad "check rollback output: $(cat "$tmp/out")"
# a cache deleted meanwhile changes nothing: what was seen lives with the keychain
rm -rf "$tmp/cache"
expect 1 "still refused without the cache" -- "$rs" list "${R[@]}"
mv "$tmp/newest.saved" "$tmp/repo/snapshots/$newest"
expect 0 "list once the newest is back" -- "$rs" list "${R[@]}"

finish
