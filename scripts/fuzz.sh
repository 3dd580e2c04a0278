#!/usr/bin/env bash
# Builds the ONNX importer fuzzer (clang, libFuzzer + ASan + UBSan) in build-fuzz and runs it for SECONDS
# (default 60) over a working copy of tests/fuzz/corpus. Exit 0: no crash; nonzero: build failure or a
# crash (reproducer written to build-fuzz/crashes/). Longer runs: see docs/FUZZING.md.
set -euo pipefail

RUN_SECONDS=${1:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${KILN_FUZZ_BUILD:-$ROOT/build-fuzz}
JOBS=${JOBS:-$(nproc)}
SEEDS=$ROOT/tests/fuzz/corpus

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found; run scripts/setup (it installs clang)" >&2
  exit 5
fi

mkdir -p "$BUILD"
# Coverage + sanitizers on the whole library (the fuzzer links it), -fsanitize=fuzzer only on the target.
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DKILN_FUZZ=ON -DKILN_CUDA=OFF -DKILN_BUILD_TESTS=OFF \
  "-DCMAKE_C_FLAGS=$SAN" "-DCMAKE_CXX_FLAGS=$SAN" \
  "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" >"$BUILD/configure.log" 2>&1 ||
  { cat "$BUILD/configure.log" >&2; echo "fuzz: configure failed" >&2; exit 5; }
cmake --build "$BUILD" -j "$JOBS" --target kiln_importer_fuzz

# The working corpus keeps what earlier runs found; the checked-in seeds are (re)added each time.
CORPUS=$BUILD/corpus
mkdir -p "$CORPUS" "$BUILD/crashes"
cp -n "$SEEDS"/*.onnx "$CORPUS"/ 2>/dev/null || true

# max_len: twice the largest seed, so mutations can grow a model but inputs stay small and fast.
MAX_SEED=$(find "$SEEDS" -type f -printf '%s\n' | sort -n | tail -1)
MAX_LEN=$((MAX_SEED * 2))
LOG=$BUILD/fuzz.log
echo "fuzz: running kiln_importer_fuzz for ${RUN_SECONDS}s (max_len $MAX_LEN, corpus $CORPUS)"
set +e
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  "$BUILD/bin/kiln_importer_fuzz" "$CORPUS" -max_total_time="$RUN_SECONDS" -rss_limit_mb=2048 -max_len="$MAX_LEN" \
  -timeout=25 -artifact_prefix="$BUILD/crashes/" -print_final_stats=1 ${KILN_FUZZ_ARGS:-} >"$LOG" 2>&1
RC=$?
set -e
EXECS=$(awk '/stat::number_of_executed_units/ {print $2}' "$LOG" | tail -1)
if [ "$RC" -ne 0 ]; then
  # The report's head (the error line and the frames that name kiln's code) first: a long stack's tail
  # alone is the fuzzer's own frames.
  grep -m1 -A30 -E 'runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|==ERROR' "$LOG" >&2 || true
  echo "... (last lines of $LOG:)" >&2
  tail -25 "$LOG" >&2
  # A compact tail, for logs that keep only their last lines (CI): the sanitizer's summary, the first frames
  # in kiln's code, and the reproducer, minimized for up to 30 s, as base64 (decode it into a file and run
  # the fuzzer on that file to see the crash).
  CRASH=$(ls -t "$BUILD"/crashes/crash-* 2>/dev/null | head -1)
  if [ -n "$CRASH" ]; then
    "$BUILD/bin/kiln_importer_fuzz" "$CRASH" -minimize_crash=1 -max_total_time=30 -runs=100000 \
      -exact_artifact_path="$CRASH.min" >"$BUILD/minimize.log" 2>&1 || true
    [ -s "$CRASH.min" ] && CRASH=$CRASH.min
  fi
  echo "--- fuzz crash summary ---" >&2
  grep -m1 -E '^SUMMARY:' "$LOG" >&2 || true
  grep -E '#[0-9]+ .* in kiln::' "$LOG" | head -6 | sed -E 's/^ *(#[0-9]+) 0x[0-9a-f]+ in /\1 /' | cut -c1-300 >&2 || true
  if [ -n "$CRASH" ]; then
    echo "reproducer ($(wc -c <"$CRASH") bytes, base64; base64 -d > crash.bin, then $BUILD/bin/kiln_importer_fuzz crash.bin):" >&2
    base64 -w 100 "$CRASH" >&2
  fi
  echo "fuzz: CRASH after ${EXECS:-?} executions (exit $RC); reproducer in $BUILD/crashes/, log $LOG" >&2
  exit 1
fi
echo "fuzz: ${EXECS:-0} executions in ${RUN_SECONDS}s, no crash (log $LOG)"
