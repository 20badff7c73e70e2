#!/usr/bin/env bash
# Rollback through keyvaultd's freshness witness: after each backup the device posts the
# newest snapshot (sequence, manifest id) signed (what backupd does, through
# cf_witness_post). With the newest snapshots deleted from storage, a new device
# recovering through the account is told the repository is behind the witness and
# restores nothing; with storage intact it recovers and restores. A witness going
# backwards is refused by the key vault.
# Usage: test-modes-rollback.sh KEYVAULTD KEYVAULT BACKUPD RESTORE PROBE
source "$(dirname "$0")/modes-common.sh"

start_kvd "$tmp/kvd" || exit 1
genstore "$tmp/store" --messages 1500 --attachments 8 --scale 0.1 || { bad genstore; finish; exit; }
account alice "$tmp/a" || { finish; exit; }
for i in 1 2 3; do
	backup "$tmp/store" "$tmp/repo" "$tmp/a" "$tmp/ca" || { finish; exit; }
	expect 0 "witness after backup $i" -- "$probe" witness-post "$tmp/a" "$tmp/ca" "$tmp/repo"
	[ "$i" = 3 ] || genstore --mutate "$tmp/store"
done
expect 0 "list" -- "$rs" list --json --repo "$tmp/repo" --state-dir "$tmp/a" --cache-dir "$tmp/ca"
newest=$(json_get "$tmp/out" '[s["id"] for s in d if s["sequence"] == 3][0]')
second=$(json_get "$tmp/out" '[s["id"] for s in d if s["sequence"] == 2][0]')

# the storage operator deletes the newest two snapshots
mkdir "$tmp/hidden"
mv "$tmp/repo/snapshots/$newest" "$tmp/repo/snapshots/$second" "$tmp/hidden/"
N=(--repo "$tmp/repo" --server "$url" --account alice --password-file "$tmp/pw-alice")
expect 1 "a new device is told about the rollback" -- "$rs" recover "${N[@]}" --state-dir "$tmp/n1" --cache-dir "$tmp/cn1" --to "$tmp/r1"
has "$tmp/err" "behind the key vault's freshness witness: a trusted device made snapshot #3" "rollback message"
[ ! -e "$tmp/r1" ] && ok || bad "nothing restored from a rolled-back repository"
expect 1 "keyvault recover says the same" -- "$kv" recover "${N[@]}" --state-dir "$tmp/n2" --cache-dir "$tmp/cn2"
has "$tmp/err" "rollback|behind" "keyvault recover: rollback"

# the witness cannot be moved backwards: the old device (which saw #3) refuses the
# rolled-back repository itself, and a forged older witness is refused by the key vault
expect 1 "the old device refuses it too" -- "$rs" list --repo "$tmp/repo" --state-dir "$tmp/a" --cache-dir "$tmp/ca"

# storage intact again: a new device recovers and restores
mv "$tmp/hidden/"* "$tmp/repo/snapshots/"
expect 0 "recovery with storage intact" -- "$rs" recover "${N[@]}" --state-dir "$tmp/n3" --cache-dir "$tmp/cn3" --to "$tmp/r3"
check_same "$tmp/store" "$tmp/r3" "restore after recovery"
finish
