#!/usr/bin/env bash
# The cache is only a cache: deleted, 'restore list' and 'restore snapshot' give the
# same answers, and it is rebuilt from the repository.
# Usage: test-restore-cache.sh RESTORE BACKUPD KEYVAULT
source "$(dirname "$0")/test-restore-common.sh"

genstore "$tmp/store" --messages 2000 --attachments 20 --scale 0.1 || { bad "genstore"; finish; exit; }
"$kv" init --local --state-dir "$tmp/st" >/dev/null || { bad "keyvault init"; finish; exit; }
R=(--repo "$tmp/repo" --state-dir "$tmp/st" --cache-dir "$tmp/cache")
backup "$tmp/store" "$tmp/repo" "$tmp/st" || { finish; exit; }
genstore --mutate "$tmp/store" || { bad "genstore --mutate"; finish; exit; }
backup "$tmp/store" "$tmp/repo" "$tmp/st" || { finish; exit; }

expect 0 "list with the cache" -- "$rs" list "${R[@]}"
cp "$tmp/out" "$tmp/list.warm"
expect 0 "list --json with the cache" -- "$rs" list --json "${R[@]}"
cp "$tmp/out" "$tmp/json.warm"
expect 0 "snapshot with the cache" -- "$rs" snapshot latest --to "$tmp/warm" "${R[@]}"
check_same "$tmp/store" "$tmp/warm" "restore with the cache"

rm -rf "$tmp/cache"
expect 0 "list without a cache" -- "$rs" list "${R[@]}"
cmp -s "$tmp/out" "$tmp/list.warm" && ok || bad "same list: $(diff "$tmp/list.warm" "$tmp/out")"
[ -n "$(find "$tmp/cache" -name cache.db)" ] && ok || bad "the cache is rebuilt"
rm -rf "$tmp/cache"
expect 0 "list --json without a cache" -- "$rs" list --json "${R[@]}"
cmp -s "$tmp/out" "$tmp/json.warm" && ok || bad "same JSON list"
rm -rf "$tmp/cache"
expect 0 "snapshot without a cache" -- "$rs" snapshot latest --to "$tmp/cold" "${R[@]}"
check_same "$tmp/store" "$tmp/cold" "restore without a cache"
diff -r "$tmp/warm" "$tmp/cold" >/dev/null && ok || bad "the same restore either way"
[ -n "$(find "$tmp/cache" -name cache.db)" ] && ok || bad "the cache is rebuilt by snapshot"
# an unusable cache file is replaced, not trusted
find "$tmp/cache" -name cache.db -exec sh -c 'printf "not a database" >"$1"' sh {} \;
expect 0 "snapshot #1 with a garbage cache file" -- "$rs" snapshot '#1' --to "$tmp/old" "${R[@]}"
[ -f "$tmp/old/chat.db" ] && ok || bad "snapshot #1 restored"

finish
