#!/usr/bin/env bash
# Password-only recovery across an advanced-protection era kept with --keep-history:
# standard -> backup #1 -> advanced --keep-history (with a recovery key) -> backup #2 ->
# standard -> backup #3. A new device with the account password only holds the escrowed
# epoch (that of #3: #1's lost its escrow at the switch to advanced), not the advanced one
# of #2. It recovers, restores #3 verified, and `restore list` names #1 and #2 as present
# but unreadable, and which recovery method opens them (so do `keyvault status` and the
# recover command). The chain stays checked: the newest snapshot deleted is reported as a
# rollback behind the witness; the unreadable snapshot deleted is a gap (for a new device
# and for the recovered one), and a manifest by an unknown signer does not fill it; prune
# deletes nothing on the recovered device; the recovery key still opens all three; the
# recovered device continues the chain with #4. Second repository: no snapshot since the
# return to standard, so the password opens none: keys recovered, the note printed,
# nothing restored, no backup (its sequence would be a guess), the witness not a rollback.
# Usage: test-modes-mixed-history.sh KEYVAULTD KEYVAULT BACKUPD RESTORE PROBE
source "$(dirname "$0")/modes-common.sh"

start_kvd "$tmp/kvd" || exit 1
genstore "$tmp/store" --messages 1200 --attachments 6 --scale 0.1 || { bad genstore; finish; exit; }
account alice "$tmp/a" || { finish; exit; }
A=(--repo "$tmp/repo" --state-dir "$tmp/a" --cache-dir "$tmp/ca")

# snap N: a backup and the witness of it (what backupd reports after each snapshot)
snap() {
	backup "$tmp/store" "$tmp/repo" "$tmp/a" "$tmp/ca" || return 1
	"$probe" witness-post "$tmp/a" "$tmp/ca" "$tmp/repo" >/dev/null 2>"$tmp/wp.err" ||
		{ bad "witness after backup $1: $(cat "$tmp/wp.err")"; return 1; }
	cp -a "$tmp/store" "$tmp/expect-$1"
	genstore --mutate "$tmp/store"
}
snap 1 || { finish; exit; }
"$kv" recovery-key create --json "${A[@]}" >"$tmp/rk.json" 2>"$tmp/rk.err" || { bad "rk create: $(cat "$tmp/rk.err")"; finish; exit; }
json_get "$tmp/rk.json" 'd["recovery_key"]' >"$tmp/rk"
expect 0 "mode advanced --keep-history" -- "$kv" mode advanced --keep-history "${A[@]}"
snap 2 || { finish; exit; }
expect 0 "mode standard" -- "$kv" mode standard "${A[@]}"
snap 3 || { finish; exit; }
expect 0 "list on the old device" -- "$rs" list --json "${A[@]}"
[ "$(json_get "$tmp/out" '" ".join(str(s["sequence"]) for s in d)')" = "1 2 3" ] && ok || bad "three snapshots: $(cat "$tmp/out")"
id() { json_get "$tmp/out" "[s['id'] for s in d if s['sequence'] == $1][0]"; }
id1=$(id 1); id2=$(id 2); id3=$(id 3)
epoch2=$(json_get "$tmp/out" "[s['epoch'] for s in d if s['sequence'] == 2][0]")

N=(--repo "$tmp/repo" --server "$url" --account alice --password-file "$tmp/pw-alice")
# new DEVICE: restore recover with the password only
new() { "$rs" recover "${N[@]}" --state-dir "$tmp/$1" --cache-dir "$tmp/c$1" --to "$tmp/r-$1"; }

# the row: password only, the advanced era kept in the middle
expect 0 "password-only recovery across the advanced era" -- new n1
check_same "$tmp/expect-3" "$tmp/r-n1" "the newest snapshot (#3) restored and verified"
has "$tmp/out" "Recovered with password" "recovered through the account password"
has "$tmp/out" "2 snapshots \(#1-#2\) are in the repository but this device cannot read them" "recover says what it cannot read"
expect 0 "restore list on the recovered device" -- "$rs" list --repo "$tmp/repo" --state-dir "$tmp/n1" --cache-dir "$tmp/cn1"
has "$tmp/out" "^ +3 +${id3:0:8}" "#3 listed"
# the escrow holds only the epoch `mode standard` started: #1's epoch lost its escrow at
# the switch to advanced protection, so #1 is unreadable here as well as #2
for n in 1 2; do
	v=id$n
	if grep -Eq "^ +$n +${!v:0:8}" "$tmp/out"; then bad "#$n listed as readable: $(cat "$tmp/out")"; else ok; fi
done
has "$tmp/out" "2 snapshots \(#1-#2\) are in the repository but this device cannot read them" "#1 and #2 named as unreadable"
has "$tmp/out" "key epochs 1, $epoch2," "the unreadable epochs are named"
has "$tmp/out" "Recovering with the recovery key would open them" "which recovery method opens them"
expect 0 "list --json on the recovered device" -- "$rs" list --json --repo "$tmp/repo" --state-dir "$tmp/n1" --cache-dir "$tmp/cn1"
[ "$(json_get "$tmp/out" '" ".join(str(s["sequence"]) for s in d)')" = "3" ] && ok || bad "json lists the readable one: $(cat "$tmp/out")"
has "$tmp/err" "note: 2 snapshots" "json: the note goes to stderr"
expect 0 "keyvault status on the recovered device" -- "$kv" status --repo "$tmp/repo" --state-dir "$tmp/n1" --cache-dir "$tmp/cn1"
has "$tmp/out" "#1-#2\) are in the repository but this device cannot read them" "status says which snapshots it cannot read"
expect 1 "#2 cannot be restored by this device" -- "$rs" snapshot 2 --to "$tmp/r-n1-2" --repo "$tmp/repo" --state-dir "$tmp/n1" --cache-dir "$tmp/cn1"
[ ! -e "$tmp/r-n1-2/chat.db" ] && ok || bad "#2 restored without its key"

# prune on this device would take #1's and #2's data for unused: it deletes nothing
"$rs" prune --repo "$tmp/repo" --state-dir "$tmp/n1" --cache-dir "$tmp/cn1" >"$tmp/out" 2>"$tmp/err" </dev/null
[ $? -ne 0 ] && ok || bad "prune on a device that cannot read every snapshot is refused"
has "$tmp/err" "prune deletes nothing" "prune says why"

# rollback: the newest snapshot deleted from storage
mkdir "$tmp/hidden"
mv "$tmp/repo/snapshots/$id3" "$tmp/hidden/"
expect 1 "the newest deleted: a new device is told" -- new n2
has "$tmp/err" "behind the key vault's freshness witness: a trusted device made snapshot #3" "rollback message"
[ ! -e "$tmp/r-n2" ] && ok || bad "nothing restored from a rolled-back repository"
mv "$tmp/hidden/$id3" "$tmp/repo/snapshots/"

# a gap: the unreadable snapshot deleted from storage, and in its place a manifest signed
# by a device no roster names, claiming #2's epoch (made first: the probe needs a chain)
forged=$("$probe" forge-manifest "$tmp/n1" "$tmp/cn1" "$tmp/repo" "$epoch2" 2 2>"$tmp/forge.err") || bad "forge: $(cat "$tmp/forge.err")"
mv "$tmp/repo/snapshots/$id2" "$tmp/hidden/"
expect 1 "the unreadable snapshot deleted: a gap" -- new n3
has "$tmp/err" "chain is broken at sequence 2" "the gap is named"
[ ! -e "$tmp/r-n3" ] && ok || bad "nothing restored from a repository with a gap"
expect 1 "the recovered device sees the gap too" -- "$rs" list --repo "$tmp/repo" --state-dir "$tmp/n1" --cache-dir "$tmp/cn1"
has "$tmp/err" "chain is broken at sequence 2" "the recovered device names the gap"
has "$tmp/err" "snapshots/$forged refused: signed by an unknown or untrusted key" "the unknown signer's manifest stands in for nothing"
rm -f "$tmp/repo/snapshots/$forged"
mv "$tmp/hidden/$id2" "$tmp/repo/snapshots/"

# the recovery key opens every epoch, #1 and #2 included
expect 0 "recovery key recovery" -- "$rs" recover --repo "$tmp/repo" --recovery-key-file "$tmp/rk" --state-dir "$tmp/n4" --cache-dir "$tmp/cn4" --to "$tmp/r-n4"
check_same "$tmp/expect-3" "$tmp/r-n4" "recovery key: #3 restored"
expect 0 "recovery key: #2 restores" -- "$rs" snapshot 2 --to "$tmp/r-n4-2" --repo "$tmp/repo" --state-dir "$tmp/n4" --cache-dir "$tmp/cn4"
check_same "$tmp/expect-2" "$tmp/r-n4-2" "#2 restored with the recovery key"
expect 0 "recovery key: #1 restores" -- "$rs" snapshot 1 --to "$tmp/r-n4-1" --repo "$tmp/repo" --state-dir "$tmp/n4" --cache-dir "$tmp/cn4"
check_same "$tmp/expect-1" "$tmp/r-n4-1" "#1 restored with the recovery key"
# the password-recovered device continues the chain after #3
backup "$tmp/store" "$tmp/repo" "$tmp/n1" "$tmp/cn1" || { finish; exit; }
[ "$(seqs "$tmp/repo" "$tmp/n4" "$tmp/cn4")" = "1 2 3 4" ] && ok || bad "#4 follows #3: $(cat "$tmp/list.json")"
expect 0 "recovery key device: list" -- "$rs" list --repo "$tmp/repo" --state-dir "$tmp/n4" --cache-dir "$tmp/cn4"
if grep -q "cannot read" "$tmp/out"; then bad "the recovery key device reads everything: $(cat "$tmp/out")"; else ok; fi

# no snapshot since the return to standard: the password opens none of them. The keys are
# recovered and the note printed, nothing is restored, and no backup is made after
# snapshots whose sequence the device cannot know (it would fork the chain)
account bob "$tmp/b" || { finish; exit; }
B2=(--repo "$tmp/repo2" --state-dir "$tmp/b" --cache-dir "$tmp/cb")
backup "$tmp/store" "$tmp/repo2" "$tmp/b" "$tmp/cb" || { finish; exit; }
"$kv" recovery-key create "${B2[@]}" >/dev/null 2>"$tmp/rk.err" || bad "rk create (bob): $(cat "$tmp/rk.err")"
expect 0 "bob: mode advanced --keep-history" -- "$kv" mode advanced --keep-history "${B2[@]}"
genstore --mutate "$tmp/store"
backup "$tmp/store" "$tmp/repo2" "$tmp/b" "$tmp/cb" || { finish; exit; }
"$probe" witness-post "$tmp/b" "$tmp/cb" "$tmp/repo2" >/dev/null 2>&1 || bad "bob: witness"
expect 0 "bob: mode standard" -- "$kv" mode standard "${B2[@]}"
N2=(--repo "$tmp/repo2" --server "$url" --account bob --password-file "$tmp/pw-bob" --state-dir "$tmp/n5" --cache-dir "$tmp/cn5")
expect 1 "nothing readable yet: recovered, nothing restored" -- "$rs" recover "${N2[@]}" --to "$tmp/r-n5"
has "$tmp/out" "Recovered with password" "bob: the keys are recovered"
has "$tmp/out" "2 snapshots \(2 whose sequence numbers this device cannot know\) are in the repository but this device cannot read them" "bob: both snapshots named as unreadable"
has "$tmp/err" "no snapshot 'latest'" "bob: no snapshot to restore"
if grep -q "freshness witness" "$tmp/err"; then bad "bob: the witness names an unreadable snapshot, not a rollback: $(cat "$tmp/err")"; else ok; fi
expect 1 "no backup after snapshots it cannot place" -- "$bk" now --store "$tmp/store" --repo "$tmp/repo2" --state-dir "$tmp/n5" --cache-dir "$tmp/cn5"
has "$tmp/err" "sealed under a key epoch this device does not hold: it cannot add one after them" "bob: the backup says why"
finish
