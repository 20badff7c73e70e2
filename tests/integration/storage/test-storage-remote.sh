#!/usr/bin/env bash
# The engine's round trip, incremental and tamper tests against a real HTTP store:
# nginx (WebDAV, KIND=webdav) or s3rver (S3, KIND=s3), started here on a free loopback
# port and stopped on exit. Tampering goes through the server's own API (curl), as an
# attacker with write access to the store would do it.
# Usage: test-storage-remote.sh webdav|s3 RESTORE BACKUPD KEYVAULT
kind=${1:?usage: $0 webdav|s3 RESTORE BACKUPD KEYVAULT}
shift
storage_dir=$(cd "$(dirname "$0")" && pwd)
source "$storage_dir/../test-restore-common.sh"
source "$storage_dir/servers.sh"
trap 'stop_servers; rm -rf "$tmp"' EXIT

case $kind in
webdav)
	start_nginx "$tmp/nginx" || { bad "start nginx"; finish; exit; }
	repo="webdav+$dav_url/backups/phone"
	base="$dav_url/backups/phone"
	# obj_get NAME FILE / obj_put NAME FILE / obj_del NAME: the store's own API
	obj_get() { curl -sf -u "$dav_user:$dav_password" -o "$2" "$base/$1"; }
	obj_put() { curl -sf -u "$dav_user:$dav_password" -T "$2" "$base/$1" -o /dev/null; }
	obj_del() { curl -sf -u "$dav_user:$dav_password" -X DELETE "$base/$1" -o /dev/null; }
	;;
s3)
	start_s3rver "$tmp/s3" coffer-test || { bad "start s3rver"; finish; exit; }
	export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_ENDPOINT_URL=$s3_url
	repo="s3://coffer-test/backups/phone"
	base="$s3_url/coffer-test/backups/phone"
	s3curl() { curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }
	obj_get() { s3curl -o "$2" "$base/$1"; }
	obj_put() { s3curl -T "$2" "$base/$1" -o /dev/null; }
	obj_del() { s3curl -X DELETE "$base/$1" -o /dev/null; }
	;;
*) echo "unknown kind $kind" >&2; exit 2 ;;
esac
R=(--repo "$repo" --state-dir "$tmp/st")

genstore "$tmp/store" --messages 3000 --attachments 40 --scale 0.1 || { bad "genstore"; finish; exit; }
cp -a "$tmp/store" "$tmp/store1"
"$kv" init --local --state-dir "$tmp/st" >/dev/null || { bad "keyvault init"; finish; exit; }

# --- round trip ---
backup "$tmp/store" "$repo" "$tmp/st" || { finish; exit; }
grep -q "$repo" "$tmp/backup.out" && bad "the backup summary shows a URL with no need" || ok
expect 0 "list" -- "$rs" list --json "${R[@]}" --cache-dir "$tmp/c1"
[ "$(json_get "$tmp/out" 'len(d)')" = 1 ] && ok || bad "one snapshot listed: $(cat "$tmp/out")"
expect 0 "snapshot latest (fresh cache)" -- "$rs" snapshot latest --to "$tmp/out1" "${R[@]}" --cache-dir "$tmp/c2"
check_same "$tmp/store" "$tmp/out1" "restore from $kind"
"$rs" export latest "${R[@]}" --cache-dir "$tmp/c2" >"$tmp/snap.tar" 2>"$tmp/err" && ok || bad "export: $(cat "$tmp/err")"
mkdir "$tmp/untar" && tar -xf "$tmp/snap.tar" -C "$tmp/untar" && ok || bad "tar -x of the export"
check_same "$tmp/store" "$tmp/untar" "export from $kind"

if [ "$kind" = webdav ]; then
	# uploads that died before their MOVE: swept at open once older than a day
	d=$tmp/nginx/dav/backups/phone/tmp
	echo old >"$d/upload-00000000000000aa" && touch -d '2 days ago' "$d/upload-00000000000000aa"
	echo young >"$d/upload-00000000000000bb"
	expect 0 "list sweeps stale uploads" -- "$rs" list "${R[@]}" --cache-dir "$tmp/c1"
	[ ! -e "$d/upload-00000000000000aa" ] && ok || bad "a day-old temporary upload is removed"
	[ -e "$d/upload-00000000000000bb" ] && ok || bad "a young temporary upload (maybe in progress) is kept"
fi

# --- incremental: a second backup reuses what is stored ---
genstore --mutate "$tmp/store" --new-attachments 5 || { bad "genstore --mutate"; finish; exit; }
backup "$tmp/store" "$repo" "$tmp/st" || { finish; exit; }
expect 0 "list two snapshots" -- "$rs" list --json "${R[@]}" --cache-dir "$tmp/c1"
[ "$(json_get "$tmp/out" 'len(d)')" = 2 ] && ok || bad "two snapshots listed"
expect 0 "snapshot latest after the incremental" -- "$rs" snapshot latest --to "$tmp/out2" "${R[@]}" --cache-dir "$tmp/c3"
check_same "$tmp/store" "$tmp/out2" "incremental restore from $kind"
expect 0 "snapshot #1 after the incremental" -- "$rs" snapshot '#1' --to "$tmp/out3" "${R[@]}" --cache-dir "$tmp/c3"
check_same "$tmp/store1" "$tmp/out3" "first snapshot still exact"
expect 0 "check --read-data of the untouched repository" -- "$rs" check --read-data "${R[@]}" --cache-dir "$tmp/c4"
grep -q 'no damage found' "$tmp/out" && ok || bad "no damage reported: $(cat "$tmp/out")"

case $kind in
webdav) lister() { (cd "$tmp/nginx/dav/backups/phone" && find "$1" -type f | sort); } ;;
s3) lister() { (cd "$tmp/s3/data/coffer-test/backups/phone" && find "$1" -type f -name '*._S3rver_object' | sed 's/\._S3rver_object$//' | sort); } ;;
esac

flip() { python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=0x01; open(p,"wb").write(b)' "$1"; }

# tamper OP OBJECT: damage one object through the API, run check and a restore, put it back
tamper() {
	local op=$1 obj=$2 want
	obj_get "$obj" "$tmp/orig" || { bad "fetch $obj through the API"; return; }
	case $op in
	flip) cp "$tmp/orig" "$tmp/bad" && flip "$tmp/bad" && obj_del "$obj" && obj_put "$obj" "$tmp/bad" ;;
	truncate) head -c $(( $(stat -c %s "$tmp/orig") / 2 )) "$tmp/orig" >"$tmp/bad" && obj_del "$obj" && obj_put "$obj" "$tmp/bad" ;;
	delete) obj_del "$obj" ;;
	esac || { bad "$op $obj through the API"; return; }
	rm -rf "$tmp/ct" "$tmp/o"
	expect 3 "check --read-data after $op $obj" -- "$rs" check --read-data "${R[@]}" --cache-dir "$tmp/ct"
	case $op/$obj in
	delete/keys/* | delete/snapshots/*) want="damaged: ${obj%%/*}/" ;;
	delete/index/*) want="damaged: snapshots/" ;;
	*) want="damaged: $obj" ;;
	esac
	grep -qF "$want" "$tmp/out" && ok || bad "check after $op $obj does not name '$want': $(head -5 "$tmp/out")"
	"$rs" snapshot latest --to "$tmp/o" "${R[@]}" --cache-dir "$tmp/ct2" >"$tmp/rout" 2>&1
	if [ $? -ne 0 ]; then
		[ ! -e "$tmp/o" ] && ok || bad "a failed restore after $op $obj left $tmp/o"
	else
		check_same "$tmp/store" "$tmp/o" "restore after $op $obj (it succeeded, so it must be exact)"
	fi
	rm -rf "$tmp/ct2"
	obj_del "$obj" >/dev/null 2>&1
	obj_put "$obj" "$tmp/orig" || bad "put $obj back"
}

pack=$(lister data | head -1)
index=$(lister index | head -1)
snap=$(lister snapshots | head -1)
key=$(lister keys | head -1)
[ -n "$pack" ] && [ -n "$index" ] && [ -n "$snap" ] && [ -n "$key" ] && ok || bad "objects of every kind in the store"
tamper flip "$pack"
tamper truncate "$pack"
tamper flip "$index"
tamper delete "$index"
tamper flip "$snap"
tamper delete "$snap"
tamper truncate "$key"
tamper flip config

# everything put back: the repository is whole again
expect 0 "check --read-data after the repairs" -- "$rs" check --read-data "${R[@]}" --cache-dir "$tmp/c5"

# an object that is not a valid name, put there by someone else, is never listed
echo stray >"$tmp/stray"
obj_put "data/zz/not-an-object" "$tmp/stray" && ok || bad "put a stray object"
expect 0 "check ignores foreign names" -- "$rs" check "${R[@]}" --cache-dir "$tmp/c5"

# opening an absent repository without create fails cleanly
expect 2 "list of an absent repository" -- "$rs" list --repo "${repo%/phone}/absent" --state-dir "$tmp/st" --cache-dir "$tmp/c6"
grep -qi 'no repository\|not found\|does not exist' "$tmp/err" && ok || bad "says there is no repository: $(cat "$tmp/err")"

if [ "$kind" = webdav ]; then
	# a wrong password is a clear error, and the password is never shown
	COFFER_WEBDAV_PASSWORD=wrong-secret-456 expect 1 "a wrong WebDAV password" -- \
		"$rs" list "${R[@]}" --cache-dir "$tmp/c7"
	grep -q '401\|denied\|permission\|authenticat' "$tmp/err" && ok || bad "names the refusal: $(cat "$tmp/err")"
	grep -q 'wrong-secret-456' "$tmp/err" "$tmp/out" && bad "the password appears in the output" || ok
fi
if [ "$kind" = s3 ]; then
	# s3rver checks the access key id: a wrong one is a clear error, and no secret is shown
	AWS_ACCESS_KEY_ID=NOTAKEY AWS_SECRET_ACCESS_KEY=sekrit-value-123 \
		expect 1 "a wrong access key id" -- "$rs" list "${R[@]}" --cache-dir "$tmp/c7"
	grep -q 'InvalidAccessKeyId\|refused\|denied' "$tmp/err" && ok || bad "names the refusal: $(cat "$tmp/err")"
	grep -q 'sekrit-value-123' "$tmp/err" "$tmp/out" && bad "the secret appears in the output" || ok
	# TLS: verification is on; the CA comes from ca_file (COFFER_STORAGE_CA_FILE)
	start_s3rver "$tmp/s3tls" tls-test tls || { bad "start s3rver with TLS"; finish; exit; }
	AWS_ENDPOINT_URL=$s3_url expect 1 "TLS to an unknown certificate" -- \
		"$bk" now --store "$tmp/store" --repo s3://tls-test/r --state-dir "$tmp/st" --cache-dir "$tmp/c9"
	grep -qi 'certificate' "$tmp/out" "$tmp/err" && ok || bad "names the certificate problem: $(tail -3 "$tmp/err")"
	AWS_ENDPOINT_URL=$s3_url COFFER_STORAGE_CA_FILE=$tmp/s3tls/cert.pem expect 0 "a backup over TLS with ca_file" -- \
		"$bk" now --store "$tmp/store" --repo s3://tls-test/r --state-dir "$tmp/st" --cache-dir "$tmp/c9"
	AWS_ENDPOINT_URL=$s3_url COFFER_STORAGE_CA_FILE=$tmp/s3tls/cert.pem expect 0 "check --read-data over TLS" -- \
		"$rs" check --read-data --repo s3://tls-test/r --state-dir "$tmp/st" --cache-dir "$tmp/c10"
	# a bucket that does not exist
	expect 2 "an absent bucket" -- "$rs" list --repo s3://no-such-bucket/x --state-dir "$tmp/st" --cache-dir "$tmp/c8"
	grep -q 'does not exist' "$tmp/err" && ok || bad "names the missing bucket: $(cat "$tmp/err")"
fi

finish
