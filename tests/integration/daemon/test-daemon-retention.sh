#!/usr/bin/env bash
# Retention: snapshots dated over two years (real backups made by timed-backup, which
# only changes the time stamped on them), a policy in the configuration, and:
#   - `backupd retention --dry-run` shows exactly what a reference implementation of the
#     rules (here, in Python, on calendar dates) expects, with the reasons, changing nothing;
#   - `backupd retention` forgets exactly the others; prune frees the space only they held
#     (data/ shrinks by what prune reports deleted); `restore check --read-data` passes and
#     kept snapshots restore byte for byte;
#   - after a successful backup (`now` in-process, then `now` through the daemon) the
#     policy is applied again to the new set.
# Usage: test-daemon-retention.sh BACKUPD KEYVAULT RESTORE TIMED-BACKUP
source "$(dirname "$0")/daemon-common.sh"
tb=${4:?usage: $0 BACKUPD KEYVAULT RESTORE TIMED-BACKUP}

ST=$tmp/store S=$tmp/state C=$tmp/cache R=$tmp/repo
genstore "$ST" --messages 300 --attachments 5 --scale 0.05 || { bad "genstore"; finish; exit; }
"$kv" init --local --state-dir "$S" >/dev/null || { bad "keyvault init"; finish; exit; }
RA=(--repo "$R" --state-dir "$S" --cache-dir "$C")
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
[retention]
keep_last = 2
keep_daily = 4
keep_weekly = 3
keep_monthly = 3
keep_yearly = 2
keep_within = 30h
prune_grace = 0
EOF

# expected STATE: the reference decision over the snapshots in list.json, as "seq:reasons" lines
expected() {
	python3 - "$1" <<'PY'
import datetime, json, sys
snaps = json.load(open(sys.argv[1]))
rules = [("last", 2), ("daily", 4), ("weekly", 3), ("monthly", 3), ("yearly", 2)]
within = 30 * 3600
def period(t, rule):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return {"daily": d.date(), "weekly": d.isocalendar()[:2], "monthly": (d.year, d.month),
            "yearly": d.year}[rule]
order = sorted(snaps, key=lambda s: (s["time"], s["sequence"]), reverse=True)
why = {s["sequence"]: [] for s in snaps}
why[order[0]["sequence"]].append("newest")
for rule, n in rules:
    seen = []
    for i, s in enumerate(order):
        if rule == "last":
            if i < n:
                why[s["sequence"]].append("last")
            continue
        p = period(s["time"], rule)
        if p not in seen and len(seen) < n:
            seen.append(p)
            why[s["sequence"]].append(rule)
for s in order:
    if order[0]["time"] - s["time"] <= within:
        why[s["sequence"]].append("within")
for seq in sorted(why):
    print("%d:%s" % (seq, ", ".join(why[seq]) or "forget"))
PY
}
# decisions JSON: backupd's decisions as the same lines
decisions() {
	python3 -c 'import json,sys
for s in sorted(json.load(open(sys.argv[1]))["snapshots"], key=lambda s: s["sequence"]):
    print("%d:%s" % (s["sequence"], s["reasons"] if s["keep"] else "forget"))' "$1"
}
listed() { "$rs" list --json "${RA[@]}" >"$tmp/list.json" 2>"$tmp/list.err"; }
kept_of() { grep -v ':forget$' "$1" | cut -d: -f1 | tr '\n' ' '; }
seqs_of_list() { json_get "$tmp/list.json" '" ".join(str(s["sequence"]) for s in d) + " "'; }
data_bytes() { find "$R/data" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }

# --- 22 snapshots, oldest first, each with a file of its own (removed before the next) ---
T=$(date +%s)
offsets_h="19200 9600 4800 3120 2400 1800 1440 1080 720 552 384 360 216 144 100 76 72 30 26 20 3 1"
i=0
for h in $offsets_h; do
	i=$((i + 1))
	rm -f "$ST"/Attachments/unique-*.bin
	head -c 1572864 /dev/urandom >"$ST/Attachments/unique-$i.bin"
	if [ $((i % 5)) = 0 ]; then genstore --mutate "$ST" || bad "genstore --mutate"; fi # new messages now and then
	"$tb" --time $((T - h * 3600)) --store "$ST" --pack-size 1 "${RA[@]}" >"$tmp/tb.out" 2>"$tmp/tb.err" ||
		{ bad "timed backup $i: $(cat "$tmp/tb.err")"; finish; exit; }
	[ "$(cat "$tmp/tb.out")" = "$i" ] || bad "timed backup $i got sequence $(cat "$tmp/tb.out")"
	rm -rf "$tmp/copy-$i" && cp -a "$ST" "$tmp/copy-$i"
done
listed || bad "restore list"
[ "$(json_get "$tmp/list.json" 'len(d)')" = 22 ] && ok || bad "22 snapshots made"
[ "$(json_get "$tmp/list.json" 'd[0]["time"]')" = $((T - 19200 * 3600)) ] && ok ||
	bad "snapshots carry the generated dates"
expected "$tmp/list.json" >"$tmp/want1"
[ "$(grep -c ':forget$' "$tmp/want1")" -ge 5 ] && ok || bad "the policy forgets several of them"

# --- dry run: the decisions and their reasons, nothing changed ---
find "$R" -type f | sort >"$tmp/files.before"
expect 0 "retention --dry-run --json" -- "$bd" retention --dry-run --json --config "$conf"
cp "$tmp/out" "$tmp/dry.json"
decisions "$tmp/dry.json" >"$tmp/got1"
diff "$tmp/want1" "$tmp/got1" >"$tmp/diff1" && ok || bad "dry run decisions differ from the reference: $(cat "$tmp/diff1")"
find "$R" -type f | sort | cmp -s - "$tmp/files.before" && ok || bad "the dry run changed the repository"
expect 0 "retention --dry-run for people" -- "$bd" retention --dry-run --config "$conf"
grep -q "would be forgotten" "$tmp/out" && grep -q " forget .*no rule keeps it" "$tmp/out" &&
	grep -q " keep .*yearly" "$tmp/out" && ok || bad "dry run text: $(head -30 "$tmp/out")"

# --- apply: forget exactly the others, prune frees their space ---
before=$(data_bytes)
expect 0 "retention" -- "$bd" retention --json --config "$conf"
cp "$tmp/out" "$tmp/apply.json"
decisions "$tmp/apply.json" | cmp -s - "$tmp/want1" && ok || bad "applied decisions differ from the dry run"
[ "$(json_get "$tmp/apply.json" 'd["forgotten"]')" = "$(grep -c ':forget$' "$tmp/want1")" ] && ok || bad "forgotten count"
deleted=$(json_get "$tmp/apply.json" 'd["prune"]["bytes_deleted"]')
after=$(data_bytes)
[ "$deleted" -gt 0 ] && ok || bad "prune deleted packs: $(json_get "$tmp/apply.json" 'd["prune"]')"
[ $((before - after)) = "$deleted" ] && ok || bad "data/ shrank by $((before - after)), prune reports $deleted"
listed || bad "restore list after retention"
[ "$(seqs_of_list)" = "$(kept_of "$tmp/want1")" ] && ok || bad "kept: $(seqs_of_list), want $(kept_of "$tmp/want1")"
expect 0 "restore check --read-data after prune" -- "$rs" check --read-data "${RA[@]}"
oldest=$(json_get "$tmp/list.json" 'd[0]["sequence"]')
for q in "$oldest" 22; do
	expect 0 "restore #$q" -- "$rs" snapshot "#$q" --to "$tmp/r-$q" "${RA[@]}"
	diff -r -x 'chat.db*' "$tmp/copy-$q" "$tmp/r-$q" >/dev/null &&
		python3 "$bench/dbsame.py" "$tmp/copy-$q/chat.db" "$tmp/r-$q/chat.db" >/dev/null 2>&1 &&
		ok || bad "snapshot #$q restores the store as it was"
done
expect 0 "nothing more to forget" -- "$bd" retention --json --config "$conf"
[ "$(json_get "$tmp/out" 'd["forgotten"]')" = 0 ] && ok || bad "a second run forgets nothing"

# --- after a successful backup: `now` in this process, then through the daemon ---
rm -f "$ST"/Attachments/unique-*.bin
expect 0 "now applies the policy after the backup" -- "$bd" now --json --config "$conf"
[ "$(json_get "$tmp/out" 'd["retention"]["dry_run"]')" = False ] && ok || bad "now's summary has the retention decisions"
listed || bad "restore list after now"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); json.dump(d["retention"], open(sys.argv[2], "w"))' "$tmp/out" "$tmp/now-ret.json"
# the reference over what existed when the policy ran: the kept set plus the new snapshot
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); json.dump([{"sequence": s["sequence"], "time": s["time"]} for s in d["snapshots"]], open(sys.argv[2], "w"))' "$tmp/now-ret.json" "$tmp/set2.json"
expected "$tmp/set2.json" >"$tmp/want2"
decisions "$tmp/now-ret.json" | cmp -s - "$tmp/want2" && ok || bad "decisions after now differ from the reference"
[ "$(seqs_of_list)" = "$(kept_of "$tmp/want2")" ] && ok || bad "after now kept $(seqs_of_list), want $(kept_of "$tmp/want2")"
expect 0 "status shows the retention run" -- "$bd" status --config "$conf"
grep -q "^Retention:.* kept, .* forgotten" "$tmp/out" && ok || bad "status retention line: $(cat "$tmp/out")"

start_daemon d1 --config "$conf"
d1=$dpid
wait_for 300 logged d1 "serving" || bad "the daemon starts"
genstore --mutate "$ST" || bad "genstore --mutate"
expect 0 "now through the daemon" -- "$bd" now --json --config "$conf"
grep -q "the daemon (pid $d1)" "$tmp/err" && ok || bad "the daemon ran it: $(cat "$tmp/err")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); json.dump([{"sequence": s["sequence"], "time": s["time"]} for s in d["retention"]["snapshots"]], open(sys.argv[2], "w"))' "$tmp/out" "$tmp/set3.json" ||
	bad "the daemon's summary has the retention decisions"
expected "$tmp/set3.json" >"$tmp/want3"
listed || bad "restore list after the daemon's run"
[ "$(seqs_of_list)" = "$(kept_of "$tmp/want3")" ] && ok || bad "after the daemon's run kept $(seqs_of_list), want $(kept_of "$tmp/want3")"
[ "$(db_q "$S" "SELECT status FROM job WHERE kind = 'retention' ORDER BY id DESC LIMIT 1")" = ok ] && ok ||
	bad "the daemon recorded its retention run"
stop_daemon "$d1"
[ "$dstatus" = 0 ] && ok || bad "daemon exit $dstatus"
expect 0 "final restore check --read-data" -- "$rs" check --read-data "${RA[@]}"
finish
