#!/usr/bin/env bash
# backupd run and signals, one daemon per store: SIGTERM during an upload exits 0 with no
# snapshot and the packs kept, and the next start resumes (uploading only the rest); a
# second daemon on the same store (another path to it, another state folder) refuses and
# names the pid; a daemon killed with -9 leaves a stale lock that the next one takes over,
# and its unfinished run is recorded as interrupted and redone. Every wait is for an event
# (packs in storage, a row, a log line).
# Usage: test-daemon-signals.sh BACKUPD KEYVAULT RESTORE
source "$(dirname "$0")/daemon-common.sh"

ST=$tmp/store S=$tmp/state C=$tmp/cache R=$tmp/repo
genstore "$ST" --messages 1500 --attachments 120 --scale 1 || { bad "genstore"; finish; exit; }
# a large file keeps the first run busy for a while (the test does not rely on it: it
# freezes the daemon with SIGSTOP as soon as the first pack is in storage)
head -c 64M /dev/urandom >"$ST/Attachments/large.bin"
"$kv" init --local --state-dir "$S" >/dev/null || { bad "keyvault init"; finish; exit; }
ln -s "$ST" "$tmp/store-alias"
conf=$tmp/coffer.conf
cat >"$conf" <<EOF
[store]
path = $ST
[repository]
url = $R
state_dir = $S
cache_dir = $C
pack_size = 1
[schedule]
interval = 1h
EOF
packs() { find "$R/data" -type f 2>/dev/null | wc -l; }
pack_bytes() { find "$R/data" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
at_least_packs() { [ "$(packs)" -ge "$1" ]; }
last_job() { db_q "$S" "SELECT $1 FROM job WHERE kind = 'backup' ORDER BY id DESC LIMIT 1"; }
job_is() { [ "$(last_job status)" = "$1" ]; }

# --- the first run starts at once; SIGTERM while it uploads ---
start_daemon d1 --config "$conf"
d1=$dpid
# the first pack in storage: freeze the daemon there (a tight loop without forks)
first_pack() {
	for _ in $(seq 200000); do
		for f in "$R"/data/*/*; do [ -e "$f" ] && return 0; done
		kill -0 "$d1" 2>/dev/null || return 1
	done
	return 1
}
first_pack && kill -STOP "$d1" && ok || bad "the first run uploads packs: $(tail -3 "$tmp/d1.log")"
[ "$(last_job status)" = running ] && ok || bad "the run is still going when SIGTERM comes"
[ "$(find "$R/snapshots" -type f 2>/dev/null | wc -l)" = 0 ] && ok || bad "no snapshot yet when SIGTERM comes"
packs_before=$(packs)
kill -TERM "$d1"
kill -CONT "$d1"
stop_daemon "$d1"
[ "$dstatus" = 0 ] && ok || bad "SIGTERM during an upload: exit $dstatus, want 0"
logged d1 "stopping: the running backup stops at its next blob" && ok || bad "the stop is logged"
[ "$(last_job status)" = cancelled ] && ok || bad "the run is recorded as cancelled, not $(last_job status)"
last_job error | grep -q "interrupted: no snapshot written" && ok || bad "and why: $(last_job error)"
[ "$(find "$R/snapshots" -type f 2>/dev/null | wc -l)" = 0 ] && ok || bad "no snapshot written"
[ "$(packs)" -ge "$packs_before" ] && ok || bad "the uploaded packs stay ($packs_before)"
find "$R/data" -type f | sort >"$tmp/packs.sigterm"
bytes_sigterm=$(pack_bytes)
ls "$XDG_RUNTIME_DIR/coffer/"*.sock >/dev/null 2>&1 && bad "control socket removed" || ok
expect 0 "status after the stop" -- "$bd" status --json --config "$conf"
[ "$(json_get "$tmp/out" 'd["daemon"]')" = None ] && ok || bad "no daemon holds the lock"
[ "$(json_get "$tmp/out" 'd["last_run"]["status"]')" = cancelled ] && ok || bad "status shows the cancelled run"

# --- the next start resumes at once and reuses what was uploaded ---
start_daemon d2 --config "$conf"
d2=$dpid
wait_for 300 logged d2 "serving" && ok || bad "d2 starts: $(cat "$tmp/d2.log")"
# a second daemon on the same store, by another path and with another state folder
sed -e "s|^path = .*|path = $tmp/store-alias|" -e "s|^state_dir = .*|state_dir = $tmp/state2|" \
	-e "s|^cache_dir = .*|cache_dir = $tmp/cache2|" "$conf" >"$tmp/other.conf"
expect 3 "a second daemon on the same store" -- "$bd" run --config "$tmp/other.conf"
grep -q "already served by backupd pid $d2 " "$tmp/err" && ok || bad "it names the holder's pid $d2: $(cat "$tmp/err")"
[ ! -e "$tmp/state2" ] && ok || bad "the refused daemon touched nothing"
# `now` for that store, by any path, goes to the daemon that holds it
expect 0 "backupd now by the other path asks the daemon" -- "$bd" now --config "$tmp/other.conf" --no-wait
grep -q "the daemon (pid $d2) " "$tmp/err" && ok || bad "now names the daemon: $(cat "$tmp/err")"

start_job() { db_q "$S" "SELECT $1 FROM job WHERE kind = 'backup' AND trigger = 'start' ORDER BY id DESC LIMIT 1"; }
start_ok() { [ "$(start_job status)" = ok ]; }
wait_for 3000 start_ok && ok || bad "the next start resumes: $(tail -3 "$tmp/d2.log")"
idle() { [ "$(db_q "$S" "SELECT count(*) FROM job WHERE status = 'running'")" = 0 ]; }
wait_for 3000 idle || bad "the asked-for run ends"
[ "$(last_job status)" = ok ] && ok || bad "the asked-for run succeeds"
stored=$(start_job bytes_stored)
total=$(pack_bytes)
[ "$stored" -lt "$total" ] && [ $((stored + bytes_sigterm)) -ge "$total" ] && ok ||
	bad "the resumed run stores only the rest: $stored of $total ($bytes_sigterm before)"
comm -23 "$tmp/packs.sigterm" <(find "$R/data" -type f | sort) | grep -q . && bad "packs of the stopped run kept" || ok
stop_daemon "$d2"
[ "$dstatus" = 0 ] && ok || bad "SIGTERM when idle: exit $dstatus"
expect 0 "restore check --read-data" -- "$rs" check --read-data --repo "$R" --state-dir "$S" --cache-dir "$C"
expect 0 "restore the snapshot" -- "$rs" snapshot latest --to "$tmp/o1" --repo "$R" --state-dir "$S" --cache-dir "$C"
diff -r -x 'chat.db*' "$ST" "$tmp/o1" >/dev/null && ok || bad "the resumed snapshot restores the store"

# --- kill -9: the stale lock is taken over; an unfinished run is interrupted, then redone ---
start_daemon d3 --config "$conf"
d3=$dpid
wait_for 300 logged d3 "serving" && ok || bad "d3 starts"
genstore --mutate "$ST" || bad "genstore --mutate"
head -c 512M /dev/urandom >"$ST/Attachments/large.bin" # new content: a run long enough (~2 s) to be seen running
expect 0 "now --no-wait starts a run in the daemon" -- "$bd" now --no-wait --config "$conf"
running_now() { [ "$(db_q "$S" "SELECT count(*) FROM job WHERE kind = 'backup' AND status = 'running' AND trigger = 'now'")" = 1 ]; }
wait_for 300 running_now && ok || bad "the asked-for run starts"
kill -9 "$d3"; wait "$d3" 2>/dev/null
[ "$(last_job status)" = running ] && ok || bad "the killed run is left 'running'"
start_daemon d4 --config "$conf"
d4=$dpid
wait_for 300 logged d4 "took over the lock of .* left by pid $d3" && ok || bad "stale lock taken over: $(head -3 "$tmp/d4.log")"
wait_for 3000 job_is ok && ok || bad "the run is redone at start"
[ "$(db_q "$S" "SELECT status FROM job WHERE kind = 'backup' AND trigger = 'now' ORDER BY id DESC LIMIT 1")" = interrupted ] &&
	ok || bad "the killed run is recorded as interrupted"
expect 0 "status" -- "$bd" status --json --config "$conf"
[ "$(json_get "$tmp/out" 'd["daemon"]["pid"]')" = "$d4" ] && ok || bad "status names the new daemon"
[ "$(json_get "$tmp/out" 'd["last_failure"]["status"]')" = interrupted ] && ok || bad "status shows the interrupted run"
stop_daemon "$d4"
# --- an in-process `now` holds the store too: a second `now` and a daemon are refused ---
head -c 64M /dev/urandom >"$ST/Attachments/large.bin"
"$bd" now --config "$conf" >"$tmp/now1.out" 2>"$tmp/now1.err" </dev/null &
n1=$!
daemons+=("$n1")
holds_now() { grep -qs "^role now" "$XDG_RUNTIME_DIR"/coffer/store-*.lock; }
wait_for 600 holds_now && ok || bad "the running now holds the store lock"
expect 3 "a second now while one runs" -- "$bd" now --config "$conf"
grep -q "locked by backupd pid $n1 (a backup running now)" "$tmp/err" && ok || bad "it names the pid $n1: $(cat "$tmp/err")"
expect 3 "a daemon while a now runs" -- "$bd" run --config "$conf"
grep -q "already served by backupd pid $n1 (now" "$tmp/err" && ok || bad "run names the pid $n1: $(cat "$tmp/err")"
wait "$n1" && ok || bad "the first now succeeds: $(cat "$tmp/now1.err")"
holds_now && bad "the lock is released after now" || ok

expect 0 "restore check after kill -9" -- "$rs" check --read-data --repo "$R" --state-dir "$S" --cache-dir "$C"
expect 0 "restore after kill -9" -- "$rs" snapshot latest --to "$tmp/o2" --repo "$R" --state-dir "$S" --cache-dir "$C"
diff -r -x 'chat.db*' "$ST" "$tmp/o2" >/dev/null && ok || bad "the redone snapshot restores the changed store"
finish
