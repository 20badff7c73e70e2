#!/usr/bin/env bash
# The scenario matrix: one row per (protection mode x what the user still has), each
# ending in a verified restore on a new device, or in the right refusal whose message
# says what is missing.
#
#   mode      | trusted device | password only | recovery key | k contacts | k-1 contacts | nothing
#   standard  | restore        | restore       | restore      | restore    | refused      | refused
#   advanced  | restore        | refused       | restore      | restore    | refused      | refused
#   local     | restore        | refused       | -            | -          | -            | refused
#
# Also: a contact's share goes only to the device whose code the contact confirmed (a
# wrong code releases nothing; a second recovering device gets nothing); a mistyped
# recovery key is named by group before anything is opened.
# Usage: test-modes-matrix.sh KEYVAULTD KEYVAULT BACKUPD RESTORE PROBE
source "$(dirname "$0")/modes-common.sh"

start_kvd "$tmp/kvd" || exit 1
genstore "$tmp/store" --messages 1200 --attachments 6 --scale 0.1 || { bad genstore; finish; exit; }
for who in bob carol dave; do account "$who" "$tmp/$who" || { finish; exit; }; done

# setup MODE OWNER: the owner's repository in $tmp/repo-MODE with a recovery key
# ($tmp/rk-MODE) and contacts bob, carol, dave (2 of 3)
setup() {
	local mode=$1 owner=$2 st=$tmp/dev-$1
	local R=(--repo "$tmp/repo-$mode" --state-dir "$st" --cache-dir "$tmp/c-$mode")
	account "$owner" "$st" || return 1
	backup "$tmp/store" "$tmp/repo-$mode" "$st" "$tmp/c-$mode" || return 1
	"$kv" recovery-key create --json "${R[@]}" >"$tmp/rk.json" 2>"$tmp/rk.err" || { bad "rk create: $(cat "$tmp/rk.err")"; return 1; }
	json_get "$tmp/rk.json" 'd["recovery_key"]' >"$tmp/rk-$mode"
	"$kv" contact add bob carol dave --threshold 2 "${R[@]}" >/dev/null 2>"$tmp/ct.err" || { bad "contacts: $(cat "$tmp/ct.err")"; return 1; }
	if [ "$mode" = advanced ]; then
		"$kv" mode advanced --reencrypt-history "${R[@]}" >/dev/null 2>"$tmp/m.err" || { bad "mode advanced: $(cat "$tmp/m.err")"; return 1; }
	fi
	genstore --mutate "$tmp/store"
	backup "$tmp/store" "$tmp/repo-$mode" "$st" "$tmp/c-$mode" || return 1
	cp -a "$tmp/store" "$tmp/expect-$mode"
}
setup standard alice || { finish; exit; }
setup advanced erin || { finish; exit; }
"$kv" init --local --state-dir "$tmp/dev-local" >/dev/null 2>&1 && ok || bad "init --local"
backup "$tmp/store" "$tmp/repo-local" "$tmp/dev-local" "$tmp/c-local" || { finish; exit; }
cp -a "$tmp/store" "$tmp/expect-local"
declare -A owner=([standard]=alice [advanced]=erin)

# recover MODE ROW OPTIONS...: restore recover on a brand-new device (state $tmp/new-MODE-ROW)
recover() {
	local mode=$1 row=$2; shift 2
	"$rs" recover --repo "$tmp/repo-$mode" --state-dir "$tmp/new-$mode-$row" \
		--cache-dir "$tmp/cn-$mode-$row" --to "$tmp/r-$mode-$row" "$@"
}
restored() { check_same "$tmp/expect-$1" "$tmp/r-$1-$2" "$1 x $2: verified restore"; }
acct() { echo --server "$url" --account "${owner[$1]}" --password-file "$tmp/pw-${owner[$1]}"; }
# help CONTACT CODE: CONTACT releases to the device showing CODE
help() { "$kv" contact help --code "$2" --state-dir "$tmp/$1" >"$tmp/help.out" 2>"$tmp/help.err"; }
code_of() { sed -n 's/^Code to compare with them: //p' "$tmp/out"; }

for mode in standard advanced; do
	# trusted device
	expect 0 "$mode x trusted device" -- "$rs" snapshot latest --to "$tmp/r-$mode-device" \
		--repo "$tmp/repo-$mode" --state-dir "$tmp/dev-$mode" --cache-dir "$tmp/c-$mode"
	restored "$mode" device

	# password only
	# shellcheck disable=SC2046
	if [ "$mode" = standard ]; then
		expect 0 "standard x password only" -- recover "$mode" password $(acct "$mode")
		restored "$mode" password
		has "$tmp/out" "Recovered with password" "standard x password: method"
	else
		expect 1 "advanced x password only: refused" -- recover "$mode" password $(acct "$mode")
		has "$tmp/err" "holds no key for this repository .*advanced protection.*recovery key, or 2 of its 3 recovery contacts" \
			"advanced x password: the message says what is missing"
		[ ! -e "$tmp/r-$mode-password" ] && ok || bad "advanced x password: nothing restored"
	fi

	# recovery key alone (no account)
	expect 0 "$mode x recovery key" -- recover "$mode" rk --recovery-key-file "$tmp/rk-$mode"
	restored "$mode" rk
	has "$tmp/out" "Recovered with recovery-key" "$mode x recovery key: method"

	# k contacts (+ the password, which releases the server share)
	# shellcheck disable=SC2046
	expect 1 "$mode x k contacts: first the request" -- recover "$mode" k $(acct "$mode") --contact bob --contact carol
	code=$(code_of)
	[[ $code =~ ^[0-9]{4}\ [0-9]{4}\ [0-9]{4}$ ]] && ok || bad "$mode: a code is shown: '$code'"
	has "$tmp/err" "2 of 3 recovery contacts must help; 0 released" "$mode: says how many must help"
	help carol "0000 0000 0000"; [ $? = 1 ] && ok || bad "$mode: carol with a wrong code: $(cat "$tmp/help.err")"
	grep -q "nothing was released" "$tmp/help.err" && ok || bad "$mode: wrong code releases nothing"
	# shellcheck disable=SC2046
	expect 1 "$mode: still waiting after a wrong code" -- recover "$mode" k $(acct "$mode") --contact bob --contact carol
	has "$tmp/out" "0 released" "$mode: nothing was released to the device"
	help bob "$code" && ok || bad "$mode: bob helps: $(cat "$tmp/help.err")"
	grep -q "Released your share to ${owner[$mode]}'s new device" "$tmp/help.out" && ok || bad "$mode: bob released"
	help carol "$code" && ok || bad "$mode: carol helps: $(cat "$tmp/help.err")"
	# shellcheck disable=SC2046
	expect 0 "$mode x k contacts" -- recover "$mode" k $(acct "$mode") --contact bob --contact carol
	restored "$mode" k
	has "$tmp/out" "Recovered with contacts" "$mode x k contacts: method"

	# k-1 contacts: only dave helps; a second recovering device's request stays unanswered
	# shellcheck disable=SC2046
	expect 1 "$mode x k-1 contacts: request" -- recover "$mode" k1 $(acct "$mode") --contact dave --contact bob
	code1=$(code_of)
	# shellcheck disable=SC2046
	expect 1 "$mode: another new device asks too" -- recover "$mode" other $(acct "$mode") --contact dave
	code2=$(code_of)
	[ "$code1" != "$code2" ] && ok || bad "$mode: two devices, two codes"
	help dave "$code1" && ok || bad "$mode: dave helps the first: $(cat "$tmp/help.err")"
	# shellcheck disable=SC2046
	expect 1 "$mode x k-1 contacts: refused" -- recover "$mode" k1 $(acct "$mode") --contact dave --contact bob
	has "$tmp/err" "2 of 3 recovery contacts must help; 1 released so far \(dave\)" "$mode x k-1: says what is missing"
	[ ! -e "$tmp/r-$mode-k1" ] && ok || bad "$mode x k-1: nothing restored"
	# shellcheck disable=SC2046
	expect 1 "$mode: the other device got nothing" -- recover "$mode" other $(acct "$mode") --contact dave
	has "$tmp/out" "0 released" "$mode: dave's share went to the confirmed device only"

	# nothing
	expect 1 "$mode x nothing" -- recover "$mode" nothing
	has "$tmp/err" "nothing to recover with.*recovery key, or 2 of its 3 recovery contacts" "$mode x nothing: what would work"
done

# a mistyped recovery key is named by group before anything is opened
python3 -c 'import sys; k=list(open(sys.argv[1]).read().strip()); k[1] = "0" if k[1] != "0" else "1"; print("".join(k))' \
	"$tmp/rk-advanced" >"$tmp/rk-typo"
expect 1 "a typo in the recovery key" -- recover advanced typo --recovery-key-file "$tmp/rk-typo" --repo "$tmp/nonexistent"
has "$tmp/err" "group 1 has a typo" "the bad group is named"

# local (init --local): the device, or nothing
expect 0 "local x trusted device" -- "$rs" snapshot latest --to "$tmp/r-local-device" \
	--repo "$tmp/repo-local" --state-dir "$tmp/dev-local" --cache-dir "$tmp/c-local"
restored local device
expect 0 "local: status warns" -- "$kv" status --repo "$tmp/repo-local" --state-dir "$tmp/dev-local" --cache-dir "$tmp/c-local"
has "$tmp/out" "no escrow and no recovery method" "local repository warning"
expect 1 "local x nothing" -- recover local nothing
has "$tmp/err" "nothing to recover with" "local x nothing: refused"
expect 1 "local x password only" -- recover local password --server "$url" --account alice --password-file "$tmp/pw-alice"
has "$tmp/err" "holds no key for this repository" "local x password: refused"

# every escrow release and recovery attempt is in the audit log
expect 0 "audit (alice)" -- "$kv" audit --state-dir "$tmp/dev-standard"
has "$tmp/out" "escrow-release" "audit: escrow release"
has "$tmp/out" "share-release" "audit: share release"
has "$tmp/out" "device-add-recovery" "audit: recovered devices"
finish
