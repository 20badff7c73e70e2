#!/usr/bin/env bash
# Switching protection modes (the trust model's last row):
#  - a copy of keyvaultd's database and escrow key kept from before the switch to advanced
#    decrypts no object of any snapshot made after it (and, after --reencrypt-history, of
#    none at all), while it does decrypt the snapshots from before (the probe can fail);
#  - after `mode advanced` keyvaultd holds no escrowed key and no key material for the
#    account but the contacts' server share (scanned, rows and raw file bytes);
#  - `status` says which snapshots the operator could still read (--keep-history);
#  - after `mode standard` the escrowed key opens only the epoch it started.
# Usage: test-modes-switch.sh KEYVAULTD KEYVAULT BACKUPD RESTORE PROBE
source "$(dirname "$0")/modes-common.sh"

start_kvd "$tmp/kvd" || exit 1
genstore "$tmp/store" --messages 1500 --attachments 8 --scale 0.1 || { bad genstore; finish; exit; }
A=(--state-dir "$tmp/a" --cache-dir "$tmp/ca")
R=(--repo "$tmp/repo" "${A[@]}")
account alice "$tmp/a" || { finish; exit; }
for who in bob carol; do account "$who" "$tmp/$who" || { finish; exit; }; done
backup "$tmp/store" "$tmp/repo" "$tmp/a" "$tmp/ca" || { finish; exit; }
genstore --mutate "$tmp/store"
backup "$tmp/store" "$tmp/repo" "$tmp/a" "$tmp/ca" || { finish; exit; }
rid=$(repo_id "$tmp/a")
[ ${#rid} = 64 ] && ok || bad "repository id: '$rid'"

expect 0 "status: standard" -- "$kv" status --json "${R[@]}"
[ "$(json_get "$tmp/out" 'd["protection"][0]["mode"]')" = standard ] && ok || bad "new repository in standard mode"

# advanced needs a recovery method first
expect 1 "advanced refused without a recovery method" -- "$kv" mode advanced --keep-history "${R[@]}"
has "$tmp/err" "needs a recovery method" "refusal names what is missing"
expect 0 "recovery key" -- "$kv" recovery-key create --json "${R[@]}"
expect 0 "contacts" -- "$kv" contact add bob carol --threshold 2 "${R[@]}"
has "$tmp/out" "2 of 2 \(bob, carol\)" "contacts set"

# the operator keeps a copy of its database and escrow key
copy_kvd "$tmp/kvd" "$tmp/copy1" && ok || bad "copy of the database"

expect 2 "advanced asks what to do with the readable snapshots" -- "$kv" mode advanced "${R[@]}"
has "$tmp/err" "reencrypt-history, --forget-history or --keep-history" "the choice is named"
expect 0 "mode advanced --keep-history" -- "$kv" mode advanced --keep-history "${R[@]}"
has "$tmp/out" "standard -> advanced" "says what changed"
has "$tmp/out" "deleted its copy of the key of epoch 1 \(confirmed by its answer and by audit entry #[0-9]+, escrow-delete\)" \
	"deletion confirmed from the answer and the audit log"
has "$tmp/out" "Kept 2 earlier snapshots" "kept snapshots named"
backup "$tmp/store" "$tmp/repo" "$tmp/a" "$tmp/ca" || { finish; exit; }
genstore --mutate "$tmp/store"
backup "$tmp/store" "$tmp/repo" "$tmp/a" "$tmp/ca" || { finish; exit; }
[ "$(seqs "$tmp/repo" "$tmp/a" "$tmp/ca")" = "1 2 3 4" ] && ok || bad "four snapshots"

expect 0 "status after the switch" -- "$kv" status "${R[@]}"
has "$tmp/out" "#1-#2 \(epoch 1\): .*key vault operator" "status: the operator could read #1-#2"
has "$tmp/out" "#3-#4 \(epoch 2\): only your trusted devices and your recovery methods" "status: #3-#4 are private"
has "$tmp/out" "its operator could still read them" "status warns about kept snapshots"

# the kept copy, served again, releases the old key; it opens only the old snapshots
start_kvd "$tmp/copy1" || { bad "the copy starts"; finish; exit; }
url1=$url
"$probe" escrow-get "$url1" alice "$tmp/pw-alice" "$rid" >"$tmp/k1" 2>"$tmp/k1.err" && ok || bad "the copy releases the old key: $(cat "$tmp/k1.err")"
[ "$(cut -d' ' -f1 "$tmp/k1")" = 1 ] && ok || bad "the copy held epoch 1: $(cat "$tmp/k1")"
got=$(decrypted "$tmp/a" "$tmp/ca" "$tmp/repo" "$tmp/k1" 1 2)
[[ $got =~ ^([0-9]+)/([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] && [ "${BASH_REMATCH[2]}" -gt 10 ] \
	&& ok || bad "control: the old key opens every object of #1-#2 ($got)"
got=$(decrypted "$tmp/a" "$tmp/ca" "$tmp/repo" "$tmp/k1" 3 4)
[[ $got =~ ^0/([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -gt 10 ] && ok || bad "the old key opens no object of #3-#4 ($got)"
stop_kvd "$tmp/copy1"
url=$(cat "$tmp/kvd/port"); url="http://127.0.0.1:$url"

# the live key vault holds nothing for this repository but the contacts' server share
expect 1 "no escrow any more" -- "$probe" escrow-get "$url" alice "$tmp/pw-alice" "$rid"
"$probe" keys "$tmp/a" "$rid" >"$tmp/keys" && ok || bad "device keys"
python3 - "$tmp/kvd/kvd.db" "$tmp/keys" "$tmp/copy1/kvd.db" >"$tmp/scan" 2>&1 <<'EOF'
import base64, sqlite3, sys, os
db, keyfile, copy = sys.argv[1:4]
keys = [bytes.fromhex(l.split()[1]) for l in open(keyfile) if l.strip()]
forms = []
for k in keys:
    forms += [k, k.hex().encode(), base64.urlsafe_b64encode(k).rstrip(b"=")]
c = sqlite3.connect(db)
bad = 0
for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type='table'"):
    for row in c.execute('SELECT * FROM "%s"' % t):
        for v in row:
            b = v if isinstance(v, bytes) else str(v).encode()
            if any(f in b for f in forms):
                print("key material in table", t); bad += 1
live = c.execute("SELECT count(*) FROM escrow WHERE sealed IS NOT NULL").fetchone()[0]
if live:
    print("live escrow records:", live); bad += 1
shares = c.execute("SELECT count(*) FROM contact_share WHERE share IS NOT NULL").fetchone()[0]
if shares != 1:
    print("expected the one contact share, found", shares); bad += 1
old = sqlite3.connect(copy).execute("SELECT sealed FROM escrow WHERE sealed IS NOT NULL").fetchall()
if not old:
    print("the copy held no sealed escrow record"); bad += 1
raw = b"".join(open(p, "rb").read() for p in (db, db + "-wal") if os.path.exists(p))
for (s,) in old:
    if s in raw:
        print("the deleted sealed record is still in the database file"); bad += 1
for f in forms:
    if f in raw:
        print("a key is in the database file"); bad += 1
sys.exit(1 if bad else 0)
EOF
[ $? = 0 ] && ok || bad "keyvaultd database scan: $(cat "$tmp/scan")"

# back to standard: a new epoch, and the escrowed key opens that epoch only
expect 0 "mode standard" -- "$kv" mode standard "${R[@]}"
has "$tmp/out" "advanced -> standard protection. New key epoch 3" "says what changed"
backup "$tmp/store" "$tmp/repo" "$tmp/a" "$tmp/ca" || { finish; exit; }
"$probe" escrow-get "$url" alice "$tmp/pw-alice" "$rid" >"$tmp/k3" 2>"$tmp/k3.err" && ok || bad "escrow after mode standard: $(cat "$tmp/k3.err")"
[ "$(cut -d' ' -f1 "$tmp/k3")" = 3 ] && ok || bad "the escrowed key is epoch 3's: $(cat "$tmp/k3")"
got=$(decrypted "$tmp/a" "$tmp/ca" "$tmp/repo" "$tmp/k3" 5)
[[ $got =~ ^([0-9]+)/([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] && [ "${BASH_REMATCH[2]}" -gt 10 ] \
	&& ok || bad "the escrowed key opens snapshot #5 ($got)"
got=$(decrypted "$tmp/a" "$tmp/ca" "$tmp/repo" "$tmp/k3" 1 2 3 4)
[[ $got =~ ^0/([0-9]+)$ ]] && ok || bad "the escrowed key opens nothing of the earlier epochs ($got)"

# --reencrypt-history: a copy from before the second switch opens nothing at all
copy_kvd "$tmp/kvd" "$tmp/copy2" && ok || bad "second copy"
expect 0 "mode advanced --reencrypt-history" -- "$kv" mode advanced --reencrypt-history "${R[@]}"
has "$tmp/out" "Re-encrypted 3 earlier snapshots" "re-encryption reported"
backup "$tmp/store" "$tmp/repo" "$tmp/a" "$tmp/ca" || { finish; exit; }
all=$(seqs "$tmp/repo" "$tmp/a" "$tmp/ca")
[ "$(echo "$all" | wc -w)" = 6 ] && ok || bad "six snapshots after re-encryption: '$all'"
start_kvd "$tmp/copy2" || { bad "the second copy starts"; finish; exit; }
"$probe" escrow-get "$url" alice "$tmp/pw-alice" "$rid" >"$tmp/k3b" 2>"$tmp/k3b.err" && ok || bad "the second copy releases epoch 3's key: $(cat "$tmp/k3b.err")"
cat "$tmp/k1" "$tmp/k3b" >"$tmp/kold"
# shellcheck disable=SC2086
got=$(decrypted "$tmp/a" "$tmp/ca" "$tmp/repo" "$tmp/kold" $all)
[[ $got =~ ^0/([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -gt 10 ] && ok || bad "after --reencrypt-history the old keys open no object of any snapshot ($got)"
"$probe" index-epochs "$tmp/repo" >"$tmp/ie"
grep -Eqx '1|3' "$tmp/ie" && bad "index objects of escrowed epochs remain: $(sort -u "$tmp/ie" | tr '\n' ' ')" || ok
expect 0 "status: nothing readable by the operator" -- "$kv" status --json "${R[@]}"
[ "$(json_get "$tmp/out" 'd["protection"][0]["operator_readable_kept"]')" = 0 ] && ok || bad "status: no kept readable snapshots"
mkdir "$tmp/out-restore"
expect 0 "the re-encrypted snapshots restore" -- "$rs" snapshot latest --to "$tmp/out-restore/s" --repo "$tmp/repo" "${A[@]}"
check_same "$tmp/store" "$tmp/out-restore/s" "restore after re-encryption"
first=$(echo "$all" | cut -d' ' -f1)
expect 0 "the oldest re-encrypted snapshot restores" -- "$rs" snapshot "$first" --to "$tmp/out-restore/o" --repo "$tmp/repo" "${A[@]}"
[ -f "$tmp/out-restore/o/chat.db" ] && ok || bad "oldest snapshot restored"

finish
