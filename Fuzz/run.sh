#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each (default 30) with libFuzzer and
# AddressSanitizer, starting from the seed corpus in Fuzz/Corpus/<target>. Fails on any crash,
# sanitizer report, invariant failure, timeout or memory blow-up; the input that caused it is
# kept in Fuzz/artifacts/. See Fuzz/README.md.
#
#   Fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export PATH="/opt/swift/usr/bin:$PATH"
# abort() on a failed invariant goes straight to libFuzzer's handler, not the Swift backtracer.
export SWIFT_BACKTRACE=enable=no
SECONDS_PER_TARGET="${1:-30}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then TARGETS=(envelope frame http resp redis-url cluster engineio socketio socketio-binary); fi

# A build of its own (release, instrumented): -parse-as-library because the entry point is a
# @_cdecl function, PARLEY_FUZZING to call libFuzzer's driver, lld because gold fails on
# AddressSanitizer's symbols.
swift build -c release --scratch-path .build-fuzz --product parley-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DPARLEY_FUZZING -Xswiftc -use-ld=lld
BIN="$ROOT/.build-fuzz/release/parley-fuzz"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$ROOT/Fuzz/artifacts"
failed=()
for target in "${TARGETS[@]}"; do
  echo "== fuzz $target for ${SECONDS_PER_TARGET}s"
  mkdir -p "$WORK/$target"
  # New inputs go to the scratch corpus; the seeds in the repository are only read.
  if "$BIN" "$target" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
       -print_final_stats=1 -artifact_prefix="$ROOT/Fuzz/artifacts/$target-" \
       "$WORK/$target" "$ROOT/Fuzz/Corpus/$target" > "$WORK/$target.log" 2>&1; then
    grep -E "^stat::number_of_executed_units|Done [0-9]+ runs" "$WORK/$target.log" | tail -2
  else
    echo "fuzz $target FAILED:"
    grep -E "INVARIANT FAILED|ERROR: |SUMMARY|Test unit written|==[0-9]+==" "$WORK/$target.log" | head -20
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzzing failed: ${failed[*]} (inputs in Fuzz/artifacts/; replay one with" \
       "'$BIN TARGET FILE')"
  exit 1
fi
echo "fuzzing: ${TARGETS[*]}: no crash, no sanitizer report, every invariant held"
