#!/usr/bin/env bash
# SigV4 known answers: Coffer's S3 requests, captured on loopback, must carry AWS's
# published signature for its "GET Object" example and the independently computed one
# for a ListObjectsV2 request with a continuation token (canonical query order).
# Usage: test-storage-sigv4.sh SIGV4-KAT
set -uo pipefail
kat=${1:?usage: $0 PATH-TO-sigv4-kat}
dir=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cf-sigv4.XXXXXX") || exit 1
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0 checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }

python3 "$dir/capture.py" "$tmp/requests.jsonl" "$tmp/port" --lifetime 60 &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(cat "$tmp/port" 2>/dev/null) || { echo "capture listener did not start" >&2; exit 1; }

"$kat" "$port" >"$tmp/out" 2>&1 && ok || bad "sigv4-kat: $(cat "$tmp/out")"
grep -q '^get test.txt: .*10 bytes: 0123456789' "$tmp/out" && ok || bad "the ranged GET: $(cat "$tmp/out")"
grep -q "^listed data/ab/abab" "$tmp/out" && ok || bad "the second list page was read: $(cat "$tmp/out")"

# auth PATH: the Authorization header of the request for PATH
auth() {
	python3 - "$tmp/requests.jsonl" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["path"] == sys.argv[2]:
        print(next((v for k, v in r["headers"] if k.lower() == "authorization"), ""))
        break
PY
}
cred='AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request'

a=$(auth /test.txt)
want="$cred, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
[ "$a" = "$want" ] && ok || bad "GET Object example: got '$a', want '$want'"

p='/?continuation-token=abc&list-type=2&prefix=data%2F'
grep -qF "\"path\": \"$p\"" "$tmp/requests.jsonl" && ok || bad "the list request path is $p: $(cat "$tmp/requests.jsonl")"
a=$(auth "$p")
want="$cred, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0378d4c7d2fae0160fdf498ebc23b170fdeeb77a5eea37eb84c539cbabb69a7d"
[ "$a" = "$want" ] && ok || bad "ListObjectsV2 with a continuation token: got '$a', want '$want'"

# the secret never travels: no request carries it
grep -q 'wJalrXUtnFEMI' "$tmp/requests.jsonl" && bad "the secret key was sent" || ok

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
