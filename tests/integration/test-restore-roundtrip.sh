#!/usr/bin/env bash
# restore round trip: list, snapshot (whole, --path, --in-place), export, on a generated
# store; on genstore's --preset small (~240 MB) when the fourth argument is "small".
# Usage: test-restore-roundtrip.sh RESTORE BACKUPD KEYVAULT [small]
source "$(dirname "$0")/test-restore-common.sh"

if [ "${4:-}" = small ]; then
	genstore "$tmp/store" --preset small || { bad "genstore --preset small"; finish; exit; }
else
	genstore "$tmp/store" --messages 3000 --attachments 40 --scale 0.1 || { bad "genstore"; finish; exit; }
fi
"$kv" init --local --state-dir "$tmp/st" >/dev/null || { bad "keyvault init"; finish; exit; }
R=(--repo "$tmp/repo" --state-dir "$tmp/st" --cache-dir "$tmp/cache")
backup "$tmp/store" "$tmp/repo" "$tmp/st" || { finish; exit; }

# --- list ---
expect 0 "list" -- "$rs" list "${R[@]}"
grep -qE '^ +1  [0-9a-f]{8}  ' "$tmp/out" && ok || bad "list shows snapshot 1: $(cat "$tmp/out")"
expect 0 "list --json (options after the command, in any order)" -- "$rs" list --json "${R[@]}"
cp "$tmp/out" "$tmp/list.json"
[ "$(json_get "$tmp/list.json" 'len(d)')" = 1 ] && ok || bad "one snapshot listed"
[ "$(json_get "$tmp/list.json" 'd[0]["sequence"]')" = 1 ] && ok || bad "sequence 1"
[[ $(json_get "$tmp/list.json" 'd[0]["id"]') =~ ^[0-9a-f]{64}$ ]] && ok || bad "full hex id"
nfiles=$(find "$tmp/store" -type f ! -name 'chat.db-*' | wc -l)
[ "$(json_get "$tmp/list.json" 'd[0]["files"]')" = "$nfiles" ] && ok || bad "files = $nfiles"
[ "$(json_get "$tmp/list.json" 'sorted(k for k in d[0] if k in ("id","sequence","time","files","bytes","host","vanished"))')" \
	= "['bytes', 'files', 'host', 'id', 'sequence', 'time', 'vanished']" ] && ok || bad "json fields"
id=$(json_get "$tmp/list.json" 'd[0]["id"]')

# --- the whole snapshot: by 'latest', by id prefix, by #sequence ---
expect 0 "snapshot latest" -- "$rs" snapshot latest --to "$tmp/out1" "${R[@]}"
check_same "$tmp/store" "$tmp/out1" "restore of latest"
grep -q 'database: structure check ok' "$tmp/out" && ok || bad "the default database check reported"
expect 0 "snapshot by id prefix, --verify" -- "$rs" snapshot "${id:0:10}" --verify --to "$tmp/out2/" "${R[@]}"
check_same "$tmp/store" "$tmp/out2" "restore by id prefix"
grep -q 'integrity_check ok' "$tmp/out" && ok || bad "integrity_check reported"
mkdir "$tmp/empty"
expect 0 "snapshot #1 into an empty folder, --json" -- "$rs" snapshot '#1' --json "${R[@]}" --to "$tmp/empty"
check_same "$tmp/store" "$tmp/empty" "restore into an empty folder"
[ "$(json_get "$tmp/out" 'd["database"]["ok"]')" = True ] && ok || bad "json database ok"
ls -a "$tmp" | grep -q '\.restore-' && bad "a temporary folder was left behind" || ok

# --- export: a plain tar ---
"$rs" export latest "${R[@]}" >"$tmp/snap.tar" 2>"$tmp/err" && ok || bad "export: $(cat "$tmp/err")"
tar -tf "$tmp/snap.tar" >"$tmp/tar.list" 2>&1 && ok || bad "tar -t reads the export"
grep -qx 'chat.db' "$tmp/tar.list" && ok || bad "export lists chat.db"
[ "$(grep -vc '/$' "$tmp/tar.list")" = "$nfiles" ] && ok || bad "export lists $nfiles files"
mkdir "$tmp/untar" && tar -xf "$tmp/snap.tar" -C "$tmp/untar" && ok || bad "tar -x"
check_same "$tmp/store" "$tmp/untar" "export extracted by tar"
"$rs" export latest --path chat.db "${R[@]}" | tar -tf - >"$tmp/tar1" 2>/dev/null
[ "$(cat "$tmp/tar1")" = chat.db ] && ok || bad "export --path chat.db: $(cat "$tmp/tar1")"

# --- --path: exactly one attachment ---
att=$(cd "$tmp/store" && find Attachments -type f | sort | head -1)
expect 0 "snapshot --path one attachment" -- "$rs" snapshot latest --path "$att" --to "$tmp/one" "${R[@]}"
[ "$(cd "$tmp/one" && find . -type f)" = "./$att" ] && ok || bad "only $att restored: $(cd "$tmp/one" && find . -type f | head)"
cmp -s "$tmp/store/$att" "$tmp/one/$att" && ok || bad "the attachment is byte-identical"
expect 1 "--path not in the snapshot" -- "$rs" snapshot latest --path Attachments/none.jpg --to "$tmp/none" "${R[@]}"
grep -q 'not in snapshot' "$tmp/err" && ok || bad "names the missing path"
[ ! -e "$tmp/none" ] && ok || bad "nothing created for a missing path"
expect 2 "--path with '..'" -- "$rs" snapshot latest --path ../etc --to "$tmp/none" "${R[@]}"

# --- --in-place over a live store ---
cp -a "$tmp/out1" "$tmp/live"
echo scribble >"$tmp/live/extra.txt"
rm -f "$tmp/live/$att"
printf 'garbage' >"$tmp/live/chat.db-wal"
expect 2 "a non-empty --to without --in-place" -- "$rs" snapshot latest --to "$tmp/live" "${R[@]}"
[ -f "$tmp/live/extra.txt" ] && [ -f "$tmp/live/chat.db-wal" ] && ok || bad "the live store was left alone"
expect 0 "--in-place" -- "$rs" snapshot latest --in-place --to "$tmp/live" "${R[@]}"
check_same "$tmp/store" "$tmp/live" "in-place restore"
expect 2 "--in-place with --path" -- "$rs" snapshot latest --in-place --path "$att" --to "$tmp/live" "${R[@]}"
ls -a "$tmp" | grep -q '\.restore-' && bad "a temporary folder was left behind" || ok

finish
