#!/usr/bin/env bash
# The test command: install what is missing, build, run the whole suite twice (plain with
# -Dwerror=true, then under AddressSanitizer + UndefinedBehaviorSanitizer), then the
# libFuzzer harnesses for a bounded time. Idempotent; ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

./scripts/install-deps.sh || { echo "install-deps failed"; echo "0 passed, 1 failed"; exit 1; }

jobs=$(nproc 2>/dev/null || echo 2)
status=0
logs=()

# setup DIR [meson options...]: configure (or reconfigure) and print meson's summary.
setup() {
	local dir=$1; shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@"
	else
		rm -rf "$dir"
		meson setup "$dir" "$@"
	fi
}

# run NAME DIR [meson test options...]
run() {
	local name=$1 dir=$2; shift 2
	echo "=== $name: build"
	if ! ninja -C "$dir"; then
		echo "=== $name: BUILD FAILED"
		status=1
		builds_failed=$((builds_failed + 1))
		return
	fi
	echo "=== $name: test"
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --print-errorlogs --num-processes "$jobs" "$@" || status=1
	logs+=("$dir/meson-logs/testlog.json")
}

builds_failed=0

setup build -Dwerror=true -Dbuildtype=debugoptimized || status=1
run plain build

setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false || status=1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run asan+ubsan build-asan

CC=clang setup build-fuzz -Dfuzz=true -Dintegration=false -Db_sanitize=address,undefined \
	-Db_lundef=false || status=1
run fuzz build-fuzz --suite fuzz

python3 - "$builds_failed" "${logs[@]}" <<'PY'
import json, sys
failed_builds = int(sys.argv[1])
passed = failed = skipped = 0
for path in sys.argv[2:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        if not line.strip():
            continue
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
failed += failed_builds
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
PY
rc=$?
[ $rc -ne 0 ] && status=1
exit $status
