#!/usr/bin/env bash
# A second device joins (request, approve after comparing fingerprints, keys), backs up,
# is lost: `device remove` starts a new epoch wrapped only to the remaining device and the
# recovery methods. The removed device's keychain (a copy, as a thief would have it)
# opens no object of any snapshot made afterwards, though it opens the older ones; it can
# no longer log in to the key vault; the remaining device keeps backing up and restoring.
# Usage: test-modes-device-remove.sh KEYVAULTD KEYVAULT BACKUPD RESTORE PROBE
source "$(dirname "$0")/modes-common.sh"

start_kvd "$tmp/kvd" || exit 1
genstore "$tmp/store" --messages 1500 --attachments 8 --scale 0.1 || { bad genstore; finish; exit; }
A=(--state-dir "$tmp/a" --cache-dir "$tmp/ca")
B=(--state-dir "$tmp/b" --cache-dir "$tmp/cb")
account alice "$tmp/a" || { finish; exit; }
backup "$tmp/store" "$tmp/repo" "$tmp/a" "$tmp/ca" || { finish; exit; }
rid=$(repo_id "$tmp/a")

# device B asks to join; A approves only with the right fingerprint
expect 0 "device add (request)" -- "$kv" device add --server "$url" --account alice --password-file "$tmp/pw-alice" "${B[@]}"
bid=$(sed -n 's/^Asked to join account alice as device #\([0-9]*\)\..*/\1/p' "$tmp/out")
bfpr=$(sed -n "s/.*--fingerprint '\(.*\)'/\1/p" "$tmp/out")
[ -n "$bid" ] && [ -n "$bfpr" ] && ok || bad "request printed id and fingerprint: $(cat "$tmp/out")"
expect 1 "B is not approved yet" -- "$kv" device add --repo "$tmp/repo" "${B[@]}"
expect 1 "approve with a wrong fingerprint" -- "$kv" device approve "$bid" --fingerprint "11111 22222 33333 44444 55555 66666" "${A[@]}"
has "$tmp/err" "nothing was approved" "wrong fingerprint refused"
expect 0 "approve" -- "$kv" device approve "$bid" --fingerprint "$bfpr" "${A[@]}"
has "$tmp/out" "device $bfpr is trusted" "approval gave the keys"
expect 0 "B takes the keys" -- "$kv" device add --repo "$tmp/repo" "${B[@]}"
has "$tmp/out" "now holds the keys" "B holds the keys"
genstore --mutate "$tmp/store"
backup "$tmp/store" "$tmp/repo" "$tmp/b" "$tmp/cb" || { finish; exit; }
expect 0 "A sees B's snapshot" -- "$rs" list --json --repo "$tmp/repo" "${A[@]}"
[ "$(json_get "$tmp/out" 'len(d)')" = 2 ] && ok || bad "two snapshots"

# B is stolen: the thief has a copy of its state
cp -a "$tmp/b" "$tmp/stolen"
expect 0 "device list" -- "$kv" device list "${A[@]}"
has "$tmp/out" "#$bid +active" "B listed as active"
expect 0 "remove B" -- "$kv" device remove "$bid" "${A[@]}"
has "$tmp/out" "device $bfpr removed. New key epoch 2 is sealed only to the 1 remaining device" "says what changed"
expect 0 "device list after" -- "$kv" device list "${A[@]}"
has "$tmp/out" "#$bid +removed" "B listed as removed"
genstore --mutate "$tmp/store"
backup "$tmp/store" "$tmp/repo" "$tmp/a" "$tmp/ca" || { finish; exit; }
[ "$(seqs "$tmp/repo" "$tmp/a" "$tmp/ca")" = "1 2 3" ] && ok || bad "three snapshots"

"$probe" keys "$tmp/stolen" "$rid" >"$tmp/stolen.keys" && ok || bad "the stolen keychain's keys"
[ "$(cut -d' ' -f1 "$tmp/stolen.keys" | tr '\n' ' ')" = "1 " ] && ok || bad "the stolen keychain holds epoch 1 only: $(cat "$tmp/stolen.keys")"
got=$(decrypted "$tmp/a" "$tmp/ca" "$tmp/repo" "$tmp/stolen.keys" 3)
[[ $got =~ ^0/([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -gt 10 ] && ok || bad "the removed device opens no object of #3 ($got)"
got=$(decrypted "$tmp/a" "$tmp/ca" "$tmp/repo" "$tmp/stolen.keys" 1 2)
[[ $got =~ ^([0-9]+)/([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] && ok || bad "control: it opens #1-#2 ($got)"
# and through the program: the stolen state restores the old snapshots, never the new one
S=(--repo "$tmp/repo" --state-dir "$tmp/stolen" --cache-dir "$tmp/cs")
expect 0 "the thief lists" -- "$rs" list --json "${S[@]}"
[ "$(json_get "$tmp/out" '[s["sequence"] for s in d]')" = "[1, 2]" ] && ok || bad "the thief sees only #1-#2: $(cat "$tmp/out")"
has "$tmp/err" "this device was only given epoch 1" "the removed device is told"
expect 1 "the thief cannot restore #3" -- "$rs" snapshot 3 --to "$tmp/thief3" "${S[@]}"
[ ! -e "$tmp/thief3" ] && ok || bad "nothing restored by the thief"
expect 1 "the removed device cannot log in" -- "$kv" audit --state-dir "$tmp/stolen"

# the remaining device restores the newest snapshot
expect 0 "A restores #3" -- "$rs" snapshot latest --to "$tmp/r3" --repo "$tmp/repo" "${A[@]}"
check_same "$tmp/store" "$tmp/r3" "restore after the removal"
expect 0 "audit shows the changes" -- "$kv" audit --state-dir "$tmp/a"
has "$tmp/out" "device-remove" "audit: device-remove"
has "$tmp/out" "device-approve" "audit: device-approve"
finish
