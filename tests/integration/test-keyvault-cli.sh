#!/usr/bin/env bash
# keyvault CLI: init and status end to end, exit codes, --help everywhere, passphrases.
# Usage: test-keyvault-cli.sh PATH-TO-keyvault
set -uo pipefail

kv=${1:?usage: $0 PATH-TO-keyvault}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cf-kvcli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
checks=0

ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }

# expect CODE DESCRIPTION -- COMMAND...: run it, compare the exit status; output in $tmp/out, $tmp/err
expect() {
	local want=$1 what=$2; shift 3
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	local got=$?
	if [ "$got" -eq "$want" ]; then ok; else
		bad "$what: exit $got, want $want"; sed 's/^/  stderr: /' "$tmp/err" >&2
	fi
}

# json_get FILE EXPR: evaluate a Python expression over the JSON document d in FILE
json_get() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

fpr_re='^[0-9]{5}( [0-9]{5}){5}$'
unset COFFER_PASSPHRASE XDG_STATE_HOME

# --- help everywhere, usage errors ---
expect 0 "--help" -- "$kv" --help
grep -q '^Usage: keyvault' "$tmp/out" && ok || bad "--help prints usage on stdout"
expect 0 "-h" -- "$kv" -h
expect 0 "help" -- "$kv" help
expect 0 "--version" -- "$kv" --version
for c in init status; do
	expect 0 "$c --help" -- "$kv" "$c" --help
	grep -q "^Usage: keyvault $c" "$tmp/out" && ok || bad "$c --help prints its usage"
	expect 0 "help $c" -- "$kv" help "$c"
	expect 0 "$c -h after other options" -- "$kv" "$c" --json -h
done
expect 2 "no command" -- "$kv"
expect 2 "unknown command" -- "$kv" frobnicate
expect 2 "not yet available: mode" -- "$kv" mode
expect 2 "help for an unknown command" -- "$kv" help frobnicate
expect 2 "unknown option" -- "$kv" status --bogus
grep -q "unknown option '--bogus'" "$tmp/err" && ok || bad "unknown option is named"
expect 2 "unknown short option" -- "$kv" init -x
expect 2 "option without its value" -- "$kv" status --state-dir
expect 2 "stray argument" -- "$kv" status extra --state-dir "$tmp/s"
expect 2 "init without --local" -- "$kv" init --state-dir "$tmp/s"
expect 2 "a passphrase is never an option" -- "$kv" init --local --passphrase pw --state-dir "$tmp/s"
[ ! -e "$tmp/s" ] && ok || bad "usage errors created nothing"

# --- init, text output; options after the command in any order ---
expect 0 "init" -- "$kv" init --state-dir "$tmp/s" --local
fpr=$(sed -n 's/^Device fingerprint: //p' "$tmp/out")
[[ $fpr =~ $fpr_re ]] && ok || bad "fingerprint format: '$fpr'"
[ "$(stat -c %a "$tmp/s/keychain")" = 600 ] && ok || bad "keychain mode $(stat -c %a "$tmp/s/keychain")"
[ "$(stat -c %a "$tmp/s")" = 700 ] && ok || bad "state dir mode $(stat -c %a "$tmp/s")"
cp "$tmp/s/keychain" "$tmp/keychain.orig"
expect 1 "second init refused" -- "$kv" init --local --state-dir "$tmp/s"
grep -q 'keyvault: create keychain .*: already exists' "$tmp/err" && ok || bad "refusal message"
cmp -s "$tmp/s/keychain" "$tmp/keychain.orig" && ok || bad "second init left the keychain as it was"

# --- status ---
expect 0 "status" -- "$kv" status --state-dir "$tmp/s"
grep -q "^Device fingerprint: $fpr\$" "$tmp/out" && ok || bad "status shows the fingerprint"
grep -q '^Passphrase: *no$' "$tmp/out" && ok || bad "status shows no passphrase"
expect 0 "status --json" -- "$kv" status --json --state-dir "$tmp/s"
cp "$tmp/out" "$tmp/status.json"
[ "$(json_get "$tmp/status.json" 'd["fingerprint"]')" = "$fpr" ] && ok || bad "json fingerprint"
[ "$(json_get "$tmp/status.json" 'd["passphrase"]')" = False ] && ok || bad "json passphrase"
[ "$(json_get "$tmp/status.json" 'd["repositories"]')" = "[]" ] && ok || bad "json repositories"
# the public identity is base64url of "CFI" 0x01 || x25519 || ed25519 || self-signature
pid=$(json_get "$tmp/status.json" 'd["public_identity"]')
python3 -c 'import base64,sys; s=sys.argv[1]; b=base64.urlsafe_b64decode(s+"="*(-len(s)%4)); sys.exit(not (len(b)==132 and b[:4]==b"CFI\x01"))' "$pid" \
	&& ok || bad "public identity encoding"

# --- init --json; default state dir from XDG_STATE_HOME, then HOME ---
expect 0 "init --json (XDG_STATE_HOME)" -- env XDG_STATE_HOME="$tmp/xdg" "$kv" init --local --json
cp "$tmp/out" "$tmp/init.json"
[ "$(json_get "$tmp/init.json" 'd["state_dir"]')" = "$tmp/xdg/coffer" ] && ok || bad "init --json state_dir"
[[ $(json_get "$tmp/init.json" 'd["fingerprint"]') =~ $fpr_re ]] && ok || bad "init --json fingerprint"
[ "$(json_get "$tmp/init.json" 'sorted(d)')" = "['fingerprint', 'keychain', 'passphrase', 'public_identity', 'state_dir']" ] \
	&& ok || bad "init --json keys: $(cat "$tmp/init.json")"
[ -f "$tmp/xdg/coffer/keychain" ] && ok || bad "keychain under XDG_STATE_HOME"
expect 0 "init (HOME)" -- env -u XDG_STATE_HOME HOME="$tmp/home" "$kv" init --local
[ -f "$tmp/home/.local/state/coffer/keychain" ] && ok || bad "keychain under ~/.local/state"
expect 0 "status (HOME)" -- env -u XDG_STATE_HOME HOME="$tmp/home" "$kv" status

# --- passphrase: from a file, from the environment, wrong, missing ---
printf 'correct horse battery staple\n' >"$tmp/pw"
printf 'wrong\n' >"$tmp/wrong"
: >"$tmp/empty"
expect 0 "init with --passphrase-file" -- "$kv" init --local --state-dir "$tmp/p" --passphrase-file "$tmp/pw"
pfpr=$(sed -n 's/^Device fingerprint: //p' "$tmp/out")
expect 0 "status with the right passphrase" -- "$kv" status --state-dir "$tmp/p" --passphrase-file "$tmp/pw" --json
[ "$(json_get "$tmp/out" 'd["passphrase"]')" = True ] && ok || bad "json passphrase true"
[ "$(json_get "$tmp/out" 'd["fingerprint"]')" = "$pfpr" ] && ok || bad "same identity after reopening"
expect 0 "passphrase from COFFER_PASSPHRASE" -- env COFFER_PASSPHRASE='correct horse battery staple' "$kv" status --state-dir "$tmp/p"
expect 0 "passphrase from standard input" -- sh -c '"$1" status --state-dir "$2" --passphrase-file - <"$3"' sh "$kv" "$tmp/p" "$tmp/pw"
expect 1 "wrong passphrase" -- "$kv" status --state-dir "$tmp/p" --passphrase-file "$tmp/wrong"
grep -q 'wrong passphrase' "$tmp/err" && ok || bad "wrong passphrase message"
expect 1 "wrong passphrase (environment)" -- env COFFER_PASSPHRASE=nope "$kv" status --state-dir "$tmp/p"
expect 1 "missing passphrase" -- "$kv" status --state-dir "$tmp/p"
grep -q 'passphrase required' "$tmp/err" && ok || bad "missing passphrase message"
expect 1 "missing passphrase, --json" -- "$kv" status --state-dir "$tmp/p" --json
[ "$(json_get "$tmp/out" 'd["error"]["code"]')" = CF_E_AUTH ] && ok || bad "json error code"
expect 2 "empty passphrase file" -- "$kv" status --state-dir "$tmp/p" --passphrase-file "$tmp/empty"
expect 2 "unreadable passphrase file" -- "$kv" status --state-dir "$tmp/p" --passphrase-file "$tmp/none"

# --- failures on the keychain itself ---
expect 1 "status without a keychain" -- "$kv" status --state-dir "$tmp/nothing"
grep -q 'not found' "$tmp/err" && ok || bad "not-found message"
[ "$(grep -c '^keyvault: ' "$tmp/err")" = 1 ] && ok || bad "error printed once"
chmod 640 "$tmp/s/keychain"
expect 1 "group-readable keychain refused" -- "$kv" status --state-dir "$tmp/s"
chmod 600 "$tmp/s/keychain"
printf 'CFKC\002' >"$tmp/v2" && head -c 200 /dev/zero >>"$tmp/v2"
mkdir -m 700 "$tmp/v" && install -m 600 "$tmp/v2" "$tmp/v/keychain"
expect 1 "future format version" -- "$kv" status --state-dir "$tmp/v"
grep -q 'version' "$tmp/err" && ok || bad "version message"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
