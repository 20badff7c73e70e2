#!/usr/bin/env bash
# The docs build: man pages from docs/man/*.scd with scdoc (into OUT, default
# build/docs/man), every relative link in docs/ and README.md resolved, every docs/ file a
# man page names present, and the systemd units verified (systemd-analyze, with the
# built programs in place of the installed ones) when BUILD is given.
# Usage: scripts/docs.sh [OUT [BUILD]]     Exit status 0 when everything is in order.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/docs/man}
build=${2:-}
fails=0
bad() { echo "docs: FAIL: $*" >&2; fails=$((fails + 1)); }

# --- man pages ---
if command -v scdoc >/dev/null; then
	mkdir -p "$out"
	n=0
	for f in "$root"/docs/man/*.scd; do
		name=$(basename "$f" .scd)
		if scdoc <"$f" >"$out/$name" 2>"$out/$name.err"; then
			n=$((n + 1))
			grep -q '^\.SH NAME' "$out/$name" || bad "$name: no NAME section in the output"
		else
			bad "scdoc $f: $(cat "$out/$name.err")"
		fi
		rm -f "$out/$name.err"
	done
	echo "docs: $n man pages built into $out"
else
	bad "scdoc is not installed (scripts/install-deps.sh installs it)"
fi

# --- links: every relative markdown link, every docs/ path a man page names ---
python3 - "$root" <<'PY' || fails=$((fails + 1))
import os, re, sys
root = sys.argv[1]
files = [os.path.join(root, "README.md")]
for d, _, names in os.walk(os.path.join(root, "docs")):
    files += [os.path.join(d, n) for n in names if n.endswith((".md", ".scd"))]
bad = 0
link = re.compile(r"\]\(([^)\s]+)\)")
mention = re.compile(r"(?<![\w/.-])(docs/[\w./-]+\.(?:md|scd))")
for f in sorted(files):
    text = open(f, encoding="utf-8").read()
    targets = []
    if f.endswith(".md"):
        targets += [(m, os.path.dirname(f)) for m in link.findall(text)]
    targets += [(m, root) for m in mention.findall(text)]
    for t, base in targets:
        if re.match(r"^[a-z]+:", t) or t.startswith("#"):
            continue
        path = os.path.normpath(os.path.join(base, t.split("#")[0]))
        if not os.path.exists(path):
            print("docs: FAIL: %s: link to %s: no such file" % (os.path.relpath(f, root), t))
            bad += 1
print("docs: %d files checked for links" % len(files))
sys.exit(1 if bad else 0)
PY

# --- systemd units ---
if [ -n "$build" ] && command -v systemd-analyze >/dev/null; then
	tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
	mkdir -m 700 "$tmp/run"
	sed -e "s|^ExecStart=backupd|ExecStart=$build/backupd/program/backupd|" \
		-e 's|^ExecReload=kill|ExecReload=/bin/kill|' "$root/systemd/backupd.service" >"$tmp/backupd.service"
	sed -e "s|^ExecStart=keyvaultd|ExecStart=$build/keyvaultd/keyvaultd|" \
		"$root/systemd/keyvaultd.service" >"$tmp/keyvaultd.service"
	XDG_RUNTIME_DIR=$tmp/run systemd-analyze --user verify --man=no "$tmp/backupd.service" ||
		bad "systemd/backupd.service does not verify"
	systemd-analyze verify --man=no "$tmp/keyvaultd.service" || bad "systemd/keyvaultd.service does not verify"
	echo "docs: systemd units verified"
fi
[ "$fails" -eq 0 ] && echo "docs: ok"
exit $((fails > 0))
