#!/usr/bin/env bash
# Snapshots whose archive entries try to leave the restore target — "..", an absolute
# path, a symlink leading out followed by a file through it, a device node, a hard link
# to a file outside, a tar header that climbs while the tree entry looks harmless — are
# committed by craft-snapshot as a real, trusted device would. For each one, `restore
# snapshot` must refuse (non-zero exit, a message naming the problem), write nothing
# outside DIR, leave DIR absent or empty (no partial content, no temporary folder), and
# with --in-place leave the live store exactly as it was. The `good` control, built the
# same way, must restore byte for byte (so a broken crafting tool cannot pass for a
# refusal).
# Usage: test-hostile-snapshots.sh PATH-TO-craft-snapshot PATH-TO-restore PATH-TO-keyvault
set -uo pipefail

craft=${1:?usage: $0 PATH-TO-craft-snapshot PATH-TO-restore PATH-TO-keyvault}
rs=${2:?usage: $0 PATH-TO-craft-snapshot PATH-TO-restore PATH-TO-keyvault}
kv=${3:?usage: $0 PATH-TO-craft-snapshot PATH-TO-restore PATH-TO-keyvault}
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
craft=$(abs "$craft") rs=$(abs "$rs") kv=$(abs "$kv")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cf-hostile.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
unset COFFER_PASSPHRASE XDG_STATE_HOME XDG_CACHE_HOME
fails=0
checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }
show() { sed 's/^/    /' "$1" | head -20 >&2; }

# empty_or_absent DIR: true when DIR does not exist or holds nothing
empty_or_absent() { [ ! -e "$1" ] || { [ -d "$1" ] && [ -z "$(ls -A "$1")" ]; }; }

# listing DIR: every path below DIR with its type, sorted (to compare trees exactly)
listing() { (cd "$1" && find . -mindepth 1 -printf '%y %p\n' | LC_ALL=C sort); }

# escapes D: whatever the hostile entries could have left anywhere under D outside the
# restore target (the target itself is checked separately)
escapes() {
	find "$1" -mindepth 1 \( -path "$1/work/out" -o -path "$1/live" \) -prune -o \
		\( -name evil -o -name link -o -name dev0 -o -name 'after.txt' -o -name 'before.txt' \
		-o -type l -o -type c -o -type b -o -type p \) -print
}

# setup VARIANT: a fresh keychain and repository holding one crafted snapshot; sets $d
setup() {
	d=$tmp/$1
	mkdir -p "$d/outside" "$d/work" "$d/cwd" "$d/live"
	printf 'victim\n' >"$d/victim.txt"
	printf 'live store\n' >"$d/live/keep.txt"
	common=(--repo "$d/repo" --state-dir "$d/state" --cache-dir "$d/cache")
	"$kv" init --local --state-dir "$d/state" >"$d/kv.out" 2>&1 ||
		{ bad "$1: keyvault init failed"; show "$d/kv.out"; return 1; }
	"$craft" "$1" "${common[@]}" --outside "$d/outside" --victim "$d/victim.txt" \
		--expect "$d/expect" >"$d/craft.out" 2>&1 ||
		{ bad "$1: craft-snapshot failed"; show "$d/craft.out"; return 1; }
	# the crafted snapshot is a regular, trusted one: list accepts it
	"$rs" list --json "${common[@]}" >"$d/list.json" 2>"$d/list.err" </dev/null &&
		[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$d/list.json")" = 1 ] &&
		ok || { bad "$1: restore list does not show the crafted snapshot"; show "$d/list.err"; }
}

# restore_to D TARGET [OPTIONS...]: restore latest from D's repository, from D/cwd
restore_to() {
	local dd=$1 to=$2; shift 2
	(cd "$dd/cwd" && "$rs" snapshot latest --to "$to" "$@" "${common[@]}") \
		>"$dd/r.out" 2>"$dd/r.err" </dev/null
}

# ---- the control: built the same way, it restores exactly ----
if setup good; then
	restore_to "$d" "$d/work/out"
	rc=$?
	if [ "$rc" -eq 0 ]; then ok; else bad "good: restore exit $rc, want 0"; show "$d/r.err"; fi
	if diff -r "$d/expect" "$d/work/out" >"$d/diff" 2>&1 &&
		[ "$(listing "$d/expect")" = "$(listing "$d/work/out")" ]; then ok
	else bad "good: restored files differ from what was committed"; show "$d/diff"; fi
	restore_to "$d" "$d/live" --in-place
	rc=$?
	if [ "$rc" -eq 0 ] && diff -r "$d/expect" "$d/live" >/dev/null 2>&1; then ok
	else bad "good: --in-place restore (exit $rc) did not replace the live store"; show "$d/r.err"; fi
	# export: a plain tar that GNU tar extracts to the same files
	mkdir -p "$d/untar"
	if "$rs" export latest "${common[@]}" >"$d/x.tar" 2>"$d/x.err" </dev/null &&
		tar -xf "$d/x.tar" -C "$d/untar" && diff -r "$d/expect" "$d/untar" >/dev/null; then ok
	else bad "good: restore export does not give the committed files"; show "$d/x.err"; fi
fi

# ---- hostile variants ----
# variant -> the entry's name, which the refusal message names (or it names the entry
# by its place: "tree piece I, entry J")
declare -A names=(
	[dotdot]='evil'
	[header-dotdot]='evil'
	[absolute]='evil'
	[symlink-out]='link'
	[device]='dev0'
	[hardlink]='evil'
)
for v in dotdot header-dotdot absolute symlink-out device hardlink; do
	setup "$v" || continue

	# into a new folder
	restore_to "$d" "$d/work/out"
	rc=$?
	if [ "$rc" -eq 1 ] || [ "$rc" -eq 3 ]; then ok
	else bad "$v: restore exit $rc, want a refusal (1 or 3)"; show "$d/r.out"; show "$d/r.err"; fi
	# the message, without the test's own folder names (they contain the variant's name)
	msg=$(sed "s|$tmp|TMP|g" "$d/r.err")
	if grep -qiE 'invalid path|tar header|unsafe|refus|not allowed|escape|device|link' <<<"$msg" &&
		grep -qE "entry|${names[$v]}" <<<"$msg"; then ok
	else bad "$v: the error does not name the problem and the entry"; show "$d/r.err"; fi
	if empty_or_absent "$d/work/out"; then ok
	else bad "$v: partial content left in DIR:"; listing "$d/work/out" | head >&2; fi
	if [ "$(ls -A "$d/work")" = "" ] || [ "$(ls -A "$d/work")" = out ]; then ok
	else bad "$v: left beside DIR: $(ls -A "$d/work" | tr '\n' ' ')"; fi
	if empty_or_absent "$d/outside" && empty_or_absent "$d/cwd"; then ok
	else bad "$v: written outside DIR: $(ls -A "$d/outside" "$d/cwd" | tr '\n' ' ')"; fi
	if [ "$(cat "$d/victim.txt")" = victim ] && [ "$(stat -c %h "$d/victim.txt")" = 1 ]; then ok
	else bad "$v: the file outside DIR was changed or linked to"; fi

	echo "$v: restore exit $rc: $(sed "s|$tmp|TMP|g" "$d/r.err" | head -1)"

	# export must not hand the hostile entry to whatever reads its tar
	"$rs" export latest "${common[@]}" >"$d/x.tar" 2>"$d/x.err" </dev/null
	rc=$?
	if [ "$rc" -eq 1 ] || [ "$rc" -eq 3 ]; then ok
	else bad "$v: restore export exit $rc, want a refusal (1 or 3)"; show "$d/x.err"; fi
	rm -f "$d/x.tar"

	# over a live store, atomically: it must stay exactly as it was
	restore_to "$d" "$d/live" --in-place
	rc=$?
	if [ "$rc" -eq 1 ] || [ "$rc" -eq 3 ]; then ok
	else bad "$v: --in-place restore exit $rc, want a refusal (1 or 3)"; show "$d/r.err"; fi
	if [ "$(listing "$d/live")" = "f ./keep.txt" ] && [ "$(cat "$d/live/keep.txt")" = "live store" ]; then ok
	else bad "$v: the live store was touched:"; listing "$d/live" | head >&2; fi

	# nothing anywhere under the variant's folder but what the test itself made
	found=$(escapes "$d")
	if [ -z "$found" ]; then ok; else bad "$v: found outside the target: $found"; fi
	if [ -z "$(find "$d" -maxdepth 1 -name '.*restore*' -o -maxdepth 1 -name '*.old-*')" ] &&
		[ -z "$(find "$d/work" -mindepth 1 -maxdepth 1 -name '.*')" ]; then ok
	else bad "$v: temporary folders left: $(find "$d" -maxdepth 2 -name '.*' | tr '\n' ' ')"; fi
done

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
