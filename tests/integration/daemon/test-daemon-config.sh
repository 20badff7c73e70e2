#!/usr/bin/env bash
# The configuration file: every key with an invalid value makes `backupd config`, `run`
# and `now` exit 2 with "FILE:LINE: [section] key: ..." before doing anything; so do
# unknown keys and sections, a key given twice, a line that is not INI, bad [storage]
# keys (checked by the storage layer) and secrets in a file others can read. A valid file
# is read from the XDG path or --config, options win over it, and secrets come from
# files or the environment.
# Usage: test-daemon-config.sh BACKUPD KEYVAULT RESTORE
source "$(dirname "$0")/daemon-common.sh"

ST=$tmp/store S=$tmp/state C=$tmp/cache R=$tmp/repo
genstore "$ST" --messages 200 --attachments 3 --scale 0.05 || { bad "genstore"; finish; exit; }
f=$tmp/bad.conf

# bad_key SECTION KEY VALUE: the key with an invalid value on line 9 of a file that is valid
# otherwise; each command must refuse it naming the file, the line and the key
bad_key() {
	local sec=$1 key=$2 val=$3
	cat >"$f" <<EOF
; line 1: a comment
[store]
path = $ST

[repository]
url = $R
state_dir = $S
[$sec]
$key = $val
EOF
	for cmd in config run now; do
		expect 2 "$cmd with [$sec] $key = '$val'" -- "$bd" "$cmd" --config "$f"
		grep -qF "$f:9: [$sec] $key:" "$tmp/err" && ok ||
			bad "$cmd names file, line and key for [$sec] $key: $(cat "$tmp/err")"
	done
	[ ! -e "$R" ] && [ ! -e "$S" ] && ok || bad "[$sec] $key: nothing was created"
}

# every key of every section, each with a value of the wrong kind or out of range
while IFS='|' read -r sec key val; do
	[ -n "$sec" ] && bad_key "$sec" "$key" "$val"
done <<'EOF'
store|path|relative/store
store|lock_dir|run/locks
repository|url|ftp://example.org/backups
repository|state_dir|~nobody/state
repository|cache_dir|cache
repository|passphrase_file|pass.txt
repository|pack_size|65
schedule|interval|5 minutes
schedule|jitter|-1
schedule|window|25:00-02:00
schedule|skip_on_battery|sometimes
schedule|power_supply_path|sys/class/power_supply
schedule|retry_min|0x10
schedule|retry_max|forever
retention|keep_last|-1
retention|keep_hourly|1e3
retention|keep_daily|seven
retention|keep_weekly|1000001
retention|keep_yearly|2.5
retention|keep_within|30 days
retention|prune|maybe
retention|prune_grace|1y
keyvault|url|kv.example.org
log|level|loud
schedule|intervall|1h
EOF
bad_key retention keep_monthly "12x"

# a few more shapes of mistakes, each naming its line
mistake() {
	local what=$1 line=$2 pattern=$3
	expect 2 "$what" -- "$bd" config --config "$f"
	grep -qF "$f:$line: $pattern" "$tmp/err" && ok || bad "$what: $(cat "$tmp/err")"
}
printf '[store]\npath = /x\n[colours]\nblue = 1\n' >"$f"
mistake "unknown section" 4 "[colours] blue: unknown section"
printf '[schedule]\ninterval = 1h\n\ninterval = 2h\n' >"$f"
mistake "a key given twice" 4 "[schedule] interval: given twice (first on line 2)"
printf '[schedule]\ninterval = 1h\nthis is not ini\n' >"$f"
mistake "a line that is not INI" 3 "not a '[section]' or 'key = value' line"
printf 'interval = 1h\n' >"$f"
mistake "a key before any section" 1 "interval: a key before any [section]"
printf '[schedule]\nretry_min = 2h\nretry_max = 1h\n' >"$f"
mistake "retry_max shorter than retry_min" 3 "[schedule] retry_max:"
printf '[storage]\nregion = eu-west-1\nbucket_colour = red\n' >"$f"
mistake "an unknown [storage] key" 3 "[storage] bucket_colour:"
printf '[storage]\nregion = x\n\nsecret_access_key = abc\n' >"$f"
chmod 644 "$f"
mistake "a secret in a file others can read" 4 "[storage] secret_access_key: a secret in a configuration file others can read"
echo secret >"$tmp/key.txt"; chmod 644 "$tmp/key.txt"
printf '[storage]\nsecret_access_key_file = %s\n' "$tmp/key.txt" >"$f"
mistake "a secret file others can read" 2 "[storage] secret_access_key_file:"
expect 2 "a missing --config file" -- "$bd" config --config "$tmp/nonexistent.conf"
grep -qF "$tmp/nonexistent.conf: cannot open" "$tmp/err" && ok || bad "missing file named: $(cat "$tmp/err")"
: >"$tmp/empty.conf"
expect 2 "run without store or repository" -- "$bd" run --config "$tmp/empty.conf"
grep -q "no message store" "$tmp/err" && ok || bad "run says what is missing: $(cat "$tmp/err")"
expect 2 "--json errors are JSON too" -- "$bd" config --json --config "$tmp/nonexistent.conf"
[ "$(json_get "$tmp/out" 'd["error"]["code"]')" = CF_E_CONFIG ] && ok || bad "JSON error: $(cat "$tmp/out")"

# --- a valid file: the XDG path, --config, options win, defaults ---
expect 0 "no file at all: defaults" -- "$bd" config --json
[ "$(json_get "$tmp/out" 'd["config"]')" = None ] && [ "$(json_get "$tmp/out" 'd["schedule"]["interval"]')" = 3600 ] &&
	ok || bad "defaults: $(cat "$tmp/out")"
mkdir -p "$XDG_CONFIG_HOME/coffer"
good=$XDG_CONFIG_HOME/coffer/coffer.conf
cat >"$good" <<EOF
# the user's configuration
[store]
path = $ST
[repository]
url = file://$R
state_dir = $S
cache_dir = $C
passphrase_file = $tmp/pass.txt
pack_size = 4
[schedule]
interval = 90m
jitter = 5m
window = 22:30-06:00
skip_on_battery = no
retry_min = 30s
retry_max = 2h
[retention]
keep_last = 3
keep_daily = 7
keep_within = 2w
prune = yes
prune_grace = 0
[keyvault]
url = https://kv.example.org
[storage]
parallel = 8
[log]
level = warning
EOF
expect 0 "the file at the XDG path" -- "$bd" config --json
cp "$tmp/out" "$tmp/good.json"
[ "$(json_get "$tmp/good.json" 'd["config"]')" = "$good" ] && ok || bad "read from $good"
[ "$(json_get "$tmp/good.json" '(d["schedule"]["interval"], d["schedule"]["jitter"], d["schedule"]["window"], d["schedule"]["skip_on_battery"])')" = "(5400, 300, '22:30-06:00', False)" ] &&
	ok || bad "schedule values: $(json_get "$tmp/good.json" 'd["schedule"]')"
[ "$(json_get "$tmp/good.json" '(d["retention"]["keep_last"], d["retention"]["keep_daily"], d["retention"]["keep_within"], d["repository"]["pack_size"])')" = "(3, 7, 1209600, 4)" ] &&
	ok || bad "retention values: $(json_get "$tmp/good.json" 'd["retention"]')"
expect 0 "options win over the file" -- "$bd" config --json --repo "$tmp/other-repo" --state-dir "$tmp/st2"
[ "$(json_get "$tmp/out" '(d["repository"]["url"], d["repository"]["state_dir"])')" = "('$tmp/other-repo', '$tmp/st2')" ] &&
	ok || bad "options: $(json_get "$tmp/out" 'd["repository"]')"
expect 0 "config for people" -- "$bd" config
grep -q "every 1h30m, jitter 5m, window 22:30-06:00, run on battery" "$tmp/out" && ok || bad "text: $(cat "$tmp/out")"

# --- secrets from a file or the environment, never from the command line ---
printf 'correct horse\n' >"$tmp/pass.txt"; chmod 600 "$tmp/pass.txt"
COFFER_PASSPHRASE='correct horse' "$kv" init --local --state-dir "$S" >/dev/null || bad "keyvault init with a passphrase"
expect 0 "now with passphrase_file from the configuration" -- "$bd" now --json
[ "$(json_get "$tmp/out" 'd["seq"]')" = 1 ] && ok || bad "snapshot #1"
sed -i '/^passphrase_file/d' "$good"
expect 1 "now without any passphrase" -- "$bd" now
expect 0 "now with \$COFFER_PASSPHRASE" -- env COFFER_PASSPHRASE='correct horse' "$bd" now --json
[ "$(json_get "$tmp/out" 'd["seq"]')" = 2 ] && ok || bad "snapshot #2"
finish
