#!/usr/bin/env bash
# Tampering with every object type (config, keys/, data/, index/, snapshots/): flip one
# byte, truncate, delete, or swap two objects of one folder. 'restore check --read-data'
# exits 3 and names the damaged object; 'restore snapshot' either fails and writes
# nothing, or (the damaged object was not needed) restores byte-identical data.
# Usage: test-restore-tamper.sh RESTORE BACKUPD KEYVAULT
source "$(dirname "$0")/test-restore-common.sh"

genstore "$tmp/store" --messages 3000 --attachments 40 --scale 0.1 || { bad "genstore"; finish; exit; }
"$kv" init --local --state-dir "$tmp/st" >/dev/null || { bad "keyvault init"; finish; exit; }
backup "$tmp/store" "$tmp/repo" "$tmp/st" || { finish; exit; }
genstore --mutate "$tmp/store" --new-attachments 5 || { bad "genstore --mutate"; finish; exit; }
backup "$tmp/store" "$tmp/repo" "$tmp/st" || { finish; exit; }

expect 0 "check --read-data of the untouched repository" -- \
	"$rs" check --read-data --repo "$tmp/repo" --state-dir "$tmp/st" --cache-dir "$tmp/cache"
grep -q 'no damage found' "$tmp/out" && ok || bad "no damage reported"
for folder in keys index snapshots data; do
	[ "$(find "$tmp/repo/$folder" -type f | wc -l)" -ge 2 ] && ok || bad "two objects in $folder/ to swap"
done

flip() { python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=0x01; open(p,"wb").write(b)' "$1"; }
truncate_half() { truncate -s $(( $(stat -c %s "$1") / 2 )) "$1"; }

# tamper OP OBJECT [OTHER]: on a fresh copy of the repository in $tmp/t
tamper() {
	local op=$1 obj=$2 other=${3:-}
	rm -rf "$tmp/t" && cp -a "$tmp/repo" "$tmp/t"
	case $op in
	flip) flip "$tmp/t/$obj" ;;
	truncate) truncate_half "$tmp/t/$obj" ;;
	delete) rm "$tmp/t/$obj" ;;
	swap) mv "$tmp/t/$obj" "$tmp/t/swap.tmp" && mv "$tmp/t/$other" "$tmp/t/$obj" && mv "$tmp/t/swap.tmp" "$tmp/t/$other" ;;
	esac
}

# what check must name: the object itself, or (deleted objects nobody names) its folder
expected_name() {
	local op=$1 obj=$2
	case $op/$obj in
	delete/keys/* | delete/index/* | delete/snapshots/*) echo "${obj%%/*}/" ;;
	*) echo "$obj" ;;
	esac
}

run_case() {
	local op=$1 obj=$2 other=${3:-} want
	tamper "$op" "$obj" "$other"
	rm -rf "$tmp/c" "$tmp/o"
	expect 3 "check --read-data after $op $obj" -- \
		"$rs" check --read-data --repo "$tmp/t" --state-dir "$tmp/st" --cache-dir "$tmp/c"
	want=$(expected_name "$op" "$obj")
	if [ "$op" = delete ] && [ "${obj%%/*}" = index ]; then
		want="damaged: snapshots/" # the snapshots whose blobs no index names any more
	else
		want="damaged: $want"
	fi
	if grep -qF "$want" "$tmp/out" || { [ -n "$other" ] && grep -qF "damaged: $other" "$tmp/out"; }; then ok
	else bad "check after $op $obj does not name '$want': $(head -5 "$tmp/out")"; fi
	# a restore with a fresh cache: fails and writes nothing, or is exact
	"$rs" snapshot latest --to "$tmp/o" --repo "$tmp/t" --state-dir "$tmp/st" --cache-dir "$tmp/c2.$op" \
		>"$tmp/rout" 2>&1
	local rc=$?
	rm -rf "$tmp/c2.$op"
	if [ $rc -ne 0 ]; then
		[ ! -e "$tmp/o" ] && ok || bad "failed restore after $op $obj left $tmp/o"
		ls -a "$tmp" | grep -q '\.o\.restore-' && bad "temporary folder left after $op $obj" || ok
	else
		check_same "$tmp/store" "$tmp/o" "restore after $op $obj (it succeeded, so it must be exact)"
	fi
}

objects=(config)
for folder in keys index snapshots data; do
	mapfile -t list < <(cd "$tmp/repo" && find "$folder" -type f | sort)
	objects+=("${list[@]}")
	pairs+=("${list[0]} ${list[1]}")
done
for obj in "${objects[@]}"; do
	for op in flip truncate delete; do
		run_case "$op" "$obj"
	done
done
for pair in "${pairs[@]}"; do
	run_case swap $pair
done

# version 2 packs (format 2): the name covers size, table and trailer; the zero padding
# before the table is covered by nothing else, so check --read-data requires zeros there
rm -rf "$tmp/t" && cp -a "$tmp/repo" "$tmp/t"
padded=$(python3 - "$tmp/t" <<'PY'
import os, struct, sys
root = sys.argv[1]
for d, _, files in sorted(os.walk(os.path.join(root, "data"))):
    for f in sorted(files):
        p = os.path.join(d, f); b = bytearray(open(p, "rb").read())
        if b[:4] != b"CFP\x02":
            print("VERSION1", p); sys.exit(0)
        t = struct.unpack("<I", b[-8:-4])[0]; ts = len(b) - 8 - t
        if ts >= 64 and not any(b[ts - 64:ts]):   # 64 zero bytes: padding, not a tag
            b[ts - 1] = 1; open(p, "wb").write(b); print(os.path.relpath(p, root)); sys.exit(0)
PY
)
case $padded in
data/*)
	ok
	rm -rf "$tmp/c" "$tmp/o"
	expect 3 "check --read-data after a byte in the padding of $padded" -- \
		"$rs" check --read-data --repo "$tmp/t" --state-dir "$tmp/st" --cache-dir "$tmp/c"
	grep -F "damaged: $padded" "$tmp/out" | grep -q padding && ok || bad "padding not named: $(head -5 "$tmp/out")"
	"$rs" snapshot latest --to "$tmp/o" --repo "$tmp/t" --state-dir "$tmp/st" --cache-dir "$tmp/c3" \
		>"$tmp/rout" 2>&1 && check_same "$tmp/store" "$tmp/o" "restore with altered padding (unused bytes)" ||
		bad "restore with altered padding failed: $(tail -3 "$tmp/rout")"
	;;
VERSION1*) bad "a new repository holds a version 1 pack: $padded" ;;
*) bad "no pack with padding found" ;;
esac

# a restore never trusts a stale cache: damage a pack the cache knows, restore fails
cp -a "$tmp/repo" "$tmp/t2"
"$rs" list --repo "$tmp/t2" --state-dir "$tmp/st" --cache-dir "$tmp/warm" >/dev/null 2>&1
for p in $(cd "$tmp/t2" && find data -type f); do flip "$tmp/t2/$p"; done
expect 1 "restore from flipped packs with a warm cache" -- \
	"$rs" snapshot latest --to "$tmp/o3" --repo "$tmp/t2" --state-dir "$tmp/st" --cache-dir "$tmp/warm"
[ ! -e "$tmp/o3" ] && ok || bad "nothing written from damaged packs"
grep -q 'authentication failed\|corrupt' "$tmp/err" && ok || bad "says why: $(cat "$tmp/err")"

finish
