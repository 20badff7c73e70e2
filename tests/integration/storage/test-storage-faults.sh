#!/usr/bin/env bash
# Faults between Coffer and the store: a proxy (faultproxy.py, loopback, bounded) fails
# a share of requests with 500s, resets, stalls and truncated bodies. Backups still
# complete through retries and 'restore check --read-data' passes. With the server gone
# in the middle of a backup, the backup fails cleanly, and the next run resumes and
# completes. Run against nginx (WebDAV) and s3rver (S3).
# Usage: test-storage-faults.sh RESTORE BACKUPD KEYVAULT
storage_dir=$(cd "$(dirname "$0")" && pwd)
source "$storage_dir/../test-restore-common.sh"
source "$storage_dir/servers.sh"
trap 'stop_servers; rm -rf "$tmp"' EXIT

# quick retries and stall detection, so that the test stays short
export COFFER_STORAGE_RETRY_BASE_MS=20 COFFER_STORAGE_RETRIES=10 COFFER_STORAGE_TIMEOUT=1

# start_proxy NAME TARGET-PORT ARGS...: $proxy_port, logging faults to $tmp/NAME.log
start_proxy() {
	local name=$1 target=$2
	shift 2
	rm -f "$tmp/$name.port"
	python3 "$storage_dir/faultproxy.py" --target "$target" --portfile "$tmp/$name.port" \
		--log "$tmp/$name.log" --stall 10 --lifetime 300 "$@" &
	server_pids+=("$!")
	for _ in $(seq 100); do [ -s "$tmp/$name.port" ] && break; sleep 0.1; done
	proxy_port=$(cat "$tmp/$name.port" 2>/dev/null) || { bad "proxy $name did not start"; return 1; }
}

# bk STORE URL LOG: one backup with small packs (many uploads); status in $?
bk() {
	"$bk" now --store "$1" --repo "$2" --state-dir "$tmp/st" --cache-dir "$tmp/cache.$kind" \
		--pack-size 1 >"$3" 2>&1
}

run_kind() {
	local target url_of rc n
	kind=$1
	case $kind in
	webdav)
		start_nginx "$tmp/nginx" || { bad "start nginx"; return; }
		target=$dav_port
		url_of() { echo "webdav+http://127.0.0.1:$1/repo"; }
		;;
	s3)
		start_s3rver "$tmp/s3" faults || { bad "start s3rver"; return; }
		target=$s3_port
		export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
		url_of() { echo "s3://faults/repo"; }
		;;
	esac
	rm -rf "$tmp/store" && cp -a "$tmp/store0" "$tmp/store"

	# --- a backup through 25% faults ---
	start_proxy "$kind-1" "$target" --rate 0.25 --seed 7 --max-faults 400 || return
	url=$(url_of "$proxy_port")
	export AWS_ENDPOINT_URL=http://127.0.0.1:$proxy_port
	echo "$kind: backup through faults at $(date +%T)"
	bk "$tmp/store" "$url" "$tmp/$kind-b1.out" && ok || { bad "$kind: backup through faults"; tail -20 "$tmp/$kind-b1.out" >&2; }
	for f in 500 reset stall truncate; do
		n=$(grep -c "^fault $f " "$tmp/$kind-1.log")
		[ "$n" -gt 0 ] && ok || bad "$kind: the proxy injected no '$f' fault"
	done
	grep -q 'retrying in' "$tmp/$kind-b1.out" && ok || bad "$kind: retries are reported"
	echo "$kind: check at $(date +%T)"
	expect 0 "$kind: check --read-data through faults" -- \
		"$rs" check --read-data --repo "$url" --state-dir "$tmp/st" --cache-dir "$tmp/cc.$kind"
	grep -q 'no damage found' "$tmp/out" && ok || bad "$kind: no damage: $(cat "$tmp/out")"
	expect 0 "$kind: restore through faults" -- \
		"$rs" snapshot latest --to "$tmp/out.$kind" --repo "$url" --state-dir "$tmp/st" --cache-dir "$tmp/cr.$kind"
	check_same "$tmp/store" "$tmp/out.$kind" "$kind: restore through faults"

	# --- the server goes away in the middle of a backup ---
	genstore --mutate "$tmp/store" --new-attachments 30 || { bad "genstore --mutate"; return; }
	start_proxy "$kind-2" "$target" --rate 0 --die-after 12 || return
	url=$(url_of "$proxy_port")
	export AWS_ENDPOINT_URL=http://127.0.0.1:$proxy_port
	echo "$kind: server gone at $(date +%T)"
	COFFER_STORAGE_RETRIES=3 bk "$tmp/store" "$url" "$tmp/$kind-b2.out"
	rc=$?
	[ "$rc" -ne 0 ] && ok || bad "$kind: a backup with the server gone must fail"
	grep -qE "storage .*(refused|Couldn't connect|Could not connect|network|timed out|Timeout|Empty reply|Recv failure|reset)" \
		"$tmp/$kind-b2.out" && ok || bad "$kind: the failure names the storage problem: $(tail -5 "$tmp/$kind-b2.out")"
	grep -qi 'segmentation\|abort\|core dumped' "$tmp/$kind-b2.out" && bad "$kind: crashed" || ok

	# --- the next run (server back, some faults) resumes and completes ---
	start_proxy "$kind-3" "$target" --rate 0.1 --seed 11 --max-faults 100 || return
	url=$(url_of "$proxy_port")
	export AWS_ENDPOINT_URL=http://127.0.0.1:$proxy_port
	echo "$kind: resume at $(date +%T)"
	bk "$tmp/store" "$url" "$tmp/$kind-b3.out" && ok || { bad "$kind: the next backup"; tail -20 "$tmp/$kind-b3.out" >&2; }
	expect 0 "$kind: check --read-data after the resumed backup" -- \
		"$rs" check --read-data --repo "$url" --state-dir "$tmp/st" --cache-dir "$tmp/cc2.$kind"
	expect 0 "$kind: restore after the resumed backup" -- \
		"$rs" snapshot latest --to "$tmp/out2.$kind" --repo "$url" --state-dir "$tmp/st" --cache-dir "$tmp/cr2.$kind"
	check_same "$tmp/store" "$tmp/out2.$kind" "$kind: restore after the resumed backup"
	stop_servers
}

genstore "$tmp/store0" --messages 2000 --attachments 60 --scale 0.3 || { bad "genstore"; finish; exit; }
"$kv" init --local --state-dir "$tmp/st" >/dev/null || { bad "keyvault init"; finish; exit; }
run_kind webdav
run_kind s3
finish
