#!/usr/bin/env bash
# restore's command line: --help everywhere, usage errors, bad input with clear messages
# and the documented exit codes (1 failed, 2 usage or configuration).
# Usage: test-restore-cli.sh RESTORE BACKUPD KEYVAULT
source "$(dirname "$0")/test-restore-common.sh"

# --- help and usage: no repository needed ---
expect 0 "--help" -- "$rs" --help
grep -q '^Usage: restore' "$tmp/out" && ok || bad "--help prints usage on stdout"
expect 0 "-h" -- "$rs" -h
expect 0 "help" -- "$rs" help
expect 0 "--version" -- "$rs" --version
for c in list snapshot export check forget prune; do
	expect 0 "$c --help" -- "$rs" "$c" --help
	grep -q "^Usage: restore $c" "$tmp/out" && ok || bad "$c --help prints its usage"
	expect 0 "help $c" -- "$rs" help "$c"
	expect 0 "$c -h after other options" -- "$rs" "$c" --json -h
done
expect 2 "no command" -- "$rs"
expect 2 "unknown command" -- "$rs" frobnicate
expect 2 "help for an unknown command" -- "$rs" help frobnicate
expect 2 "unknown option" -- "$rs" list --bogus --repo "$tmp/r"
grep -q "unknown option '--bogus'" "$tmp/err" && ok || bad "unknown option is named"
expect 2 "an option of another command" -- "$rs" list --read-data --repo "$tmp/r"
expect 2 "option without its value" -- "$rs" list --repo
expect 2 "no --repo" -- "$rs" list
grep -q -- '--repo is required' "$tmp/err" && ok || bad "says --repo is required"
expect 2 "snapshot without an id" -- "$rs" snapshot --to "$tmp/o" --repo "$tmp/r"
expect 2 "snapshot without --to" -- "$rs" snapshot latest --repo "$tmp/r"
expect 2 "two ids for snapshot" -- "$rs" snapshot a b --to "$tmp/o" --repo "$tmp/r"
expect 2 "stray argument" -- "$rs" list extra --repo "$tmp/r"
expect 2 "forget without an id" -- "$rs" forget --repo "$tmp/r"

# --- a real repository ---
genstore "$tmp/store" --messages 500 --attachments 5 --scale 0.1 || { bad "genstore"; finish; exit; }
printf 'correct horse\n' >"$tmp/pw"
printf 'wrong horse\n' >"$tmp/wrong"
"$kv" init --local --state-dir "$tmp/st" --passphrase-file "$tmp/pw" >/dev/null || { bad "keyvault init"; finish; exit; }
COFFER_PASSPHRASE='correct horse' backup "$tmp/store" "$tmp/repo" "$tmp/st" || { finish; exit; }
R=(--repo "$tmp/repo" --state-dir "$tmp/st" --cache-dir "$tmp/cache" --passphrase-file "$tmp/pw")
expect 0 "list with the passphrase" -- "$rs" list "${R[@]}"

expect 1 "unknown snapshot id" -- "$rs" snapshot deadbeef --to "$tmp/o" "${R[@]}"
grep -q "no snapshot 'deadbeef'" "$tmp/err" && ok || bad "names the unknown id: $(cat "$tmp/err")"
[ "$(grep -c '^restore: ' "$tmp/err")" = 1 ] && ok || bad "the error is printed once: $(cat "$tmp/err")"
[ ! -e "$tmp/o" ] && ok || bad "nothing created for an unknown id"
expect 1 "unknown sequence, --json" -- "$rs" snapshot '#9' --to "$tmp/o" --json "${R[@]}"
[ "$(json_get "$tmp/out" 'd["error"]["code"]')" = CF_E_NOTFOUND ] && ok || bad "json error code"
expect 2 "a malformed id" -- "$rs" snapshot 'zz' --to "$tmp/o" "${R[@]}"
mkdir "$tmp/full" && echo keep >"$tmp/full/keep"
expect 2 "a non-empty --to without --in-place" -- "$rs" snapshot latest --to "$tmp/full" "${R[@]}"
grep -q 'is not empty' "$tmp/err" && ok || bad "says the folder is not empty"
[ "$(ls "$tmp/full")" = keep ] && ok || bad "the folder is untouched"
echo x >"$tmp/afile"
expect 2 "--to names a file" -- "$rs" snapshot latest --to "$tmp/afile" "${R[@]}"
[ "$(cat "$tmp/afile")" = x ] && ok || bad "the file is untouched"

expect 2 "missing keychain" -- "$rs" list --repo "$tmp/repo" --state-dir "$tmp/nokeys" --cache-dir "$tmp/cache"
grep -q "keyvault init" "$tmp/err" && ok || bad "says how to make a keychain: $(cat "$tmp/err")"
expect 1 "wrong passphrase" -- "$rs" list --repo "$tmp/repo" --state-dir "$tmp/st" --passphrase-file "$tmp/wrong"
grep -q 'wrong passphrase' "$tmp/err" && ok || bad "says the passphrase is wrong: $(cat "$tmp/err")"
expect 1 "no passphrase for a protected keychain" -- "$rs" list --repo "$tmp/repo" --state-dir "$tmp/st"
expect 2 "unreadable passphrase file" -- "$rs" check --repo "$tmp/repo" --state-dir "$tmp/st" --passphrase-file "$tmp/none"
expect 1 "wrong passphrase (check)" -- "$rs" check --repo "$tmp/repo" --state-dir "$tmp/st" --passphrase-file "$tmp/wrong"
expect 0 "passphrase from the environment" -- env COFFER_PASSPHRASE='correct horse' "$rs" list --repo "$tmp/repo" --state-dir "$tmp/st" --cache-dir "$tmp/cache"
expect 2 "no repository there" -- "$rs" list --repo "$tmp/nothing" --state-dir "$tmp/st" --passphrase-file "$tmp/pw"
grep -q 'no repository at' "$tmp/err" && ok || bad "says there is no repository: $(cat "$tmp/err")"
expect 2 "check: no repository there" -- "$rs" check --repo "$tmp/nothing" --state-dir "$tmp/st" --passphrase-file "$tmp/pw" --cache-dir "$tmp/cache"
expect 2 "an unknown URL scheme" -- "$rs" list --repo "gopher://x/y" "${R[@]:2}"
# a repository written by a newer Coffer
cp -a "$tmp/repo" "$tmp/newer"
python3 - "$tmp/newer/config" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p)); c["format"] = 99
open(p, "w").write(json.dumps(c))
PY
expect 2 "a newer repository format" -- "$rs" list --repo "$tmp/newer" --state-dir "$tmp/st" --passphrase-file "$tmp/pw" --cache-dir "$tmp/cache"
grep -q 'newer Coffer' "$tmp/err" && ok || bad "says to upgrade: $(cat "$tmp/err")"
expect 2 "check: a newer repository format" -- "$rs" check --repo "$tmp/newer" --state-dir "$tmp/st" --passphrase-file "$tmp/pw" --cache-dir "$tmp/cache"

# export refuses a terminal (script(1) gives it one when available)
if command -v script >/dev/null; then
	script -qec "$rs export latest ${R[*]}" /dev/null >"$tmp/tty.out" 2>&1
	grep -q 'terminal' "$tmp/tty.out" && ok || bad "export refuses a terminal: $(head -3 "$tmp/tty.out")"
fi
"$rs" export latest "${R[@]}" | head -c 1024 >/dev/null
[ "${PIPESTATUS[0]}" = 1 ] && ok || bad "export to a reader that goes away: exit 1"

finish
