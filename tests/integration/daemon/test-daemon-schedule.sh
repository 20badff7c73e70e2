#!/usr/bin/env bash
# backupd run on a one-second interval: several scheduled runs happen and are recorded;
# `backupd now` asks the daemon for an extra run and prints its summary; SIGHUP applies a
# changed interval (and a broken configuration is refused while the old one stays in
# force); on battery the schedule waits and resumes on mains power, `now` does not wait;
# status tells the truth; SIGTERM ends it cleanly; every snapshot restores and checks.
# Usage: test-daemon-schedule.sh BACKUPD KEYVAULT RESTORE
source "$(dirname "$0")/daemon-common.sh"

ST=$tmp/store S=$tmp/state C=$tmp/cache R=$tmp/repo PS=$tmp/power
genstore "$ST" --messages 800 --attachments 20 --scale 0.05 || { bad "genstore"; finish; exit; }
"$kv" init --local --state-dir "$S" >/dev/null || { bad "keyvault init"; finish; exit; }
mkdir -p "$PS/AC" "$PS/BAT0"
echo Mains >"$PS/AC/type"; echo 1 >"$PS/AC/online"
echo Battery >"$PS/BAT0/type"; echo Discharging >"$PS/BAT0/status"

conf=$tmp/coffer.conf
# write_conf INTERVAL [extra lines]
write_conf() {
	cat >"$conf" <<EOF
; written by test-daemon-schedule.sh
[store]
path = $ST

[repository]
url = $R
state_dir = $S
cache_dir = $C

[schedule]
interval = $1
power_supply_path = $PS
${2:-}
retry_min = 1s
retry_max = 4s
EOF
}
jobs_ok() { db_q "$S" "SELECT count(*) FROM job WHERE kind = 'backup' AND status = 'ok' AND trigger IN ('start', 'schedule')"; }
at_least() { [ "$(jobs_ok)" -ge "$1" ]; }

write_conf 1s
start_daemon d1 --config "$conf"
d1=$dpid

# --- several scheduled runs ---
wait_for 600 at_least 4 && ok || bad "four runs on a one-second interval (got $(jobs_ok)): $(tail -5 "$tmp/d1.log")"
[ "$(db_q "$S" "SELECT trigger FROM job WHERE kind = 'backup' ORDER BY id LIMIT 1")" = start ] && ok ||
	bad "the first run is the one due at start"
[ "$(db_q "$S" "SELECT count(*) FROM job WHERE status = 'failed'")" = 0 ] && ok || bad "no failed run"
kill -0 "$d1" 2>/dev/null && ok || bad "the daemon keeps running"
[ -S "$XDG_RUNTIME_DIR/coffer/$(cd "$XDG_RUNTIME_DIR/coffer" && ls | grep '\.sock$' | head -1)" ] && ok ||
	bad "control socket in \$XDG_RUNTIME_DIR/coffer"

# --- SIGHUP: interval 1h; then `now` is the only run ---
write_conf 1h
kill -HUP "$d1"
wait_for 300 logged d1 "configuration reloaded.*interval 1h" && ok || bad "reload logged: $(tail -3 "$tmp/d1.log")"
# a run that had already started when the signal came may still end: wait for idle
idle() { [ "$(db_q "$S" "SELECT count(*) FROM job WHERE status = 'running'")" = 0 ]; }
wait_for 300 idle || bad "the daemon becomes idle"
expect 0 "status --json after the reload" -- "$bd" status --json --config "$conf"
cp "$tmp/out" "$tmp/st1.json"
last=$(json_get "$tmp/st1.json" 'd["last_success"]["started_at"]')
next=$(json_get "$tmp/st1.json" 'd["next_run"]')
[ $((next - last)) -ge 3000 ] && [ $((next - last)) -le 3600 ] && ok ||
	bad "the next run follows the new interval: next $next, last start $last"
[ "$(json_get "$tmp/st1.json" 'd["daemon"]["pid"]')" = "$d1" ] && ok || bad "status names the daemon's pid"
before=$(db_q "$S" "SELECT count(*) FROM job WHERE kind = 'backup'")

expect 0 "backupd now through the daemon" -- "$bd" now --json --config "$conf"
cp "$tmp/out" "$tmp/now.json"
grep -q "the daemon (pid $d1) starts a backup now" "$tmp/err" && ok || bad "now says the daemon runs it: $(cat "$tmp/err")"
now_seq=$(json_get "$tmp/now.json" 'd["seq"]')
[ "$(db_q "$S" "SELECT count(*) FROM job WHERE kind = 'backup'")" = $((before + 1)) ] && ok ||
	bad "exactly one extra run"
[ "$(db_q "$S" "SELECT trigger || ' ' || status || ' ' || snapshot_sequence FROM job WHERE kind = 'backup' ORDER BY id DESC LIMIT 1")" = "now ok $now_seq" ] &&
	ok || bad "the extra run is recorded as 'now' with snapshot #$now_seq"
logged d1 "backup .* started (now)" && ok || bad "the daemon logs the run it was asked for"
expect 0 "status after now" -- "$bd" status --json --config "$conf"
[ "$(json_get "$tmp/out" 'd["last_success"]["trigger"]')" = now ] && ok || bad "status: last success is the 'now' run"
expect 0 "status for people" -- "$bd" status --config "$conf"
grep -q "^Daemon: *running, pid $d1" "$tmp/out" && grep -q "^Next run:" "$tmp/out" &&
	grep -q "^Last success:.*snapshot #$now_seq" "$tmp/out" && grep -q "^Repository size:" "$tmp/out" &&
	grep -q "^Protection: *local" "$tmp/out" && ok || bad "status text: $(cat "$tmp/out")"

# --- a broken configuration is refused; the old one stays in force ---
cp "$conf" "$tmp/good.conf"
write_conf 1h "jitter = a while"
kill -HUP "$d1"
wait_for 300 logged d1 "configuration not reloaded" && ok || bad "bad reload logged"
grep -q "$conf:13: \[schedule\] jitter:" "$tmp/d1.log" && ok || bad "the log names file, line and key: $(grep 'not reloaded' "$tmp/d1.log")"
expect 0 "status shows the reload error" -- "$bd" status --json --config "$tmp/good.conf"
json_get "$tmp/out" 'd["config_error"]' | grep -q "jitter" && ok || bad "config_error recorded"
kill -0 "$d1" 2>/dev/null && ok || bad "a bad reload does not stop the daemon"

# --- on battery: the schedule waits, `now` does not; mains power: runs resume ---
echo 0 >"$PS/AC/online"
write_conf 1s
kill -HUP "$d1"
wait_for 300 logged d1 "on battery power" && ok || bad "waiting on battery is logged: $(tail -3 "$tmp/d1.log")"
n_batt=$(jobs_ok)
expect 0 "now while on battery" -- "$bd" now --json --config "$conf"
echo 1 >"$PS/AC/online"
wait_for 900 at_least $((n_batt + 2)) && ok || bad "runs resume on mains power"

# --- a failing run: recorded with why, retried with backoff, counted, reset by a success ---
mv "$ST/chat.db" "$tmp/chat.db.away"
failures() { json_get "$tmp/fst.json" 'd["failures"]'; }
three_failures() { "$bd" status --json --config "$conf" >"$tmp/fst.json" 2>/dev/null && [ "$(failures)" -ge 3 ]; }
wait_for 600 three_failures && ok || bad "three failures in a row: $(tail -3 "$tmp/d1.log")"
json_get "$tmp/fst.json" 'd["last_failure"]["error"]' | grep -q "chat.db in $ST" && ok ||
	bad "the failure says why: $(json_get "$tmp/fst.json" 'd["last_failure"]')"
[ "$(json_get "$tmp/fst.json" 'd["last_failure"]["trigger"]')" = retry ] && ok || bad "failed runs are retried"
logged d1 "failed (3 in a row)" && ok || bad "failures are logged with their count"
mv "$tmp/chat.db.away" "$ST/chat.db"
recovered() { "$bd" status --json --config "$conf" >"$tmp/fst.json" 2>/dev/null && [ "$(failures)" = 0 ]; }
wait_for 600 recovered && ok || bad "a success resets the failures"
[ "$(db_q "$S" "SELECT trigger FROM job WHERE kind = 'backup' AND status = 'ok' AND id > (SELECT max(id) FROM job WHERE status = 'failed') ORDER BY id LIMIT 1")" = retry ] &&
	ok || bad "the first success after the failures is a retry"
# the backoff: after the k-th failure in a row the next attempt waits 1, 2, 4, 4... seconds
# (retry_min 1s doubling up to retry_max 4s): never earlier (whole seconds in the table)
python3 - "$S/state.db" >"$tmp/backoff" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
rows = db.execute("SELECT status, started_at, ended_at FROM job WHERE kind = 'backup'"
                  " AND id >= (SELECT min(id) FROM job WHERE status = 'failed') ORDER BY id").fetchall()
k = 0
for (st, _, end), (_, nxt, _) in zip(rows, rows[1:]):
    if st != "failed":
        break
    k += 1
    want = min(4, 1 << (k - 1))
    if nxt - end < want - 1:
        print("attempt after failure %d came %ds after it, want >= %ds" % (k, nxt - end, want))
print("checked %d" % k)
PY
grep -q "want" "$tmp/backoff" && bad "backoff: $(cat "$tmp/backoff")" || ok
[ "$(grep -o 'checked [0-9]*' "$tmp/backoff" | cut -d' ' -f2)" -ge 3 ] && ok || bad "backoff checked over 3 failures: $(cat "$tmp/backoff")"

# --- SIGTERM: clean stop ---
stop_daemon "$d1"
[ "$dstatus" = 0 ] && ok || bad "SIGTERM: exit $dstatus, want 0"
logged d1 "stopped" && ok || bad "the daemon logs that it stopped"
ls "$XDG_RUNTIME_DIR/coffer/"*.sock >/dev/null 2>&1 && bad "control socket removed" || ok
expect 0 "status once stopped" -- "$bd" status --config "$conf"
grep -q "^Daemon: *not running" "$tmp/out" && ok || bad "status: not running"

# every recorded snapshot is in the repository, and the repository is sound
n_ok=$(db_q "$S" "SELECT count(*) FROM job WHERE kind = 'backup' AND status = 'ok'")
expect 0 "restore list" -- "$rs" list --json --repo "$R" --state-dir "$S" --cache-dir "$C"
[ "$(json_get "$tmp/out" 'len(d)')" = "$n_ok" ] && ok || bad "one snapshot per successful run ($n_ok)"
expect 0 "restore check --read-data" -- "$rs" check --read-data --repo "$R" --state-dir "$S" --cache-dir "$C"
expect 0 "restore the latest" -- "$rs" snapshot latest --to "$tmp/out-store" --repo "$R" --state-dir "$S" --cache-dir "$C"
diff -r -x 'chat.db*' "$ST" "$tmp/out-store" >/dev/null && ok || bad "the latest snapshot restores the store"

# `now` without a daemon runs in-process and is recorded the same way
expect 0 "now without a daemon" -- "$bd" now --config "$conf"
grep -q "^Snapshot .* saved" "$tmp/out" && ok || bad "in-process summary"
[ "$(db_q "$S" "SELECT trigger || ' ' || status FROM job WHERE kind = 'backup' ORDER BY id DESC LIMIT 1")" = "now ok" ] &&
	ok || bad "in-process run recorded"
finish
